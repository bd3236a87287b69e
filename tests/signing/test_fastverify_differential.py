"""`signing.fastverify.verify_pinned` decides exactly as signxml (`verify_pinned_signxml`).

Both verifiers get the same documents, each parsed afresh, with the same candidate
certificates in the same order: the hostile corpus, the real samples (as received and
signed), documents signed with every allowed method (and some forms only signxml's general
machinery knows), and a seeded fuzzed set of mutations of signed documents. They must agree
on every one: the same candidate and the same signed octets, or none, or the same refusal
code. The fast path must also have decided most of them itself (not handed them to signxml),
so the comparison cannot pass by delegation alone.

Seeded and bounded: `FASTVERIFY_SEED=n` repeats a run; every failure names its seed and case.
"""

from __future__ import annotations

import base64
import json
import os
import random
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from signing_support import DS, NS, SAMPLE_DIRS
from signxml import XMLSigner
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)

from schemas.edxml import (
    DocumentEnvelope,
    EnvelopeError,
    EnvelopeLimits,
    StatusMessage,
    envelope_from_tree,
    parse_xml,
)
from signing import fastverify
from signing.certificates import RegisteredCertificate, TrustStore
from signing.dsig import placeholder, verify_pinned_signxml
from signing.errors import SignatureError
from signing.keys import CertifiedKey, load_certified_key
from signing.xmldsig import SIGNATURE_LOCATION, envelope_header, sign_envelope, verify_envelope
from signing.xmlparse import parse

HOSTILE = Path(__file__).resolve().parents[1] / "hostile"
MANIFEST: dict[str, Any] = json.loads((HOSTILE / "corpus" / "MANIFEST.json").read_text("utf-8"))
MOMENT = datetime.fromisoformat(MANIFEST["receipt_time"])
SEED = int(os.environ.get("FASTVERIFY_SEED", "14"))
FUZZ_CASES = 300
LIMITS = EnvelopeLimits()
IDENTITIES = (
    "agency-ec",
    "agency-rsa",
    "agency-rsa-1024",
    "expired",
    "not-yet-valid",
    "no-digital-signature",
    "attacker",
)
STRONG = ("rsa-sha256", "rsa-sha384", "rsa-sha512")
STRONG_EC = ("ecdsa-sha256", "ecdsa-sha384", "ecdsa-sha512")
EXC = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0.value
EXC_COMMENTS = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0_WITH_COMMENTS.value
C14N_10 = CanonicalizationMethod.CANONICAL_XML_1_0.value
C14N_11 = CanonicalizationMethod.CANONICAL_XML_1_1.value
ENVELOPED = SignatureConstructionMethod.enveloped.value

Outcome = tuple[Any, ...]


@pytest.fixture(scope="module")
def identities() -> dict[str, CertifiedKey]:
    keys = HOSTILE / "keys"
    return {
        name: load_certified_key(keys / f"{name}.key.pem", keys / f"{name}.cert.pem")
        for name in IDENTITIES
    }


def outcome(verify: Callable[..., Any], data: bytes, case: Case) -> Outcome:
    """What one verifier answers for `data` parsed afresh: the candidate and the signed
    octets, none, or the refusal's code (any other exception by its type)."""
    try:
        root = parse(data)
    except SignatureError:
        return ("unparsed",)
    try:
        found = verify(
            root,
            case.candidates,
            case.order,
            location=SIGNATURE_LOCATION,
            moment=MOMENT,
            allow_sha1=case.allow_sha1,
        )
    except SignatureError as error:
        return ("refused", error.code)
    except Exception as exc:  # compared, not hidden
        return ("raised", type(exc).__name__)
    if found is None:
        return ("none",)
    signed, index = found
    with signed:
        signed.file.seek(0)
        return ("accepted", index, signed.file.read())


class Case:
    """One document with the candidates to try, in order."""

    def __init__(
        self,
        name: str,
        data: bytes,
        identities: dict[str, CertifiedKey],
        order_names: tuple[str, ...],
        *,
        allow_sha1: bool = False,
    ) -> None:
        self.name = name
        self.data = data
        self.candidates = [identities[n].certificate for n in IDENTITIES]
        self.order = [IDENTITIES.index(n) for n in order_names]
        self.allow_sha1 = allow_sha1


class Tally:
    """How the cases went: the fast path must have decided both kinds itself."""

    def __init__(self) -> None:
        self.accepted = 0
        self.refused = 0
        self.delegated = 0

    def compare(self, case: Case) -> None:
        expected = outcome(verify_pinned_signxml, case.data, case)
        delegated = _delegated(case)
        actual = outcome(fastverify.verify_pinned, case.data, case)
        assert actual == expected, (
            f"FASTVERIFY_SEED={SEED} case {case.name}: fastverify {_short(actual)} but signxml "
            f"{_short(expected)}"
        )
        if delegated:
            self.delegated += 1
        elif expected[0] == "accepted":
            self.accepted += 1
        else:
            self.refused += 1


def _delegated(case: Case) -> bool:
    """Whether fastverify hands this document to signxml (a KeyValue form, no Signature
    where expected), counted so the fast path's own share is known."""
    try:
        root = parse(case.data)
    except SignatureError:
        return True
    signature = root.find(f"{SIGNATURE_LOCATION}{{{DS}}}Signature")
    return signature is None or any(
        signature.find(path) is not None for path in fastverify._SIGNXML_KEY_FORMS
    )


def _short(result: Outcome) -> str:
    if result[0] == "accepted":
        return f"accepted by candidate {result[1]} ({len(result[2])} signed octets)"
    return " ".join(str(part) for part in result)


VALID_AT_MOMENT = ("agency-ec", "agency-rsa", "agency-rsa-1024", "no-digital-signature", "attacker")


def orders(rng: random.Random, signer: str) -> list[tuple[str, ...]]:
    """The signer alone; the identities valid at the moment in a random order (wrong key
    kinds and wrong keys are skipped); every identity in a random order (an expired or
    not-yet-valid one before the signer ends the search)."""
    valid = list(dict.fromkeys((*VALID_AT_MOMENT, signer)))
    everyone = list(IDENTITIES)
    rng.shuffle(valid)
    rng.shuffle(everyone)
    return [(signer,), tuple(valid), tuple(everyone)]


def samples() -> list[Path]:
    return sorted(
        {p.name: p for d in SAMPLE_DIRS if d.is_dir() for p in d.glob("*.edxml")}.values()
    )


class _LegacySigner(XMLSigner):
    """signxml's signer, SHA-1 included: legacy agencies' software still signs with it."""

    def check_deprecated_methods(self) -> None:
        return None


def sign_with_signxml(
    data: bytes,
    identity: CertifiedKey,
    method: SignatureMethod,
    digest: DigestAlgorithm,
    c14n: CanonicalizationMethod,
    *,
    prefixes: list[str] | None = None,
    without_c14n_transform: bool = False,
) -> bytes:
    """Signed by signxml directly: the forms `sign_envelope` never makes (SHA-1, inclusive
    c14n, InclusiveNamespaces, no c14n transform), which agencies' software may."""
    root = parse(sign_envelope(data, identity))
    header = envelope_header(root)
    header.remove(header.find(f"{{{DS}}}Signature"))
    header.append(placeholder())
    signer = _LegacySigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=method,
        digest_algorithm=digest,
        c14n_algorithm=c14n,
    )
    signed = signer.sign(
        root,
        key=identity.key,
        cert=[identity.certificate],
        inclusive_ns_prefixes=prefixes,
        exclude_c14n_transform_element=without_c14n_transform,
    )
    return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))


def signed_bases(identities: dict[str, CertifiedKey]) -> list[tuple[str, str, bytes, bool]]:
    """(name, signer, signed bytes, allow_sha1) for every allowed method and form."""
    base = (HOSTILE / "corpus" / "control_signed_ec.xml").read_bytes()
    bases = [
        (
            f"signed-{method}",
            signer,
            sign_envelope(base, identities[signer], algorithm=method),
            False,
        )
        for signer, methods in (("agency-rsa", STRONG), ("agency-ec", STRONG_EC))
        for method in methods
    ]
    rsa = identities["agency-rsa"]
    sha1 = sign_with_signxml(
        base, rsa, SignatureMethod.RSA_SHA1, DigestAlgorithm.SHA1, CanonicalizationMethod(EXC)
    )
    bases += [("signed-rsa-sha1-legacy", "agency-rsa", sha1, True)]
    bases += [("signed-rsa-sha1-strict", "agency-rsa", sha1, False)]
    for c14n in (C14N_10, C14N_11, EXC_COMMENTS):
        signed = sign_with_signxml(
            base,
            rsa,
            SignatureMethod.RSA_SHA256,
            DigestAlgorithm.SHA256,
            CanonicalizationMethod(c14n),
        )
        bases.append((f"signed-c14n-{c14n.rsplit('/', 1)[-1]}", "agency-rsa", signed, False))
    # A namespace declared on the root and used nowhere: exclusive c14n leaves it out
    # unless InclusiveNamespaces names it (which the XMLDSig schema check refuses).
    spare = base.replace(b"<edXML ", b'<edXML xmlns:zz="urn:zz" ', 1)
    for prefixes, without in ((["zz"], False), (["zz", "ds"], False), (None, True)):
        signed = sign_with_signxml(
            spare,
            rsa,
            SignatureMethod.RSA_SHA256,
            DigestAlgorithm.SHA256,
            CanonicalizationMethod(EXC),
            prefixes=prefixes,
            without_c14n_transform=without,
        )
        bases.append((f"signed-prefixes-{prefixes}-{without}", "agency-rsa", signed, False))
    # xml:lang on the root: inclusive c14n of SignedInfo inherits it in the document, not
    # in signxml's serialized copy of the Signature.
    lang = base.replace(b"<edXML ", b'<edXML xml:lang="vi" ', 1)
    for c14n in (C14N_10, EXC):
        signed = sign_with_signxml(
            lang,
            rsa,
            SignatureMethod.RSA_SHA256,
            DigestAlgorithm.SHA256,
            CanonicalizationMethod(c14n),
        )
        bases.append((f"signed-lang-{c14n.rsplit('/', 1)[-1]}", "agency-rsa", signed, False))
    for sample in samples():
        try:
            signed = sign_envelope(sample.read_bytes(), identities["agency-ec"])
        except SignatureError:
            continue  # a sample that is not an envelope (it is compared as received)
        bases.append((f"signed-{sample.stem}", "agency-ec", signed, False))
    return bases


# --------------------------------------------------------------------------------------------
# Mutations of a signed document


def _tree(data: bytes) -> Any:
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False, huge_tree=True))


def _bytes(root: Any) -> bytes:
    return bytes(etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8"))


def _ds(root: Any, local: str) -> Any:
    return root.find(f".//{{{DS}}}{local}")


def _flip_char(text: str, rng: random.Random, alphabet: str) -> str:
    if not text:
        return rng.choice(alphabet)
    at = rng.randrange(len(text))
    return text[:at] + rng.choice([c for c in alphabet if c != text[at]]) + text[at + 1 :]


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def flip_signed_byte(data: bytes, rng: random.Random) -> bytes:
    """A byte of the content before the Signature changed (printable, so it stays XML)."""
    end = data.find(b"<ds:Signature")
    start = data.find(b"<", data.find(b"?>") + 2)
    at = rng.randrange(start + 1, max(start + 2, end))
    if data[at : at + 1] in (b"<", b">", b"&", b'"', b"'", b"/"):
        return data
    return data[:at] + bytes([rng.choice(b"abcXYZ019 ")]) + data[at + 1 :]


def flip_signature_value(data: bytes, rng: random.Random) -> bytes:
    root = _tree(data)
    value = _ds(root, "SignatureValue")
    value.text = _flip_char("".join((value.text or "").split()), rng, B64)
    return _bytes(root)


def flip_digest_value(data: bytes, rng: random.Random) -> bytes:
    root = _tree(data)
    value = _ds(root, "DigestValue")
    value.text = _flip_char(value.text or "", rng, B64)
    return _bytes(root)


def move_signature(data: bytes, rng: random.Random) -> bytes:
    root = _tree(data)
    signature = _ds(root, "Signature")
    targets = [e for e in root.iter() if isinstance(e.tag, str) and e is not signature]
    targets = [
        e for e in targets if signature not in e.iterancestors() and e.getparent() is not signature
    ]
    rng.choice(targets).append(signature)
    return _bytes(root)


def duplicate_signature(data: bytes, rng: random.Random) -> bytes:
    root = _tree(data)
    signature = _ds(root, "Signature")
    copy = _tree(etree.tostring(signature))
    rng.choice([root, signature.getparent(), root[0]]).append(copy)
    return _bytes(root)


def extra_reference(data: bytes, rng: random.Random) -> bytes:
    root = _tree(data)
    reference = _ds(root, "Reference")
    copy = _tree(etree.tostring(reference))
    copy.set("URI", rng.choice(["", "#x", "#xpointer(/)"]))
    reference.addnext(copy)
    return _bytes(root)


def change_transforms(data: bytes, rng: random.Random) -> bytes:
    root = _tree(data)
    transforms = _ds(root, "Transforms")
    choice = rng.randrange(7)
    if choice == 0:  # drop the enveloped transform
        transforms.remove(transforms[0])
    elif choice == 1:  # swap the order
        transforms.insert(0, transforms[-1])
    elif choice == 2:  # another c14n
        transforms[-1].set("Algorithm", rng.choice([C14N_10, C14N_11, EXC_COMMENTS, EXC]))
    elif choice == 3:  # a transform no one allows
        extra = etree.SubElement(transforms, f"{{{DS}}}Transform")
        extra.set(
            "Algorithm", rng.choice(["http://www.w3.org/TR/1999/REC-xpath-19991116", DS + "base64"])
        )
    elif choice == 4:  # InclusiveNamespaces on the c14n transform
        inclusive = etree.SubElement(
            transforms[-1], "{http://www.w3.org/2001/10/xml-exc-c14n#}InclusiveNamespaces"
        )
        inclusive.set("PrefixList", rng.choice(["ds", "ed", "#default", "ds ed", "nope"]))
    elif choice == 5:  # no c14n transform: the default c14n 1.0 applies
        transforms.remove(transforms[-1])
    else:  # no Transforms at all
        transforms.getparent().remove(transforms)
    return _bytes(root)


def change_signed_info_c14n(data: bytes, rng: random.Random) -> bytes:
    root = _tree(data)
    method = _ds(root, "CanonicalizationMethod")
    if rng.random() < 0.5:
        method.set("Algorithm", rng.choice([C14N_10, C14N_11, EXC_COMMENTS, EXC, "urn:nope"]))
    else:
        inclusive = etree.SubElement(
            method, "{http://www.w3.org/2001/10/xml-exc-c14n#}InclusiveNamespaces"
        )
        inclusive.set("PrefixList", rng.choice(["ds", "ed", "#default", "xsi ds"]))
    return _bytes(root)


def change_methods(data: bytes, rng: random.Random) -> bytes:
    root = _tree(data)
    if rng.random() < 0.5:
        method = rng.choice([*SignatureMethod])
        _ds(root, "SignatureMethod").set("Algorithm", method.value)
    else:
        _ds(root, "DigestMethod").set("Algorithm", rng.choice([*DigestAlgorithm]).value)
    return _bytes(root)


def insert_comment(data: bytes, rng: random.Random) -> bytes:
    root = _tree(data)
    where = rng.choice(["signed", "signed_info", "digest", "value", "subject"])
    comment = etree.Comment(" unsigned ")
    if where == "signed":
        target = rng.choice([e for e in root.iter() if isinstance(e.tag, str)])
        target.insert(0, comment)
    elif where == "subject":
        subject = root.find(".//ed:Subject", NS)
        if subject is None or not subject.text:
            return _bytes(root)
        half = len(subject.text) // 2
        comment.tail, subject.text = subject.text[half:], subject.text[:half]
        subject.insert(0, comment)
    elif where == "signed_info":
        _ds(root, "SignedInfo").insert(rng.randrange(3), comment)
    else:
        element = _ds(root, "DigestValue" if where == "digest" else "SignatureValue")
        text = element.text or ""
        element.text, comment.tail = text[:4], text[4:]
        element.insert(0, comment)
    return _bytes(root)


def namespace_games(data: bytes, rng: random.Random) -> bytes:
    choice = rng.randrange(5)
    if choice == 0:  # an unused declaration on the root (outside the signed names)
        return data.replace(b"<edXML ", b'<edXML xmlns:zz="urn:zz" ', 1)
    if choice == 1:  # ds declared on the root instead of the Signature
        return data.replace(b"<edXML ", f'<edXML xmlns:ds="{DS}" '.encode(), 1)
    if choice == 2:  # the Signature under another prefix
        return data.replace(b"ds:", b"dz:").replace(b"xmlns:ds=", b"xmlns:dz=")
    if choice == 3:  # the Signature in the default namespace
        return data.replace(b"ds:", b"").replace(b"xmlns:ds=", b"xmlns=")
    # ds bound to another namespace on the Signature: it is no longer XMLDSig
    return data.replace(f'xmlns:ds="{DS}"'.encode(), b'xmlns:ds="urn:not-dsig"')


def whitespace(data: bytes, rng: random.Random) -> bytes:
    choice = rng.randrange(5)
    if choice == 0:  # line breaks inside the base64 SignatureValue (allowed)
        root = _tree(data)
        value = _ds(root, "SignatureValue")
        text = "".join((value.text or "").split())
        value.text = "\n".join(text[i : i + 20] for i in range(0, len(text), 20))
        return _bytes(root)
    if choice == 1:  # inside SignedInfo (signed by the SignatureValue)
        return data.replace(b"<ds:SignatureMethod", b"\n  <ds:SignatureMethod", 1)
    if choice == 2:  # inside the signed content
        return data.replace(b"</ed:Subject>", b" </ed:Subject>", 1).replace(
            b"</Subject>", b" </Subject>", 1
        )
    if choice == 3:  # after the root (outside what is signed)
        return data + b"\n\n"
    return data.replace(b"<ds:SignatureValue>", b"<ds:SignatureValue>\n", 1)


def key_info(data: bytes, rng: random.Random) -> bytes:
    root = _tree(data)
    info = _ds(root, "KeyInfo")
    choice = rng.randrange(3)
    if info is None:
        return _bytes(root)
    if choice == 0:
        info.getparent().remove(info)
    elif choice == 1:  # a KeyValue signxml matches against the pinned certificate
        value = etree.SubElement(info, f"{{{DS}}}KeyValue")
        rsa = etree.SubElement(value, f"{{{DS}}}RSAKeyValue")
        etree.SubElement(rsa, f"{{{DS}}}Modulus").text = base64.b64encode(b"\x01" * 256).decode()
        etree.SubElement(rsa, f"{{{DS}}}Exponent").text = "AQAB"
    else:
        certificate = info.find(f".//{{{DS}}}X509Certificate")
        if certificate is not None:
            certificate.text = _flip_char(certificate.text or "", rng, B64)
    return _bytes(root)


def processing_instruction(data: bytes, rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return data.replace(b"?>", b"?><?pi before?>", 1)
    return data.replace(b"</ed:edXMLBody>", b"<?pi inside?></ed:edXMLBody>", 1)


def unsigned_markup(data: bytes, rng: random.Random) -> bytes:
    """What is not signed and leaves the signature valid: a comment between elements, an
    unused namespace declaration (exclusive c14n), whitespace after the root."""
    choice = rng.randrange(3)
    if choice == 0:
        return data.replace(b"<edXML:From>", b"<edXML:From><!-- unsigned -->", 1)
    if choice == 1:
        return data.replace(b"<edXML:edXMLEnvelope ", b'<edXML:edXMLEnvelope xmlns:zz="urn:zz" ', 1)
    return data + b"\n"


MUTATIONS: tuple[Callable[[bytes, random.Random], bytes], ...] = (
    unsigned_markup,
    flip_signed_byte,
    flip_signature_value,
    flip_digest_value,
    move_signature,
    duplicate_signature,
    extra_reference,
    change_transforms,
    change_signed_info_c14n,
    change_methods,
    insert_comment,
    namespace_games,
    whitespace,
    key_info,
    processing_instruction,
)


# --------------------------------------------------------------------------------------------
# The comparisons


def test_the_hostile_corpus_is_decided_alike(identities: dict[str, CertifiedKey]) -> None:
    rng = random.Random(SEED)
    tally = Tally()
    for entry in MANIFEST["cases"]:
        data = (HOSTILE / "corpus" / entry["file"]).read_bytes()
        signer = entry.get("signer") or "agency-ec"
        for order in orders(rng, signer if signer in IDENTITIES else "agency-ec"):
            for allow_sha1 in (False, True):
                case = Case(entry["file"], data, identities, order, allow_sha1=allow_sha1)
                tally.compare(case)
    assert tally.accepted >= 4 and tally.refused >= 20, vars(tally)


def test_the_real_samples_are_decided_alike(identities: dict[str, CertifiedKey]) -> None:
    """As received (placeholder signatures, or none) and signed by a registered identity."""
    rng = random.Random(SEED)
    tally = Tally()
    for sample in samples():
        for order in orders(rng, "agency-ec"):
            tally.compare(Case(sample.name, sample.read_bytes(), identities, order))
    for name, signer, data, allow_sha1 in signed_bases(identities):
        for order in orders(rng, signer):
            tally.compare(Case(name, data, identities, order, allow_sha1=allow_sha1))
    assert tally.accepted >= 10, vars(tally)


def fuzzed(
    identities: dict[str, CertifiedKey], rng: random.Random
) -> Iterator[tuple[str, str, bytes, bool]]:
    """`FUZZ_CASES` signed documents, each changed by one to three mutations: (label, signer,
    bytes, allow_sha1)."""
    bases = signed_bases(identities)
    for number in range(FUZZ_CASES):
        name, signer, data, allow_sha1 = rng.choice(bases)
        steps = [rng.choice(MUTATIONS) for _ in range(rng.choice((1, 1, 1, 2, 3)))]
        for mutation in steps:
            try:
                data = mutation(data, rng)
            except (etree.XMLSyntaxError, AttributeError, TypeError, IndexError, ValueError):
                # An earlier step broke the XML or took away what this one changes: the
                # bytes stay as they are.
                continue
        yield f"#{number} {name} + {'+'.join(m.__name__ for m in steps)}", signer, data, allow_sha1


def test_fuzzed_signed_documents_are_decided_alike(identities: dict[str, CertifiedKey]) -> None:
    rng = random.Random(SEED)
    tally = Tally()
    for label, signer, data, allow_sha1 in fuzzed(identities, rng):
        order = rng.choices(orders(rng, signer), weights=(2, 2, 1))[0]
        tally.compare(Case(label, data, identities, order, allow_sha1=allow_sha1))
    assert tally.accepted >= 20 and tally.refused >= 150, f"FASTVERIFY_SEED={SEED} {vars(tally)}"


def _read(envelope: DocumentEnvelope | StatusMessage) -> dict[str, Any]:
    """Everything a reader takes from an envelope, but where its Signature stood and the
    lines its warnings name (the signed octets have other lines)."""
    fields = envelope.model_dump(exclude={"signature", "warnings"})
    fields["warnings"] = [w.model_dump(exclude={"line"}) for w in envelope.warnings]
    return fields


def test_a_received_tree_that_is_signed_reads_as_signed_xml(
    identities: dict[str, CertifiedKey],
) -> None:
    """The receiving path reads a document once, from the tree it parsed, when the verifier
    says `received_is_signed`: on the same fuzzed documents, whenever it says so, every
    field read from that tree equals the field read from the signed octets."""
    rng = random.Random(SEED + 1)
    ca = load_certified_key(HOSTILE / "keys" / "ca.key.pem", HOSTILE / "keys" / "ca.cert.pem")
    trust = TrustStore([ca.certificate])
    read_once = read_twice = 0
    marked = [
        (f"{name} + unsigned_markup", signer, unsigned_markup(data, rng), allow_sha1)
        for name, signer, data, allow_sha1 in signed_bases(identities)
    ]
    for label, signer, data, allow_sha1 in [*marked, *fuzzed(identities, rng)]:
        try:
            received = parse_xml(data, LIMITS)
            envelope = envelope_from_tree(received, LIMITS)
            verified = verify_envelope(
                received,
                certificates=[RegisteredCertificate.of(identities[signer].certificate)],
                trust=trust,
                receipt_time=MOMENT,
                allow_sha1=allow_sha1,
            )
        except (EnvelopeError, SignatureError):
            continue
        signed = envelope_from_tree(verified.signed_xml, LIMITS)
        if verified.received_is_signed:
            read_once += 1
            assert _read(envelope) == _read(signed), f"FASTVERIFY_SEED={SEED} case {label}"
        else:
            read_twice += 1
    assert read_once >= 20 and read_twice >= 3, (SEED, read_once, read_twice)
