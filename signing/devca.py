"""A development certificate authority: a CA, agency certificates and the axis's evidence
certificate, so that `axis demo` and the tests run the real chain and key-usage checks
without a real CA."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from signing.keys import CertifiedKey, KeyKind, PrivateKey, generate_private_key

DEV_CA_NAME = "edoc-axis development CA"
AXIS_EVIDENCE_NAME = "edoc-axis evidence"
_CLOCK_SKEW = timedelta(hours=1)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _start(not_before: datetime | None) -> datetime:
    """`not_before`, or an hour ago (so that a clock slightly behind still accepts it)."""
    return not_before or _now() - _CLOCK_SKEW


def _subject(organisation: str, common_name: str) -> x509.Name:
    """C=VN, O=`organisation`, CN=`common_name`: the one subject layout of every dev
    certificate (CA, agency, axis)."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, digital_signature: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=not ca and digital_signature,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def issue_certificate(
    issuer: CertifiedKey | None,
    subject: x509.Name,
    key: PrivateKey,
    *,
    not_before: datetime,
    not_after: datetime,
    ca: bool,
    digital_signature: bool,
    key_usage: bool = True,
    extended_key_usage: Sequence[x509.ObjectIdentifier] = (),
) -> CertifiedKey:
    """One certificate; `issuer=None` makes it self-signed (a root). The builder behind the
    functions below, public so that tests needing other certificates (a TSA's, with a
    critical `extended_key_usage`) build them the same way."""
    signing_key = key if issuer is None else issuer.key
    issuer_name = subject if issuer is None else issuer.certificate.subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
            critical=False,
        )
    )
    if key_usage:
        builder = builder.add_extension(
            _key_usage(digital_signature=digital_signature, ca=ca), critical=True
        )
    if extended_key_usage:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(list(extended_key_usage)), critical=True
        )
    certificate = builder.sign(signing_key, hashes.SHA256())
    return CertifiedKey(key, certificate, () if issuer is None else issuer.certificates)


def create_dev_ca(
    *,
    common_name: str = DEV_CA_NAME,
    key_kind: KeyKind = "ec-p256",
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    parent: CertifiedKey | None = None,
) -> CertifiedKey:
    """A root CA (or, with `parent`, an intermediate CA under it), valid 10 years by default."""
    start = _start(not_before)
    subject = _subject("edoc-axis development", common_name)
    return issue_certificate(
        parent,
        subject,
        generate_private_key(key_kind),
        not_before=start,
        not_after=not_after or start + timedelta(days=3650),
        ca=True,
        digital_signature=False,
    )


def issue_agency_certificate(
    ca: CertifiedKey,
    organ_id: str,
    *,
    organ_name: str | None = None,
    key_kind: KeyKind = "ec-p256",
    key: PrivateKey | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    digital_signature: bool = True,
    key_usage: bool = True,
) -> CertifiedKey:
    """A signing certificate for an agency: CN is its organisation code (e.g. `000.00.00.G22`),
    O its name. `digital_signature=False` or `key_usage=False` make certificates the axis must
    refuse (for tests). Valid two years by default."""
    start = _start(not_before)
    subject = _subject(organ_name or organ_id, organ_id)
    return issue_certificate(
        ca,
        subject,
        key or generate_private_key(key_kind),
        not_before=start,
        not_after=not_after or start + timedelta(days=730),
        ca=False,
        digital_signature=digital_signature,
        key_usage=key_usage,
    )


def issue_axis_certificate(
    ca: CertifiedKey,
    *,
    common_name: str = AXIS_EVIDENCE_NAME,
    key_kind: KeyKind = "ec-p256",
    key: PrivateKey | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> CertifiedKey:
    """The axis's own evidence key (receipts, transit records): ECDSA P-256 unless asked."""
    start = _start(not_before)
    subject = _subject("edoc-axis", common_name)
    return issue_certificate(
        ca,
        subject,
        key or generate_private_key(key_kind),
        not_before=start,
        not_after=not_after or start + timedelta(days=730),
        ca=False,
        digital_signature=True,
    )
