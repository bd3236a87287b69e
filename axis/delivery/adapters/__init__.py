"""The axis's delivery adapters, one module per kind, and the one table of kinds.

A new kind is one new module here (a config model and an `Adapter`, see `base.py`) and one
entry in `ADAPTERS`: the registry then accepts agencies of that kind, and the worker
delivers to them with the same retries, dead letters and replay as every other kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, SerializeAsAny, WithJsonSchema

from axis.delivery.adapters.base import Adapter, DeliveryConfig, Resources
from axis.delivery.adapters.file_drop import FileDropAdapter
from axis.delivery.adapters.pull import PullAdapter
from axis.delivery.adapters.push import PushAdapter

ADAPTERS: dict[str, type[Adapter[Any]]] = {
    "pull": PullAdapter,
    "push": PushAdapter,
    "file_drop": FileDropAdapter,
}


class UnknownDeliveryKind(ValueError):
    """A `delivery` whose kind no adapter handles: refused, never taken as delivered."""


def delivery_config(value: object) -> DeliveryConfig:
    """An agency's `delivery` JSON as its kind's config model. Raises `ValueError` (a
    pydantic `ValidationError` is one) for an unknown kind or fields that do not fit it."""
    if isinstance(value, DeliveryConfig):
        return value
    if not isinstance(value, Mapping):
        raise ValueError("delivery must be an object with a `kind`")
    kind = value.get("kind")
    adapter = ADAPTERS.get(kind) if isinstance(kind, str) else None
    if adapter is None:
        raise UnknownDeliveryKind(
            f"unknown delivery kind {kind!r}: it must be one of {', '.join(ADAPTERS)}"
        )
    return adapter.config.model_validate(value)


def adapter_for(delivery: DeliveryConfig, resources: Resources) -> Adapter[Any]:
    """The adapter of `delivery`'s kind (which `delivery_config` made sure exists)."""
    return ADAPTERS[delivery.kind](resources)


DeliverySetting = Annotated[
    SerializeAsAny[DeliveryConfig],
    BeforeValidator(delivery_config),
    WithJsonSchema(
        {
            "type": "object",
            "properties": {"kind": {"enum": list(ADAPTERS)}},
            "required": ["kind"],
            "description": "How documents reach the agency; the other fields depend on kind.",
        }
    ),
]
"""An agency's `delivery`, as a pydantic field: checked against its kind's model."""
