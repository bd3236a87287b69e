"""A development key set kept in a directory, so that `axis demo` keeps its CA, its evidence
key and its agencies' keys between runs (and tests can hand paths to other processes).

Layout: `ca.key.pem`, `ca.cert.pem`, `axis.key.pem`, `axis.cert.pem` and
`agencies/<organisation code>.{key,cert}.pem`. Key files are written 0600, the directories
0700; certificate files hold the leaf then its chain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from schemas.files import write_atomically
from signing.devca import create_dev_ca, issue_agency_certificate, issue_axis_certificate
from signing.keys import (
    CertifiedKey,
    KeyKind,
    certificate_pem,
    load_certified_key,
    private_key_pem,
)

_CODE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.]*$")
KEY_FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


@dataclass(eq=False)
class DevKeySet:
    """The development CA, the axis's evidence identity and one identity per agency code."""

    ca: CertifiedKey
    axis: CertifiedKey
    agencies: dict[str, CertifiedKey] = field(default_factory=dict)


def _check_code(code: str) -> str:
    if not _CODE.fullmatch(code):
        raise ValueError(f"not an organisation code usable as a file name: {code!r}")
    return code


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    write_atomically(path, data, mode=mode)


def _write_identity(directory: Path, stem: str, identity: CertifiedKey) -> None:
    _write(directory / f"{stem}.key.pem", private_key_pem(identity.key), KEY_FILE_MODE)
    bundle = b"".join(certificate_pem(c) for c in identity.certificates)
    _write(directory / f"{stem}.cert.pem", bundle, 0o644)


def _read_identity(directory: Path, stem: str) -> CertifiedKey:
    return load_certified_key(directory / f"{stem}.key.pem", directory / f"{stem}.cert.pem")


def write_dev_keys(directory: Path, keys: DevKeySet) -> None:
    """Write every identity of `keys` under `directory` (created 0700 if missing)."""
    directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    _write_identity(directory, "ca", keys.ca)
    _write_identity(directory, "axis", keys.axis)
    for code, identity in keys.agencies.items():
        _write_identity(directory / "agencies", _check_code(code), identity)


def read_dev_keys(directory: Path) -> DevKeySet:
    """The key set written by `write_dev_keys` (FileNotFoundError when there is none)."""
    agencies: dict[str, CertifiedKey] = {}
    agency_directory = directory / "agencies"
    if agency_directory.is_dir():
        for key_file in sorted(agency_directory.glob("*.key.pem")):
            code = key_file.name.removesuffix(".key.pem")
            agencies[code] = _read_identity(agency_directory, code)
    return DevKeySet(
        ca=_read_identity(directory, "ca"),
        axis=_read_identity(directory, "axis"),
        agencies=agencies,
    )


def load_or_create_dev_keys(
    directory: Path, agencies: Iterable[str] = (), *, key_kind: KeyKind = "ec-p256"
) -> DevKeySet:
    """The key set in `directory`, created on first use; agencies not yet there get a key and
    a certificate from the development CA. Only what is new is written."""
    codes = [_check_code(code) for code in agencies]
    if (directory / "ca.key.pem").exists():
        keys = read_dev_keys(directory)
    else:
        ca = create_dev_ca(key_kind=key_kind)
        keys = DevKeySet(ca=ca, axis=issue_axis_certificate(ca, key_kind=key_kind))
        _write_identity(directory, "ca", keys.ca)
        _write_identity(directory, "axis", keys.axis)
    for code in codes:
        if code not in keys.agencies:
            identity = issue_agency_certificate(keys.ca, code, key_kind=key_kind)
            keys.agencies[code] = identity
            _write_identity(directory / "agencies", code, identity)
    return keys
