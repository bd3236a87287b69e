"""A real RFC 3161 time-stamp authority on loopback for the timestamp tests: Debian's
`openssl ts -reply` behind a small `http.server` thread (imported by name: tests/signing is
on sys.path).

Each `LocalTsa` has its own CA and a TSA certificate with the critical timeStamping extended
key usage (openssl refuses to sign with anything else), an openssl configuration for `ts`,
and a serial file. Paths under the TSA's URL:

- `/` answers with `openssl ts -reply` for the posted query (the real thing);
- `/sha512-only` is the same TSA configured to accept only SHA-512 imprints: openssl
  answers a SHA-256 query with a real rejection (status 2, badAlg);
- `/replay` answers with the reply it gave last time (a replayed response: wrong nonce);
- `/other-imprint` stamps a changed imprint with the query's own nonce (a lying TSA);
- `/unavailable` answers 503, `/garbage` answers 200 with bytes that are not DER, `/huge`
  answers 200 with more than a megabyte.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from signing.devca import issue_certificate
from signing.keys import CertifiedKey, KeyKind, generate_private_key, private_key_pem

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
POLICY = "1.3.6.1.4.1.99999.3161.1"
MAX_QUERY = 64 * 1024

_CONFIG = """\
[ tsa ]
default_tsa = tsa_config

[ tsa_config ]
dir = {directory}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.cert.pem
certs = $dir/ca.cert.pem
signer_key = $dir/tsa.key.pem
signer_digest = sha256
default_policy = {policy}
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256

[ sha512_only ]
dir = {directory}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.cert.pem
signer_key = $dir/tsa.key.pem
signer_digest = sha256
default_policy = {policy}
digests = sha512
"""


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edoc-axis test TSA"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_tsa_keys(name: str, key_kind: KeyKind) -> tuple[CertifiedKey, CertifiedKey]:
    """A root CA and a TSA certificate under it (critical EKU timeStamping only), valid 30
    days from an hour ago."""
    start = datetime.now(UTC) - timedelta(hours=1)
    end = start + timedelta(days=30)
    ca = issue_certificate(
        None,
        _name(f"{name} root CA"),
        generate_private_key(key_kind),
        ca=True,
        digital_signature=False,
        not_before=start,
        not_after=end,
    )
    tsa = issue_certificate(
        ca,
        _name(name),
        generate_private_key(key_kind),
        ca=False,
        digital_signature=True,
        extended_key_usage=[ExtendedKeyUsageOID.TIME_STAMPING],
        not_before=start,
        not_after=end,
    )
    return ca, tsa


@dataclass
class LocalTsa:
    """One running TSA: its root, its signing certificate and the URL to post queries to."""

    name: str
    directory: Path
    openssl: str
    ca: CertifiedKey
    tsa: CertifiedKey
    url: str = ""
    queries: int = 0
    last_reply: bytes = b""
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def root(self) -> x509.Certificate:
        return self.ca.certificate

    def write_files(self) -> None:
        pem = serialization.Encoding.PEM
        (self.directory / "ca.cert.pem").write_bytes(self.ca.certificate.public_bytes(pem))
        (self.directory / "tsa.cert.pem").write_bytes(self.tsa.certificate.public_bytes(pem))
        key_file = self.directory / "tsa.key.pem"
        key_file.write_bytes(private_key_pem(self.tsa.key))
        key_file.chmod(0o600)
        (self.directory / "serial").write_text("01\n")
        config = _CONFIG.format(directory=self.directory, policy=POLICY)
        (self.directory / "ts.cnf").write_text(config)

    def _ts_reply(self, query: bytes, *options: str) -> bytes:
        """`openssl ts -reply [options]` for one DER query, returning what it wrote to `-out`:
        `reply` and `token` differ only in their options. Callers hold `lock` (the serial
        file is shared)."""
        with tempfile.TemporaryDirectory(dir=self.directory) as scratch:
            query_file = Path(scratch) / "query.tsq"
            out_file = Path(scratch) / "out.der"
            query_file.write_bytes(query)
            subprocess.run(
                [
                    self.openssl,
                    "ts",
                    "-reply",
                    "-config",
                    str(self.directory / "ts.cnf"),
                    *options,
                    "-queryfile",
                    str(query_file),
                    "-out",
                    str(out_file),
                ],
                check=True,
                capture_output=True,
                timeout=30,
            )
            return out_file.read_bytes()

    def reply(self, query: bytes, section: str = "tsa_config") -> bytes:
        """`openssl ts -reply` for one DER query (serialised: the serial file is shared)."""
        with self.lock:
            self.last_reply = self._ts_reply(query, "-section", section)
            self.queries += 1
            return self.last_reply

    def token(self, query: bytes) -> bytes:
        """A bare TimeStampToken (`-token_out`), as some systems store it."""
        with self.lock:
            return self._ts_reply(query, "-token_out")

    def openssl_verify(self, reply: bytes, data: bytes) -> subprocess.CompletedProcess[bytes]:
        """`openssl ts -verify` of a reply over `data` against this TSA's root: an outside
        check that what the axis stores is a standard response."""
        reply_file = self.directory / "check.tsr"
        data_file = self.directory / "check.data"
        reply_file.write_bytes(reply)
        data_file.write_bytes(data)
        return subprocess.run(
            [
                self.openssl,
                "ts",
                "-verify",
                "-in",
                str(reply_file),
                "-data",
                str(data_file),
                "-CAfile",
                str(self.directory / "ca.cert.pem"),
            ],
            capture_output=True,
            timeout=30,
        )


def _handler(tsa: LocalTsa) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """Quiet: pytest shows failures, not every request."""

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            if length <= 0 or length > MAX_QUERY:
                self._send(413, b"query too large or empty", "text/plain")
                return
            query = self.rfile.read(length)
            if self.path == "/unavailable":
                self._send(503, b"TSA down for maintenance", "text/plain")
            elif self.path == "/garbage":
                self._send(200, b"not a timestamp reply", REPLY_TYPE)
            elif self.path == "/huge":
                self._send(200, b"\x30" * (1024 * 1024 + 1), REPLY_TYPE)
            elif self.path == "/other-imprint":
                # hashedMessage is the query's first 32-byte OCTET STRING: flip its last byte.
                at = query.index(b"\x04\x20") + 2 + 31
                changed = query[:at] + bytes([query[at] ^ 0x01]) + query[at + 1 :]
                self._send(200, tsa.reply(changed), REPLY_TYPE)
            elif self.path == "/replay" and tsa.last_reply:
                self._send(200, tsa.last_reply, REPLY_TYPE)
            elif self.path in ("/", "/sha512-only"):
                if self.headers.get("Content-Type") != QUERY_TYPE:
                    self._send(415, b"expected application/timestamp-query", "text/plain")
                    return
                section = "tsa_config" if self.path == "/" else "sha512_only"
                try:
                    body = tsa.reply(query, section)
                except subprocess.CalledProcessError as exc:
                    self._send(500, exc.stderr, "text/plain")
                    return
                self._send(200, body, REPLY_TYPE)
            else:
                self._send(404, b"no such path", "text/plain")

    return Handler


def require_openssl() -> str:
    """Debian's openssl: tests that need it fail under CI without it, and skip elsewhere."""
    path = shutil.which("openssl")
    if path is None:
        message = "openssl is not installed (apt-get install openssl); these tests run it"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@contextmanager
def running_tsa(
    name: str, directory: Path, openssl: str, key_kind: KeyKind = "ec-p256"
) -> Iterator[LocalTsa]:
    """A TSA served on 127.0.0.1 (a free port) while the block runs."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, tsa_key = make_tsa_keys(name, key_kind)
    tsa = LocalTsa(name=name, directory=directory, openssl=openssl, ca=ca, tsa=tsa_key)
    tsa.write_files()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(tsa))
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name=f"tsa-{name}", daemon=True
    )
    thread.start()
    tsa.url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield tsa
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
