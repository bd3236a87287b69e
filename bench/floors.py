"""The floors a bench compares the axis with, measured on the same machine in the same run.

- The framework floor: a bare FastAPI app in its own uvicorn process (one worker, the h11
  protocol `axis serve` uses) whose endpoint reads the body and answers 202; it is driven
  by the bench's load generator at the same concurrency: requests/s and that process's CPU
  per request. No real endpoint can be cheaper than this.
- The crypto floor: the XML and crypto work the axis must do per document, alone in a loop
  in one thread, as ingest does it: parse under the configured limits and read the envelope
  (`schemas.edxml.parse_xml`, `envelope_from_tree`), verify the sender's signature on that
  tree (`signing.xmldsig.verify_envelope`; the envelope read again from the signed octets
  only when the tree held something unsigned) and make one evidence signature with the axis
  identity's signer: documents/s and CPU per document.

`python bench/floors.py --serve PORT` is the framework floor's process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from axis.app import configured_identity  # noqa: E402
from axis.config import Settings  # noqa: E402
from schemas.edxml import DocumentEnvelope, envelope_from_tree, parse_xml  # noqa: E402
from signing.certificates import RegisteredCertificate  # noqa: E402
from signing.evidence import EvidenceKind, EvidenceRecord  # noqa: E402
from signing.xmldsig import verify_envelope  # noqa: E402

READY_SECONDS = 60.0
STOP_SECONDS = 60.0
"""Longest wait for the framework floor's requests in flight once its window is over."""
CRYPTO_SECONDS = 5.0
"""How long the crypto floor's loop runs (at least one pass over the bodies)."""


@dataclass(frozen=True)
class Floor:
    """What a floor did: units (requests or documents) per second, and CPU per unit."""

    name: str
    clients: int
    """Concurrent requests (the framework floor); 1 for the crypto floor's one thread."""
    per_second: float
    cpu_ms: float


# --------------------------------------------------------------------------- framework floor


def floor_app() -> FastAPI:
    """The bare app: POST /v1/documents reads the body and answers 202 with an id, as the
    axis does; GET /readyz answers 200."""
    app = FastAPI()

    @app.post("/v1/documents")
    async def accept(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse({"document_id": str(uuid.uuid4()), "size": len(body)}, 202)

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    return app


def serve_floor(port: int) -> None:
    """The framework floor's process: uvicorn as `axis.server.run_server` configures it."""
    import uvicorn

    from axis.api.header_deadline import with_header_deadline

    settings = Settings()
    config = uvicorn.Config(
        floor_app(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        http=with_header_deadline(settings.header_timeout_seconds),
    )
    uvicorn.Server(config).run()


def floor_command(port: int) -> list[str]:
    """The framework floor's process, serving on 127.0.0.1:`port`."""
    return [sys.executable, str(Path(__file__).resolve()), "--serve", str(port)]


def start_floor(port: int) -> subprocess.Popen[bytes]:
    """The framework floor's process, once it answers (its output to this one's)."""
    process = subprocess.Popen(floor_command(port), stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        time.sleep(0.2)
    process.kill()
    process.wait()
    raise RuntimeError(f"the framework floor did not answer within {READY_SECONDS:.0f} s")


async def closed_loop_rate(
    client: httpx.AsyncClient,
    token: str,
    bodies: Sequence[bytes],
    clients: int,
    warmup: float,
    window: float,
    cpu: Callable[[], float],
) -> tuple[float, float]:
    """`clients` requests kept in flight, cycling over `bodies`, for `warmup` + `window` s:
    answers per second in the window and `cpu()` seconds spent per answer in it."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/xml"}
    cycle = itertools.cycle(bodies)
    done: list[float] = []
    stop = asyncio.Event()

    async def sender() -> None:
        while not stop.is_set():
            response = await client.post("/v1/documents", content=next(cycle), headers=headers)
            if response.status_code != 202:
                raise RuntimeError(f"floor: {response.status_code} {response.text[:200]}")
            done.append(time.monotonic())

    senders = [asyncio.create_task(sender()) for _ in range(clients)]
    try:
        finished, _ = await asyncio.wait(senders, timeout=warmup)
        start, cpu_before = time.monotonic(), cpu()
        finished, _ = await asyncio.wait(senders, timeout=window)
        end, cpu_after = time.monotonic(), cpu()
        for task in finished:
            task.result()  # a sender's error
    finally:
        stop.set()  # the requests in flight end (a cancelled one is an error in the floor's log)
        await asyncio.wait(senders, timeout=STOP_SECONDS)
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
    answers = sum(1 for at in done if start <= at <= end)
    if answers == 0:
        raise RuntimeError("floor: no answer in the window")
    return answers / (end - start), (cpu_after - cpu_before) / answers


# --------------------------------------------------------------------------- crypto floor


def crypto_floor(
    bodies: Sequence[bytes],
    settings: Settings,
    sender_certificate_pem: bytes,
    seconds: float = CRYPTO_SECONDS,
) -> Floor:
    """Parse, verify and sign one evidence record per body, in a loop on this thread."""
    identity = configured_identity(settings)
    certificates = [RegisteredCertificate.from_pem(sender_certificate_pem)]
    limits = settings.envelope_limits
    documents = 0
    wall_start, cpu_start = time.perf_counter(), time.thread_time()
    for body in itertools.cycle(bodies):
        tree = parse_xml(body, limits)
        envelope = envelope_from_tree(tree, limits)
        received_at = datetime.now(UTC)
        verified = verify_envelope(
            tree, certificates=certificates, trust=identity.trust, receipt_time=received_at
        )
        if not verified.received_is_signed:
            envelope = envelope_from_tree(verified.signed_xml, limits)
        assert isinstance(envelope, DocumentEnvelope)
        record = EvidenceRecord.for_document(
            body,
            kind=EvidenceKind.RECEIPT,
            document_id=str(uuid.uuid4()),
            sender=envelope.sender_id,
            recipients=envelope.recipient_ids,
            time=received_at,
            verified=verified,
        )
        identity.signer.sign_evidence(record)
        documents += 1
        if documents >= len(bodies) and time.perf_counter() - wall_start >= seconds:
            break
    wall, cpu = time.perf_counter() - wall_start, time.thread_time() - cpu_start
    return Floor("crypto", 1, documents / wall, cpu / documents * 1000)


# --------------------------------------------------------------------------- ratios


def ratios(rate: float, cpu_ms: float, framework: Floor, crypto: Floor) -> str:
    """The axis's rate and CPU per document against both floors, as one phrase."""
    return (
        f"{rate:.1f} docs/s = {rate / framework.per_second:.3g}x the framework floor, "
        f"{rate / crypto.per_second:.3g}x the crypto floor; "
        f"{cpu_ms:.1f} ms CPU/doc = {cpu_ms / framework.cpu_ms:.3g}x the framework floor, "
        f"{cpu_ms / crypto.cpu_ms:.3g}x the crypto floor"
    )


def floor_line(floor: Floor) -> str:
    if floor.name == "crypto":
        return (
            f"crypto floor (parse + verify + one evidence signature, one thread): "
            f"{floor.per_second:.1f} docs/s, {floor.cpu_ms:.2f} ms CPU/doc"
        )
    return (
        f"framework floor (bare FastAPI, one uvicorn process, {floor.clients} in flight): "
        f"{floor.per_second:.1f} requests/s, {floor.cpu_ms:.3f} ms CPU/request"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", type=int, required=True, help="port of the floor app")
    with contextlib.suppress(KeyboardInterrupt):
        serve_floor(parser.parse_args().serve)


if __name__ == "__main__":
    main()
