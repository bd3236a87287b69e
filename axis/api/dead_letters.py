"""Dead letters: deliveries that gave up. Operators list them and replay them (audited)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, model_validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from axis.api.auth import require
from axis.api.front_door import FrontDoorRoute
from axis.api.params import Text
from axis.credentials import Principal
from axis.delivery.lifecycle import Lifecycle, NotDead
from axis.problem import Problem
from axis.storage.models import Delivery, DeliveryState, Role

router = APIRouter(tags=["dead letters"], route_class=FrontDoorRoute)
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]


async def dead_letter_count(session: AsyncSession) -> int:
    """How many deliveries are dead letters now."""
    dead = select(func.count()).select_from(Delivery).where(Delivery.state == DeliveryState.DEAD)
    return int(await session.scalar(dead) or 0)


class DeadLetter(BaseModel):
    delivery_id: str
    document_id: str
    recipient: str
    attempts: int
    last_error: str | None
    created_at: datetime


class ReplayRequest(BaseModel):
    """Which dead deliveries to try again: these ids, or every one to this recipient."""

    delivery_ids: list[Text] | None = None
    recipient: Text | None = None

    @model_validator(mode="after")
    def one_filter(self) -> ReplayRequest:
        if (self.delivery_ids is None) == (self.recipient is None):
            raise ValueError("give either delivery_ids or recipient")
        return self


@router.get("/v1/admin/dead-letters")
async def list_dead_letters(
    request: Request,
    principal: Operator,
    recipient: Text | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeadLetter]:
    query = select(Delivery).where(Delivery.state == DeliveryState.DEAD)
    if recipient is not None:
        query = query.where(Delivery.recipient_code == recipient)
    async with request.app.state.readers() as session:
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


@router.post(
    "/v1/admin/dead-letters/replay",
    responses={404: {"description": "A delivery named that is not dead"}},
)
async def replay(
    request: Request, body: ReplayRequest, principal: Operator
) -> dict[str, list[str]]:
    """Queue the chosen dead deliveries again, from attempt 1 and with a new age clock;
    each replay is an audit event."""
    lifecycle = Lifecycle(request.app.state.sessions, request.app.state.bus)
    try:
        replayed = await lifecycle.replay(
            actor=f"operator:{principal.token_id}",
            delivery_ids=body.delivery_ids,
            recipient=body.recipient,
        )
    except NotDead as exc:
        raise Problem(404, "not_dead", "Not a dead letter", str(exc)) from exc
    return {"replayed": replayed}
