"""Dead letters: deliveries that gave up. Operators list them and replay them (audited)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, model_validator
from sqlalchemy import select, update

from axis.api.auth import require
from axis.bus.topics import DELIVERIES
from axis.credentials import Principal
from axis.events import Event, event_message
from axis.messages import DeliveryRequested, bus_message
from axis.problem import Problem
from axis.storage.models import Delivery, DeliveryState, Role

router = APIRouter(tags=["dead letters"])
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]


class DeadLetter(BaseModel):
    delivery_id: str
    document_id: str
    recipient: str
    attempts: int
    last_error: str | None
    created_at: datetime


class ReplayRequest(BaseModel):
    """Which dead deliveries to try again: these ids, or every one to this recipient."""

    delivery_ids: list[str] | None = None
    recipient: str | None = None

    @model_validator(mode="after")
    def one_filter(self) -> ReplayRequest:
        if (self.delivery_ids is None) == (self.recipient is None):
            raise ValueError("give either delivery_ids or recipient")
        return self


@router.get("/v1/admin/dead-letters")
async def list_dead_letters(
    request: Request,
    principal: Operator,
    recipient: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeadLetter]:
    query = select(Delivery).where(Delivery.state == DeliveryState.DEAD)
    if recipient is not None:
        query = query.where(Delivery.recipient_code == recipient)
    async with request.app.state.sessions() as session:
        rows = await session.scalars(query.order_by(Delivery.created_at).limit(limit))
        return [
            DeadLetter(
                delivery_id=row.id,
                document_id=row.document_id,
                recipient=row.recipient_code,
                attempts=row.attempts,
                last_error=row.last_error,
                created_at=row.created_at,
            )
            for row in rows
        ]


@router.post("/v1/admin/dead-letters/replay")
async def replay(
    request: Request, body: ReplayRequest, principal: Operator
) -> dict[str, list[str]]:
    """Queue the chosen dead deliveries again, from attempt 1; each replay is an audit event."""
    query = select(Delivery).where(Delivery.state == DeliveryState.DEAD)
    if body.delivery_ids is not None:
        query = query.where(Delivery.id.in_(body.delivery_ids))
    else:
        query = query.where(Delivery.recipient_code == body.recipient)
    async with request.app.state.sessions.begin() as session:
        deliveries = list(await session.scalars(query))
        if body.delivery_ids is not None and len(deliveries) != len(set(body.delivery_ids)):
            missing = set(body.delivery_ids) - {d.id for d in deliveries}
            raise Problem(
                404, "not_dead", "Not a dead letter", f"not dead letters: {sorted(missing)}"
            )
        messages = []
        for delivery in deliveries:
            await session.execute(
                update(Delivery)
                .where(Delivery.id == delivery.id)
                .values(state=DeliveryState.QUEUED, attempts=0, last_error=None)
            )
            requested = DeliveryRequested(delivery_id=delivery.id)
            messages += [
                bus_message(DELIVERIES, delivery.recipient_code, requested),
                event_message(
                    Event(
                        type="delivery.replayed",
                        actor=f"operator:{principal.token_id}",
                        document_id=delivery.document_id,
                        agency_code=delivery.recipient_code,
                        data={"delivery_id": delivery.id, "after_attempts": delivery.attempts},
                    )
                ),
            ]
        await request.app.state.bus.publish_many(messages)
    return {"replayed": [delivery.id for delivery in deliveries]}
