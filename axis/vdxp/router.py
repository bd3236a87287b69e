"""The VDXP operations, mounted under `AXIS_VDXP_PREFIX`, each mapped onto `/v1`'s code:
`sendEdoc` onto ingest, the received list, `getEdoc` and `updateStatus` onto the pull
inbox and its acknowledgement, `getAgenciesList` onto the registry's directory."""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from sqlalchemy import func, select

from axis.api.admission import Admission, Refused
from axis.api.bodies import read_body, received_body
from axis.api.front_door import FrontDoorRoute, too_many
from axis.api.inbox import acknowledge_delivery, own_delivery
from axis.bus import BusError
from axis.config import Settings
from axis.events import Event, publish_event
from axis.pipeline.ingest import Ingest, ingest_document, ingest_status, record_rejection
from axis.problem import Problem
from axis.registry import directory
from axis.storage.models import Delivery, DeliveryState
from axis.vdxp.auth import Refusal, VdxpCaller, authenticate
from axis.vdxp.replies import agency_item, failure, knobstick, sent_item, success
from schemas.events import DocumentRejected, StatusRejected, VdxpRefused

logger = logging.getLogger(__name__)

LIST_LIMIT = 500
"""Most items one list call returns (oldest first for received, newest first for sent)."""
Operation = Callable[[Request, VdxpCaller], Awaitable[Response]]


def vdxp_router(settings: Settings) -> APIRouter:
    router = APIRouter(prefix=settings.vdxp_prefix, tags=["vdxp"], route_class=FrontDoorRoute)
    for name, operation, methods in (
        ("sendEdoc", _send_edoc, ["POST"]),
        ("getReceivedEdocList", _received_list, ["POST"]),
        ("getSentEdocList", _sent_list, ["POST"]),
        ("getEdoc", _get_edoc, ["POST"]),
        ("downloadEdoc", _download_edoc, ["GET", "POST"]),
        ("updateStatus", _update_status, ["POST"]),
        ("getAgenciesList", _agencies_list, ["POST"]),
        ("countReceiveEdoc", _count("edoc"), ["GET", "POST"]),
        ("countReceiveStatus", _count("status"), ["GET", "POST"]),
    ):
        for method in methods:  # one route per method: each gets its own OpenAPI operation id
            router.add_api_route(
                f"/{name}",
                _endpoint(name, operation),
                methods=[method],
                name=f"vdxp_{name}",
                operation_id=f"vdxp_{name}_{method.lower()}",
            )
    return router


def _endpoint(name: str, operation: Operation) -> Callable[[Request], Awaitable[Response]]:
    """Authenticate (on the headers alone, before the body is read), admit the agency
    (`axis.api.admission`), run; every refusal in the SDK's shape, and a refused
    authentication as a `vdxp.refused` audit event."""

    async def endpoint(request: Request) -> Response:
        settings: Settings = request.app.state.settings
        try:
            caller = await authenticate(
                request.app.state.sessions,
                request.headers,
                window=timedelta(seconds=settings.vdxp_timestamp_window_seconds),
                zone=ZoneInfo(settings.vdxp_clock_zone),
            )
            admission: Admission = request.app.state.admission
            async with admission.admitted(caller.agency_code):
                return await operation(request, caller)
        except Refused as refused:
            request.app.state.refusals.note(caller.agency_code, "rate_limited", 429)
            return failure(too_many(refused))
        except Refusal as refusal:
            await _record_refusal(request, name, refusal)
            return failure(refusal)
        except Problem as problem:
            return failure(problem)
        except BusError:
            return failure(
                Problem(503, "bus_unavailable", "Service unavailable",
                        "the message bus did not confirm in time; nothing was accepted, "
                        "send it again", headers={"Retry-After": "5"})
            )  # fmt: skip

    endpoint.__name__ = f"vdxp_{name}"
    endpoint.__doc__ = f"VDXP `{name}` (authenticated by the SDK's XroadVnpt- header HMAC)."
    return endpoint


async def _record_refusal(request: Request, operation: str, refusal: Refusal) -> None:
    """Failing to record the refusal must not hide it."""
    refused = VdxpRefused(
        from_=request.client.host if request.client else None,
        operation=operation,
        system_id=request.headers.get("XroadVnpt-systemid", "")[:128],
        code=refusal.code,
        status=refusal.status,
        detail=refusal.detail[:500],
    )
    event = Event.of(
        refused,
        actor=f"agency:{refusal.agency_code}" if refusal.agency_code else None,
        agency_code=refusal.agency_code,
    )
    try:
        await publish_event(request.app.state.bus, event)
    except BusError:
        logger.exception("could not record a %s event", VdxpRefused.event_type)


def _zone(request: Request) -> ZoneInfo:
    return ZoneInfo(request.app.state.settings.vdxp_clock_zone)


def _message_type(caller: VdxpCaller, default: str | None) -> str | None:
    kind = caller.param("messagetype", default or "").lower() or None
    if kind not in (None, "edoc", "status"):
        raise Problem(400, "bad_messagetype", "Bad messagetype", "messagetype is edoc or status")
    return kind


def _doc_id(caller: VdxpCaller) -> str:
    doc_id = caller.param("docId")
    if not doc_id:
        raise Problem(400, "no_doc_id", "No docId", "sign a docId header naming the document")
    return doc_id


async def _send_edoc(request: Request, caller: VdxpCaller) -> Response:
    """The body is the .edxml file; `messagetype` says document or status. The recipients
    are the envelope's signed `To`, as on /v1 (the `to` header is the SDK's copy of them)."""
    ingest: Ingest = request.app.state.ingest
    request.app.state.disk_space.check()
    kind = _message_type(caller, "edoc")
    rejected = StatusRejected if kind == "status" else DocumentRejected
    send = ingest_status if kind == "status" else ingest_document
    limit = ingest.limits.max_body_bytes
    async with received_body(request, limit) as body:
        try:
            await read_body(request, body, limit)
            _check_hash_file(caller, body.sha256)
        except Problem as problem:
            await record_rejection(ingest, rejected, caller.agency_code, None, problem, "vdxp-hmac")
            raise
        accepted = await send(ingest, caller.agency_code, body, "vdxp-hmac")
    return success(DocId=accepted.id)


def _check_hash_file(caller: VdxpCaller, sha256: str) -> None:
    """The SDK signs the file's SHA-256 as `hash-file`, each byte in hex without its leading
    zero (`Integer.toHexString`); a zero-padded digest is accepted too."""
    sent = caller.param("hash-file").lower()
    if not sent:
        return
    digest = bytes.fromhex(sha256)
    if sent not in (digest.hex(), "".join(format(byte, "x") for byte in digest)):
        raise Problem(
            400, "hash_file_mismatch", "Body changed",
            "the body's SHA-256 is not the signed hash-file",
        )  # fmt: skip


async def _received_list(request: Request, caller: VdxpCaller) -> Response:
    """What waits in the caller's inbox, not yet acknowledged done or fail, oldest first."""
    query = (
        select(Delivery)
        .where(
            Delivery.recipient_code == caller.agency_code,
            Delivery.state == DeliveryState.DELIVERED,
        )
        .order_by(Delivery.created_at, Delivery.id)
        .limit(LIST_LIMIT)
    )
    kind = _message_type(caller, None)
    if kind is not None:
        query = query.where(Delivery.kind == kind)
    async with request.app.state.sessions() as session:
        deliveries = list(await session.scalars(query))
    zone = _zone(request)
    return success(data=[knobstick(delivery, zone) for delivery in deliveries])


async def _sent_list(request: Request, caller: VdxpCaller) -> Response:
    """Each recipient of what the caller sent (documents by default), newest first, once
    the router has made its delivery; `docId` narrows it to one sendEdoc DocId."""
    kind = _message_type(caller, "edoc")
    query = (
        select(Delivery)
        .where(Delivery.sender_code == caller.agency_code, Delivery.kind == kind)
        .order_by(Delivery.created_at.desc(), Delivery.id)
        .limit(LIST_LIMIT)
    )
    doc_id = caller.param("docId")
    if doc_id:
        column = Delivery.status_id if kind == "status" else Delivery.document_id
        query = query.where(column == doc_id)
    async with request.app.state.sessions() as session:
        deliveries = list(await session.scalars(query))
    zone = _zone(request)
    return success(data=[sent_item(delivery, zone) for delivery in deliveries])


async def _envelope(request: Request, caller: VdxpCaller) -> bytes:
    delivery = await own_delivery(request.app.state.sessions, _doc_id(caller), caller.agency_code)
    envelope: bytes = await request.app.state.blobs.get(delivery.content_sha256)
    return envelope


async def _get_edoc(request: Request, caller: VdxpCaller) -> Response:
    """The original bytes, base64 in `data` (the SDK decodes them)."""
    return success(data=base64.b64encode(await _envelope(request, caller)).decode())


async def _download_edoc(request: Request, caller: VdxpCaller) -> Response:
    """The original bytes as the body."""
    return Response(await _envelope(request, caller), media_type="application/octet-stream")


async def _update_status(request: Request, caller: VdxpCaller) -> Response:
    """`done` or `fail` acknowledge the delivery (as /v1's ack does); `processing` only
    checks that it is the caller's: the axis keeps no state between delivered and done."""
    status = caller.param("status").lower()
    if status not in ("done", "fail", "processing"):
        raise Problem(400, "bad_status", "Bad status", "status is done, fail or processing")
    delivery = await own_delivery(request.app.state.sessions, _doc_id(caller), caller.agency_code)
    if status != "processing":
        reason = caller.param("description") or caller.param("reason")
        result: Literal["done", "fail"] = "done" if status == "done" else "fail"
        await acknowledge_delivery(
            request.app.state.sessions, request.app.state.bus, delivery, result, reason
        )
    return success()


async def _agencies_list(request: Request, caller: VdxpCaller) -> Response:
    async with request.app.state.sessions() as session:
        entries = await directory(session)
    return success(data=[agency_item(entry) for entry in entries if entry.active])


def _count(kind: str) -> Operation:
    async def count(request: Request, caller: VdxpCaller) -> Response:
        """How many of `kind` wait in the caller's inbox, not yet acknowledged."""
        query = select(func.count()).where(
            Delivery.recipient_code == caller.agency_code,
            Delivery.state == DeliveryState.DELIVERED,
            Delivery.kind == kind,
        )
        async with request.app.state.sessions() as session:
            waiting = await session.scalar(query)
        return success(count=waiting or 0)

    return count
