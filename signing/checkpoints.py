"""Signed audit-log checkpoints: the axis's statement "the log had this many entries and this
root hash at this time", in a text anyone can verify offline with the axis's certificate.

Why this shape: the C2SP signed-note (https://c2sp.org/signed-note) and tlog-checkpoint
(https://c2sp.org/tlog-checkpoint) formats are what transparency logs (Go's checksum
database, Sigstore Rekor, CT static logs, witnesses) already exchange, so auditors can read
the note with their own tools and witnesses can cosign it without a format of ours.

Format (UTF-8, every line ends in U+000A, no other control characters)::

    <origin>
    <tree size, ASCII decimal, no leading zeros>
    <root hash, standard base64 of the 32-byte RFC 9162 SHA-256 root>
    time <RFC 3339 UTC, exactly six fraction digits and "Z">
    <blank line>
    — <key name> <base64(4-byte key ID || signature)>

for example (ECDSA P-256, the signature shortened here)::

    edoc-axis.example/audit
    1024
    LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE=
    time 2026-11-22T05:15:00.250000Z

    — edoc-axis.example/audit dVDbxjBEAiALJQY1KjvNbpNA6IF9B5Pmo...sCBs/Gbwu9vpUJQYTrJS699U=

The signed text is the four body lines including the final newline (not the blank line).

The time line. tlog-checkpoint allows opaque extension lines after the root; we use exactly
one, `time ` then the time in RFC 3339 UTC with six fraction digits and `Z`
(`%Y-%m-%dT%H:%M:%S.%fZ`, the same form as the axis's evidence records). Why: auditors read
these notes, so a calendar time beats POSIX seconds; one fixed width gives one text per
instant (nothing to canonicalise); microseconds round-trip any Python datetime exactly. The
keyword `time` is the one tlog-cosignature uses for its own (POSIX seconds) line. The axis's
signature covers the line; witness cosignatures make no statement about extension lines.

Signature types. The signed-note spec itself specifies only Ed25519 (type 0x01), which the
axis does not hold; it signs with ECDSA P-256 (default) or RSA, so:

- ECDSA P-256: signed-note type 0x02, "ECDSA signatures as implemented by
  github.com/transparency-dev/witness" (what Sigstore Rekor's checkpoints use): the
  signature is the ASN.1 DER ECDSA-Sig-Value over SHA-256 of the note text, and the key ID
  is the first four bytes of SHA-256 of the DER SubjectPublicKeyInfo (no name, no type byte:
  that is the spec's own exception for 0x02). Go verifies these notes with
  `golang.org/x/mod/sumdb/note.Open` and transparency-dev/formats `note.NewECDSAVerifier`,
  given the vkey `verifier_key()` returns.
- RSA (2048 bits or more): no type is assigned, so we use 0xff, which the spec reserves for
  types "without an identifier byte", followed by the identifier
  `edoc-axis/rsassa-pkcs1-v1_5-sha256` and a newline; the signature is RSASSA-PKCS1-v1_5
  with SHA-256 over the note text (deterministic, like the axis's XMLDSig rsa-sha256), and
  the key ID follows the spec's recommendation with that as the type and SPKI DER as the key:
  SHA-256(key name || 0x0A || 0xff || identifier || 0x0A || SPKI DER)[:4].

Both verify with `openssl dgst -sha256 -verify <public key> -signature <sig> <note text>`;
stock note tools have no verifier for the RSA type (it is ours), so prefer ECDSA keys.

Verification follows the spec: lines from other keys (a witness's cosignature, a rotated
key) are ignored unless `only_signer=True`; a line from the expected key that fails refuses
the whole note; the note must carry exactly one line from the expected key. The checkpoint's
time must also lie inside the certificate's validity, when signing and when verifying.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from signing.errors import ErrorCode, SignatureError
from signing.keys import CertifiedKey

SIGNATURE_TYPE_ECDSA = 0x02
"""signed-note type for ECDSA (P-256, SHA-256, ASN.1 DER signatures; key ID over SPKI)."""
SIGNATURE_TYPE_OTHER = 0xFF
"""signed-note type reserved for signature types without their own byte (our RSA)."""
RSA_IDENTIFIER = b"edoc-axis/rsassa-pkcs1-v1_5-sha256"
"""What follows 0xff for the axis's RSA signatures (then a newline, then the SPKI DER)."""

SIGNATURE_PREFIX = "— "
"""Em dash (U+2014) and a space: how every signature line starts."""
TIME_KEYWORD = "time"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
ROOT_SIZE = 32
MAX_TREE_SIZE = 2**63 - 1
"""The largest size the Go and Rust tlog libraries (int64 indexes) can hold."""
MAX_NOTE_BYTES = 64 * 1024
"""Far above a checkpoint with a hundred RSA-4096 signatures; bounds the work on hostile input."""
MAX_SIGNATURES = 100
"""Go's `note.Open` limit (the spec asks verifiers to accept at least 16)."""
MIN_RSA_BITS = 2048

_SIZE = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}", re.ASCII)
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


@dataclass(frozen=True)
class Checkpoint:
    """A tree head of the audit log: `size` entries with RFC 9162 root hash `root` at `time`.

    `time` must be timezone-aware; it is kept in UTC (an aware time in another zone is the
    same instant, converted)."""

    origin: str
    size: int
    root: bytes
    time: datetime

    def __post_init__(self) -> None:
        check_name(self.origin, what="origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise ValueError(f"tree size must be an int, not {type(self.size).__name__}")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise ValueError(f"tree size {self.size} is outside 0..2^63-1")
        if not isinstance(self.root, bytes) or len(self.root) != ROOT_SIZE:
            raise ValueError(f"root hash must be {ROOT_SIZE} bytes (SHA-256)")
        if not isinstance(self.time, datetime) or self.time.tzinfo is None:
            raise ValueError("checkpoint time must be a timezone-aware datetime")
        object.__setattr__(self, "time", self.time.astimezone(UTC))

    @property
    def body(self) -> str:
        """The note text the signatures cover (four lines, final newline included)."""
        root = base64.b64encode(self.root).decode("ascii")
        return f"{self.origin}\n{self.size}\n{root}\n{TIME_KEYWORD} {format_time(self.time)}\n"


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with six fraction digits (`strftime("%Y")` does not pad years < 1000)."""
    t = moment.astimezone(UTC)
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
        f".{t.microsecond:06d}Z"
    )


def check_name(name: str, *, what: str = "key name") -> str:
    """A key name or origin as signed-note wants it: non-empty, no Unicode space, no `+`,
    no control character. (Origins may legally hold more; the axis's need not.)"""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} must be a non-empty string")
    if "+" in name or any(c.isspace() for c in name) or _CONTROL.search(name):
        raise ValueError(f"{what} {name!r} holds a space, a '+' or a control character")
    if not name.isprintable():
        raise ValueError(f"{what} {name!r} holds a character that is not printable")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what} {name!r} is not valid UTF-8") from exc
    return name


def _spki(public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _supported(public_key: object) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """The key if the axis signs checkpoints with its kind; SignatureError otherwise."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if isinstance(public_key.curve, ec.SECP256R1):
            return public_key
        raise SignatureError(
            ErrorCode.UNSUPPORTED_KEY,
            f"checkpoints are signed with ECDSA P-256, not {public_key.curve.name}",
        )
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size >= MIN_RSA_BITS:
            return public_key
        raise SignatureError(
            ErrorCode.UNSUPPORTED_KEY,
            f"RSA key of {public_key.key_size} bits ({MIN_RSA_BITS} at least)",
        )
    raise SignatureError(
        ErrorCode.UNSUPPORTED_KEY, f"cannot sign checkpoints with {type(public_key).__name__}"
    )


def _type_and_key(public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> bytes:
    """Signature type then public key encoding: what a vkey's base64 part holds."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return bytes([SIGNATURE_TYPE_ECDSA]) + _spki(public_key)
    return bytes([SIGNATURE_TYPE_OTHER]) + RSA_IDENTIFIER + b"\n" + _spki(public_key)


def key_id(certificate: x509.Certificate, key_name: str) -> bytes:
    """The 4-byte signed-note key ID of the certificate's key under `key_name`."""
    check_name(key_name)
    public_key = _supported(certificate.public_key())
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return hashlib.sha256(_spki(public_key)).digest()[:4]
    material = key_name.encode("utf-8") + b"\n" + _type_and_key(public_key)
    return hashlib.sha256(material).digest()[:4]


def verifier_key(certificate: x509.Certificate, key_name: str) -> str:
    """The vkey `<name>+<hex key ID>+<base64(type || key)>` other note tools take (for ECDSA,
    transparency-dev/formats `note.NewECDSAVerifier`)."""
    public_key = _supported(certificate.public_key())
    encoded = base64.b64encode(_type_and_key(public_key)).decode("ascii")
    return f"{key_name}+{key_id(certificate, key_name).hex()}+{encoded}"


def _check_time(certificate: x509.Certificate, moment: datetime) -> None:
    """A key speaks for the axis only while its certificate is valid."""
    if moment < certificate.not_valid_before_utc:
        raise SignatureError(
            ErrorCode.CERTIFICATE_NOT_YET_VALID,
            f"checkpoint time {moment.isoformat()} is before the certificate's validity "
            f"({certificate.not_valid_before_utc.isoformat()})",
        )
    if moment > certificate.not_valid_after_utc:
        raise SignatureError(
            ErrorCode.CERTIFICATE_EXPIRED,
            f"checkpoint time {moment.isoformat()} is after the certificate expired "
            f"({certificate.not_valid_after_utc.isoformat()})",
        )


def sign_checkpoint(checkpoint: Checkpoint, signer: CertifiedKey, key_name: str) -> str:
    """The signed note for `checkpoint`, one signature line by `signer` under `key_name`
    (tlog-checkpoint recommends the origin as key name). ValueError for a key name the
    format cannot carry; SignatureError for a key or time the axis must not sign with."""
    check_name(key_name)
    _supported(signer.certificate.public_key())
    _check_time(signer.certificate, checkpoint.time)
    text = checkpoint.body.encode("utf-8")
    key = signer.key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(text, ec.ECDSA(hashes.SHA256()))
    else:
        signature = key.sign(text, padding.PKCS1v15(), hashes.SHA256())
    line = base64.b64encode(key_id(signer.certificate, key_name) + signature).decode("ascii")
    return f"{checkpoint.body}\n{SIGNATURE_PREFIX}{key_name} {line}\n"


@dataclass(frozen=True)
class _SignatureLine:
    name: str
    key_id: bytes
    signature: bytes


def _malformed(why: str) -> SignatureError:
    return SignatureError(ErrorCode.MALFORMED, f"not a signed checkpoint: {why}")


def _split(note: str) -> tuple[str, list[_SignatureLine]]:
    """Text and signature lines, as Go's `note.Open` splits them (at the last blank line)."""
    if not isinstance(note, str):
        raise _malformed(f"expected text, got {type(note).__name__}")
    try:
        size = len(note.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise _malformed("not valid UTF-8") from exc
    if size > MAX_NOTE_BYTES:
        raise _malformed(f"{size} bytes (at most {MAX_NOTE_BYTES})")
    if _CONTROL.search(note):
        raise _malformed("a control character other than newline (CR, tab, NUL...)")
    split = note.rfind("\n\n")
    if split < 0:
        raise _malformed("no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise _malformed("no signature line after the blank line")
    if not block.endswith("\n"):
        raise _malformed("trailing text after the last signature line (or no final newline)")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise _malformed(f"{len(lines)} signature lines (at most {MAX_SIGNATURES})")
    return text, [_signature_line(line, number) for number, line in enumerate(lines, 1)]


def _signature_line(line: str, number: int) -> _SignatureLine:
    if not line.startswith(SIGNATURE_PREFIX):
        raise _malformed(f"signature line {number} does not start with an em dash and a space")
    name, space, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    try:
        check_name(name)
    except ValueError as exc:
        raise _malformed(f"signature line {number}: {exc}") from exc
    if not space or not _BASE64.fullmatch(encoded):
        raise _malformed(f"signature line {number} is not `— <name> <base64>`")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _malformed(f"signature line {number} is not valid base64") from exc
    if len(raw) < 5 or base64.b64encode(raw).decode("ascii") != encoded:
        raise _malformed(f"signature line {number} is too short or not canonical base64")
    return _SignatureLine(name, raw[:4], raw[4:])


def _verify_signature(public_key: object, signature: bytes, text: bytes) -> None:
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, text, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, text, padding.PKCS1v15(), hashes.SHA256())
        else:  # pragma: no cover - _supported() refused it already
            raise InvalidSignature
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError(
            ErrorCode.INVALID_SIGNATURE,
            "the checkpoint signature does not verify: the note was changed or forged",
        ) from exc


def _parse_body(text: str) -> Checkpoint:
    """The checkpoint in a note text (only ever call this on text whose signature verified:
    the signed-note spec says unverified text must be ignored)."""
    if not text.endswith("\n"):
        raise _malformed("the text does not end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) != 4:
        raise _malformed(
            f"{len(lines)} text lines; expected origin, size, root hash and `time ...`"
        )
    origin, size_line, root_line, time_line = lines
    if not _SIZE.fullmatch(size_line):
        raise _malformed(f"tree size {size_line!r} is not a decimal without leading zeros")
    if not _BASE64.fullmatch(root_line):
        raise _malformed("the root hash is not base64")
    root = base64.b64decode(root_line, validate=True)
    if base64.b64encode(root).decode("ascii") != root_line:
        raise _malformed("the root hash is not canonical base64")
    keyword, space, value = time_line.partition(" ")
    if keyword != TIME_KEYWORD or not space or not _TIME.fullmatch(value):
        raise _malformed(f"the fourth line is not `time <{TIME_FORMAT}>`")
    try:
        moment = datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)
        checkpoint = Checkpoint(origin=origin, size=int(size_line), root=root, time=moment)
    except ValueError as exc:
        raise _malformed(str(exc)) from exc
    if checkpoint.body != text:  # pragma: no cover - every field is checked canonical above
        raise _malformed("the text is not in canonical form")
    return checkpoint


def verify_checkpoint(
    note: str,
    certificate: x509.Certificate,
    key_name: str,
    *,
    only_signer: bool = False,
) -> Checkpoint:
    """The checkpoint a note signed by `certificate`'s key under `key_name` states.

    Needs nothing but the certificate (offline). Raises SignatureError: MALFORMED (bad
    format, trailing text, two lines from the key), MISSING_SIGNATURE (no line from this key
    and name), INVALID_SIGNATURE, UNSUPPORTED_KEY, CERTIFICATE_EXPIRED / _NOT_YET_VALID (the
    checkpoint's time is outside the certificate's validity). Lines from other keys are
    ignored, as the spec requires, unless `only_signer` refuses them (MALFORMED)."""
    try:
        check_name(key_name)
    except ValueError as exc:
        raise SignatureError(ErrorCode.MALFORMED, str(exc)) from exc
    public_key = _supported(certificate.public_key())
    expected = key_id(certificate, key_name)
    text, lines = _split(note)
    ours = [line for line in lines if line.name == key_name and line.key_id == expected]
    others = [line for line in lines if not (line.name == key_name and line.key_id == expected)]
    if not ours:
        found = ", ".join(f"{line.name}+{line.key_id.hex()}" for line in lines)
        raise SignatureError(
            ErrorCode.MISSING_SIGNATURE,
            f"no signature by {key_name}+{expected.hex()} (the note is signed by {found})",
        )
    if len(ours) > 1:
        raise _malformed(f"{len(ours)} signature lines by {key_name}+{expected.hex()}")
    if others and only_signer:
        names = ", ".join(f"{line.name}+{line.key_id.hex()}" for line in others)
        raise _malformed(f"signature lines by other keys: {names}")
    _verify_signature(public_key, ours[0].signature, text.encode("utf-8"))
    checkpoint = _parse_body(text)
    _check_time(certificate, checkpoint.time)
    return checkpoint
