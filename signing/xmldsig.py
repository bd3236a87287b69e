"""Agencies' signatures on edXML envelopes: sign as an agency would, verify as the axis must.

The Signature is enveloped (`URI=""`, the whole document) and sits as the last child of
`edXML/edXMLEnvelope/edXMLHeader`. Verification pins the sender's registered certificates
valid at receipt time (never the certificate in KeyInfo), the Signature's place, one
reference and an algorithm allow-list, then checks key usage and the chain to the trust
roots. Callers read document fields only from `VerifiedEnvelope.signed_xml`: what was
digested, re-parsed, so unsigned additions and comments cannot change what they read; or,
when `received_is_signed` says the received tree holds nothing unsigned that reading could
see, from that tree (one parse, one read per document on the receiving path).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

from cryptography import x509

from signing.certificates import (
    RegisteredCertificate,
    TrustStore,
    as_utc,
    check_certificate,
    not_valid_reason,
    valid_at,
)
from signing.dsig import (
    SignatureSummary,
    SignedOctets,
    algorithm_name,
    inspect_signature,
    method_named,
    order_candidates,
    placeholder,
    refuse_outer_instructions,
    sign_enveloped,
    single_signature,
)
from signing.errors import ErrorCode, SignatureError
from signing.fastverify import verify_pinned
from signing.keys import CertifiedKey
from signing.xmlparse import DS_NS, EDXML_NS, Element, etree, parse, qname

EDXML = qname(EDXML_NS, "edXML")
ENVELOPE = qname(EDXML_NS, "edXMLEnvelope")
HEADER = qname(EDXML_NS, "edXMLHeader")
SIGNATURE_LOCATION = f"./{ENVELOPE}/{HEADER}/"
"""Where signxml must look for the Signature (it appends `ds:Signature`)."""

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_UNSIGNED_MARKUP = "boolean(//comment() | //@xsi:*)"
"""What makes the received tree read otherwise than what was signed (`received_is_signed`)."""

_SIGNATURE_TAGS = frozenset({qname(EDXML_NS, "Signature"), qname(DS_NS, "Signature")})


def envelope_header(root: Element) -> Element:
    """`edXML/edXMLEnvelope/edXMLHeader`, each exactly once; SignatureError("malformed")."""
    if root.tag != EDXML:
        raise SignatureError(
            ErrorCode.MALFORMED, f"the root element is {root.tag}, expected {EDXML}"
        )
    envelopes = root.findall(ENVELOPE)
    if len(envelopes) != 1:
        raise SignatureError(
            ErrorCode.MALFORMED, f"edXML must hold one edXMLEnvelope, found {len(envelopes)}"
        )
    headers = envelopes[0].findall(HEADER)
    if len(headers) != 1:
        raise SignatureError(
            ErrorCode.MALFORMED, f"edXMLEnvelope must hold one edXMLHeader, found {len(headers)}"
        )
    return headers[0]


def _remove(element: Element) -> None:
    """Remove `element`, keeping the whitespace after it in place of the whitespace before."""
    parent = element.getparent()
    previous = element.getprevious()
    if previous is not None:
        previous.tail = element.tail
    else:
        parent.text = element.tail
    parent.remove(element)


def _append_last(parent: Element, element: Element) -> None:
    """Append `element` as the last child, indented like its siblings."""
    if len(parent):
        last = parent[-1]
        before = last.getprevious()
        element.tail = last.tail
        last.tail = before.tail if before is not None else parent.text
    parent.append(element)


def sign_envelope(
    data: bytes,
    signer: CertifiedKey,
    *,
    algorithm: str | None = None,
    include_chain: bool = False,
) -> bytes:
    """Sign an edXML envelope as an agency would and return the signed bytes.

    Enveloped XMLDSig with URI="", exclusive c14n, `rsa-sha256` or `ecdsa-sha256` (from the
    key unless `algorithm` names another allowed method), the certificate (and with
    `include_chain` its chain) in KeyInfo/X509Data, the Signature as the last child of
    edXMLHeader. A Signature already in the header (real files carry placeholders in the
    edXML namespace) is replaced; a Signature anywhere else is refused.
    """
    method = method_named(algorithm)
    root = parse(data)
    header = envelope_header(root)
    for child in list(header):
        if child.tag in _SIGNATURE_TAGS:
            _remove(child)
    if next(root.iter(qname(DS_NS, "Signature")), None) is not None:
        raise SignatureError(
            ErrorCode.MULTIPLE_SIGNATURES,
            "the document already holds a Signature outside edXMLHeader",
        )
    _append_last(header, placeholder())
    return sign_enveloped(root, signer, method=method, include_chain=include_chain)


@dataclass(frozen=True, eq=False)
class VerifiedEnvelope:
    """A verified envelope: what was signed, and by which registered certificate."""

    signed: SignedOctets
    """The digested octets, until `signed_xml` parses them (then only how they were
    canonicalized is kept: see `signed_bytes`). Close it when `signed_xml` is not wanted."""
    received_is_signed: bool
    """True when the received tree, its Signature aside, reads exactly as `signed_xml`: it
    holds no comment (the one kind of node the allowed c14n methods leave out of what is
    signed) and no xsi attribute (a QName value whose prefix exclusive c14n may leave
    undeclared). Then fields read from the received tree are read from what was signed,
    and nobody needs to parse `signed_xml`."""
    certificate: RegisteredCertificate
    fingerprint: str
    """SHA-256 fingerprint (hex) of the registered certificate that verified."""
    algorithm: str
    """Short signature method name: `rsa-sha256`, `ecdsa-sha256`, `rsa-sha1` (legacy)..."""
    algorithm_uri: str
    digest_algorithm: str
    signature_value_sha256: str
    """SHA-256 (hex) of the decoded SignatureValue octets: what evidence records cite."""
    receipt_time: datetime
    chain: tuple[x509.Certificate, ...]
    """Leaf to trust root, as checked at the receipt time."""

    @cached_property
    def signed_xml(self) -> Element:
        """The document as signed (the Signature left out), parsed from the digested octets
        on first use. Read every field from here, never from the received tree (unless
        `received_is_signed`)."""
        with self.signed:
            return self.signed.tree()

    @property
    def signed_bytes(self) -> bytes:
        """The canonical octets that were digested, made again from `signed_xml` when asked
        (a document-sized copy nobody on the receiving path needs)."""
        return self.signed.canonical(self.signed_xml)


def verify_envelope(
    data: bytes | Path | Element,
    *,
    certificates: Sequence[RegisteredCertificate],
    trust: TrustStore,
    receipt_time: datetime,
    allow_sha1: bool = False,
) -> VerifiedEnvelope:
    """Verify the sender's signature on an edXML envelope (its bytes, or the file holding
    them: then the document is never in memory but as one parsed tree at a time; or the
    tree the caller parsed under its limits, which this takes: its Signature is removed);
    SignatureError on any refusal.

    `certificates` are the sender agency's registered certificates (all of them: those valid
    at `receipt_time` are tried, the one KeyInfo names first). `allow_sha1` is the per-agency
    legacy flag an operator sets (RSA-SHA1 and SHA-1 digests, nothing weaker). The caller
    must still check that the signed `From/OrganId` is the agency whose certificates these are.
    """
    try:
        return _verify(
            data,
            certificates=certificates,
            trust=trust,
            receipt_time=as_utc(receipt_time),
            allow_sha1=allow_sha1,
        )
    except SignatureError:
        raise
    except Exception as exc:  # nothing else may escape: callers map SignatureError to a 4xx
        raise SignatureError(
            ErrorCode.INVALID_SIGNATURE, f"verification failed: {type(exc).__name__}: {exc}"
        ) from exc


def _verify(
    data: bytes | Path | Element,
    *,
    certificates: Sequence[RegisteredCertificate],
    trust: TrustStore,
    receipt_time: datetime,
    allow_sha1: bool,
) -> VerifiedEnvelope:
    root = data if isinstance(data, etree._Element) else parse(data)
    header = envelope_header(root)
    refuse_outer_instructions(root)
    signature = single_signature(root)
    if signature.getparent() is not header:
        raise SignatureError(
            ErrorCode.SIGNATURE_MISPLACED,
            f"the Signature (line {signature.sourceline}) is at "
            f"{root.getroottree().getpath(signature)}; it must be a child of "
            "edXML/edXMLEnvelope/edXMLHeader",
        )
    summary = inspect_signature(signature, allow_sha1=allow_sha1)
    usable = valid_at(certificates, receipt_time)
    if not usable:
        raise _hinted_reason(certificates, summary, receipt_time) or not_valid_reason(
            certificates, receipt_time
        )
    candidates = [registered.certificate for registered in usable]
    found = verify_pinned(
        root,
        candidates,
        order_candidates(candidates, summary, [registered.der for registered in usable]),
        location=SIGNATURE_LOCATION,
        moment=receipt_time,
        allow_sha1=allow_sha1,
    )
    received_is_signed = not root.xpath(_UNSIGNED_MARKUP, namespaces={"xsi": XSI_NS})
    # The received tree is done with here: `signed_xml` is parsed only once it is gone.
    del root, header, signature
    if found is None:
        raise _hinted_reason(certificates, summary, receipt_time) or SignatureError(
            ErrorCode.INVALID_SIGNATURE,
            f"the SignatureValue does not verify with any of the {len(usable)} registered "
            f"certificate(s) valid at {receipt_time.isoformat()}",
        )
    signed, index = found
    registered = usable[index]
    chain = check_certificate(registered, trust, receipt_time)
    return VerifiedEnvelope(
        signed=signed,
        received_is_signed=received_is_signed,
        certificate=registered,
        fingerprint=registered.fingerprint,
        algorithm=algorithm_name(summary.signature_method),
        algorithm_uri=summary.signature_method.value,
        digest_algorithm=summary.digest_method.name.lower(),
        signature_value_sha256=summary.signature_value_sha256,
        receipt_time=receipt_time,
        chain=chain,
    )


def _hinted_reason(
    certificates: Sequence[RegisteredCertificate], summary: SignatureSummary, at: datetime
) -> SignatureError | None:
    """A precise refusal from the certificate KeyInfo names, once nothing verified: not
    registered, or registered but outside its window. None when KeyInfo names none, or names
    a usable one (then the signature itself is wrong)."""
    if not summary.key_info_certificates:
        return None
    hinted = set(summary.key_info_certificates)
    named = [c for c in certificates if c.der in hinted]
    if not named:
        return SignatureError(
            ErrorCode.CERTIFICATE_NOT_REGISTERED,
            "the signing certificate in KeyInfo is not registered for the sender "
            "(nor does any registered certificate verify the signature)",
        )
    if any(c.valid_at(at) for c in named):
        return None
    return not_valid_reason(named, at)
