"""The one owner of delivery state: every change to a delivery row, and every record and
event about a delivery, goes through here.

    queued --attempt--> retrying --attempt--> ... --> delivered --ack--> acked_done/_fail
       \\__________________________________________--> dead --replay--> queued

Each transition is one conditional UPDATE that moves a delivery only from the states it
may come from, so a repeated, stale or concurrent step changes nothing, and publishes no
event of a change it did not make (an attempt that was made is still recorded). What a
change publishes is published inside the transaction that makes it: a change the bus
cannot record is not made, and its events have ids that stay the same if a crash makes the
step run again.

The delivery worker's reads and the outcomes of its attempts are shared: the rows asked for
while a read runs are read together in the next query, and the outcomes recorded while one
transaction commits go together in the next (each still its own conditional UPDATE), with
one publish for all their records and events.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypedDict

from prometheus_client import Counter, Histogram
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from axis.bus import Bus, Message, Record
from axis.bus.topics import DELIVERIES, RETRY_TIERS
from axis.events import Event, event_message
from axis.group_commit import GroupCommit
from axis.messages import DeliveryRequested, bus_message
from axis.storage.models import Agency, Delivery, DeliveryState, Document, Status, utcnow
from schemas.events import (
    DeliveryAcked,
    DeliveryAttempted,
    DeliveryDead,
    DeliveryDelivered,
    DeliveryQueued,
    DeliveryReplayed,
    DeliveryRetrying,
    DeliveryStep,
)

ID_NAMESPACE = uuid.UUID("0f9d6a0e-6f0b-4c55-8e55-3b1a9f5c2d70")
WAITING = (DeliveryState.QUEUED, DeliveryState.RETRYING)
ACKED = {"done": DeliveryState.ACKED_DONE, "fail": DeliveryState.ACKED_FAIL}
NOT_BEFORE_HEADER = "not-before"
"""Epoch milliseconds before which a retry record must not be attempted."""

TRANSITIONS = Counter(
    "axis_deliveries_total",
    "Delivery state changes, by kind (edoc, status) and outcome (queued, delivered, "
    "retrying, dead, replayed, acked_done, acked_fail): each counted once, where it is made",
    ["kind", "outcome"],
)
LATENCY = Histogram(
    "axis_delivery_latency_seconds",
    "From the sender's submission to the delivery (pushed, dropped or in the inbox), by kind "
    "and adapter",
    ["kind", "adapter"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400),
)


def event_id(delivery: str, step: str) -> str:
    """A step of a delivery has one id, so a replayed step is one audit entry."""
    return str(uuid.uuid5(ID_NAMESPACE, f"{delivery}\n{step}"))


@dataclass(frozen=True)
class Attempt:
    """One attempt the worker made, as its `delivery.attempted` event records it."""

    number: int
    duration: float
    """Seconds."""
    error: str | None = None
    detail: Mapping[str, object] | None = None
    """What the adapter adds (push: `http_status`)."""


@dataclass(frozen=True)
class Step:
    """Which attempt of which round a delivery request is for. A request is published just
    before the change that makes it (a replay, a retry) commits, so a worker may read it
    first: it then waits for the row to catch up (`behind`)."""

    round: int
    attempt: int

    def headers(self) -> tuple[tuple[str, bytes], ...]:
        return (("round", str(self.round).encode()), ("attempt", str(self.attempt).encode()))

    @classmethod
    def of(cls, record: Record) -> Step:
        headers = dict(record.headers)
        return cls(int(headers.get("round", b"0")), int(headers.get("attempt", b"1")))

    def behind(self, delivery: Delivery) -> bool:
        """The change that published this request is not committed yet (or never will be)."""
        return (delivery.replays, delivery.attempts) < (self.round, self.attempt - 1)


class NotDead(Exception):
    """A replay named deliveries that are not dead letters."""

    def __init__(self, delivery_ids: Sequence[str]) -> None:
        super().__init__(f"not dead letters: {sorted(delivery_ids)}")


class AlreadyAcknowledged(Exception):
    """An acknowledgement that contradicts the one already given."""

    def __init__(self, state: DeliveryState) -> None:
        super().__init__(f"it is {state.value}")
        self.state = state


@dataclass(frozen=True)
class ToDeliver:
    """A delivery as the worker reads it, with what its attempt needs besides the row."""

    delivery: Delivery
    recipient_delivery: dict[str, Any]
    """The recipient agency's registered delivery (its `delivery` JSON)."""
    submitted_at: datetime
    """When the sender's message was received: where a delivery's latency starts."""


@dataclass(frozen=True)
class _Outcome:
    """What one attempt changes, if its guard still holds, and what it then publishes."""

    attempted: Message
    guard: list[ColumnElement[bool]]
    values: dict[str, Any]
    then: list[Message]


@dataclass(frozen=True)
class Lifecycle:
    """Delivery state on one database and one bus."""

    sessions: async_sessionmaker[AsyncSession]
    bus: Bus
    _reads: GroupCommit[str, ToDeliver | None] = field(init=False, repr=False, compare=False)
    _outcomes: GroupCommit[_Outcome, bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_reads", GroupCommit(self._read_many))
        object.__setattr__(self, "_outcomes", GroupCommit(self._record_outcomes))

    async def read(self, delivery_id: str) -> ToDeliver | None:
        """The delivery `delivery_id` (None if there is none), read with the others asked
        for meanwhile in one query."""
        return await self._reads.submit(delivery_id)

    async def _read_many(self, delivery_ids: Sequence[str]) -> list[ToDeliver | None]:
        query = (
            select(
                Delivery,
                Agency.delivery,
                func.coalesce(Status.received_at, Document.received_at),
            )
            .join(Agency, Agency.code == Delivery.recipient_code)
            .join(Document, Document.id == Delivery.document_id)
            .outerjoin(Status, Status.id == Delivery.status_id)
            .where(Delivery.id.in_(set(delivery_ids)))
        )
        async with self.sessions() as session:
            found = {
                delivery.id: ToDeliver(delivery, recipient_delivery, submitted_at)
                for delivery, recipient_delivery, submitted_at in await session.execute(query)
            }
        return [found.get(delivery_id) for delivery_id in delivery_ids]

    async def settled(self) -> None:
        """Wait until no read or outcome is being committed (before the database closes)."""
        await self._reads.settled()
        await self._outcomes.settled()

    async def queue(self, deliveries: Sequence[Delivery]) -> None:
        """Insert the deliveries not there yet (a replayed router recreates nothing), then
        request each one and record it queued. Raises `IntegrityError` while a message row
        they reference is not committed: the caller may try again with the same objects."""
        async with self.sessions.begin() as session:
            ids = [delivery.id for delivery in deliveries]
            known = set(await session.scalars(select(Delivery.id).where(Delivery.id.in_(ids))))
            new = [delivery for delivery in deliveries if delivery.id not in known]
            session.add_all(new)
        messages = []
        for delivery in deliveries:
            messages += [
                _request(DELIVERIES, delivery, Step(delivery.replays or 0, 1)),
                event_message(_event(delivery, "queued", DeliveryQueued(**_step(delivery)))),
            ]
        await self.bus.publish_many(messages)
        for delivery in new:
            TRANSITIONS.labels(delivery.kind, "queued").inc()

    async def delivered(
        self, delivery: Delivery, attempt: Attempt, *, adapter: str, submitted_at: datetime
    ) -> bool:
        """Waiting -> delivered, once; True if this call delivered it. `submitted_at`: when
        the sender's message was received (where the delivery's latency starts)."""
        changed = await self._after_attempt(
            delivery,
            attempt,
            _waiting(delivery),
            {"state": DeliveryState.DELIVERED, "delivered_at": utcnow()},
            [
                event_message(
                    _event(
                        delivery, "delivered", DeliveryDelivered(**_step(delivery), adapter=adapter)
                    )
                )
            ],
        )
        if changed:
            latency = (utcnow() - submitted_at).total_seconds()
            LATENCY.labels(delivery.kind, adapter).observe(latency)
        return changed

    async def retry(self, delivery: Delivery, attempt: Attempt, *, delay: float) -> bool:
        """Waiting -> retrying, with a request on the retry tier of this attempt, due after
        `delay` seconds; only if no other attempt was recorded since `delivery` was read."""
        tier = RETRY_TIERS[min(attempt.number, len(RETRY_TIERS)) - 1]
        not_before = str(int((time.time() + delay) * 1000)).encode()
        retrying = _event(
            delivery,
            f"retrying-{attempt.number}",
            DeliveryRetrying(**_step(delivery), attempt=attempt.number, delay_s=delay),
        )
        return await self._after_attempt(
            delivery,
            attempt,
            _same_round(delivery),
            {"state": DeliveryState.RETRYING, "last_error": attempt.error},
            [
                _request(
                    tier,
                    delivery,
                    Step(delivery.replays, attempt.number + 1),
                    (NOT_BEFORE_HEADER, not_before),
                ),
                event_message(retrying),
            ],
        )

    async def dead(self, delivery: Delivery, attempt: Attempt) -> bool:
        """Waiting -> dead until an operator replays it; only if no other attempt was
        recorded since `delivery` was read."""
        dead = _event(
            delivery,
            f"dead-{attempt.number}",
            DeliveryDead(**_step(delivery), attempt=attempt.number, error=attempt.error),
        )
        return await self._after_attempt(
            delivery,
            attempt,
            _same_round(delivery),
            {"state": DeliveryState.DEAD, "last_error": attempt.error},
            [event_message(dead)],
        )

    async def replay(
        self,
        *,
        actor: str,
        delivery_ids: Sequence[str] | None = None,
        recipient: str | None = None,
    ) -> list[str]:
        """Dead -> queued, from attempt 1 and with a new age clock: these dead deliveries
        (all or none: `NotDead` names those that are not) or every one to `recipient`.
        Returns the ids replayed."""
        query = select(Delivery).where(Delivery.state == DeliveryState.DEAD)
        if delivery_ids is not None:
            query = query.where(Delivery.id.in_(delivery_ids))
        if recipient is not None:
            query = query.where(Delivery.recipient_code == recipient)
        async with self.sessions.begin() as session:
            deliveries = list(await session.scalars(query))
            if delivery_ids is not None and len(deliveries) != len(set(delivery_ids)):
                raise NotDead(list(set(delivery_ids) - {d.id for d in deliveries}))
            replayed, messages = [], []
            for delivery in deliveries:
                if not await _update(
                    session,
                    [Delivery.id == delivery.id, Delivery.state == DeliveryState.DEAD],
                    state=DeliveryState.QUEUED,
                    attempts=0,
                    last_error=None,
                    queued_at=utcnow(),
                    replays=delivery.replays + 1,
                ):
                    continue
                replayed.append(delivery.id)
                event = Event.of(
                    DeliveryReplayed(delivery_id=delivery.id, after_attempts=delivery.attempts),
                    id=event_id(delivery.id, f"replayed-{delivery.replays + 1}"),
                    actor=actor,
                    document_id=delivery.document_id,
                    agency_code=delivery.recipient_code,
                )
                next_round = Step(delivery.replays + 1, 1)
                messages += [_request(DELIVERIES, delivery, next_round), event_message(event)]
            await self.bus.publish_many(messages)
        for delivery in deliveries:
            if delivery.id in replayed:
                TRANSITIONS.labels(delivery.kind, "replayed").inc()
        return replayed

    async def acknowledge(
        self, delivery: Delivery, *, result: Literal["done", "fail"], reason: str, actor: str
    ) -> DeliveryState:
        """Delivered -> acked_done or acked_fail, by the recipient. The same answer again is
        accepted as it is; the other one raises `AlreadyAcknowledged`."""
        state = ACKED[result]
        async with self.sessions.begin() as session:
            changed = await _update(
                session,
                [Delivery.id == delivery.id, Delivery.state == DeliveryState.DELIVERED],
                state=state,
                acked_at=utcnow(),
                ack_reason=reason or None,
            )
            if changed:
                ack = DeliveryAcked(**_step(delivery), result=result, reason=reason)
                acked = _event(delivery, "acked", ack, actor=actor)
                await self.bus.publish_many([event_message(acked)])
            else:
                current = await session.scalar(
                    select(Delivery.state).where(Delivery.id == delivery.id)
                )
        if changed:
            TRANSITIONS.labels(delivery.kind, state.value).inc()
            return state
        if current is state:
            return state
        raise AlreadyAcknowledged(current or delivery.state)

    async def _after_attempt(
        self,
        delivery: Delivery,
        attempt: Attempt,
        guard: list[ColumnElement[bool]],
        values: dict[str, Any],
        then: list[Message],
    ) -> bool:
        """Record `attempt` and, if `guard` still holds, make the change and publish `then`."""
        attempted = _event(
            delivery,
            f"attempt-{attempt.number}",
            DeliveryAttempted.model_validate(
                {
                    **_step(delivery),
                    "attempt": attempt.number,
                    "duration_ms": round(attempt.duration * 1000),
                    "error": attempt.error,
                    **(attempt.detail or {}),
                }
            ),
        )
        change = {"attempts": attempt.number, **values}
        outcome = _Outcome(event_message(attempted), guard, change, then)
        changed = await self._outcomes.submit(outcome)
        if changed:
            TRANSITIONS.labels(delivery.kind, values["state"].value).inc()
        return changed

    async def _record_outcomes(self, outcomes: Sequence[_Outcome]) -> list[bool]:
        """One transaction and one publish for the outcomes of attempts that ended together;
        each is still its own conditional update, in the order they came."""
        async with self.sessions.begin() as session:
            changed = [
                await _update(session, outcome.guard, **outcome.values) for outcome in outcomes
            ]
            messages = []
            for outcome, made in zip(outcomes, changed, strict=True):
                messages += [outcome.attempted, *(outcome.then if made else [])]
            await self.bus.publish_many(messages)
        return changed


def _waiting(delivery: Delivery) -> list[ColumnElement[bool]]:
    return [Delivery.id == delivery.id, Delivery.state.in_(WAITING)]


def _same_round(delivery: Delivery) -> list[ColumnElement[bool]]:
    """Still waiting, with no attempt or replay recorded since `delivery` was read: two
    attempts racing cannot both schedule a retry."""
    return [
        *_waiting(delivery),
        Delivery.attempts == delivery.attempts,
        Delivery.replays == delivery.replays,
    ]


async def _update(
    session: AsyncSession, guard: list[ColumnElement[bool]], **values: object
) -> bool:
    """The one way a delivery row changes: only where `guard` holds. True if it did."""
    changed = await session.execute(update(Delivery).where(*guard).values(**values))
    return changed.rowcount == 1  # type: ignore[attr-defined, no-any-return]


def _request(topic: str, delivery: Delivery, step: Step, *headers: tuple[str, bytes]) -> Message:
    request = DeliveryRequested(delivery_id=delivery.id)
    return bus_message(topic, delivery.recipient_code, request, *step.headers(), *headers)


class _Step(TypedDict):
    delivery_id: str
    kind: str


def _step(delivery: Delivery) -> _Step:
    """What every step's payload says of its delivery."""
    return {"delivery_id": delivery.id, "kind": delivery.kind}


def _event(delivery: Delivery, step: str, payload: DeliveryStep, *, actor: str = "axis") -> Event:
    """The event of one step of this round of `delivery` (each replay is a new round, so
    its attempts are new audit entries, not repeats of the first round's)."""
    round_step = step if not delivery.replays else f"{step}/replay-{delivery.replays}"
    return Event.of(
        payload,
        id=event_id(delivery.id, round_step),
        actor=actor,
        document_id=delivery.document_id,
        agency_code=delivery.recipient_code,
    )
