"""The pull inbox: an agency lists what was delivered to it, downloads it, acknowledges it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from axis.api.auth import require
from axis.api.front_door import FrontDoorRoute
from axis.api.params import CursorText, FreeText, Text, decode_cursor, encode_cursor
from axis.bus import Bus
from axis.credentials import Principal
from axis.delivery.lifecycle import AlreadyAcknowledged, Lifecycle
from axis.problem import Problem
from axis.storage.models import Delivery, DeliveryState, Role, utcnow

router = APIRouter(tags=["inbox"], route_class=FrontDoorRoute)
Agency = Annotated[Principal, Depends(require(Role.AGENCY))]
IN_INBOX = (DeliveryState.DELIVERED, DeliveryState.ACKED_DONE, DeliveryState.ACKED_FAIL)


class InboxEntry(BaseModel):
    delivery_id: str
    type: Literal["edoc", "status"]
    document_id: str
    status_id: str | None
    sender: str
    created_at: datetime
    state: DeliveryState
    content_sha256: str
    overdue: bool
    """Delivered and not acknowledged within AXIS_INBOX_ACK_OVERDUE_SECONDS."""


class InboxPage(BaseModel):
    deliveries: list[InboxEntry]
    next_cursor: str | None


class Ack(BaseModel):
    result: Literal["done", "fail"]
    reason: FreeText = ""


def _entry(delivery: Delivery, overdue_before: datetime) -> InboxEntry:
    delivered_at = delivery.delivered_at or delivery.created_at
    return InboxEntry(
        delivery_id=delivery.id,
        type="edoc" if delivery.kind == "edoc" else "status",
        document_id=delivery.document_id,
        status_id=delivery.status_id,
        sender=delivery.sender_code,
        created_at=delivery.created_at,
        state=delivery.state,
        content_sha256=delivery.content_sha256,
        overdue=delivery.state is DeliveryState.DELIVERED and delivered_at < overdue_before,
    )


async def own_delivery(
    sessions: async_sessionmaker[AsyncSession], delivery_id: str, agency_code: str | None
) -> Delivery:
    """A delivery in `agency_code`'s inbox (404 for any other: no leaks). The VDXP
    endpoints use it too."""
    async with sessions() as session:
        delivery: Delivery | None = await session.get(Delivery, delivery_id)
    if delivery is None or delivery.recipient_code != agency_code or delivery.state not in IN_INBOX:
        raise Problem(404, "delivery_not_found", "No such delivery", f"no delivery {delivery_id}")
    return delivery


async def _own_delivery(request: Request, delivery_id: str, principal: Principal) -> Delivery:
    return await own_delivery(request.app.state.readers, delivery_id, principal.agency_code)


async def acknowledge_delivery(
    sessions: async_sessionmaker[AsyncSession],
    bus: Bus,
    delivery: Delivery,
    result: Literal["done", "fail"],
    reason: str,
) -> DeliveryState:
    """Done (taken in) or fail (with a reason) through the delivery lifecycle; the same answer
    again is accepted as is, a different one is 409. The /v1 and VDXP endpoints both come
    here."""
    lifecycle = Lifecycle(sessions, bus)
    try:
        return await lifecycle.acknowledge(
            delivery,
            result=result,
            reason=reason[:2000],
            actor=f"agency:{delivery.recipient_code}",
        )
    except AlreadyAcknowledged as exc:
        raise Problem(409, "already_acknowledged", "Already acknowledged", str(exc)) from exc


@router.get("/v1/inbox")
async def list_inbox(
    request: Request,
    principal: Agency,
    type: Literal["edoc", "status"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: CursorText | None = None,
) -> InboxPage:
    """What was delivered to this agency, oldest first."""
    query = select(Delivery).where(
        Delivery.recipient_code == principal.agency_code, Delivery.state.in_(IN_INBOX)
    )
    if type is not None:
        query = query.where(Delivery.kind == type)
    if cursor is not None:
        after, last_id = decode_cursor(cursor)
        query = query.where(
            or_(
                Delivery.created_at > after,
                (Delivery.created_at == after) & (Delivery.id > last_id),
            )
        )
    query = query.order_by(Delivery.created_at, Delivery.id).limit(limit + 1)
    async with request.app.state.readers() as session:
        deliveries = list(await session.scalars(query))
    page = deliveries[:limit]
    overdue_before = utcnow() - timedelta(
        seconds=request.app.state.settings.inbox_ack_overdue_seconds
    )
    next_cursor = None
    if len(deliveries) > limit:
        next_cursor = encode_cursor(page[-1].created_at, page[-1].id)
    return InboxPage(deliveries=[_entry(d, overdue_before) for d in page], next_cursor=next_cursor)


@router.get(
    "/v1/inbox/{delivery_id}",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}}},
)
async def download(request: Request, delivery_id: Text, principal: Agency) -> Response:
    """The original envelope bytes, exactly as the sender signed them."""
    delivery = await _own_delivery(request, delivery_id, principal)
    evidence_url = str(request.url_for("download_evidence", delivery_id=delivery_id))
    return Response(
        await request.app.state.blobs.get(delivery.content_sha256),
        media_type="application/xml",
        headers={
            "X-Axis-Delivery-Id": delivery.id,
            "X-Axis-Document-Id": delivery.document_id,
            "Link": f'<{evidence_url}>; rel="evidence"',
        },
    )


@router.get(
    "/v1/inbox/{delivery_id}/evidence",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}}},
)
async def download_evidence(request: Request, delivery_id: Text, principal: Agency) -> Response:
    """The axis's signed transit record over those bytes."""
    delivery = await _own_delivery(request, delivery_id, principal)
    evidence = await request.app.state.blobs.get(delivery.transit_sha256)
    return Response(evidence, media_type="application/xml")


@router.post(
    "/v1/inbox/{delivery_id}/ack",
    responses={409: {"description": "The other answer was given before"}},
)
async def acknowledge(
    request: Request, delivery_id: Text, ack: Ack, principal: Agency
) -> dict[str, str]:
    """Done (taken in) or fail (with a reason); the same answer again is accepted as is."""
    delivery = await _own_delivery(request, delivery_id, principal)
    state = await acknowledge_delivery(
        request.app.state.sessions, request.app.state.bus, delivery, ack.result, ack.reason
    )
    return {"delivery_id": delivery.id, "state": state.value}
