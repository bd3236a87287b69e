"""The one exception type that signature checks raise, with a machine code for the API's
problem documents and the audit log, and a message for people."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Why a signature, certificate or evidence record was refused (stable: clients match on it)."""

    MALFORMED = "malformed"
    """Not well-formed XML, a DTD or entity, or not the expected document shape."""
    MISSING_SIGNATURE = "missing_signature"
    MULTIPLE_SIGNATURES = "multiple_signatures"
    SIGNATURE_MISPLACED = "signature_misplaced"
    BAD_REFERENCE = "bad_reference"
    """Not exactly one Reference, a URI other than "", or no enveloped-signature transform."""
    ALGORITHM_NOT_ALLOWED = "algorithm_not_allowed"
    TRANSFORM_NOT_ALLOWED = "transform_not_allowed"
    CERTIFICATE_NOT_REGISTERED = "certificate_not_registered"
    CERTIFICATE_EXPIRED = "certificate_expired"
    CERTIFICATE_NOT_YET_VALID = "certificate_not_yet_valid"
    UNTRUSTED_CHAIN = "untrusted_chain"
    KEY_USAGE = "key_usage"
    INVALID_SIGNATURE = "invalid_signature"
    """The signature value or a digest does not match: the bytes were changed or forged."""
    EVIDENCE_MISMATCH = "evidence_mismatch"
    """An evidence record verifies but describes other bytes than the ones given."""
    UNSUPPORTED_KEY = "unsupported_key"
    """A signing key or certificate this package does not sign with."""
    TIMESTAMP_UNAVAILABLE = "timestamp_unavailable"
    """The time-stamp authority could not be reached, answered with an HTTP error, or did not
    grant a timestamp (RFC 3161 status other than granted)."""


class SignatureError(Exception):
    """A refused signature; `code` is for machines, `message` for people."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[type[SignatureError], tuple[ErrorCode, str]]:
        """Keep `code` and `message` when pickled (worker processes, test runners)."""
        return (type(self), (self.code, self.message))
