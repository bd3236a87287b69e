"""Private keys and certificates: generate, load (PEM, PKCS#12), fingerprint.

Why here: private keys are touched only inside `signing/`; the rest of the code holds
`CertifiedKey` objects or paths and hands them to the signing functions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
"""The key types the axis signs with: RSA (2048 bits or more) and ECDSA P-256."""

KeyKind = Literal["ec-p256", "rsa-2048", "rsa-3072"]
KEY_KINDS: tuple[KeyKind, ...] = ("ec-p256", "rsa-2048", "rsa-3072")


class KeyLoadError(ValueError):
    """A key or certificate file that cannot be used (wrong type, bad password, no key)."""


def generate_private_key(kind: KeyKind = "ec-p256") -> PrivateKey:
    """A fresh key; ECDSA P-256 by default (small, fast, and RSA keygen takes ~0.1-1 s)."""
    if kind == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "rsa-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "rsa-3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise KeyLoadError(f"unknown key kind {kind!r}; expected one of {', '.join(KEY_KINDS)}")


def key_kind(key: PrivateKey) -> str:
    """A short name for a key, for messages and file listings."""
    if isinstance(key, rsa.RSAPrivateKey):
        return f"rsa-{key.key_size}"
    return f"ec-{key.curve.name}"


@dataclass(frozen=True, eq=False)
class CertifiedKey:
    """A private key with its certificate and the chain above it (leaf first, root last)."""

    key: PrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    def __post_init__(self) -> None:
        if self.certificate.public_key() != self.key.public_key():
            raise KeyLoadError("the certificate does not hold this key's public key")

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        """Leaf then chain: the order of `KeyInfo/X509Data` and of PEM bundles."""
        return (self.certificate, *self.chain)

    @property
    def fingerprint(self) -> str:
        """SHA-256 fingerprint of the certificate (lowercase hex, 64 characters)."""
        return fingerprint_sha256(self.certificate)


def fingerprint_sha256(certificate: x509.Certificate) -> str:
    """SHA-256 over the certificate's DER bytes, lowercase hex: how the registry names it."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def certificate_pem(certificate: x509.Certificate) -> bytes:
    """PEM text of a certificate (public data: safe to hand to other code)."""
    return certificate.public_bytes(serialization.Encoding.PEM)


def private_key_pem(key: PrivateKey, password: bytes | None = None) -> bytes:
    """PKCS#8 PEM of a private key, encrypted when a password is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _read(source: bytes | str | Path) -> bytes:
    if isinstance(source, bytes):
        return source
    return Path(source).read_bytes()


def load_private_key(source: bytes | str | Path, password: bytes | None = None) -> PrivateKey:
    """A PEM private key from bytes or a file; only RSA and EC keys are accepted."""
    try:
        key = serialization.load_pem_private_key(_read(source), password=password)
    except (ValueError, TypeError) as exc:
        raise KeyLoadError(f"cannot load private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyLoadError(f"unsupported private key type {type(key).__name__}")
    return key


def load_certificates(source: bytes | str | Path) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle (bytes or a file), in file order."""
    try:
        certificates = x509.load_pem_x509_certificates(_read(source))
    except ValueError as exc:
        raise KeyLoadError(f"cannot load certificates: {exc}") from exc
    return certificates


def load_certificate(source: bytes | str | Path) -> x509.Certificate:
    """The first certificate in a PEM file or bytes."""
    return load_certificates(source)[0]


def load_certified_key(
    key_source: bytes | str | Path,
    certificate_source: bytes | str | Path,
    password: bytes | None = None,
) -> CertifiedKey:
    """A key PEM and a certificate PEM (leaf first, then its chain) as one `CertifiedKey`."""
    certificates = load_certificates(certificate_source)
    return CertifiedKey(
        load_private_key(key_source, password), certificates[0], tuple(certificates[1:])
    )


def load_pkcs12(source: bytes | str | Path, password: bytes | None = None) -> CertifiedKey:
    """Key, certificate and chain from a PKCS#12 (.p12/.pfx) file, as agencies' tokens export."""
    try:
        bundle = pkcs12.load_pkcs12(_read(source), password)
    except (ValueError, TypeError) as exc:
        raise KeyLoadError(f"cannot load PKCS#12: {exc}") from exc
    if bundle.key is None or bundle.cert is None:
        raise KeyLoadError("the PKCS#12 file holds no key and certificate pair")
    key = bundle.key
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyLoadError(f"unsupported private key type {type(key).__name__}")
    chain = tuple(item.certificate for item in bundle.additional_certs)
    return CertifiedKey(key, bundle.cert.certificate, chain)


def dump_pkcs12(
    identity: CertifiedKey, password: bytes | None = None, name: bytes | None = None
) -> bytes:
    """A PKCS#12 bundle of a `CertifiedKey` (for handing a development agency its token)."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(
        name, identity.key, identity.certificate, list(identity.chain) or None, encryption
    )
