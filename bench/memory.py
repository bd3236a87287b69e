"""Peak memory of the API process per document, and the in-flight budget under load.

    python bench/memory.py [--sizes 1,20,60] [--concurrency 1,8,32] [--distinct 32,8,6]

For each document size (MB) and concurrency, a fresh `axis serve` (embedded bus, SQLite,
every setting at its default but the sending agency's allowance, so
`AXIS_INFLIGHT_BODY_BYTES` is 256 MiB) receives that many signed documents at once, each
with one attachment that makes up its size. Printed per cell: the answers (202 accepted,
200 an identical repeat, 503 over the budget), the growth of the process's peak RSS over
its RSS after a warm-up document (VmHWM after /proc/<pid>/clear_refs), the bytes that can
be in flight at once (the documents sent, or the budget when they exceed it), and the
ratio of the two.

Signing a 60 MB document takes the agency's side about 7 s, so each size has `--distinct`
different documents (signed once, kept on disk and streamed from there with their
Content-Length) that the concurrent senders share in turn: two senders of the same document
are both verified when they overlap, and the later one is a 200 repeat otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from envelopes import document, with_attachment  # noqa: E402
from ingest import RECIPIENT, SENDER, free_port, prepare, start_server  # noqa: E402

from axis.config import Settings  # noqa: E402
from signing.devkeys import load_or_create_dev_keys  # noqa: E402
from signing.xmldsig import sign_envelope  # noqa: E402

MB = 1024 * 1024
BASE64_GROWTH = 77 / 57
"""Bytes of base64 in 76-character lines per attachment byte."""
CHUNK = 256 * 1024


def status(pid: int, name: str) -> int:
    """A `Vm*` figure of /proc/<pid>/status, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) * 1024
    raise KeyError(name)


def make_documents(
    settings: Settings, directory: Path, size_mb: int, count: int, tag: str = ""
) -> list[Path]:
    """`count` signed documents of about `size_mb` MB each, written to `directory`."""
    key = load_or_create_dev_keys(settings.dev_key_dir, [SENDER]).agencies[SENDER]
    overhead = len(document(SENDER, [RECIPIENT], "x"))
    attachment = max(1, int((size_mb * MB - overhead) / BASE64_GROWTH))
    paths = []
    for n in range(count):
        name = f"{tag}{size_mb}MB,{n}"
        unsigned = with_attachment(document(SENDER, [RECIPIENT], name), attachment)
        path = directory / f"{tag}{size_mb}mb-{n}.edxml"
        path.write_bytes(sign_envelope(unsigned, key))
        paths.append(path)
    return paths


async def streamed(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            yield chunk


def reset_peak(pid: int) -> None:
    """VmHWM starts again from the current RSS."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def headers_for(token: str, path: Path) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/xml",
        "Content-Length": str(path.stat().st_size),
    }


async def send(client: httpx.AsyncClient, token: str, path: Path) -> int:
    headers = headers_for(token, path)
    response = await client.post("/v1/documents", content=streamed(path), headers=headers)
    if response.status_code not in (200, 202, 503):
        raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
    return response.status_code


async def cell(paths: list[Path], warm: Path, concurrency: int, size_mb: int, budget: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        env = {
            **os.environ,
            "AXIS_DATA_DIR": data_dir,
            "AXIS_PORT": str(port),
            "AXIS_LOG_LEVEL": "warning",
            # One agency sends every document: its allowance must not be what is measured.
            "AXIS_AGENCY_MAX_IN_FLIGHT": "100000",
            "AXIS_AGENCY_RATE_PER_SECOND": "1000000",
            "AXIS_AGENCY_RATE_BURST": "1000000",
        }
        settings = Settings(data_dir=Path(data_dir))
        # The documents are signed with the keys in `keys`; the fresh data dir gets them.
        os.symlink(paths[0].parent / "dev-keys", settings.dev_key_dir)
        token = await prepare(settings)
        base_url = f"http://127.0.0.1:{port}"
        process = start_server(env, base_url, log=Path(data_dir) / "serve.log")
        try:
            async with httpx.AsyncClient(base_url=base_url, timeout=600) as client:
                assert await send(client, token, warm) == 202
                reset_peak(process.pid)
                before = status(process.pid, "VmRSS")
                started = time.perf_counter()
                answers = Counter(
                    await asyncio.gather(
                        *(send(client, token, paths[n % len(paths)]) for n in range(concurrency))
                    )
                )
                wall = time.perf_counter() - started
                growth = status(process.pid, "VmHWM") - before
        finally:
            process.terminate()
            process.wait(timeout=30)
    size = sum(paths[n % len(paths)].stat().st_size for n in range(concurrency)) / concurrency
    in_flight = min(concurrency * size, max(size, budget))
    print(
        f"{size_mb:>5} {concurrency:>5} {answers[202]:>5} {answers[200]:>5} {answers[503]:>5} "
        f"{growth / MB:>10.0f} {in_flight / MB:>10.0f} {growth / in_flight:>6.2f} {wall:>7.1f}",
        flush=True,
    )


async def main(args: argparse.Namespace) -> None:
    budget = Settings().inflight_body_bytes
    with tempfile.TemporaryDirectory() as work:
        directory = Path(work)
        settings = Settings(data_dir=directory)
        started = time.perf_counter()
        [warm] = make_documents(settings, directory, 1, 1, tag="warm")
        documents = {
            size: make_documents(settings, directory, size, count)
            for size, count in zip(args.sizes, args.distinct, strict=True)
        }
        print(f"signed the documents in {time.perf_counter() - started:.0f} s", flush=True)
        print(
            f"{'MB':>5} {'conc':>5} {'202':>5} {'200':>5} {'503':>5} {'peak+ MB':>10} "
            f"{'flight MB':>10} {'ratio':>6} {'wall s':>7}"
        )
        for size in args.sizes:
            for concurrency in args.concurrency:
                await cell(documents[size], warm, concurrency, size, budget)


def numbers(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=numbers, default=[1, 20, 60])
    parser.add_argument("--concurrency", type=numbers, default=[1, 8, 32])
    parser.add_argument("--distinct", type=numbers, default=[32, 8, 6])
    asyncio.run(main(parser.parse_args()))
