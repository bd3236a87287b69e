"""Verify an audit bundle (`axis.audit.bundle`) offline, with only the axis's certificate.

The verifier reads the lines in order and stops at the first thing that does not hold,
naming the position. What it checks, and what each failure means:

* every entry at its place: positions run on without a gap or repeat (a deleted or
  reordered row), the entry names the position it is at (an entry moved or renumbered),
  its bytes hash to the leaf hash stored beside them (bytes changed after writing), and
  they are canonical JSON of an event;
* every checkpoint: the signature by the axis's key, its RFC 3161 timestamp (when TSA roots
  are given), its time not before the previous one's, the consistency proof from the
  previous checkpoint, and the root recomputed from the entries equal to the signed one.
  An entry changed together with its leaf hash shows here: somewhere between the previous
  checkpoint and this one;
* the end: every entry covered by a checkpoint, nothing cut off, nothing after.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509

from axis.audit.bundle import FORMAT
from axis.audit.merkle import CompactRange, leaf_hash, verify_consistency
from axis.events import canonical_json
from signing.checkpoints import verify_checkpoint
from signing.errors import SignatureError
from signing.timestamps import verify_timestamp


@dataclass(frozen=True)
class Finding:
    """The first thing wrong: at a leaf position (for a checkpoint, its tree size)."""

    position: int
    reason: str


@dataclass
class Report:
    origin: str | None = None
    start: int = 0
    end: int = 0
    entries: int = 0
    """Entries read and found in place (their bytes, position and leaf hash)."""
    signed_size: int = 0
    """The entries from `start` up to this tree size are proven by a verified checkpoint."""
    checkpoints: int = 0
    timestamps_verified: int = 0
    timestamps_unchecked: int = 0
    """Timestamps present but not checked: no TSA root certificate was given."""
    unsigned: int = 0
    """Entries after the last checkpoint (allowed on the live store only)."""
    finding: Finding | None = None

    @property
    def ok(self) -> bool:
        return self.finding is None


class BadBundle(Exception):
    def __init__(self, position: int, reason: str) -> None:
        super().__init__(reason)
        self.finding = Finding(position, reason)


_NEXT: dict[str, tuple[str, ...]] = {"bundle": ("bundle",), "frontier": ("frontier",), "end": ()}
"""The line types allowed at each stage (the body takes entries, checkpoints and the end)."""


@dataclass
class _Signed:
    size: int
    root: bytes
    time: datetime


def _hash(value: object, what: str, position: int) -> bytes:
    digest = _bytes(value, what, position)
    if len(digest) != 32:
        raise BadBundle(position, f"{what} is not a 32-byte hash")
    return digest


def _bytes(value: object, what: str, position: int) -> bytes:
    try:
        if not isinstance(value, str):
            raise TypeError
        return base64.b64decode(value, validate=True)
    except (TypeError, binascii.Error):
        raise BadBundle(position, f"{what} is not base64") from None


def _int(line: dict[str, Any], key: str, position: int) -> int:
    value = line.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadBundle(position, f"the {line.get('type')} line's {key!r} is not a count")
    return value


@dataclass
class BundleVerifier:
    """Feed it the bundle's lines in order; `finish()` says how far it held."""

    certificate: x509.Certificate
    origin: str | None = None
    """The log's name (the checkpoint key name); by default the one the bundle states."""
    tsa_roots: Sequence[x509.Certificate] = ()
    allow_unsigned_tail: bool = False
    """The live store: entries the writer has not signed yet are counted, not a failure."""
    _report: Report = field(default_factory=Report, init=False)
    _stage: str = field(default="bundle", init=False)
    _tree: CompactRange | None = field(default=None, init=False)
    _last: _Signed | None = field(default=None, init=False)
    """The last checkpoint verified (the anchor included)."""

    @property
    def _position(self) -> int:
        return self._tree.size if self._tree is not None else self._report.start

    @property
    def entries(self) -> int:
        """Entries checked so far (for progress reports)."""
        return self._report.entries

    def feed_line(self, raw: bytes | str) -> bool:
        """Check one raw line of the bundle; False from the first problem on."""
        if self._report.finding is not None:
            return False
        try:
            try:
                line = json.loads(raw)
            except ValueError:
                raise BadBundle(self._position, "a line that is not JSON") from None
            self.feed(line)
        except BadBundle as bad:
            self._report.finding = bad.finding
        return self._report.finding is None

    def feed(self, line: object) -> None:
        """Check one parsed line; raises BadBundle at the first problem."""
        if not isinstance(line, dict) or not isinstance(line.get("type"), str):
            raise BadBundle(self._position, "a line that is not a typed JSON object")
        kind = line["type"]
        expected = _NEXT.get(self._stage, ("entry", "checkpoint", "end"))
        if kind not in expected:
            raise BadBundle(self._position, f"a {kind!r} line where {expected} belongs")
        getattr(self, f"_{kind}")(line)

    def _bundle(self, line: dict[str, Any]) -> None:
        if line.get("format") != FORMAT:
            raise BadBundle(0, f"not a bundle in the {FORMAT} format: {line.get('format')!r}")
        origin = line.get("origin")
        if not isinstance(origin, str) or (self.origin is not None and origin != self.origin):
            raise BadBundle(0, f"the bundle is of log {origin!r}, not {self.origin!r}")
        self.origin = origin
        self._report.origin = origin
        self._report.start = _int(line, "from", 0)
        self._report.end = _int(line, "to", 0)
        self._stage = "frontier"

    def _frontier(self, line: dict[str, Any]) -> None:
        start = self._report.start
        hashes = line.get("hashes")
        if _int(line, "size", start) != start or not isinstance(hashes, list):
            raise BadBundle(start, f"the frontier is not that of the first {start} entries")
        try:
            self._tree = CompactRange(start, [_hash(h, "a frontier hash", start) for h in hashes])
        except ValueError as exc:
            raise BadBundle(start, f"the frontier does not fit: {exc}") from None
        self._report.signed_size = start
        self._stage = "body"

    def _entry(self, line: dict[str, Any]) -> None:
        assert self._tree is not None
        expected = self._tree.size
        position = _int(line, "position", expected)
        if position > expected:
            raise BadBundle(expected, f"entry {expected} is missing (the next is {position})")
        if position < expected:
            raise BadBundle(position, f"entry {position} again, after entry {expected - 1}")
        stored = _hash(line.get("leaf_hash"), "the leaf hash", position)
        entry = _bytes(line.get("entry"), "the entry", position)
        digest = leaf_hash(entry)
        if digest != stored:
            raise BadBundle(position, "the entry's bytes do not match its leaf hash")
        _check_entry(entry, position)
        self._tree.append(digest)
        self._report.entries += 1

    def _checkpoint(self, line: dict[str, Any]) -> None:
        assert self._tree is not None and self.origin is not None
        size = _int(line, "size", self._position)
        anchor = "consistency" not in line
        if anchor and (self._last is not None or size > self._report.start):
            raise BadBundle(size, f"checkpoint {size} carries no consistency proof")
        if not anchor and size != self._tree.size:
            where = "ahead of" if size > self._tree.size else "behind"
            raise BadBundle(
                min(size, self._tree.size),
                f"checkpoint {size} is {where} the entries (entry {self._tree.size} is next)",
            )
        note = line.get("note")
        if not isinstance(note, str):
            raise BadBundle(size, f"checkpoint {size} has no signed note")
        try:
            signed = verify_checkpoint(note, self.certificate, self.origin)
        except SignatureError as exc:
            raise BadBundle(size, f"checkpoint {size}: {exc}") from None
        if signed.size != size or signed.origin != self.origin:
            raise BadBundle(size, f"checkpoint {size} signs {signed.origin} at {signed.size}")
        if self._last is not None and signed.time < self._last.time:
            raise BadBundle(size, f"checkpoint {size} is dated before checkpoint {self._last.size}")
        self._check_timestamp(line.get("timestamp"), note, size)
        if anchor:
            if size == self._report.start:
                self._check_root(signed.root, size, "the frontier")
        else:
            proven = self._report.signed_size
            with_frontier = " (or the frontier)" if self._report.checkpoints == 0 and proven else ""
            self._check_root(signed.root, size, f"entries {proven} to {size - 1}{with_frontier}")
            self._check_consistency(line.get("consistency"), size, signed.root)
            self._report.checkpoints += 1
            self._report.signed_size = size
        self._last = _Signed(size, signed.root, signed.time)

    def _check_root(self, root: bytes, size: int, what: str) -> None:
        """The entries since the last checkpoint (whose root held) against this one: the
        first that differs is among them, and no finer place can be proven."""
        assert self._tree is not None
        if self._tree.root() != root:
            raise BadBundle(
                self._report.signed_size,
                f"{what} do not hash to the root checkpoint {size} signs: changed, removed or "
                "inserted since it was signed",
            )

    def _check_consistency(self, proof: object, size: int, root: bytes) -> None:
        if self._last is None:
            return
        if not isinstance(proof, list):
            raise BadBundle(size, f"checkpoint {size}: the consistency proof is not a list")
        nodes = [_hash(node, "a consistency proof hash", size) for node in proof]
        old = self._last
        if not verify_consistency(old.size, size, old.root, root, nodes):
            raise BadBundle(size, f"checkpoint {size} is not consistent with checkpoint {old.size}")

    def _check_timestamp(self, token: object, note: str, size: int) -> None:
        if token is None:
            return
        raw = _bytes(token, f"checkpoint {size}'s timestamp", size)
        if not self.tsa_roots:
            self._report.timestamps_unchecked += 1
            return
        try:
            verify_timestamp(raw, note.encode(), self.tsa_roots)
        except SignatureError as exc:
            raise BadBundle(size, f"checkpoint {size}'s timestamp: {exc}") from None
        self._report.timestamps_verified += 1

    def _end(self, line: dict[str, Any]) -> None:
        assert self._tree is not None
        report = self._report
        size = self._tree.size
        if size != report.end or _int(line, "entries", size) != report.end - report.start:
            raise BadBundle(size, f"the bundle says {report.start}..{report.end}, holds to {size}")
        if _int(line, "checkpoints", size) != report.checkpoints:
            raise BadBundle(size, f"the bundle says {line['checkpoints']} checkpoints")
        if report.signed_size < size:
            if not self.allow_unsigned_tail:
                raise BadBundle(
                    report.signed_size,
                    f"entries {report.signed_size} to {size - 1} are covered by no checkpoint",
                )
            report.unsigned = size - report.signed_size
        self._stage = "end"

    def finish(self) -> Report:
        """The result, once every line is in: a bundle without its end line was cut."""
        if self._report.finding is None and self._stage != "end":
            self._report.finding = Finding(self._position, "the bundle is cut short")
        return self._report


def _check_entry(entry: bytes, position: int) -> None:
    try:
        parsed = json.loads(entry)
    except ValueError:
        raise BadBundle(position, "the entry is not JSON") from None
    if not isinstance(parsed, dict) or set(parsed) != {"event", "position"}:
        raise BadBundle(position, "the entry is not an {event, position} object")
    if parsed["position"] != position:
        raise BadBundle(position, f"the entry says it is entry {parsed['position']!r}")
    event = parsed["event"]
    if not (isinstance(event, dict) and all(isinstance(event.get(k), str) for k in ("id", "type"))):
        raise BadBundle(position, "the entry's event has no id or type")
    if canonical_json(parsed) != entry:
        raise BadBundle(position, "the entry is not in canonical JSON form")
