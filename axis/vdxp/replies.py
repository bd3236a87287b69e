"""Replies in the shapes the VDXP SDK parses.

Every reply is JSON with `status`, `ErrorCode` (the SDK compares the string with "0") and
`ErrorDesc`, plus `DocId`, `data` or `count`. Errors keep that shape, with a non-zero
`ErrorCode`, rather than `application/problem+json`: the SDK reads these three fields and
nothing else, so a problem document would reach its callers as a null result. The HTTP
status is still the 4xx (or 503) `/v1` would answer, and `ErrorCode` is that status.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.responses import JSONResponse

from axis.problem import Problem
from axis.registry import DirectoryEntry
from axis.storage.models import Delivery, DeliveryState

SERVICE_TYPE = "eDoc"


def success(**fields: Any) -> JSONResponse:
    return JSONResponse({"status": "OK", "ErrorCode": "0", "ErrorDesc": "Success", **fields})


def failure(problem: Problem) -> JSONResponse:
    """`problem` in the SDK's shape; `errors` (element, line) kept for people reading it."""
    body: dict[str, Any] = {
        "status": "FAIL",
        "ErrorCode": str(problem.status),
        "ErrorDesc": f"{problem.code}: {problem.detail}",
    }
    if problem.errors:
        body["errors"] = problem.errors
    return JSONResponse(body, status_code=problem.status, headers=problem.headers)


def vdxp_time(moment: datetime | None, zone: ZoneInfo) -> str:
    """A time in the agencies' zone, ISO 8601 with its offset; "" for none."""
    return moment.astimezone(zone).isoformat(timespec="seconds") if moment else ""


_RECEIVE_STATUS = {
    DeliveryState.ACKED_DONE: ("done", "acknowledged done by the recipient"),
    DeliveryState.ACKED_FAIL: ("fail", "acknowledged fail by the recipient"),
}
_SEND_STATUS = {
    DeliveryState.QUEUED: ("initial", "queued for delivery"),
    DeliveryState.RETRYING: ("processing", "delivery is being retried"),
    DeliveryState.DEAD: ("fail", "delivery failed: an operator may replay it"),
}
_DELIVERED = ("done", "delivered to the recipient")


def knobstick(delivery: Delivery, zone: ZoneInfo) -> dict[str, str]:
    """A received-list item: `docId` is the delivery id, which getEdoc and updateStatus take."""
    receive, receive_desc = _RECEIVE_STATUS.get(delivery.state, ("initial", "not acknowledged"))
    return {
        "docId": delivery.id,
        "from": delivery.sender_code,
        "to": delivery.recipient_code,
        "serviceType": SERVICE_TYPE,
        "messageType": delivery.kind,
        "status": receive,
        "status_desc": receive_desc,
        "created_time": vdxp_time(delivery.created_at, zone),
        "updated_time": vdxp_time(delivery.acked_at or delivery.delivered_at, zone),
    }


def sent_item(delivery: Delivery, zone: ZoneInfo) -> dict[str, str]:
    """A sent-list item: one recipient of something the caller sent (its DocId from
    sendEdoc is `senderDocId`; `receiverDocId` is the recipient's docId)."""
    send, send_desc = _SEND_STATUS.get(delivery.state, _DELIVERED)
    receive, receive_desc = _RECEIVE_STATUS.get(delivery.state, ("initial", "not acknowledged"))
    return {
        "serviceType": SERVICE_TYPE,
        "messageType": delivery.kind,
        "senderDocId": delivery.status_id or delivery.document_id,
        "receiverDocId": delivery.id,
        "fromCode": delivery.sender_code,
        "toCode": delivery.recipient_code,
        "sendStatus": send,
        "sendStatusDesc": send_desc,
        "receiveStatus": receive,
        "receiveStatusDesc": receive_desc,
        "sentTime": vdxp_time(delivery.created_at, zone),
        "receivedTime": vdxp_time(delivery.acked_at or delivery.delivered_at, zone),
        "title": "",
        "notation": "",
    }


def agency_item(entry: DirectoryEntry) -> dict[str, str]:
    """A directory entry as getAgenciesList lists it (the axis keys agencies by code)."""
    return {
        "id": entry.code,
        "code": entry.code,
        "name": entry.name,
        "pid": entry.parent_code or "",
        "mail": "",
    }
