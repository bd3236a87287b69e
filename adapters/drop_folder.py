"""Read the deliveries the axis drops into an agency's folder (file-drop delivery), check
them as the client checks a download, and hand each one over once.

Why: an agency on file drop has no HTTP in the path, and the folder is only a transport; a
document is trusted only once the sender's signature and the axis's transit record verify
(`adapters.verification`). The axis writes `<id>.evidence.xml`, then `<id>.edxml`, each
whole or not at all (`schemas.files.write_delivery`), so an `.edxml` file is a complete
delivery. A push receiver (`adapters.receiver`) stores the same layout, so this reads its
folder too.

`take(handle)` goes through the complete deliveries in id order. One that verifies is given
to `handle` and, once `handle` returns, moved into `done/`; one that does not is moved into
`refused/` with the reason beside it (`<id>.refused.txt`) for a person to look at. Nothing
is moved before `handle` returns, so a crash hands that delivery over again: `handle` must
be idempotent on the delivery id.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from adapters.verification import (
    Delivered,
    SenderCertificates,
    VerifiedDelivery,
    verify_delivery,
)
from schemas.edxml import EnvelopeError, EnvelopeLimits
from schemas.files import delivered_ids, delivery_paths, fsync_directory, write_atomically
from signing.certificates import TrustStore
from signing.errors import SignatureError

DONE = "done"
REFUSED = "refused"


@dataclass(frozen=True)
class Taken:
    """What became of one delivery: handed over (`verified`) or refused (`refusal`)."""

    delivery_id: str
    verified: VerifiedDelivery | None
    refusal: str | None


class DropFolderReader:
    """The deliveries in one drop folder, verified against the pinned axis certificate and
    the senders' registered certificates."""

    def __init__(
        self,
        directory: Path | str,
        *,
        axis_certificate: x509.Certificate | Sequence[x509.Certificate],
        sender_certificates: SenderCertificates,
        trust: TrustStore,
        limits: EnvelopeLimits | None = None,
        allow_unsigned: bool = False,
        allow_sha1: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self.axis_certificate = axis_certificate
        self.sender_certificates = sender_certificates
        self.trust = trust
        self.limits = limits
        self.allow_unsigned = allow_unsigned
        self.allow_sha1 = allow_sha1

    def pending(self) -> list[str]:
        """The ids of the complete deliveries not handed over or refused yet, sorted."""
        return delivered_ids(self.directory)

    def verify(self, delivery_id: str) -> tuple[Delivered, VerifiedDelivery]:
        """One delivery and what it proved; SignatureError or EnvelopeError if not proven."""
        delivered = Delivered.from_folder(self.directory, delivery_id)
        verified = verify_delivery(
            delivered,
            axis_certificate=self.axis_certificate,
            sender_certificates=self.sender_certificates,
            trust=self.trust,
            limits=self.limits,
            allow_unsigned=self.allow_unsigned,
            allow_sha1=self.allow_sha1,
        )
        return delivered, verified

    def take(self, handle: Callable[[Delivered, VerifiedDelivery], None]) -> list[Taken]:
        """Hand every pending delivery that verifies to `handle`, refuse the others."""
        taken = []
        for delivery_id in self.pending():
            try:
                delivered, verified = self.verify(delivery_id)
            except (SignatureError, EnvelopeError, FileNotFoundError) as error:
                reason = f"{type(error).__name__}: {error}"
                self._move(delivery_id, REFUSED, reason)
                taken.append(Taken(delivery_id, None, reason))
                continue
            handle(delivered, verified)
            self._move(delivery_id, DONE)
            taken.append(Taken(delivery_id, verified, None))
        return taken

    def _move(self, delivery_id: str, folder: str, reason: str | None = None) -> None:
        """Out of the drop folder, the envelope first: once it is gone the delivery is no
        longer pending, whatever happens to the evidence after it."""
        target = self.directory / folder
        target.mkdir(exist_ok=True)
        if reason is not None:
            write_atomically(target / f"{delivery_id}.refused.txt", reason.encode("utf-8"))
        for source, destination in zip(
            delivery_paths(self.directory, delivery_id),
            delivery_paths(target, delivery_id),
            strict=True,
        ):
            if source.exists():
                os.replace(source, destination)
        fsync_directory(target)
        fsync_directory(self.directory)
