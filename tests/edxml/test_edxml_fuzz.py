"""Any input gives a model or an EnvelopeError, never another exception.

Seeded, so a failure reproduces; small enough to run in about a second. Byte-level
mutations exercise the parser and the scan; tree-level mutations (drop, repeat, move an
element, change a value) get past well-formedness and exercise schema, rules and models.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest
from edxml_template import document, status
from lxml import etree

from schemas.edxml import (
    DocumentEnvelope,
    EnvelopeError,
    EnvelopeLimits,
    StatusMessage,
    envelope_from_tree,
    parse_envelope,
)

SAMPLES = Path(__file__).parent / "samples"
SMALL_SAMPLES = ["bkav_status_processing_05.edxml", "lgsp_edoc_3_recipients.edxml"]
LIMITS = EnvelopeLimits(max_depth=32, max_elements=2_000, max_attributes=8)
VALUES = [
    "",
    " ",
    "0",
    "-1",
    "99999999999999999999999",
    "05",
    "13",
    "abc",
    "2024/02/30",
    "30/10/2020",
    "2024/01/02 25:61:61",
    "000.00.00.G22",
    "28.22.H17",
    "cid:209",
    "====",
    "ẞ\u0301\U0001f600",
    "&amp;",
]


def outcome(data: bytes) -> str:
    """Parse; return the kind or the error code. Any other exception fails the test."""
    try:
        parsed = parse_envelope(data, LIMITS)
    except EnvelopeError as error:
        assert error.message
        return error.code
    assert isinstance(parsed, DocumentEnvelope | StatusMessage)
    return parsed.kind


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        position = rng.randrange(len(buffer) + 1)
        choice = rng.randrange(6)
        if choice == 0 and buffer:
            buffer[min(position, len(buffer) - 1)] = rng.randrange(256)
        elif choice == 1:
            buffer[position:position] = rng.choice(
                [b"<", b">", b"&", b"</a>", b"<a>", b"]]>", b"<!--", b'"', b"\xff", b"\xc3", b"="]
            )
        elif choice == 2:
            del buffer[position : position + rng.randint(1, 40)]
        elif choice == 3:
            start = rng.randrange(len(buffer) + 1)
            buffer[position:position] = buffer[start : start + rng.randint(1, 200)]
        elif choice == 4:
            del buffer[position:]
        else:
            buffer[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(buffer)


def mutate_tree(data: bytes, rng: random.Random) -> bytes:
    root = etree.fromstring(data)
    elements = [element for element in root.iter() if isinstance(element.tag, str)][1:]
    for _ in range(rng.randint(1, 3)):
        if not elements:
            break
        element = rng.choice(elements)
        parent = element.getparent()
        if parent is None:
            continue
        choice = rng.randrange(5)
        if choice == 0:
            parent.remove(element)
        elif choice == 1:
            parent.insert(parent.index(element), copy.deepcopy(element))
        elif choice == 2 and len(element) == 0:
            element.text = rng.choice(VALUES)
        elif choice == 3:
            target = rng.choice(elements)
            if element not in target.iterancestors() and target is not element:
                target.append(copy.deepcopy(element))
        else:
            element.tag = rng.choice(
                [
                    element.tag.replace("Bussiness", "Business"),
                    "{urn:x}" + etree.QName(element).localname,
                ]
            )
        elements = [item for item in root.iter() if isinstance(item.tag, str)][1:]
    return bytes(etree.tostring(root))


def test_random_bytes() -> None:
    rng = random.Random(102)
    for _ in range(300):
        data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
        outcome(data)
        outcome(b"<?xml version='1.0'?>" + data)


@pytest.mark.parametrize("name", SMALL_SAMPLES)
def test_byte_mutations_of_samples(name: str) -> None:
    rng = random.Random(name)
    original = (SAMPLES / name).read_bytes()
    seen = {outcome(mutate_bytes(original, rng)) for _ in range(250)}
    assert "not_well_formed" in seen


def test_byte_mutations_of_a_large_sample() -> None:
    rng = random.Random(2016)
    original = (SAMPLES / "bkav_edoc_new.edxml").read_bytes()
    for _ in range(15):
        outcome(mutate_bytes(original, rng))


@pytest.mark.parametrize("make", [document, status], ids=["document", "status"])
def test_tree_mutations_of_templates(make: object) -> None:
    assert callable(make)
    rng = random.Random(str(make))
    original = make()
    seen = {outcome(mutate_tree(original, rng)) for _ in range(300)}
    assert len(seen) > 3


@pytest.mark.parametrize("name", SMALL_SAMPLES)
def test_tree_mutations_of_samples(name: str) -> None:
    rng = random.Random(name + "tree")
    original = (SAMPLES / name).read_bytes()
    for _ in range(150):
        outcome(mutate_tree(original, rng))


def test_trees_built_in_memory() -> None:
    rng = random.Random(7)
    for _ in range(100):
        root = etree.fromstring(mutate_tree(document(), rng))
        try:
            envelope_from_tree(root, LIMITS)
        except EnvelopeError:
            pass
    for thing in (etree.Comment("x"), etree.ElementTree(etree.Element("x"))):
        with pytest.raises(EnvelopeError):
            envelope_from_tree(thing, LIMITS)
