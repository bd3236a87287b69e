"""The signer: what every package outside `signing/` holds instead of a private key.

Why: private keys are touched only inside `signing/`. A `Signer` signs evidence records,
audit checkpoints and edXML envelopes, and tells its certificate and fingerprint; no
attribute, property or method hands the key back. The key lives only in the closures made
by `__init__`, so no field holds it. Python hides nothing from introspection, so this is a
boundary for honest code: reaching into a closure is visible, and
`tests/signing/test_key_boundary.py` refuses it (and any private-key type or loader)
outside `signing/`.
"""

from __future__ import annotations

from typing import NoReturn

from cryptography import x509

from signing.checkpoints import Checkpoint, sign_checkpoint
from signing.evidence import EvidenceRecord, sign_evidence
from signing.keys import CertifiedKey, fingerprint_sha256
from signing.xmldsig import sign_envelope


class Signer:
    """Signs with one certified key that it keeps to itself."""

    __slots__ = ("_certificates", "_checkpoint", "_envelope", "_evidence")

    def __init__(self, material: CertifiedKey) -> None:
        self._certificates = material.certificates

        def evidence(record: EvidenceRecord, algorithm: str | None) -> bytes:
            return sign_evidence(record, material, algorithm=algorithm)

        def checkpoint(checkpoint: Checkpoint, key_name: str) -> str:
            return sign_checkpoint(checkpoint, material, key_name)

        def envelope(data: bytes, algorithm: str | None, include_chain: bool) -> bytes:
            return sign_envelope(data, material, algorithm=algorithm, include_chain=include_chain)

        self._evidence = evidence
        self._checkpoint = checkpoint
        self._envelope = envelope

    @property
    def certificate(self) -> x509.Certificate:
        """The certificate whose public key verifies this signer's signatures."""
        return self._certificates[0]

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        """The certificate, then the chain above it."""
        return self._certificates

    @property
    def fingerprint(self) -> str:
        """SHA-256 fingerprint of the certificate (lowercase hex)."""
        return fingerprint_sha256(self.certificate)

    def sign_evidence(self, record: EvidenceRecord, *, algorithm: str | None = None) -> bytes:
        """The signed XML receipt or transit record (`signing.evidence.sign_evidence`)."""
        return self._evidence(record, algorithm)

    def sign_checkpoint(self, checkpoint: Checkpoint, key_name: str) -> str:
        """The signed note of an audit checkpoint (`signing.checkpoints.sign_checkpoint`)."""
        return self._checkpoint(checkpoint, key_name)

    def sign_envelope(
        self, data: bytes, *, algorithm: str | None = None, include_chain: bool = False
    ) -> bytes:
        """An edXML envelope signed as its sender (`signing.xmldsig.sign_envelope`)."""
        return self._envelope(data, algorithm, include_chain)

    def __repr__(self) -> str:
        return f"Signer({self.certificate.subject.rfc4514_string()}, {self.fingerprint[:16]})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Signer cannot be pickled or copied: its key stays where it is")
