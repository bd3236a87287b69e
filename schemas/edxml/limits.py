"""The resource bounds one envelope is checked against.

Why a separate frozen value: the parser must not depend on the whole Settings object (tests
and the hostile-input corpus build limits directly), and limits must not change mid-parse.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EnvelopeLimits:
    """Largest body, deepest nesting, most elements / attributes, attachment bounds."""

    max_body_bytes: int = 64 * 1024 * 1024
    max_depth: int = 64
    max_elements: int = 50_000
    max_attributes: int = 32
    max_attachments: int = 100
    max_attachment_bytes: int = 48 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_depth", "max_elements", "max_attributes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("max_attachments", "max_attachment_bytes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
