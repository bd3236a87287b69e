"""Signed checkpoints: round trips with the axis's ECDSA and RSA keys, the exact text format
(checked against an independent re-implementation of the signed-note rules and against
`openssl dgst`), and every tampering refused with a clear code."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from signing_support import Keys
from tsa_support import require_openssl

from signing.checkpoints import (
    MAX_NOTE_BYTES,
    RSA_IDENTIFIER,
    Checkpoint,
    format_time,
    key_id,
    sign_checkpoint,
    verifier_key,
    verify_checkpoint,
)
from signing.devca import issue_axis_certificate
from signing.errors import ErrorCode, SignatureError
from signing.keys import CertifiedKey

ORIGIN = "edoc-axis.example/audit"
ROOT = hashlib.sha256(b"the audit log's root").digest()
WHEN = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


@pytest.fixture(params=["ec", "rsa"])
def axis(request: pytest.FixtureRequest, keys: Keys) -> CertifiedKey:
    """The axis's identity: ECDSA P-256 (the default) and RSA-2048."""
    identity: CertifiedKey = keys.axis_ec if request.param == "ec" else keys.axis_rsa
    return identity


@pytest.fixture
def moment(axis: CertifiedKey) -> datetime:
    """A time inside the axis certificate's validity (issued an hour before the session),
    at second 0 and microsecond 123456 so the tamperings below know its text."""
    start = axis.certificate.not_valid_before_utc + timedelta(hours=2)
    return start.replace(second=0, microsecond=123456)


@pytest.fixture
def checkpoint(moment: datetime) -> Checkpoint:
    return Checkpoint(origin=ORIGIN, size=1024, root=ROOT, time=moment)


@pytest.fixture
def note(checkpoint: Checkpoint, axis: CertifiedKey) -> str:
    return sign_checkpoint(checkpoint, axis, ORIGIN)


def spki(identity: CertifiedKey) -> bytes:
    return identity.certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def expected_key_id(identity: CertifiedKey, name: str) -> bytes:
    """The key ID as the spec words it, computed here without the module's code."""
    if isinstance(identity.key, ec.EllipticCurvePrivateKey):
        return hashlib.sha256(spki(identity)).digest()[:4]
    material = name.encode() + b"\n" + b"\xff" + RSA_IDENTIFIER + b"\n" + spki(identity)
    return hashlib.sha256(material).digest()[:4]


def sign_text(text: str, identity: CertifiedKey, name: str = ORIGIN) -> str:
    """A signed note built by hand: any text, signed the way the module documents."""
    data = text.encode()
    key = identity.key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
    else:
        signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    encoded = base64.b64encode(expected_key_id(identity, name) + signature).decode()
    return f"{text}\n— {name} {encoded}\n"


def body(size: str = "1024", root: str | None = None, time: str | None = None) -> str:
    root_line = base64.b64encode(ROOT).decode() if root is None else root
    time_line = "time 2026-03-04T05:06:07.890123Z" if time is None else time
    return f"{ORIGIN}\n{size}\n{root_line}\n{time_line}\n"


def refused(note: str, identity: CertifiedKey, code: ErrorCode, **kwargs: bool) -> str:
    with pytest.raises(SignatureError) as caught:
        verify_checkpoint(note, identity.certificate, ORIGIN, **kwargs)
    assert caught.value.code is code, caught.value
    return caught.value.message


# --- round trips -------------------------------------------------------------------------


def test_round_trip(note: str, checkpoint: Checkpoint, axis: CertifiedKey) -> None:
    assert verify_checkpoint(note, axis.certificate, ORIGIN) == checkpoint


@pytest.mark.parametrize("size", [0, 1, 2**63 - 1])
def test_round_trip_sizes(size: int, axis: CertifiedKey, moment: datetime) -> None:
    checkpoint = Checkpoint(ORIGIN, size, ROOT, moment)
    note = sign_checkpoint(checkpoint, axis, ORIGIN)
    assert verify_checkpoint(note, axis.certificate, ORIGIN).size == size


def test_round_trip_keeps_microseconds_and_normalises_zone(
    axis: CertifiedKey, moment: datetime
) -> None:
    hanoi = timezone(timedelta(hours=7))
    checkpoint = Checkpoint(ORIGIN, 5, ROOT, moment.astimezone(hanoi))
    assert checkpoint.time.tzinfo is UTC and checkpoint.time == moment
    back = verify_checkpoint(sign_checkpoint(checkpoint, axis, ORIGIN), axis.certificate, ORIGIN)
    assert back.time == moment and back.time.microsecond == moment.microsecond


def test_key_name_other_than_origin(axis: CertifiedKey, checkpoint: Checkpoint) -> None:
    note = sign_checkpoint(checkpoint, axis, "axis.example/checkpoint-key-2")
    assert verify_checkpoint(note, axis.certificate, "axis.example/checkpoint-key-2")
    with pytest.raises(SignatureError) as caught:
        verify_checkpoint(note, axis.certificate, ORIGIN)
    assert caught.value.code is ErrorCode.MISSING_SIGNATURE


# --- the format ----------------------------------------------------------------------------


def test_exact_text(keys: Keys) -> None:
    checkpoint = Checkpoint(ORIGIN, 1024, ROOT, WHEN)
    assert checkpoint.body == body()
    assert format_time(WHEN) == "2026-03-04T05:06:07.890123Z"
    assert format_time(datetime(999, 1, 2, tzinfo=UTC)) == "0999-01-02T00:00:00.000000Z"


def test_signature_line_layout(note: str, axis: CertifiedKey, checkpoint: Checkpoint) -> None:
    text, _, block = note.rpartition("\n\n")
    assert text + "\n" == checkpoint.body
    assert block.endswith("\n") and block.count("\n") == 1
    dash, name, encoded = block[:-1].split(" ")
    assert dash == "\u2014" and name == ORIGIN
    raw = base64.b64decode(encoded, validate=True)
    assert raw[:4] == expected_key_id(axis, ORIGIN) == key_id(axis.certificate, ORIGIN)
    signature = raw[4:]
    if isinstance(axis.key, ec.EllipticCurvePrivateKey):
        decode_dss_signature(signature)  # ASN.1 DER ECDSA-Sig-Value, as type 0x02 wants
        axis.key.public_key().verify(signature, checkpoint.body.encode(), ec.ECDSA(hashes.SHA256()))
    else:
        assert isinstance(axis.key, rsa.RSAPrivateKey)
        assert len(signature) == axis.key.key_size // 8
        axis.key.public_key().verify(
            signature, checkpoint.body.encode(), padding.PKCS1v15(), hashes.SHA256()
        )


def test_rsa_signatures_are_deterministic(keys: Keys) -> None:
    moment = keys.axis_rsa.certificate.not_valid_before_utc + timedelta(hours=2)
    checkpoint = Checkpoint(ORIGIN, 7, ROOT, moment)
    assert sign_checkpoint(checkpoint, keys.axis_rsa, ORIGIN) == sign_checkpoint(
        checkpoint, keys.axis_rsa, ORIGIN
    )


def test_hand_built_note_verifies(axis: CertifiedKey, moment: datetime) -> None:
    note = sign_text(body(time="time " + moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")), axis)
    assert verify_checkpoint(note, axis.certificate, ORIGIN) == Checkpoint(
        ORIGIN, 1024, ROOT, moment
    )


def test_verifier_key(keys: Keys) -> None:
    vkey = verifier_key(keys.axis_ec.certificate, ORIGIN)
    name, hex_id, encoded = vkey.split("+", 2)  # as Go's note.NewVerifier splits it
    assert name == ORIGIN and bytes.fromhex(hex_id) == expected_key_id(keys.axis_ec, ORIGIN)
    assert base64.b64decode(encoded) == b"\x02" + spki(keys.axis_ec)
    rsa_vkey = verifier_key(keys.axis_rsa.certificate, ORIGIN)
    material = base64.b64decode(rsa_vkey.split("+", 2)[2])
    assert material == b"\xff" + RSA_IDENTIFIER + b"\n" + spki(keys.axis_rsa)
    # The spec's recommended key ID is SHA-256(name || "\n" || type || key) over the vkey bytes.
    assert hashlib.sha256(ORIGIN.encode() + b"\n" + material).digest()[:4] == bytes.fromhex(
        rsa_vkey.split("+", 2)[1]
    )


@pytest.fixture(scope="module")
def openssl() -> str:
    return require_openssl()


def test_openssl_verifies_the_signature(
    openssl: str, note: str, axis: CertifiedKey, tmp_path: Path
) -> None:
    """An outside tool checks the signature with nothing but the certificate's public key."""
    text, _, block = note.rpartition("\n\n")
    raw = base64.b64decode(block.split(" ")[2])
    (tmp_path / "text").write_bytes((text + "\n").encode())
    (tmp_path / "sig").write_bytes(raw[4:])
    public = axis.certificate.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "key.pem").write_bytes(public)
    command = [openssl, "dgst", "-sha256", "-verify", str(tmp_path / "key.pem")]
    command += ["-signature", str(tmp_path / "sig"), str(tmp_path / "text")]
    good = subprocess.run(command, capture_output=True, timeout=30)
    assert good.returncode == 0 and b"Verified OK" in good.stdout, good.stderr
    (tmp_path / "text").write_bytes((text.replace("1024", "1025") + "\n").encode())
    bad = subprocess.run(command, capture_output=True, timeout=30)
    assert bad.returncode != 0


# --- tampering ---------------------------------------------------------------------------

TAMPERINGS: dict[str, Callable[[str], str]] = {
    "size": lambda n: n.replace("\n1024\n", "\n1025\n", 1),
    "size smaller": lambda n: n.replace("\n1024\n", "\n1023\n", 1),
    "root": lambda n: n.replace(
        base64.b64encode(ROOT).decode(), base64.b64encode(bytes(32)).decode(), 1
    ),
    "time": lambda n: n.replace(":00.123456Z", ":01.123456Z", 1),
    "time microsecond": lambda n: n.replace(".123456Z", ".123457Z", 1),
    "origin": lambda n: n.replace(ORIGIN + "\n", "edoc-axis.example/other\n", 1),
    "added body line": lambda n: n.replace("Z\n\n", "Z\nextra line\n\n", 1),
    "added extension line before time": lambda n: n.replace("\ntime ", "\nnote hi\ntime ", 1),
    "removed time line": lambda n: n[: n.index("time ")] + n[n.index("\n\n") + 1 :],
    "removed size line": lambda n: n.replace("\n1024\n", "\n", 1),
}


@pytest.mark.parametrize("name", list(TAMPERINGS))
def test_tampered_text_is_refused(name: str, note: str, axis: CertifiedKey) -> None:
    changed = TAMPERINGS[name](note)
    assert changed != note, "the tampering changed nothing"
    refused(changed, axis, ErrorCode.INVALID_SIGNATURE)


def test_every_signature_byte_is_covered(note: str, axis: CertifiedKey) -> None:
    text, _, block = note.rpartition("\n\n")
    dash, name, encoded = block[:-1].split(" ")
    raw = base64.b64decode(encoded)
    for index in range(4, len(raw), max(1, len(raw) // 24)):
        changed = bytearray(raw)
        changed[index] ^= 0x01
        forged = f"{text}\n\n{dash} {name} {base64.b64encode(bytes(changed)).decode()}\n"
        refused(forged, axis, ErrorCode.INVALID_SIGNATURE)


def test_changed_key_id_is_an_unknown_key(note: str, axis: CertifiedKey) -> None:
    text, _, block = note.rpartition("\n\n")
    dash, name, encoded = block[:-1].split(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[0] ^= 0x80
    forged = f"{text}\n\n{dash} {name} {base64.b64encode(bytes(raw)).decode()}\n"
    message = refused(forged, axis, ErrorCode.MISSING_SIGNATURE)
    assert key_id(axis.certificate, ORIGIN).hex() in message


def test_changed_key_name_is_an_unknown_key(note: str, axis: CertifiedKey) -> None:
    forged = note.replace(f"— {ORIGIN} ", "— edoc-axis.example/auditx ", 1)
    refused(forged, axis, ErrorCode.MISSING_SIGNATURE)


def test_another_key_is_refused(note: str, keys: Keys, axis: CertifiedKey) -> None:
    """The other axis key, and an agency's key: neither is the one the note names."""
    other = keys.axis_rsa if axis is keys.axis_ec else keys.axis_ec
    refused(note, other, ErrorCode.MISSING_SIGNATURE)
    refused(note, keys.ec, ErrorCode.MISSING_SIGNATURE)


def test_signed_by_someone_else_is_refused(keys: Keys, axis: CertifiedKey) -> None:
    """An agency's key signing a perfectly formed checkpoint under the axis's key name."""
    forged = sign_text(body(), keys.ec)
    refused(forged, axis, ErrorCode.MISSING_SIGNATURE)


def test_removed_signature_line(note: str, axis: CertifiedKey) -> None:
    text = note.rpartition("\n\n")[0]
    refused(text + "\n", axis, ErrorCode.MALFORMED)
    refused(text + "\n\n", axis, ErrorCode.MALFORMED)


@pytest.mark.parametrize(
    "garbage",
    ["x", "x\n", "\n", "\n\n", " ", "— ", "— name\n", "— name !!!!\n", "— name AAAA\n"],
)
def test_trailing_garbage(garbage: str, note: str, axis: CertifiedKey) -> None:
    refused(note + garbage, axis, ErrorCode.MALFORMED)


def test_missing_final_newline(note: str, axis: CertifiedKey) -> None:
    refused(note[:-1], axis, ErrorCode.MALFORMED)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda n: n.replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda n: n.replace("\n1024", "\n\t1024"), id="tab"),
        pytest.param(lambda n: n.replace("\n1024", "\n\x001024"), id="nul"),
        pytest.param(lambda n: "\ufeff" + n, id="bom"),
        pytest.param(lambda n: n.replace("—", "-"), id="hyphen-for-em-dash"),
        pytest.param(lambda n: n.replace("\u2014 ", "\u2014  "), id="two-spaces"),
        pytest.param(lambda n: n.replace("\n\n", "\n \n"), id="no-blank-line"),
    ],
)
def test_format_variants_are_refused(
    change: Callable[[str], str], note: str, axis: CertifiedKey
) -> None:
    with pytest.raises(SignatureError) as caught:
        verify_checkpoint(change(note), axis.certificate, ORIGIN)
    assert caught.value.code in (ErrorCode.MALFORMED, ErrorCode.INVALID_SIGNATURE)


def test_duplicated_signature_line(note: str, axis: CertifiedKey) -> None:
    line = note.rpartition("\n\n")[2]
    refused(note + line, axis, ErrorCode.MALFORMED)


def test_cosignature_from_another_key_is_ignored_unless_refused(
    note: str, keys: Keys, axis: CertifiedKey, checkpoint: Checkpoint
) -> None:
    """The spec: verifiers ignore lines from unknown keys (witnesses, rotated keys)."""
    witness = sign_text(checkpoint.body, keys.ec_other, "witness.example/w1")
    cosigned = note + witness.rpartition("\n\n")[2]
    assert verify_checkpoint(cosigned, axis.certificate, ORIGIN) == checkpoint
    message = refused(cosigned, axis, ErrorCode.MALFORMED, only_signer=True)
    assert "witness.example/w1" in message
    assert verify_checkpoint(note, axis.certificate, ORIGIN, only_signer=True) == checkpoint


def test_a_bad_line_from_the_known_key_refuses_the_note(
    note: str, keys: Keys, axis: CertifiedKey
) -> None:
    """Another valid line first does not rescue a failing line from the expected key."""
    text = note.rpartition("\n\n")[0]
    witness = sign_text(text + "\n", keys.ec_other, "witness.example/w1").rpartition("\n\n")[2]
    forged = note.replace("\n1024\n", "\n1025\n", 1)
    refused(forged.replace("\n\n", "\n\n" + witness, 1), axis, ErrorCode.INVALID_SIGNATURE)


# --- signed but not our format -------------------------------------------------------------

MALFORMED_BODIES = {
    "leading zero": body(size="01024"),
    "plus sign": body(size="+1024"),
    "underscore": body(size="1_024"),
    "arabic-indic digits": body(size="\u0661\u0660"),
    "too large": body(size=str(2**63)),
    "root not canonical": body(root=base64.b64encode(ROOT).decode()[:-2] + "J="),
    "root too short": body(root=base64.b64encode(ROOT[:31]).decode()),
    "root not base64": body(root="not base64!"),
    "time without fraction": body(time="time 2026-03-04T05:06:07Z"),
    "time with offset": body(time="time 2026-03-04T05:06:07.890123+00:00"),
    "time keyword": body(time="Time 2026-03-04T05:06:07.890123Z"),
    "time impossible date": body(time="time 2026-02-30T05:06:07.890123Z"),
    "time year zero": body(time="time 0000-01-01T00:00:00.000000Z"),
    "no time line": f"{ORIGIN}\n1024\n{base64.b64encode(ROOT).decode()}\n",
    "two extension lines": body() + "more 1\n",
    "blank line inside": f"{ORIGIN}\n\n1024\n",
    "origin with space": body().replace(ORIGIN, "edoc axis", 1),
}


@pytest.mark.parametrize("name", list(MALFORMED_BODIES))
def test_signed_text_in_another_format_is_refused(name: str, axis: CertifiedKey) -> None:
    note = sign_text(MALFORMED_BODIES[name], axis)
    refused(note, axis, ErrorCode.MALFORMED)


# --- limits, keys, times ------------------------------------------------------------------


def test_hostile_inputs(note: str, axis: CertifiedKey) -> None:
    refused(note + "— a AAAAAAA=\n" * 101, axis, ErrorCode.MALFORMED)
    refused("x" * (MAX_NOTE_BYTES + 1), axis, ErrorCode.MALFORMED)
    refused(note.replace("1024", "\udc80"), axis, ErrorCode.MALFORMED)
    refused("", axis, ErrorCode.MALFORMED)
    with pytest.raises(SignatureError) as caught:
        verify_checkpoint(note.encode(), axis.certificate, ORIGIN)  # type: ignore[arg-type]
    assert caught.value.code is ErrorCode.MALFORMED


def test_checkpoint_fields_are_checked(moment: datetime) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Checkpoint(ORIGIN, 1, ROOT, moment.replace(tzinfo=None))
    with pytest.raises(ValueError, match="32 bytes"):
        Checkpoint(ORIGIN, 1, ROOT[:31], moment)
    with pytest.raises(ValueError, match="outside"):
        Checkpoint(ORIGIN, -1, ROOT, moment)
    with pytest.raises(ValueError, match="outside"):
        Checkpoint(ORIGIN, 2**63, ROOT, moment)
    with pytest.raises(ValueError, match="int"):
        Checkpoint(ORIGIN, True, ROOT, moment)
    for origin in ("", "a b", "a+b", "a\nb", "a\u200bb", "\udc80"):
        with pytest.raises(ValueError):
            Checkpoint(origin, 1, ROOT, moment)


def test_bad_key_names(checkpoint: Checkpoint, axis: CertifiedKey, note: str) -> None:
    for name in ("", "a b", "a+b", "a\nb"):
        with pytest.raises(ValueError):
            sign_checkpoint(checkpoint, axis, name)
        with pytest.raises(SignatureError) as caught:
            verify_checkpoint(note, axis.certificate, name)
        assert caught.value.code is ErrorCode.MALFORMED


def test_unsupported_keys(keys: Keys, checkpoint: Checkpoint) -> None:
    p384 = issue_axis_certificate(keys.ca, key=ec.generate_private_key(ec.SECP384R1()))
    rsa1024 = issue_axis_certificate(
        keys.ca, key=rsa.generate_private_key(public_exponent=65537, key_size=1024)
    )
    for identity in (p384, rsa1024):
        with pytest.raises(SignatureError) as caught:
            sign_checkpoint(checkpoint, identity, ORIGIN)
        assert caught.value.code is ErrorCode.UNSUPPORTED_KEY
        with pytest.raises(SignatureError) as caught:
            verify_checkpoint("x", identity.certificate, ORIGIN)
        assert caught.value.code is ErrorCode.UNSUPPORTED_KEY


def test_times_outside_the_certificate(keys: Keys) -> None:
    """A key speaks for the axis only while its certificate is valid, both ways."""
    start = datetime(2030, 1, 1, tzinfo=UTC)
    wide = issue_axis_certificate(keys.ca, not_before=start, not_after=start + timedelta(days=365))
    narrow = issue_axis_certificate(
        keys.ca, key=wide.key, not_before=start, not_after=start + timedelta(days=30)
    )
    later = Checkpoint(ORIGIN, 3, ROOT, start + timedelta(days=60))
    note = sign_checkpoint(later, wide, ORIGIN)
    assert verify_checkpoint(note, wide.certificate, ORIGIN) == later
    with pytest.raises(SignatureError) as caught:
        verify_checkpoint(note, narrow.certificate, ORIGIN)
    assert caught.value.code is ErrorCode.CERTIFICATE_EXPIRED
    with pytest.raises(SignatureError) as caught:
        sign_checkpoint(later, narrow, ORIGIN)
    assert caught.value.code is ErrorCode.CERTIFICATE_EXPIRED
    early = Checkpoint(ORIGIN, 3, ROOT, start - timedelta(seconds=1))
    with pytest.raises(SignatureError) as caught:
        sign_checkpoint(early, wide, ORIGIN)
    assert caught.value.code is ErrorCode.CERTIFICATE_NOT_YET_VALID
