"""The auditor's proof check in a real browser: `axis/console/static/audit-verify.js`, loaded
into a page of a served axis (http://127.0.0.1 is a secure context, so WebCrypto is there),
verifies real entries against signed checkpoints and the axis certificate, and names what
fails when a proof, a checkpoint root, a signature or the certificate is not the real one.

The console's harness (`conftest.py`): Debian's Chromium driven by the pinned Playwright, a
real `axis serve` on the embedded bus and on Kafka.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from console_harness import Served
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from envelopes import document
from playwright.sync_api import Browser, Page
from running_axis import OTHER, RECIPIENT, SENDER

from axis.audit.merkle import MerkleTree
from signing.keys import certificate_pem, fingerprint_sha256
from signing.xmldsig import sign_envelope

MODULE = "/ui/static/audit-verify.js"
DEADLINE = 60.0
SENT = itertools.count(1)


@pytest.fixture
def served(served_on_each_bus: Served) -> Served:
    return served_on_each_bus


@pytest.fixture
def page(browser: Browser, served: Served) -> Iterator[Page]:
    """A headless Chromium page on the served axis's origin."""
    context = browser.new_context(base_url=served.base_url)
    try:
        page = context.new_page()
        page.goto("/ui/sign-in")
        assert page.evaluate("window.isSecureContext")
        yield page
    finally:
        context.close()


def signed_entries(served: Served, documents: int) -> tuple[int, list[str]]:
    """Send `documents` documents and wait until a checkpoint signs every entry they made
    so far; the signed size and the documents' ids."""
    with served.client("auditor") as auditor, served.client(SENDER) as sender:
        before = auditor.get("/v1/audit/tree").json()["size"]
        sent = []
        for _ in range(documents):
            envelope = document(SENDER, [RECIPIENT], f"000.00.00.G22,2026/12/03,{next(SENT)}/PV")
            body = sign_envelope(envelope, served.keys.agencies[SENDER])
            answer = sender.post(
                "/v1/documents", content=body, headers={"Content-Type": "application/xml"}
            )
            assert answer.status_code == 202, answer.text
            sent.append(answer.json()["document_id"])
        want = before + 3 * documents  # received, verified, accepted: at least
        end = time.monotonic() + DEADLINE
        while True:
            checkpoints = auditor.get("/v1/audit/checkpoints?limit=1000").json()
            if checkpoints and checkpoints[-1]["size"] >= want:
                return int(checkpoints[-1]["size"]), sent
            assert time.monotonic() < end, f"no checkpoint of {want} entries"
            time.sleep(0.05)  # polling the condition above, until the deadline


def fetch_and_verify(
    page: Page, position: int, token: str, checkpoint: int | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(
        """async ([module, position, token, checkpoint]) => {
            const { fetchAndVerify } = await import(module);
            const init = { headers: { Authorization: `Bearer ${token}` } };
            return fetchAndVerify(position, { init, checkpoint: checkpoint ?? undefined });
        }""",
        [MODULE, position, token, checkpoint],
    )
    return result


def verify(page: Page, proof: dict[str, Any], pem: str) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(
        """async ([module, proof, pem]) => {
            const { verifyEntryProof } = await import(module);
            return verifyEntryProof(proof, pem);
        }""",
        [MODULE, proof, pem],
    )
    return result


def test_real_entries_verify_in_the_browser(served: Served, page: Page) -> None:
    size, [document_id] = signed_entries(served, 1)
    with served.client("auditor") as auditor:
        pem = auditor.get("/v1/audit/certificate").text
        own = auditor.get(f"/v1/audit/documents/{document_id}/timeline").json()[0]["position"]
    certificate = x509.load_pem_x509_certificate(pem.encode())
    auditor_token = served.tokens["auditor"]
    every: list[dict[str, Any]] = page.evaluate(  # every leaf of the tree, against its signed root
        """async ([module, size, token]) => {
            const { fetchAndVerify } = await import(module);
            const init = { headers: { Authorization: `Bearer ${token}` } };
            const results = [];
            for (let position = 0; position < size; position++) {
                results.push(await fetchAndVerify(position, { init, checkpoint: size }));
            }
            return results;
        }""",
        [MODULE, size, auditor_token],
    )
    assert len(every) == size
    for position, result in enumerate(every):
        assert result["ok"], (position, result["failures"])
        assert result["checkpoint"]["size"] == size
    with served.client("auditor") as auditor:
        for position in sorted({0, 1, size // 2, size - 1}):  # against the latest checkpoint
            result = fetch_and_verify(page, position, auditor_token)
            assert result["ok"], result["failures"]
            assert result["checks"] == {"entry": True, "inclusion": True, "signature": True}
            assert result["position"] == position
            named = result["checkpoint"]
            assert named["origin"] == "edoc-axis/audit" and named["size"] > position
            proof = auditor.get(f"/v1/audit/entries/{position}/proof?checkpoint={named['size']}")
            assert named["root"] == proof.json()["checkpoint"]["root"], "the signed root it checked"
            assert result["certificate"]["sha256"] == fingerprint_sha256(certificate)

    # An agency's session checks the entries it may read, and only those.
    mine = fetch_and_verify(page, own, served.tokens[SENDER])
    assert mine["ok"], mine["failures"]
    with pytest.raises(Exception, match="404"):
        fetch_and_verify(page, own, served.tokens[OTHER])


def test_the_inclusion_algorithm_agrees_with_the_python_tree(page: Page) -> None:
    """Every leaf of every tree of 1 to 40 leaves: the browser climbs the proof the Python
    tree gives to the Python tree's root; the proof fails for the next leaf, or with a node
    too many."""
    cases = []
    for size in range(1, 41):
        tree = MerkleTree.from_entries(f"leaf {n}".encode() for n in range(size))
        for index in range(size):
            proof = [base64.b64encode(node).decode() for node in tree.inclusion_proof(index)]
            leaf = base64.b64encode(tree.leaf(index)).decode()
            root = base64.b64encode(tree.root()).decode()
            cases.append([leaf, index, size, proof, root])
    outcomes: list[list[bool]] = page.evaluate(
        """async ([module, cases]) => {
            const { rootFromInclusionProof, base64ToBytes } = await import(module);
            const b = base64ToBytes;
            const climb = async (leaf, index, size, proof, root) => {
                const found = await rootFromInclusionProof(b(leaf), index, size, proof.map(b));
                return found !== null && found.every((byte, i) => byte === b(root)[i]);
            };
            return Promise.all(cases.map(async ([leaf, index, size, proof, root]) => [
                await climb(leaf, index, size, proof, root),
                size > 1 && await climb(leaf, (index + 1) % size, size, proof, root),
                await climb(leaf, index, size, [...proof, leaf], root),
            ]));
        }""",
        [MODULE, cases],
    )
    assert len(outcomes) == sum(range(1, 41))
    assert all(right for right, _, _ in outcomes)
    assert not any(elsewhere or longer for _, elsewhere, longer in outcomes)


def flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def other_p256_certificate() -> str:
    """A valid ECDSA P-256 certificate that is not the axis's."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not the axis")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return certificate_pem(certificate).decode()


def tampered_proof(proof: dict[str, Any]) -> dict[str, Any]:
    nodes = list(proof["proof"])
    nodes[0] = base64.b64encode(flipped(base64.b64decode(nodes[0]), 5)).decode()
    return {**proof, "proof": nodes}


def tampered_root(proof: dict[str, Any]) -> dict[str, Any]:
    note = proof["checkpoint"]["note"]
    root = proof["checkpoint"]["root"]
    forged = base64.b64encode(flipped(base64.b64decode(root), 0)).decode()
    assert f"\n{root}\n" in note
    return {**proof, "checkpoint": {**proof["checkpoint"], "note": note.replace(root, forged)}}


def tampered_signature(proof: dict[str, Any]) -> dict[str, Any]:
    note = proof["checkpoint"]["note"]
    text, _, line = note[:-1].rpartition("\n")
    name, signature = line.rsplit(" ", 1)
    raw = base64.b64decode(signature)
    forged = base64.b64encode(flipped(raw, len(raw) - 1)).decode()  # inside s
    return {**proof, "checkpoint": {**proof["checkpoint"], "note": f"{text}\n{name} {forged}\n"}}


def tampered_entry(proof: dict[str, Any]) -> dict[str, Any]:
    entry = json.loads(base64.b64decode(proof["entry"]))
    entry["event"]["actor"] = "someone else"
    changed = json.dumps(entry, separators=(",", ":"), sort_keys=True).encode()
    return {**proof, "entry": base64.b64encode(changed).decode()}


def test_tampering_shows_as_failed(served: Served, page: Page) -> None:
    size, _ = signed_entries(served, 2)
    position = size // 2
    with served.client("auditor") as auditor:
        proof = auditor.get(f"/v1/audit/entries/{position}/proof").json()
        pem = auditor.get("/v1/audit/certificate").text
    assert len(proof["proof"]) >= 2

    genuine = verify(page, proof, pem)
    assert genuine["ok"], genuine["failures"]

    cases = {
        "proof": (tampered_proof(proof), pem, {"inclusion": False, "signature": True}),
        "root": (tampered_root(proof), pem, {"inclusion": False, "signature": False}),
        "signature": (tampered_signature(proof), pem, {"inclusion": True, "signature": False}),
        "certificate": (proof, other_p256_certificate(), {"inclusion": True, "signature": False}),
        "entry": (tampered_entry(proof), pem, {"inclusion": False, "signature": True}),
    }
    failures = {}
    for case, (changed, certificate, checks) in cases.items():
        result = verify(page, changed, certificate)
        assert not result["ok"], case
        assert {key: result["checks"][key] for key in checks} == checks, (case, result)
        assert result["failures"], case
        failures[case] = " ".join(result["failures"])
    assert "does not lead to the checkpoint's root" in failures["proof"]
    assert "does not verify" in failures["root"]
    assert "does not verify" in failures["signature"]
    assert "not signed by this certificate's key" in failures["certificate"]

    # The result names the checkpoint it checked against: the signed note's, as given.
    assert genuine["checkpoint"]["size"] == proof["checkpoint"]["size"]
    forged_root = verify(page, tampered_root(proof), pem)
    assert forged_root["checkpoint"]["root"] != proof["checkpoint"]["root"]
    garbage = verify(page, {**proof, "checkpoint": {"note": "not a note"}}, "no pem")
    assert not garbage["ok"] and garbage["checkpoint"] is None
    assert {"checkpoint", "certificate"} <= {f.split(":")[0] for f in garbage["failures"]}
