"""Bytes to an lxml tree, with every resource bounded before libxml2 can spend it.

Why in this order:
1. size first, so nothing else ever looks at an oversized body;
2. encoding (UTF-8 only, checked in 1 MiB slices) so a bad byte is named by line, not by a
   confused parser error further on;
3. a markup scan over the raw bytes that refuses any DOCTYPE (and so every entity trick:
   billion laughs, quadratic blow-up, external and parameter entities) and counts depth,
   elements and attributes per element as it goes. It costs one C-level `find` per tag, stops
   at the first excess (a 10,000-deep nesting is refused after 65 tags), and, unlike counting
   parser events, also bounds a single start tag with millions of attributes, which libxml2
   would otherwise build in full (gigabytes) before reporting anything;
4. libxml2 itself, fed in chunks through a pull parser that counts depth and elements again
   (the scan gives up at the first malformed tag and leaves the error to libxml2), with no
   DTD loading, no entity resolution, no network and no XInclude processing.

`huge_tree` stays off unless the body limit admits a text node longer than libxml2's fixed
10,000,000-byte cap: with it off, no attachment over about 7 MiB could ever be received,
while the axis's default limit is 48 MiB. Everything `huge_tree` relaxes (text length,
depth, name length) is bounded more tightly by steps 1 and 3 before libxml2 runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import NoReturn

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from schemas.edxml.errors import EnvelopeError, ErrorCode
from schemas.edxml.limits import EnvelopeLimits

LIBXML2_TEXT_LIMIT = 10_000_000
"""libxml2's longest text node without XML_PARSE_HUGE."""

FEED_CHUNK = 64 * 1024
_UTF8_SLICE = 1024 * 1024

_BOM_UTF8 = b"\xef\xbb\xbf"
_OTHER_BOMS = (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00", b"\xfe\xff", b"\xff\xfe")
_XML_DECL = re.compile(rb"<\?xml[^>]*?\sencoding\s*=\s*[\"']([^\"']*)[\"']")
_START_TAG = re.compile(
    rb"<([^\s/>!?<=\"']+)"
    rb"((?:\s+[^\s=/>\"'<]+\s*=\s*(?:\"[^\"<]*\"|'[^'<]*'))*)"
    rb"\s*(/?)>"
)
_ATTRIBUTE = re.compile(rb"\s+[^\s=/>\"'<]+\s*=\s*(?:\"[^\"<]*\"|'[^'<]*')")
_TAG_NAME = re.compile(rb"<([^\s/>!?<=\"']+)")
_TAG_CLOSE = re.compile(rb"\s*/?>")
_SHORTEST_ATTRIBUTE = 5  # ` a=""`
_DTD_DECLARATIONS = (b"<!DOCTYPE", b"<!ENTITY", b"<!ELEMENT", b"<!ATTLIST", b"<!NOTATION")


def parse_xml(data: bytes | Path, limits: EnvelopeLimits) -> etree._Element:
    """Parse `data` (bytes, or the file holding them) into an lxml root element, or raise
    EnvelopeError.

    The tree keeps comments and whitespace exactly as received (a signature verifier may
    need them); nothing is resolved, fetched or included. From a file, the bytes are read
    for the checks and let go before libxml2 reads the file again in chunks, so the bytes
    and the tree are never in memory together.
    """
    if isinstance(data, Path):
        _check_size(data.stat().st_size, limits)
        _check_bytes(data.read_bytes(), limits)
        with data.open("rb") as file:
            return _parse_bounded(iter(partial(file.read, FEED_CHUNK), b""), limits)
    data = bytes(data)
    _check_size(len(data), limits)
    _check_bytes(data, limits)
    return _parse_bounded(
        (data[start : start + FEED_CHUNK] for start in range(0, len(data), FEED_CHUNK)), limits
    )


def _check_size(size: int, limits: EnvelopeLimits) -> None:
    if size > limits.max_body_bytes:
        raise EnvelopeError(
            "too_large", f"the body is {size} bytes; at most {limits.max_body_bytes} are accepted"
        )


def _check_bytes(data: bytes, limits: EnvelopeLimits) -> None:
    check_encoding(data)
    scan_markup(data, limits)


def check_encoding(data: bytes) -> None:
    """Refuse anything but UTF-8: another BOM, another declared encoding, or a bad byte."""
    if data.startswith(_OTHER_BOMS) or data.startswith((b"\x00<", b"<\x00")):
        raise EnvelopeError("invalid_encoding", "the envelope must be UTF-8 (found UTF-16/32)")
    body = data[len(_BOM_UTF8) :] if data.startswith(_BOM_UTF8) else data
    if body.startswith(b"<?xml"):
        end = body.find(b"?>")
        declaration = _XML_DECL.match(body, 0, end + 2 if end >= 0 else min(len(body), 200))
        if declaration:
            name = declaration.group(1).decode("ascii", "replace").strip().lower()
            if name not in ("utf-8", "utf8"):
                raise EnvelopeError(
                    "invalid_encoding",
                    f"the envelope declares encoding {name!r}; it must be UTF-8",
                    line=1,
                )
    start = 0
    while start < len(data):
        end = min(start + _UTF8_SLICE, len(data))
        # Never cut a multi-byte sequence: back off over continuation bytes (at most 3).
        back = 0
        while end < len(data) and back < 3 and 0x80 <= data[end] <= 0xBF:
            end -= 1
            back += 1
        try:
            data[start:end].decode("utf-8")
        except UnicodeDecodeError as exc:
            offset = start + exc.start
            raise EnvelopeError(
                "invalid_encoding",
                f"byte 0x{data[offset]:02x} at offset {offset} is not valid UTF-8",
                line=data.count(b"\n", 0, offset) + 1,
            ) from None
        start = end


def scan_markup(data: bytes, limits: EnvelopeLimits) -> None:
    """Refuse DTDs and count depth, elements and attributes on the raw bytes.

    Stops quietly at the first construct it does not understand (unterminated comment,
    malformed tag, stray end tag): libxml2 will refuse it with a precise message, and the
    pull parser keeps counting past it.
    """
    depth = 0
    elements = 0
    other_nodes = 0
    position = 0
    length = len(data)
    while True:
        lt = data.find(b"<", position)
        if lt < 0 or lt + 1 >= length:
            return
        following = data[lt + 1]
        if following == 0x2F:  # "</"
            depth -= 1
            if depth < 0:
                return
            position = lt + 2
            continue
        if following in (0x21, 0x3F):  # "<!" or "<?"
            end = _skip_special(data, lt)
            if end < 0:
                return
            other_nodes += 1
            if other_nodes > limits.max_elements:
                _fail(
                    data,
                    lt,
                    "too_many_elements",
                    f"more than {limits.max_elements} comments, CDATA sections or "
                    "processing instructions",
                )
            position = end
            continue
        end = _start_tag(data, lt, limits)
        if end < 0:
            return
        elements += 1
        if elements > limits.max_elements:
            _fail(
                data,
                lt,
                "too_many_elements",
                f"more than {limits.max_elements} elements",
                element=_tag_name(data, lt),
            )
        if data[end - 2] != 0x2F:  # not "/>": an open element
            depth += 1
            if depth > limits.max_depth:
                _fail(
                    data,
                    lt,
                    "too_deep",
                    f"elements nest deeper than {limits.max_depth} levels",
                    element=_tag_name(data, lt),
                )
        position = end


def _start_tag(data: bytes, lt: int, limits: EnvelopeLimits) -> int:
    """End offset of the start tag at `lt` (-1 if malformed); refuse too many attributes.

    A tag no longer than `max_attributes` shortest attributes cannot hold too many, so it
    is matched in one go up to the first ">"; a longer one (or one with ">" in a value) is
    read attribute by attribute, stopping at the first one too many.
    """
    short_end = data.find(b">", lt, lt + limits.max_attributes * _SHORTEST_ATTRIBUTE + 1)
    if short_end >= 0:
        short = _START_TAG.match(data, lt, short_end + 1)
        if short is not None:
            return short.end()
    name = _TAG_NAME.match(data, lt)
    if name is None:
        return -1
    position = name.end()
    count = 0
    while (attribute := _ATTRIBUTE.match(data, position)) is not None:
        count += 1
        if count > limits.max_attributes:
            _fail(
                data,
                lt,
                "too_many_attributes",
                f"more than {limits.max_attributes} attributes on one element",
                element=_tag_name(data, lt),
            )
        position = attribute.end()
    close = _TAG_CLOSE.match(data, position)
    return close.end() if close is not None else -1


def _tag_name(data: bytes, lt: int) -> str | None:
    name = _TAG_NAME.match(data, lt)
    return _local_name(name.group(1)) if name is not None else None


def _skip_special(data: bytes, lt: int) -> int:
    """End offset of the comment / CDATA / PI at `lt`, or -1; raise on any DTD markup."""
    if data.startswith(b"<!--", lt):
        end = data.find(b"-->", lt + 4)
        return end + 3 if end >= 0 else -1
    if data.startswith(b"<![CDATA[", lt):
        end = data.find(b"]]>", lt + 9)
        return end + 3 if end >= 0 else -1
    if data.startswith(b"<?", lt):
        end = data.find(b"?>", lt + 2)
        return end + 2 if end >= 0 else -1
    if data.startswith(_DTD_DECLARATIONS, lt):
        _fail(
            data,
            lt,
            "dtd_forbidden",
            "DOCTYPE and entity/element declarations are not accepted in an envelope",
        )
    return -1


def _parse_bounded(chunks: Iterable[bytes], limits: EnvelopeLimits) -> etree._Element:
    """Run libxml2 over the chunks, counting depth and elements as events arrive."""
    parser = etree.XMLPullParser(
        events=("start", "end"),
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=limits.max_body_bytes > LIBXML2_TEXT_LIMIT,
        remove_comments=False,
        remove_pis=False,
        strip_cdata=True,
        collect_ids=False,
    )
    depth = 0
    elements = 0
    # The error log is per thread and keeps earlier parses' entries; start from a clean one
    # so that the first error reported is this envelope's.
    etree.clear_error_log()
    try:
        for chunk in chunks:
            parser.feed(chunk)
            for event, element in parser.read_events():
                if event == "end":
                    depth -= 1
                    continue
                depth += 1
                elements += 1
                if depth > limits.max_depth:
                    raise EnvelopeError(
                        "too_deep",
                        f"elements nest deeper than {limits.max_depth} levels",
                        line=element.sourceline,
                        element=etree.QName(element).localname,
                    )
                if elements > limits.max_elements:
                    raise EnvelopeError(
                        "too_many_elements",
                        f"more than {limits.max_elements} elements",
                        line=element.sourceline,
                        element=etree.QName(element).localname,
                    )
                if len(element.attrib) > limits.max_attributes:
                    raise EnvelopeError(
                        "too_many_attributes",
                        f"more than {limits.max_attributes} attributes on one element",
                        line=element.sourceline,
                        element=etree.QName(element).localname,
                    )
        root = parser.close()
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc) from None
    if root is None:
        raise EnvelopeError("not_well_formed", "the body holds no XML element")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise EnvelopeError("dtd_forbidden", "DOCTYPE is not accepted in an envelope", line=1)
    return root


_MISMATCH = re.compile(r"and (\S+)$")


def _syntax_error(exc: etree.XMLSyntaxError) -> EnvelopeError:
    """Map libxml2's first error to an EnvelopeError with its line and, if known, element.

    The first error, not `exc.msg`: the pull parser sometimes raises a generic "no element
    found" at close() after the real error (e.g. an undefined entity) was logged.
    """
    entries = [entry for entry in (exc.error_log or []) if entry.level_name in ("ERROR", "FATAL")]
    entry = entries[0] if entries else None
    message = (entry.message if entry is not None else str(exc.msg or exc)).strip()
    line = (entry.line if entry is not None else None) or exc.lineno or None
    type_name = entry.type_name if entry is not None else ""
    code: ErrorCode = "not_well_formed"
    lowered = message.lower()
    if "depth" in lowered and "exce" in lowered:
        code = "too_deep"
    elif type_name in ("ERR_INVALID_ENCODING", "ERR_UNSUPPORTED_ENCODING") or "utf-8" in lowered:
        code = "invalid_encoding"
    elif "resource limit" in lowered or "huge" in lowered:
        code = "too_large"
    elif "doctype" in lowered or "amplification" in lowered or "entity declar" in lowered:
        code = "dtd_forbidden"
    element = None
    mismatch = _MISMATCH.search(message) if type_name == "ERR_TAG_NAME_MISMATCH" else None
    if mismatch:
        element = mismatch.group(1).rpartition(":")[2]
    return EnvelopeError(code, f"not well-formed XML: {message}", line=line, element=element)


def _local_name(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rpartition(":")[2]


def _fail(
    data: bytes, offset: int, code: ErrorCode, message: str, *, element: str | None = None
) -> NoReturn:
    raise EnvelopeError(code, message, line=data.count(b"\n", 0, offset) + 1, element=element)


def check_tree(root: etree._Element, limits: EnvelopeLimits) -> None:
    """The same depth / element / attribute bounds, on a tree built elsewhere.

    Why: `envelope_from_tree` also takes trees it did not parse (e.g. the signed subtree a
    verifier returns); walking one is cheap and keeps every path equally bounded.
    """
    depth = 0
    elements = 0
    for event, element in etree.iterwalk(root, events=("start", "end")):
        if event == "end":
            depth -= 1
            continue
        depth += 1
        elements += 1
        problem: tuple[ErrorCode, str] | None = None
        if depth > limits.max_depth:
            problem = ("too_deep", f"elements nest deeper than {limits.max_depth} levels")
        elif elements > limits.max_elements:
            problem = ("too_many_elements", f"more than {limits.max_elements} elements")
        elif len(element.attrib) > limits.max_attributes:
            problem = (
                "too_many_attributes",
                f"more than {limits.max_attributes} attributes on one element",
            )
        if problem is not None:
            raise EnvelopeError(
                problem[0],
                problem[1],
                line=element.sourceline,
                element=etree.QName(element).localname,
            )
