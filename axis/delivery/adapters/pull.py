"""Pull: the delivery waits in the agency's inbox (`GET /v1/inbox`); its system lists,
downloads and acknowledges. Being `delivered` is what puts it there, so an attempt is
nothing more."""

from __future__ import annotations

from typing import Literal

from axis.delivery.adapters.base import Adapter, Delivered, DeliveryConfig, Outcome, Payload


class PullDelivery(DeliveryConfig):
    """Documents wait in the agency's inbox; its DMS lists, downloads and acknowledges."""

    kind: Literal["pull"] = "pull"


class PullAdapter(Adapter[PullDelivery]):
    config = PullDelivery

    async def deliver(self, delivery: PullDelivery, payload: Payload) -> Outcome:
        return Delivered()
