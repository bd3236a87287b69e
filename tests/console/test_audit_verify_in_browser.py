"""The auditor's proof check in a real browser: `axis/console/static/audit-verify.js`, loaded
into a page of a served axis (http://127.0.0.1 is a secure context, so WebCrypto is there),
verifies real entries against signed checkpoints and the axis certificate, and names what
fails when a proof, a checkpoint root, a signature or the certificate is not the real one.

Debian's Chromium (`apt-get install chromium`), driven by the pinned Playwright for Python;
Playwright's own browser download is never used.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from envelopes import document
from playwright.async_api import Page, async_playwright
from push_endpoint import serving
from running_axis import OTHER, RECIPIENT, SENDER, Axis, axis_settings, start_axis

from axis.audit.merkle import MerkleTree
from signing.keys import certificate_pem, fingerprint_sha256
from signing.xmldsig import sign_envelope

CHROMIUM = "/usr/bin/chromium"
MODULE = "/ui/static/audit-verify.js"
DEADLINE = 60.0


@dataclass
class Served:
    axis: Axis
    url: str


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
async def served(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str
) -> AsyncIterator[Served]:
    """The axis with three agencies, served by uvicorn on 127.0.0.1."""
    async for axis in start_axis(axis_settings(request, tmp_path, database_url)):
        async with serving(axis.app) as url:
            yield Served(axis, url)


@pytest.fixture
async def page(served: Served) -> AsyncIterator[Page]:
    """A headless Chromium page on the served axis's origin."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = await browser.new_page()
            await page.goto(served.url)
            assert await page.evaluate("window.isSecureContext")
            yield page
        finally:
            await browser.close()


async def signed_entries(axis: Axis, documents: int) -> int:
    """Send `documents` documents and wait until a checkpoint signs every entry they made
    so far; the signed size."""
    for n in range(documents):
        body = sign_envelope(document(SENDER, [RECIPIENT], f"browser,{n}"), axis.key(SENDER))
        assert (await axis.send(SENDER, body)).status_code == 202
    want = 3 * documents  # received, verified, accepted: at least
    end = time.monotonic() + DEADLINE
    while True:
        checkpoints = (await axis.request("GET", "/v1/audit/checkpoints", "auditor")).json()
        if checkpoints and checkpoints[-1]["size"] >= want:
            return int(checkpoints[-1]["size"])
        assert time.monotonic() < end, f"no checkpoint of {want} entries"
        await asyncio.sleep(0.05)  # polling the condition above, until the deadline


async def fetch_and_verify(
    page: Page, position: int, token: str, checkpoint: int | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate(
        """async ([module, position, token, checkpoint]) => {
            const { fetchAndVerify } = await import(module);
            const init = { headers: { Authorization: `Bearer ${token}` } };
            return fetchAndVerify(position, { init, checkpoint: checkpoint ?? undefined });
        }""",
        [MODULE, position, token, checkpoint],
    )
    return result


async def verify(page: Page, proof: dict[str, Any], pem: str) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate(
        """async ([module, proof, pem]) => {
            const { verifyEntryProof } = await import(module);
            return verifyEntryProof(proof, pem);
        }""",
        [MODULE, proof, pem],
    )
    return result


async def test_real_entries_verify_in_the_browser(served: Served, page: Page) -> None:
    axis = served.axis
    size = await signed_entries(axis, 3)
    certificate = axis.app.state.ingest.identity.certificate
    auditor = axis.tokens["auditor"]
    for position in range(size):  # every leaf of the tree, against its signed root
        result = await fetch_and_verify(page, position, auditor, checkpoint=size)
        assert result["ok"], (position, result["failures"])
        assert result["checkpoint"]["size"] == size
    for position in sorted({0, 1, size // 2, size - 1}):  # against the latest checkpoint
        result = await fetch_and_verify(page, position, auditor)
        assert result["ok"], result["failures"]
        assert result["checks"] == {"entry": True, "inclusion": True, "signature": True}
        assert result["position"] == position
        named = result["checkpoint"]
        assert named["origin"] == "edoc-axis/audit" and named["size"] > position
        proof = await axis.request(
            "GET", f"/v1/audit/entries/{position}/proof?checkpoint={named['size']}", "auditor"
        )
        assert named["root"] == proof.json()["checkpoint"]["root"], "the signed root it checked"
        assert result["certificate"]["sha256"] == fingerprint_sha256(certificate)

    # An agency's session checks the entries it may read, and only those.
    own = await fetch_and_verify(page, 0, axis.tokens[SENDER])
    assert own["ok"], own["failures"]
    with pytest.raises(Exception, match="404"):
        await fetch_and_verify(page, 0, axis.tokens[OTHER])


async def test_the_inclusion_algorithm_agrees_with_the_python_tree(
    served: Served, page: Page
) -> None:
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
    outcomes: list[list[bool]] = await page.evaluate(
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


async def test_tampering_shows_as_failed(served: Served, page: Page) -> None:
    axis = served.axis
    size = await signed_entries(axis, 2)
    position = size // 2
    answer = await axis.request("GET", f"/v1/audit/entries/{position}/proof", "auditor")
    proof = answer.json()
    assert len(proof["proof"]) >= 2
    pem = (await axis.request("GET", "/v1/audit/certificate", "auditor")).text

    genuine = await verify(page, proof, pem)
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
        result = await verify(page, changed, certificate)
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
    forged_root = await verify(page, tampered_root(proof), pem)
    assert forged_root["checkpoint"]["root"] != proof["checkpoint"]["root"]
    garbage = await verify(page, {**proof, "checkpoint": {"note": "not a note"}}, "no pem")
    assert not garbage["ok"] and garbage["checkpoint"] is None
    assert {"checkpoint", "certificate"} <= {f.split(":")[0] for f in garbage["failures"]}
