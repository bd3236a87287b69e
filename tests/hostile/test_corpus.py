"""The hostile-input corpus: every committed file is refused at the right stage with the
right code, and nothing but EnvelopeError / SignatureError ever comes out.

Stages (see corpus/MANIFEST.json): `parse` - parse_envelope raises EnvelopeError(code), at
the element / line given, and verify_envelope handed the same bytes refuses them too;
`verify` - parse_envelope accepts, verify_envelope raises SignatureError(code); `accept` -
the controls, which must pass both (so these tests can fail). Every verification happens at
the manifest's receipt time against the committed test identities in keys/.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import hmac
import json
import os
import re
import resource
import threading
import time
import tracemalloc
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree
from make_corpus import build_cases, load_keys, main, write_corpus
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.verifier import SignatureConfiguration, XMLVerifier

from schemas.edxml import (
    ERROR_CODES,
    DocumentEnvelope,
    EnvelopeError,
    EnvelopeLimits,
    StatusMessage,
    envelope_from_tree,
    parse_envelope,
)
from signing.certificates import RegisteredCertificate, TrustStore
from signing.errors import ErrorCode, SignatureError
from signing.keys import CertifiedKey, certificate_pem
from signing.xmldsig import VerifiedEnvelope, verify_envelope

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
MANIFEST: dict[str, Any] = json.loads((CORPUS / "MANIFEST.json").read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = MANIFEST["cases"]
RECEIPT_TIME = datetime.fromisoformat(MANIFEST["receipt_time"])
LIMITS = EnvelopeLimits()
"""The axis's default limits (64 MiB body, depth 64, 50,000 elements, 32 attributes)."""

ED = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"ed": ED, "ds": DS}


def _marked(case: dict[str, Any]) -> Any:
    return pytest.param(case, id=Path(case["file"]).stem)


def cases(*, where: str) -> list[Any]:
    """The manifest entries that set `where`, as test parameters named by file stem."""
    return [pytest.param(c, id=Path(c["file"]).stem) for c in CASES if c.get(where)]


def read(case: dict[str, Any]) -> bytes:
    name: str = case["file"]
    return (CORPUS / name).read_bytes()


@pytest.fixture(scope="module")
def keys() -> dict[str, CertifiedKey]:
    return load_keys()


@pytest.fixture(scope="module")
def trust(keys: dict[str, CertifiedKey]) -> TrustStore:
    return TrustStore([keys[name].certificate for name in MANIFEST["trust_roots"]])


def parsed_or_error(data: bytes) -> DocumentEnvelope | StatusMessage | EnvelopeError:
    """parse_envelope's answer: a model or an EnvelopeError; any other exception fails."""
    try:
        return parse_envelope(data, LIMITS)
    except EnvelopeError as error:
        assert error.code in ERROR_CODES
        return error
    except Exception as exc:  # the contract: EnvelopeError and nothing else
        pytest.fail(f"parse_envelope raised {type(exc).__name__}: {exc}")


def verify(
    data: bytes,
    case: dict[str, Any],
    keys: dict[str, CertifiedKey],
    trust: TrustStore,
    *,
    at: datetime = RECEIPT_TIME,
    allow_sha1: bool = False,
) -> VerifiedEnvelope:
    return verify_envelope(
        data,
        certificates=[RegisteredCertificate.of(keys[n].certificate) for n in case["registered"]],
        trust=trust,
        receipt_time=at,
        allow_sha1=allow_sha1,
    )


def verified_or_error(
    data: bytes,
    case: dict[str, Any],
    keys: dict[str, CertifiedKey],
    trust: TrustStore,
    **kw: Any,
) -> VerifiedEnvelope | SignatureError:
    """verify_envelope's answer: a result or a SignatureError; any other exception fails."""
    try:
        return verify(data, case, keys, trust, **kw)
    except SignatureError as error:
        assert isinstance(error.code, ErrorCode)
        return error
    except Exception as exc:  # the contract: SignatureError and nothing else
        pytest.fail(f"verify_envelope raised {type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------------------------
# Every case at its stage


@pytest.mark.parametrize("case", [_marked(c) for c in CASES])
def test_refused_at_the_right_stage_with_the_right_code(
    case: dict[str, Any], keys: dict[str, CertifiedKey], trust: TrustStore
) -> None:
    data = read(case)
    parsed = parsed_or_error(data)
    verified = verified_or_error(data, case, keys, trust)

    if case["stage"] == "parse":
        assert isinstance(parsed, EnvelopeError), "parse_envelope accepted a hostile file"
        assert parsed.code == case["code"], parsed.message
        if "element" in case:
            assert parsed.element == case["element"], str(parsed)
        if "line" in case:
            assert parsed.line == case["line"], str(parsed)
        if case.get("verify_code") == "accept":  # a genuine signature over hidden markup
            assert isinstance(verified, VerifiedEnvelope), f"refused: {verified}"
            return
        # Defence in depth: the verifier alone refuses the same bytes.
        assert isinstance(verified, SignatureError), "verify_envelope accepted a hostile file"
        if "verify_code" in case:
            assert verified.code == case["verify_code"], verified.message
        return

    assert not isinstance(parsed, EnvelopeError), f"refused at parse: {parsed}"
    if case["stage"] == "verify":
        assert isinstance(verified, SignatureError), "verify_envelope accepted a hostile file"
        assert verified.code == case["code"], verified.message
        return

    assert case["stage"] == "accept"
    assert isinstance(verified, VerifiedEnvelope), f"a control was refused: {verified}"
    assert verified.fingerprint == keys[case["registered"][0]].fingerprint
    # What was signed reads as a valid envelope on its own.
    assert isinstance(envelope_from_tree(verified.signed_xml, LIMITS), DocumentEnvelope)


def _field(model: Any, path: str) -> Any:
    for part in path.split("."):
        model = model[int(part)] if part.isdigit() else getattr(model, part)
    return model


@pytest.mark.parametrize("case", cases(where="signed_fields"))
def test_fields_are_read_from_what_was_signed(
    case: dict[str, Any], keys: dict[str, CertifiedKey], trust: TrustStore
) -> None:
    """Comments inside signed text verify (c14n drops them); a naive `.text` reader gets the
    part before the comment; the models built from `signed_xml` get the whole signed text."""
    data = read(case)
    verified = verify(data, case, keys, trust)
    received = etree.fromstring(data)
    envelope = envelope_from_tree(verified.signed_xml, LIMITS)
    assert isinstance(envelope, DocumentEnvelope)
    assert not any(isinstance(n, etree._Comment) for n in verified.signed_xml.iter())
    for signed in case["signed_fields"]:
        assert received.find(signed["xpath"], NS).text == signed["truncated"]  # the trap
        assert _field(envelope, signed["field"]) == signed["full"], signed["field"]


@pytest.mark.parametrize("case", cases(where="allow_sha1"))
def test_legacy_sha1_flag(
    case: dict[str, Any], keys: dict[str, CertifiedKey], trust: TrustStore
) -> None:
    """RSA-SHA1 passes only with the legacy flag; MD5 and HMAC stay refused with it."""
    data = read(case)
    result = verified_or_error(data, case, keys, trust, allow_sha1=True)
    if case["allow_sha1"] == "accept":
        assert isinstance(result, VerifiedEnvelope), f"refused with allow_sha1=True: {result}"
        assert result.algorithm == "rsa-sha1"
        assert result.digest_algorithm == "sha1"
    else:
        assert isinstance(result, SignatureError), "accepted with allow_sha1=True"
        assert result.code == case["allow_sha1"], result.message
    without = verified_or_error(data, case, keys, trust)
    assert isinstance(without, SignatureError) and without.code == case["code"]


@pytest.mark.parametrize("case", cases(where="accept_at"))
def test_certificate_window_cases_verify_inside_their_window(
    case: dict[str, Any], keys: dict[str, CertifiedKey], trust: TrustStore
) -> None:
    """Expired / not-yet-valid files are sound apart from the receipt time."""
    at = datetime.fromisoformat(case["accept_at"])
    result = verify(read(case), case, keys, trust, at=at)
    assert result.fingerprint == keys[case["registered"][0]].fingerprint


# --------------------------------------------------------------------------------------------
# The attacks are genuine: valid signature math, and live against a permissive verifier

_HASHES: dict[str, hashes.HashAlgorithm] = {
    "rsa-sha1": hashes.SHA1(),
    "rsa-sha256": hashes.SHA256(),
    "rsa-md5": hashes.MD5(),
    "ecdsa-sha256": hashes.SHA256(),
}


def _signature_value_verifies(data: bytes, case: dict[str, Any], keys: dict[str, Any]) -> None:
    """The first ds:Signature's SignatureValue is the signer's, over exclusive c14n of its
    SignedInfo (raises cryptography's InvalidSignature otherwise)."""
    signature = etree.fromstring(data).find(".//ds:Signature", NS)
    signed_info = signature.find("ds:SignedInfo", NS)
    c14n = signed_info.find("ds:CanonicalizationMethod", NS).get("Algorithm")
    assert c14n == "http://www.w3.org/2001/10/xml-exc-c14n#"
    octets = etree.tostring(
        etree.fromstring(etree.tostring(signed_info)), method="c14n", exclusive=True
    )
    value = base64.b64decode("".join(signature.findtext("ds:SignatureValue", "", NS).split()))
    method = signed_info.find("ds:SignatureMethod", NS).get("Algorithm").rpartition("#")[2]
    if "hmac_key_of" in case:
        key = certificate_pem(keys[case["hmac_key_of"]].certificate)
        assert method == "hmac-sha256"
        assert hmac.compare_digest(value, hmac.new(key, octets, hashlib.sha256).digest())
        return
    public_key = keys[case["signer"]].certificate.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(value, octets, padding.PKCS1v15(), _HASHES[method])
    else:
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        half = len(value) // 2
        der = encode_dss_signature(
            int.from_bytes(value[:half], "big"), int.from_bytes(value[half:], "big")
        )
        public_key.verify(der, octets, ec.ECDSA(_HASHES[method]))


@pytest.mark.parametrize("case", cases(where="signer") + cases(where="hmac_key_of"))
def test_signature_values_are_genuine(case: dict[str, Any], keys: dict[str, CertifiedKey]) -> None:
    _signature_value_verifies(read(case), case, keys)


PERMISSIVE = SignatureConfiguration(
    location=".//",
    expect_references=True,
    signature_methods=frozenset(SignatureMethod),
    digest_algorithms=frozenset(DigestAlgorithm),
    verification_time=RECEIPT_TIME,
)
"""signxml as a careless integrator would use it: Signature anywhere, any number of
references, every algorithm (the certificate stays pinned to the signer's)."""


@pytest.mark.parametrize("case", cases(where="naive_accepts"))
def test_a_permissive_verifier_accepts_the_attack(
    case: dict[str, Any], keys: dict[str, CertifiedKey]
) -> None:
    """Only the axis's pinning (location, one Reference with URI="", algorithms, registered
    certificate, key usage, chain, ...) stands between these files and acceptance."""
    XMLVerifier().verify(
        read(case), x509_cert=keys[case["signer"]].certificate, expect_config=PERMISSIVE
    )


# --------------------------------------------------------------------------------------------
# The corpus itself


def test_manifest_and_files_match() -> None:
    files = {p.name for p in CORPUS.iterdir() if p.name != "MANIFEST.json"}
    listed = [c["file"] for c in CASES]
    assert len(listed) == len(set(listed)), "a file is listed twice"
    assert files == set(listed)
    signature_codes = {code.value for code in ErrorCode}
    for case in CASES:
        assert case["description"].strip(), case["file"]
        assert case["stage"] in ("parse", "verify", "accept"), case["file"]
        if case["stage"] == "parse":
            assert case["code"] in ERROR_CODES, case["file"]
        if case["stage"] == "verify":
            assert case["code"] in signature_codes, case["file"]
        if case["stage"] == "accept":
            assert case["code"] is None, case["file"]
        assert case.get("verify_code") in {None, "accept", *signature_codes}, case["file"]
    stages = {c["stage"] for c in CASES}
    assert stages == {"parse", "verify", "accept"}


_SIGNATURE_VALUE = re.compile(rb"(<ds:SignatureValue>)[^<]*(</ds:SignatureValue>)")


def test_the_generator_reproduces_the_corpus(tmp_path: Path) -> None:
    """make_corpus.py rebuilds the same files from the committed keys: byte for byte, except
    inside the SignatureValue of ECDSA signatures (randomized)."""
    assert main(["--out", str(tmp_path)]) == 0
    fresh = json.loads((tmp_path / "MANIFEST.json").read_text(encoding="utf-8"))
    assert fresh == MANIFEST
    assert {p.name for p in tmp_path.iterdir()} == {p.name for p in CORPUS.iterdir()}
    for case in CASES:
        committed, rebuilt = read(case), (tmp_path / case["file"]).read_bytes()
        if case["deterministic"]:
            assert rebuilt == committed, case["file"]
        else:
            blank = rb"\1\2"
            assert _SIGNATURE_VALUE.sub(blank, rebuilt) == _SIGNATURE_VALUE.sub(blank, committed)


def test_write_corpus_removes_stale_files(tmp_path: Path) -> None:
    (tmp_path / "left_over.xml").write_bytes(b"<old/>")
    write_corpus(tmp_path, build_cases(load_keys())[:2])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["MANIFEST.json", *(c["file"] for c in CASES[:2])]
    )


# --------------------------------------------------------------------------------------------
# A 200 MB body, made at test time (never committed)

BIG = 200 * 1024 * 1024


def _body(size: int, head: bytes, tail: bytes) -> bytes:
    """`head`, base64 filler, `tail`: exactly `size` bytes, with one allocation of `size`
    (the join reuses one 1 MiB chunk) so the test process never holds two copies."""
    chunk = b"QUFB" * (256 * 1024)
    count, rest = divmod(size - len(head) - len(tail), len(chunk))
    return b"".join([head, *([chunk] * count), chunk[:rest], tail])


def big_bodies() -> Iterator[Any]:
    base = (CORPUS / "signature_stripped.xml").read_bytes()
    marker = re.search(rb"<edXML:ContentTransferEncoded[^>]*>", base)
    assert marker is not None
    end = base.index(b"</edXML:ContentTransferEncoded>")
    yield pytest.param(base[: marker.end()], base[end:], id="attachment_200mb")
    # Would be invalid_encoding, then dtd_forbidden, if anything but the size were looked at.
    head = b'<?xml version="1.0"?>\n\xff\xfe<!DOCTYPE edXML [<!ENTITY a "&a;">]><edXML>&a;'
    yield pytest.param(head, b"</edXML>", id="hostile_200mb")


@pytest.mark.parametrize(("head", "tail"), list(big_bodies()))
def test_a_200_mb_body_is_refused_before_parsing_in_bounded_memory(
    head: bytes, tail: bytes
) -> None:
    data = _body(BIG, head, tail)
    assert len(data) == BIG
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    try:
        started = time.perf_counter()
        with pytest.raises(EnvelopeError) as caught:
            parse_envelope(data, LIMITS)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    del data
    assert caught.value.code == "too_large", str(caught.value)
    # No copy, decode or parse of the body: a few KB of Python objects, no RSS growth near
    # the body's size (libxml2's own allocations are invisible to tracemalloc, not to RSS).
    assert peak < 256 * 1024, f"{peak} bytes traced while refusing"
    assert rss_growth < 32 * 1024 * 1024, f"max RSS grew by {rss_growth} bytes"
    assert elapsed < 1.0


# --------------------------------------------------------------------------------------------
# No file named by the document is ever opened


def _opened_while(fifo: Path, call: Any) -> bool:
    """Run `call()` and tell whether anything opened the FIFO `fifo` for reading meanwhile
    (a writer's non-blocking open succeeds only once a reader is there; it then closes, so a
    reader never blocks)."""
    opened = threading.Event()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise
                time.sleep(0.0005)
                continue
            opened.set()
            os.close(descriptor)
            return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        call()
    finally:
        stop.set()
        watcher.join(timeout=5)
    return opened.is_set()


def _doctype_naming(path: Path) -> bytes:
    data = (CORPUS / "external_dtd_local_file.xml").read_bytes()
    return data.replace(b"file:///etc/passwd", b"file://" + str(path).encode(), 1)


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "probe.dtd"
    os.mkfifo(path)
    return path


@pytest.mark.timeout(20)
def test_parse_never_opens_a_file_named_in_a_doctype(fifo: Path) -> None:
    data = _doctype_naming(fifo)

    def call() -> None:
        with pytest.raises(EnvelopeError, match="dtd_forbidden"):
            parse_envelope(data, LIMITS)

    assert not _opened_while(fifo, call)


@pytest.mark.timeout(20)
def test_verify_never_opens_a_file_named_in_a_doctype(
    fifo: Path, keys: dict[str, CertifiedKey], trust: TrustStore
) -> None:
    data = _doctype_naming(fifo)
    case = {"registered": ["agency-ec"]}

    def call() -> None:
        with pytest.raises(SignatureError):
            verify(data, case, keys, trust)

    assert not _opened_while(fifo, call)
