"""Development identities for sample agencies (`axis demo`), without a key leaving `signing/`.

The axis side registers each agency's certificate; the agency side signs with a `Signer`.
Both come from the development key set the axis itself uses (`signing.devkeys`, under the
data dir), so the certificates chain to the development CA the axis trusts.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cryptography import x509

from signing.devkeys import load_or_create_dev_keys, read_dev_keys
from signing.signer import Signer


def dev_agency_certificates(directory: Path, codes: Iterable[str]) -> dict[str, x509.Certificate]:
    """Each agency's development certificate, its key created under `directory` on first use
    (and the CA and axis identity with it, when the directory is new)."""
    wanted = list(codes)
    keys = load_or_create_dev_keys(directory, wanted)
    return {code: keys.agencies[code].certificate for code in wanted}


def dev_agency_signer(directory: Path, code: str) -> Signer:
    """A signer holding agency `code`'s development key (KeyError if it has none)."""
    return Signer(read_dev_keys(directory).agencies[code])
