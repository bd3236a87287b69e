"""The axis's own identity: the key that signs its evidence and the roots it trusts.

Configured files win; without them a development CA, axis key and certificate are created
once under a directory and reused, so `axis serve` works with no set-up at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from signing.certificates import TrustStore
from signing.devkeys import load_or_create_dev_keys
from signing.keys import load_certified_key
from signing.signer import Signer


@dataclass(frozen=True)
class AxisIdentity:
    """What the axis signs with (a `Signer`: the key stays in `signing/`) and what agencies'
    certificates must chain to."""

    signer: Signer
    trust: TrustStore

    @property
    def certificate(self) -> x509.Certificate:
        return self.signer.certificate


def load_axis_identity(
    dev_key_dir: Path,
    *,
    key_file: Path | None = None,
    certificate_file: Path | None = None,
    key_password: str | None = None,
    trust_roots_file: Path | None = None,
) -> AxisIdentity:
    """The configured key and roots; development ones from `dev_key_dir` for what is not set."""
    if (key_file is None) != (certificate_file is None):
        raise ValueError("the axis signing key and its certificate are configured together")
    dev = None
    if key_file is None or trust_roots_file is None:
        dev = load_or_create_dev_keys(dev_key_dir)
    if key_file is not None and certificate_file is not None:
        password = key_password.encode() if key_password else None
        signer = Signer(load_certified_key(key_file, certificate_file, password))
    else:
        assert dev is not None
        signer = Signer(dev.axis)
    if trust_roots_file is not None:
        trust = TrustStore.from_pem(trust_roots_file)
    else:
        assert dev is not None
        trust = TrustStore([dev.ca.certificate])
    return AxisIdentity(signer, trust)
