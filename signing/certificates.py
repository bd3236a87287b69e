"""Agencies' registered certificates and the trust roots they must chain to.

An agency registers several certificates over time (rotation); a document is verified with
the ones valid at its receipt time. Parsed certificates and successful chain checks are
cached, because the axis checks a certificate for every document it receives.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from signing.errors import ErrorCode, SignatureError
from signing.keys import fingerprint_sha256, load_certificates


def as_utc(moment: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken to be UTC already (as the database stores it)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def has_digital_signature(certificate: x509.Certificate) -> bool:
    """True when KeyUsage is present and allows digitalSignature (absent KeyUsage is refused:
    signing certificates for official documents always state it)."""
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return bool(usage.digital_signature)


def organisation_code(certificate: x509.Certificate) -> str | None:
    """The subject CN, where agency certificates carry the organisation code."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        return None
    value = names[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


@dataclass(frozen=True, eq=False)
class RegisteredCertificate:
    """A certificate an operator registered for an agency, with the registration window
    (by default the certificate's own validity; an operator may narrow it)."""

    certificate: x509.Certificate
    fingerprint: str
    der: bytes
    not_before: datetime
    not_after: datetime
    digital_signature: bool

    @classmethod
    def of(
        cls,
        certificate: x509.Certificate,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> RegisteredCertificate:
        """Register `certificate`; the window is clipped to the certificate's own validity."""
        start = certificate.not_valid_before_utc
        end = certificate.not_valid_after_utc
        if not_before is not None:
            start = max(start, as_utc(not_before))
        if not_after is not None:
            end = min(end, as_utc(not_after))
        der = certificate.public_bytes(Encoding.DER)
        return cls(
            certificate=certificate,
            fingerprint=hashlib.sha256(der).hexdigest(),
            der=der,
            not_before=start,
            not_after=end,
            digital_signature=has_digital_signature(certificate),
        )

    @classmethod
    def from_pem(
        cls,
        pem: bytes | str,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> RegisteredCertificate:
        """From the PEM the registry stores; parsing is cached (same PEM, same object)."""
        data = pem.encode("ascii") if isinstance(pem, str) else pem
        return _registered_from_pem(
            data,
            None if not_before is None else as_utc(not_before),
            None if not_after is None else as_utc(not_after),
        )

    def valid_at(self, moment: datetime) -> bool:
        """Inside the registration window (hence inside the certificate's validity)."""
        return self.not_before <= as_utc(moment) <= self.not_after


@lru_cache(maxsize=4096)
def _registered_from_pem(
    pem: bytes, not_before: datetime | None, not_after: datetime | None
) -> RegisteredCertificate:
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise SignatureError(ErrorCode.MALFORMED, f"not a PEM certificate: {exc}") from exc
    return RegisteredCertificate.of(certificate, not_before=not_before, not_after=not_after)


def valid_at(
    certificates: Iterable[RegisteredCertificate], moment: datetime
) -> list[RegisteredCertificate]:
    """The registered certificates usable for a document received at `moment` (rotation:
    an old certificate still verifies what arrived while it was registered)."""
    return [c for c in certificates if c.valid_at(moment)]


def not_valid_reason(
    certificates: Sequence[RegisteredCertificate],
    moment: datetime,
    *,
    what: str = "registered certificate",
) -> SignatureError:
    """Why no certificate of `certificates` is usable at `moment`."""
    at = as_utc(moment)
    if not certificates:
        return SignatureError(ErrorCode.CERTIFICATE_NOT_REGISTERED, f"the sender has no {what}")
    expired = [c for c in certificates if c.not_after < at]
    if expired and len(expired) == len(certificates):
        latest = max(c.not_after for c in expired)
        return SignatureError(
            ErrorCode.CERTIFICATE_EXPIRED,
            f"every {what} had expired at {at.isoformat()} (latest ended {latest.isoformat()})",
        )
    if not expired:
        earliest = min(c.not_before for c in certificates)
        return SignatureError(
            ErrorCode.CERTIFICATE_NOT_YET_VALID,
            f"no {what} was valid yet at {at.isoformat()} (earliest starts {earliest.isoformat()})",
        )
    return SignatureError(
        ErrorCode.CERTIFICATE_EXPIRED,
        f"no {what} was valid at {at.isoformat()}: older ones had expired, "
        "newer ones were not valid yet",
    )


def check_key_usage(certificate: x509.Certificate) -> None:
    """Refuse a certificate whose KeyUsage does not include digitalSignature."""
    if not has_digital_signature(certificate):
        raise SignatureError(
            ErrorCode.KEY_USAGE,
            f"certificate {certificate.subject.rfc4514_string()} does not allow "
            "digitalSignature (KeyUsage missing or without it)",
        )


STRONG_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)


def check_public_key(certificate: x509.Certificate) -> None:
    """Refuse keys too weak to trust for official documents: RSA under 2048 bits, EC curves
    other than P-256/P-384/P-521, and any other key type."""
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise SignatureError(
                ErrorCode.UNSUPPORTED_KEY, f"RSA key of {key.key_size} bits (2048 at least)"
            )
        return
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, STRONG_CURVES):
        return
    raise SignatureError(ErrorCode.UNSUPPORTED_KEY, f"unsupported key {type(key).__name__}")


def _has_policy_builder() -> bool:
    """cryptography >= 45 verifies chains with custom extension policies (what we need)."""
    try:
        from cryptography.x509 import verification
    except ImportError:  # pragma: no cover - cryptography < 42
        return False
    return hasattr(verification.PolicyBuilder, "extension_policies") and hasattr(
        verification.ExtensionPolicy, "permit_all"
    )


@dataclass(frozen=True)
class _Verified:
    start: datetime
    end: datetime
    chain: tuple[x509.Certificate, ...]


class TrustStore:
    """The configured trust roots (and known intermediates). Build once, share everywhere:
    the parsed store is kept, and each successful chain is cached with the window in which
    every certificate on it is valid, so the next check inside that window costs a lookup."""

    def __init__(
        self,
        roots: Sequence[x509.Certificate],
        intermediates: Sequence[x509.Certificate] = (),
        *,
        use_policy_builder: bool | None = None,
    ) -> None:
        if not roots:
            raise ValueError("a trust store needs at least one root certificate")
        self.roots = tuple(roots)
        self.intermediates = tuple(intermediates)
        self.uses_policy_builder = (
            _has_policy_builder() if use_policy_builder is None else use_policy_builder
        )
        self._root_fingerprints = frozenset(fingerprint_sha256(c) for c in self.roots)
        self._store: object | None = None
        if self.uses_policy_builder:
            from cryptography.x509 import verification

            self._store = verification.Store(list(self.roots))
        self._cache: dict[str, list[_Verified]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_pem(
        cls, roots: bytes | str | Path, intermediates: bytes | str | Path | None = None
    ) -> TrustStore:
        """From PEM bundles (bytes or file paths)."""
        return cls(
            load_certificates(roots),
            load_certificates(intermediates) if intermediates is not None else (),
        )

    def verify_chain(
        self,
        certificate: x509.Certificate,
        moment: datetime,
        extra: Sequence[x509.Certificate] = (),
        *,
        fingerprint: str | None = None,
    ) -> tuple[x509.Certificate, ...]:
        """The chain from `certificate` to a trust root, every link valid at `moment`;
        SignatureError("untrusted_chain") otherwise. `extra` may offer intermediates;
        `fingerprint` saves recomputing the certificate's when the caller has it."""
        at = as_utc(moment)
        fingerprint = fingerprint or fingerprint_sha256(certificate)
        for verified in self._cache.get(fingerprint, ()):
            if verified.start <= at <= verified.end:
                return verified.chain
        if self.uses_policy_builder:
            chain = self._verify_with_policy_builder(certificate, at, extra)
        else:
            chain = self._verify_by_hand(certificate, at, extra)
        entry = _Verified(
            start=max(c.not_valid_before_utc for c in chain),
            end=min(c.not_valid_after_utc for c in chain),
            chain=chain,
        )
        with self._lock:
            self._cache.setdefault(fingerprint, []).append(entry)
        return chain

    def _verify_with_policy_builder(
        self, certificate: x509.Certificate, at: datetime, extra: Sequence[x509.Certificate]
    ) -> tuple[x509.Certificate, ...]:
        from cryptography.x509 import verification

        assert isinstance(self._store, verification.Store)
        verifier = (
            verification.PolicyBuilder()
            .store(self._store)
            .time(at)
            .extension_policies(
                ee_policy=verification.ExtensionPolicy.permit_all(),
                ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
            )
            .build_client_verifier()
        )
        try:
            verified = verifier.verify(certificate, [*self.intermediates, *extra])
        except verification.VerificationError as exc:
            raise SignatureError(
                ErrorCode.UNTRUSTED_CHAIN,
                f"certificate {certificate.subject.rfc4514_string()} does not chain to a "
                f"trust root at {at.isoformat()}: {exc}",
            ) from exc
        return tuple(verified.chain)

    def _verify_by_hand(
        self, certificate: x509.Certificate, at: datetime, extra: Sequence[x509.Certificate]
    ) -> tuple[x509.Certificate, ...]:
        """Fallback when cryptography lacks the verification API: issuer signatures,
        validity at `at`, CA basic constraints and keyCertSign, up to a trust root."""
        pool = [*self.roots, *self.intermediates, *extra]
        chain = [certificate]
        current = certificate
        for _ in range(8):
            if not current.not_valid_before_utc <= at <= current.not_valid_after_utc:
                raise self._untrusted(certificate, at, f"{_name(current)} not valid then")
            if fingerprint_sha256(current) in self._root_fingerprints:
                return tuple(chain)
            issuer = next(
                (c for c in pool if c.subject == current.issuer and _issued(c, current)), None
            )
            if issuer is None:
                raise self._untrusted(certificate, at, f"no trusted issuer for {_name(current)}")
            if not _is_ca(issuer):
                raise self._untrusted(certificate, at, f"{_name(issuer)} is not a CA")
            chain.append(issuer)
            current = issuer
        raise self._untrusted(certificate, at, "chain too long")

    @staticmethod
    def _untrusted(certificate: x509.Certificate, at: datetime, why: str) -> SignatureError:
        return SignatureError(
            ErrorCode.UNTRUSTED_CHAIN,
            f"certificate {_name(certificate)} does not chain to a trust root at "
            f"{at.isoformat()}: {why}",
        )


def _name(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string()


def _issued(issuer: x509.Certificate, certificate: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return bool(constraints.ca and usage.key_cert_sign)


def check_certificate(
    registered: RegisteredCertificate,
    trust: TrustStore,
    moment: datetime,
    extra: Sequence[x509.Certificate] = (),
) -> tuple[x509.Certificate, ...]:
    """Everything a registered certificate must satisfy at `moment` besides the signature:
    registration window, digitalSignature, a strong key, chain to a trust root.
    Returns the chain."""
    at = as_utc(moment)
    if not registered.valid_at(at):
        raise not_valid_reason([registered], at)
    if not registered.digital_signature:
        check_key_usage(registered.certificate)
    check_public_key(registered.certificate)
    return trust.verify_chain(registered.certificate, at, extra, fingerprint=registered.fingerprint)
