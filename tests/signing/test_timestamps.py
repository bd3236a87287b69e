"""RFC 3161 timestamps against a real TSA: Debian's `openssl ts -reply` served on loopback
(tests/signing/tsa_support.py). Round trip, a token over other data, a token from a TSA the
roots do not trust, the ways a TSA or a stored token can go wrong, and stamped audit-log
checkpoints checked offline."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from rfc3161_client import HashAlgorithm, TimestampRequestBuilder, decode_timestamp_response
from signing_support import Keys
from sqlalchemy.ext.asyncio import AsyncEngine
from tsa_support import LocalTsa, require_openssl, running_tsa

from axis.audit.bundle import bundle_lines, bundle_range
from axis.audit.checkpoints import Checkpointer
from axis.audit.verify import BundleVerifier, Report
from axis.audit.writer import append_events
from axis.bus import Record
from axis.events import Event
from axis.storage.database import create_session_factory
from schemas.events import DeliveryReplayed
from signing.checkpoints import Checkpoint, sign_checkpoint
from signing.devkeys import load_or_create_dev_keys
from signing.errors import ErrorCode, SignatureError
from signing.signer import Signer
from signing.timestamps import (
    MAX_REPLY_BYTES,
    request_timestamp,
    sorted_certificates,
    verify_timestamp,
)

DATA = b"edoc-axis.example/audit\n1024\n...\n\n\xe2\x80\x94 a signed checkpoint\n"


@pytest.fixture(scope="module")
def openssl() -> str:
    return require_openssl()


@pytest.fixture(scope="module")
def tsa(openssl: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTsa]:
    """The configured TSA: RSA, as most public TSAs are; its replies carry its chain."""
    with running_tsa(
        "edoc-axis test TSA", tmp_path_factory.mktemp("tsa"), openssl, "rsa-2048"
    ) as t:
        yield t


@pytest.fixture(scope="module")
def other_tsa(openssl: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTsa]:
    """A second, working TSA under its own root, which the axis does not trust."""
    with running_tsa("someone else's TSA", tmp_path_factory.mktemp("other"), openssl) as t:
        yield t


@pytest.fixture(scope="module")
def token(tsa: LocalTsa) -> bytes:
    """One reply, shared by the tests that only read it."""
    return asyncio.run(request_timestamp(tsa.url, DATA))


def refused(code: ErrorCode, token: bytes, data: bytes, *roots: LocalTsa) -> str:
    with pytest.raises(SignatureError) as caught:
        verify_timestamp(token, data, [t.root for t in roots])
    assert caught.value.code is code, caught.value
    return caught.value.message


def query(data: bytes = DATA) -> bytes:
    return (
        TimestampRequestBuilder()
        .data(data)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .build()
        .as_bytes()
    )


# --- round trip ----------------------------------------------------------------------------


async def test_round_trip(tsa: LocalTsa) -> None:
    before = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    token = await request_timestamp(tsa.url, DATA, roots=[tsa.root])
    after = datetime.now(UTC) + timedelta(seconds=1)
    assert token == tsa.last_reply, "the TSA's reply is kept byte for byte"
    when = verify_timestamp(token, DATA, [tsa.root])
    assert when.tzinfo is not None and when.utcoffset() == timedelta(0)
    assert before <= when <= after


async def test_a_signed_checkpoint(tsa: LocalTsa, keys: Keys) -> None:
    """What the audit writer does: stamp the whole signed note."""
    moment = datetime.now(UTC)
    note = sign_checkpoint(
        Checkpoint("edoc-axis.example/audit", 3, hashlib.sha256(b"r").digest(), moment),
        keys.axis_ec,
        "edoc-axis.example/audit",
    )
    token = await request_timestamp(tsa.url, note.encode())
    when = verify_timestamp(token, note.encode(), [tsa.root])
    assert abs(when - moment) < timedelta(seconds=5)
    refused(ErrorCode.EVIDENCE_MISMATCH, token, note.replace("\n3\n", "\n4\n").encode(), tsa)


def test_openssl_verifies_what_we_keep(tsa: LocalTsa, token: bytes) -> None:
    """An outside check: the stored reply is a standard one `openssl ts -verify` accepts."""
    assert tsa.openssl_verify(token, DATA).returncode == 0
    assert tsa.openssl_verify(token, DATA + b"x").returncode != 0


async def test_with_a_client_of_ours(tsa: LocalTsa) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        first = await request_timestamp(tsa.url, DATA, client=client)
        second = await request_timestamp(tsa.url, DATA, client=client)
        assert not client.is_closed
    assert first != second, "every request carries a fresh nonce"
    for token in (first, second):
        verify_timestamp(token, DATA, [tsa.root])


# --- what must fail ------------------------------------------------------------------------


def test_token_over_other_data_fails(tsa: LocalTsa, token: bytes) -> None:
    message = refused(ErrorCode.EVIDENCE_MISMATCH, token, DATA + b"\n", tsa)
    assert "Mismatch" in message
    flipped = bytes([DATA[0] ^ 1]) + DATA[1:]
    refused(ErrorCode.EVIDENCE_MISMATCH, token, flipped, tsa)


async def test_token_from_another_tsa_fails(tsa: LocalTsa, other_tsa: LocalTsa) -> None:
    foreign = await request_timestamp(other_tsa.url, DATA)
    assert verify_timestamp(foreign, DATA, [other_tsa.root])
    refused(ErrorCode.UNTRUSTED_CHAIN, foreign, DATA, tsa)
    with pytest.raises(SignatureError) as caught:
        await request_timestamp(other_tsa.url, DATA, roots=[tsa.root])
    assert caught.value.code is ErrorCode.UNTRUSTED_CHAIN


def test_pinned_tsa_certificate(tsa: LocalTsa, other_tsa: LocalTsa, token: bytes) -> None:
    roots = [tsa.root]
    assert verify_timestamp(token, DATA, roots, tsa_certificate=tsa.tsa.certificate)
    with pytest.raises(SignatureError) as caught:
        verify_timestamp(token, DATA, roots, tsa_certificate=other_tsa.tsa.certificate)
    assert caught.value.code is ErrorCode.UNTRUSTED_CHAIN


def test_tampered_token_fails(tsa: LocalTsa, token: bytes) -> None:
    """The asserted time (inside the signed TSTInfo) and the signature value itself."""
    at = token.find(b"\x18\x0f") + 2  # GeneralizedTime YYYYMMDDHHMMSSZ: the genTime
    assert at > 2 and token[at + 14 : at + 15] == b"Z"
    tens_of_seconds = at + 12
    digit = b"1" if token[tens_of_seconds : tens_of_seconds + 1] == b"0" else b"0"
    moved = token[:tens_of_seconds] + digit + token[tens_of_seconds + 1 :]
    refused(ErrorCode.INVALID_SIGNATURE, moved, DATA, tsa)
    next_year = str(int(token[at : at + 4]) + 1).encode()
    refused(ErrorCode.CERTIFICATE_EXPIRED, token[:at] + next_year + token[at + 4 :], DATA, tsa)
    last = bytearray(token)
    last[-3] ^= 0x01  # the RSA signature is the token's last element
    refused(ErrorCode.INVALID_SIGNATURE, bytes(last), DATA, tsa)


@pytest.mark.parametrize(
    "garbage", [b"", b"\x00", b"\x30\x80\x00\x00", b"not a token", b"\x30\x03\x02\x01\x00"]
)
def test_garbage_tokens(tsa: LocalTsa, garbage: bytes) -> None:
    refused(ErrorCode.MALFORMED, garbage, DATA, tsa)


def test_oversized_token(tsa: LocalTsa) -> None:
    refused(ErrorCode.MALFORMED, b"\x30" * (MAX_REPLY_BYTES + 1), DATA, tsa)


def test_needs_roots(token: bytes) -> None:
    with pytest.raises(ValueError, match="root"):
        verify_timestamp(token, DATA, [])


async def test_nothing_to_stamp(tsa: LocalTsa) -> None:
    with pytest.raises(ValueError, match="nothing"):
        await request_timestamp(tsa.url, b"")


# --- the TSA misbehaving ---------------------------------------------------------------------


async def test_tsa_down(tsa: LocalTsa) -> None:
    with pytest.raises(SignatureError) as caught:
        await request_timestamp(tsa.url + "unavailable", DATA)
    assert caught.value.code is ErrorCode.TIMESTAMP_UNAVAILABLE
    assert "503" in caught.value.message


async def test_nothing_listening() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: the connection is refused
        with pytest.raises(SignatureError) as caught:
            async with httpx.AsyncClient(timeout=5) as client:
                await request_timestamp(f"http://127.0.0.1:{port}/", DATA, client=client)
    assert caught.value.code is ErrorCode.TIMESTAMP_UNAVAILABLE


async def test_tsa_rejects(tsa: LocalTsa) -> None:
    """A real RFC 3161 rejection: this TSA stamps SHA-512 imprints only."""
    with pytest.raises(SignatureError) as caught:
        await request_timestamp(tsa.url + "sha512-only", DATA)
    assert caught.value.code is ErrorCode.TIMESTAMP_UNAVAILABLE
    assert "status 2" in caught.value.message
    rejection = tsa.reply(query(), "sha512_only")
    refused(ErrorCode.MALFORMED, rejection, DATA, tsa)


async def test_garbage_reply(tsa: LocalTsa) -> None:
    with pytest.raises(SignatureError) as caught:
        await request_timestamp(tsa.url + "garbage", DATA)
    assert caught.value.code is ErrorCode.MALFORMED


async def test_huge_reply(tsa: LocalTsa) -> None:
    with pytest.raises(SignatureError) as caught:
        await request_timestamp(tsa.url + "huge", DATA)
    assert caught.value.code is ErrorCode.MALFORMED
    assert str(MAX_REPLY_BYTES) in caught.value.message


async def test_tsa_stamps_other_data(tsa: LocalTsa) -> None:
    """A TSA that answers our nonce but stamps another imprint is caught at once."""
    with pytest.raises(SignatureError) as caught:
        await request_timestamp(tsa.url + "other-imprint", DATA)
    assert caught.value.code is ErrorCode.EVIDENCE_MISMATCH
    assert "other data" in caught.value.message


async def test_replayed_reply(tsa: LocalTsa) -> None:
    """An old reply for the same data: valid, but not an answer to this request (nonce)."""
    await request_timestamp(tsa.url, DATA)
    with pytest.raises(SignatureError) as caught:
        await request_timestamp(tsa.url + "replay", DATA)
    assert caught.value.code is ErrorCode.EVIDENCE_MISMATCH
    assert "nonce" in caught.value.message


async def test_reply_for_other_data(tsa: LocalTsa) -> None:
    """The previous reply was for other data: caught before any root is consulted."""
    await request_timestamp(tsa.url, b"something else")
    with pytest.raises(SignatureError) as caught:
        await request_timestamp(tsa.url + "replay", DATA)
    assert caught.value.code is ErrorCode.EVIDENCE_MISMATCH


# --- token shapes ----------------------------------------------------------------------------


def test_bare_token(tsa: LocalTsa) -> None:
    """`openssl ts -reply -token_out`: a ContentInfo without the TimeStampResp around it."""
    bare = tsa.token(query())
    assert bare[4:6] == b"\x06\x09", "starts with the signedData OID"
    assert verify_timestamp(bare, DATA, [tsa.root])
    refused(ErrorCode.EVIDENCE_MISMATCH, bare, b"other", tsa)


def test_certificates_in_any_order(tsa: LocalTsa, token: bytes) -> None:
    """OpenSSL writes the chain in chain order; rfc3161-client wants DER (sorted) order."""
    der = serialization.Encoding.DER
    leaf = tsa.tsa.certificate.public_bytes(der)
    root = tsa.root.public_bytes(der)
    span = token.find(leaf + root)
    assert span > 0, "the reply carries the TSA certificate then its root"
    swapped = token[:span] + root + leaf + token[span + len(leaf) + len(root) :]
    orders = {token, swapped}
    unsorted = [t for t in orders if sorted_certificates(t) != t]
    assert len(unsorted) == 1, "exactly one of the two orders is out of DER order"
    with pytest.raises(ValueError, match="SetOrdering"):
        decode_timestamp_response(unsorted[0])
    for reply in orders:
        assert verify_timestamp(reply, DATA, [tsa.root])
        assert sorted_certificates(sorted_certificates(reply)) == sorted_certificates(reply)


async def test_an_audit_bundle_of_stamped_checkpoints(
    tsa: LocalTsa, other_tsa: LocalTsa, engine: AsyncEngine, tmp_path: Path
) -> None:
    """The audit writer stamps each checkpoint at the configured TSA; the offline verifier
    checks the stamps against the TSA roots it is given, and refuses another TSA's."""
    keys = load_or_create_dev_keys(tmp_path / "keys")
    sessions = create_session_factory(engine)
    checkpointer = Checkpointer(Signer(keys.axis), "edoc-axis/audit", 2, 3600.0, tsa_url=tsa.url)
    for n in range(4):
        event = Event.of(DeliveryReplayed(delivery_id=f"d{n}", after_attempts=n), actor="axis")
        await append_events(sessions, [Record("events", 0, n, None, event.encode())])
        if n % 2:
            async with sessions.begin() as session:
                await checkpointer.checkpoint(session, n + 1)
    async with sessions() as session:
        span = await bundle_range(session, "edoc-axis/audit", 0, None)
    bundle = [line async for line in bundle_lines(sessions, span)]

    def verified(*roots: LocalTsa) -> Report:
        verifier = BundleVerifier(keys.axis.certificate, tsa_roots=[t.root for t in roots])
        for line in bundle:
            verifier.feed_line(line)
        return verifier.finish()

    stamped = verified(tsa)
    assert stamped.ok and stamped.timestamps_verified == 2
    unchecked = verified()
    assert unchecked.ok and unchecked.timestamps_unchecked == 2
    refused = verified(other_tsa).finding
    assert refused is not None and refused.position == 2
    assert refused.reason.startswith("checkpoint 2's timestamp")
