"""Private keys are touched only inside `signing/`: the packages outside it hold a `Signer`,
and a `Signer` does not hand its key out."""

from __future__ import annotations

import ast
import copy
import pickle
from datetime import UTC, datetime
from pathlib import Path

import pytest
from signing_support import G22, Keys, registered, sample_path

from signing.checkpoints import Checkpoint, verify_checkpoint
from signing.evidence import EvidenceKind, EvidenceRecord, verify_evidence
from signing.keys import CertifiedKey
from signing.signer import Signer
from signing.xmldsig import verify_envelope

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE_SIGNING = ("axis", "adapters", "schemas")

FORBIDDEN_NAMES = frozenset(
    {
        # signing/'s key material and what makes, loads or writes it
        "CertifiedKey",
        "PrivateKey",
        "DevKeySet",
        "generate_private_key",
        "load_private_key",
        "load_certified_key",
        "load_pkcs12",
        "dump_pkcs12",
        "private_key_pem",
        "load_or_create_dev_keys",
        "read_dev_keys",
        "write_dev_keys",
        "create_dev_ca",
        "issue_certificate",
        "issue_agency_certificate",
        "issue_axis_certificate",
        # cryptography's private keys and loaders
        "load_pem_private_key",
        "load_der_private_key",
        "load_ssh_private_key",
        "load_key_and_certificates",
        "RSAPrivateKey",
        "EllipticCurvePrivateKey",
        "Ed25519PrivateKey",
        "Ed448PrivateKey",
        "DSAPrivateKey",
        "X25519PrivateKey",
        "X448PrivateKey",
        "PrivateKeyTypes",
    }
)
FORBIDDEN_ATTRIBUTES = frozenset(
    {"private_bytes", "private_numbers", "__closure__", "cell_contents"}
    | {"_evidence", "_checkpoint", "_envelope"}  # the Signer's closures
)
FORBIDDEN_MODULES = (
    "signing.devca",
    "signing.devkeys",
    "cryptography.hazmat.primitives.serialization.pkcs12",
)
RECORD_NAMES = frozenset({"m", "r", "message", "record"})
"""`.key` outside signing/ is a bus record's partitioning key, on a variable of these names."""


def _receiver(node: ast.Attribute) -> str:
    value = node.value
    while isinstance(value, ast.Attribute):
        value = value.value
    return value.id if isinstance(value, ast.Name) else type(value).__name__


def key_touches(path: Path) -> list[str]:
    """Each place in `path` that names private-key material, as `file:line: what`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        what = None
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            what = node.id
        elif isinstance(node, ast.Attribute):
            if node.attr in FORBIDDEN_NAMES or node.attr in FORBIDDEN_ATTRIBUTES:
                what = f".{node.attr}"
            elif node.attr == "key" and _receiver(node) not in RECORD_NAMES:
                what = f"{_receiver(node)}...key"
        elif isinstance(node, ast.alias) and node.name in FORBIDDEN_NAMES:
            what = node.name
        elif isinstance(node, ast.ImportFrom | ast.Import):
            modules = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
            )
            what = next((m for m in modules if m.startswith(FORBIDDEN_MODULES)), None)
        if what is not None:
            shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            found.append(f"{shown}:{getattr(node, 'lineno', '?')}: {what}")
    return found


def test_no_package_outside_signing_touches_a_private_key() -> None:
    files = [f for package in OUTSIDE_SIGNING for f in sorted((ROOT / package).rglob("*.py"))]
    assert len(files) > 20  # the scan reads the real packages
    assert [touch for path in files for touch in key_touches(path)] == []


def test_the_scan_finds_what_it_forbids(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    source = (
        "from signing.keys import CertifiedKey, load_private_key\n"
        "from cryptography.hazmat.primitives.serialization import load_pem_private_key\n"
        "import signing.devkeys\n"
        "def f(identity, record, signer):\n"
        "    record.key\n"
        "    identity.signer.key.private_bytes()\n"
        "    signer.sign_evidence.__closure__[0].cell_contents\n"
    )
    sample.write_text(source)
    whats = [line.split(": ", 1)[1] for line in key_touches(sample)]
    assert "CertifiedKey" in whats
    assert "load_private_key" in whats
    assert "load_pem_private_key" in whats
    assert "signing.devkeys" in whats
    assert "identity...key" in whats
    assert ".private_bytes" in whats
    assert ".__closure__" in whats and ".cell_contents" in whats
    assert not any(w.startswith("record") for w in whats)


def _reachable(signer: Signer) -> list[object]:
    """Every value an attribute, property or argument-free method of `signer` gives."""
    values: list[object] = []
    for name in dir(signer):
        if name.startswith("__"):
            continue
        value = getattr(signer, name)
        values.append(value)
        if isinstance(value, tuple):
            values.extend(value)
    return values


def test_a_signer_does_not_hand_out_its_key(keys: Keys) -> None:
    material = keys.ec
    signer = Signer(material)
    assert not hasattr(signer, "__dict__")
    assert not hasattr(signer, "key")
    for value in _reachable(signer):
        assert value is not material.key
        assert not isinstance(value, CertifiedKey)
        assert "PrivateKey" not in type(value).__name__
    assert signer.certificate == material.certificate
    assert signer.fingerprint == material.fingerprint
    with pytest.raises(TypeError):
        pickle.dumps(signer)
    with pytest.raises(TypeError):
        copy.copy(signer)
    with pytest.raises(AttributeError):
        signer.key = material.key  # type: ignore[attr-defined]
    assert "PRIVATE" not in repr(signer)


def test_what_a_signer_signs_verifies_with_its_certificate(keys: Keys) -> None:
    signer = Signer(keys.axis_ec)
    at = datetime.now(UTC)

    checkpoint = Checkpoint("edoc-axis.test/audit", 3, bytes(32), at)
    note = signer.sign_checkpoint(checkpoint, "edoc-axis.test/audit")
    assert verify_checkpoint(note, signer.certificate, "edoc-axis.test/audit") == checkpoint

    original = sample_path().read_bytes()
    record = EvidenceRecord.for_document(
        original,
        kind=EvidenceKind.RECEIPT,
        document_id="doc-1",
        sender=G22,
        recipients=["000.00.00.H26"],
        time=at,
        verified=None,
    )
    evidence = signer.sign_evidence(record)
    assert verify_evidence(evidence, signer.certificate, original=original) == record

    agency = Signer(keys.ec)
    envelope = agency.sign_envelope(original)
    verified = verify_envelope(
        envelope, certificates=registered(keys.ec), trust=keys.trust, receipt_time=at
    )
    assert verified.fingerprint == agency.fingerprint
