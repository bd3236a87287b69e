"""Verify the one enveloped XMLDSig form the axis accepts, directly on lxml's C14N and
`cryptography`: what `signing.dsig.verify_pinned_signxml` decides, without its copies.

Why: signxml serializes and re-parses the whole document to check a Reference, re-parses
the Signature and the canonical SignedInfo, and walks its general machinery (any key form,
any reference, HMAC, DSA) per candidate certificate: on a 20 KB envelope that is most of
the verification's cost, while the work itself (c14n, one digest, one public-key check)
is a fraction of it. By the time this runs, `dsig.inspect_signature` has admitted only one
form: one Reference with URI="", the enveloped transform then at most one c14n, allowed
algorithms. For that form this module repeats signxml's steps in signxml's order, on the
caller's tree, with the same outcome for every input (held to it by a differential test,
tests/signing/test_fastverify_differential.py). KeyInfo forms it does not take (KeyValue,
DEREncodedKeyValue, which signxml matches against the pinned certificate) and documents
given as bytes go to signxml unchanged.

signxml stays the signer and the reference. python-xmlsec (1.3.17 imports with the lxml
installed here) was the alternative, but it answers yes/no only: the signed octets would
still have to be canonicalized here, and its checks are not signxml's.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureMethod,
    digest_algorithm_implementations,
)
from signxml.processor import XMLSignatureProcessor

from signing.certificates import as_utc
from signing.dsig import (
    ENVELOPED,
    LEGACY_DIGESTS,
    LEGACY_SIGNATURE_METHODS,
    STRONG_DIGESTS,
    STRONG_SIGNATURE_METHODS,
    SignedOctets,
    c14n,
    canonical_file,
    verify_pinned_signxml,
)
from signing.errors import ErrorCode, SignatureError
from signing.xmlparse import DS_NS, Element, etree, parser, qname

_DSIG11_NS = "http://www.w3.org/2009/xmldsig11#"
_SIGNATURE = qname(DS_NS, "Signature")
_SIGNXML_KEY_FORMS = (
    # Key forms signxml compares with the pinned certificate: it decides those documents,
    # as it does documents given as bytes or without a Signature where `location` says.
    f"{qname(DS_NS, 'KeyInfo')}/{qname(DS_NS, 'KeyValue')}",
    f"{qname(DS_NS, 'KeyInfo')}/{qname(_DSIG11_NS, 'DEREncodedKeyValue')}",
)


_Algorithm = TypeVar("_Algorithm", CanonicalizationMethod, SignatureMethod, DigestAlgorithm)


class _NextCandidate(Exception):
    """This certificate did not make the SignatureValue (signxml's InvalidSignature)."""


def verify_pinned(
    data: bytes | Element,
    candidates: Sequence[x509.Certificate],
    order: Sequence[int],
    *,
    location: str,
    moment: datetime,
    allow_sha1: bool,
) -> tuple[SignedOctets, int] | None:
    """Verify with each pinned candidate in `order` until one verifies the SignatureValue.
    Returns the signed octets and the candidate's index, or None when none does. A digest
    mismatch under a matching key is final (the document changed after signing).

    `data` is the document's bytes or a tree the caller parsed and gives up: its Signature
    is removed once the SignedInfo verifies (the enveloped transform). The contract, the
    refusals and their codes are `dsig.verify_pinned_signxml`'s."""
    signature = _signature(data, location) if isinstance(data, etree._Element) else None
    if signature is None or any(signature.find(path) is not None for path in _SIGNXML_KEY_FORMS):
        return verify_pinned_signxml(
            data, candidates, order, location=location, moment=moment, allow_sha1=allow_sha1
        )
    try:
        return _verify(
            data, signature, candidates, order, moment=as_utc(moment), allow_sha1=allow_sha1
        )
    except SignatureError:
        raise
    except (etree.LxmlError, ValueError, TypeError) as exc:
        raise SignatureError(ErrorCode.INVALID_SIGNATURE, f"{type(exc).__name__}: {exc}") from exc


def _signature(root: Element, location: str) -> Element | None:
    """The Signature signxml would take: the root itself, or the first at `location`."""
    if root.tag == _SIGNATURE:
        return root
    found: Element | None = root.find(f"{location}{_SIGNATURE}")
    return found


def _find(parent: Element, local: str) -> Element:
    """The first child `ds:local`, as signxml requires it (a missing one refuses the document)."""
    found = parent.find(qname(DS_NS, local))
    if found is None:
        raise SignatureError(
            ErrorCode.INVALID_SIGNATURE, f"expected to find XML element {local} in {parent.tag}"
        )
    return found


def _algorithm(kind: type[_Algorithm], uri: str | None) -> _Algorithm:
    """The algorithm `uri` names; one signxml does not know is refused as not allowed."""
    try:
        return kind(uri)
    except ValueError:
        raise SignatureError(
            ErrorCode.ALGORITHM_NOT_ALLOWED, f"unrecognized {kind.__name__}: {uri}"
        ) from None


def _verify(
    root: Element,
    received_signature: Element,
    candidates: Sequence[x509.Certificate],
    order: Sequence[int],
    *,
    moment: datetime,
    allow_sha1: bool,
) -> tuple[SignedOctets, int] | None:
    if not order:
        return None  # signxml is never called: nothing of the Signature is looked at
    # signxml reads a serialized copy of the Signature; lxml canonicalizes and validates an
    # element as the root of a document of its own, with the namespaces in scope, which is
    # what that copy is (the differential test signs with ancestors' xml:lang and spare
    # namespaces to hold it there).
    signature = received_signature
    _check_schema(signature)
    signed_info = _find(signature, "SignedInfo")
    c14n_method = _find(signed_info, "CanonicalizationMethod")
    c14n_algorithm = _algorithm(CanonicalizationMethod, c14n_method.get("Algorithm"))
    method_element = _find(signed_info, "SignatureMethod")
    value_element = _find(signature, "SignatureValue")
    method = _algorithm(SignatureMethod, method_element.get("Algorithm"))
    if method not in (LEGACY_SIGNATURE_METHODS if allow_sha1 else STRONG_SIGNATURE_METHODS):
        raise SignatureError(
            ErrorCode.ALGORITHM_NOT_ALLOWED,
            f"Signature method {method.name} forbidden by configuration",
        )
    raw_signature = base64.b64decode(value_element.text)
    signed_info_c14n = c14n(signed_info, c14n_algorithm)
    references: list[Element] | None = None
    for index in order:
        certificate = candidates[index]
        _check_validity(certificate, moment)
        try:
            _check_signature_value(certificate, method, raw_signature, signed_info_c14n)
        except _NextCandidate:
            continue
        # Read from the canonical SignedInfo that verified, so that a comment inside the
        # received one cannot change what is read.
        if references is None:
            verified = etree.fromstring(signed_info_c14n, parser=parser())
            references = verified.findall(qname(DS_NS, "Reference"))
        if not references:
            continue  # signxml: "expected 1 reference, found 0" is its InvalidSignature
        if len(references) > 1:
            raise SignatureError(
                ErrorCode.INVALID_SIGNATURE, f"expected one Reference, found {len(references)}"
            )
        octets = _verify_reference(root, received_signature, references[0], allow_sha1=allow_sha1)
        return octets, index
    return None


def _check_schema(signature: Element) -> None:
    """The XMLDSig schema signxml validates the Signature against (its own copy of it).
    It also refuses every `ec:InclusiveNamespaces` (a strict wildcard with no declaration
    for it), so no PrefixList ever reaches a c14n here."""
    processor: Any = XMLSignatureProcessor  # signxml's helpers carry no types
    for schema in processor.schemas():
        try:
            schema.assertValid(signature)
        except etree.DocumentInvalid as exc:
            raise SignatureError(
                ErrorCode.MALFORMED, f"the Signature element breaks the XMLDSig schema: {exc}"
            ) from exc


def _check_validity(certificate: x509.Certificate, moment: datetime) -> None:
    """The pinned certificate's own validity at `moment` (final: signxml stops there too)."""
    if moment < certificate.not_valid_before_utc:
        raise SignatureError(
            ErrorCode.CERTIFICATE_NOT_YET_VALID,
            f"certificate (serial={certificate.serial_number}) is not yet valid at "
            f"{moment.isoformat()}; it is not valid before "
            f"{certificate.not_valid_before_utc.isoformat()}",
        )
    if moment > certificate.not_valid_after_utc:
        raise SignatureError(
            ErrorCode.CERTIFICATE_EXPIRED,
            f"certificate (serial={certificate.serial_number}) has expired at "
            f"{moment.isoformat()}; it is not valid after "
            f"{certificate.not_valid_after_utc.isoformat()}",
        )


def _check_signature_value(
    certificate: x509.Certificate,
    method: SignatureMethod,
    raw_signature: bytes,
    signed_info_c14n: bytes,
) -> None:
    """The SignatureValue over the canonical SignedInfo, with this certificate's key;
    `_NextCandidate` when the key is of another kind or did not make it."""
    key = certificate.public_key()
    hash_algorithm = digest_algorithm_implementations[method]()
    try:
        if method.name.startswith("ECDSA_"):
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise _NextCandidate
            # XMLDSig carries r || s, each the key's size in bytes; DER is what OpenSSL takes.
            half = (key.key_size + 7) // 8
            if len(raw_signature) != 2 * half:
                raise _NextCandidate
            der = utils.encode_dss_signature(
                int.from_bytes(raw_signature[:half], "big"),
                int.from_bytes(raw_signature[half:], "big"),
            )
            key.verify(der, signed_info_c14n, ec.ECDSA(hash_algorithm))
        elif method.name.startswith("RSA_"):
            if not isinstance(key, rsa.RSAPublicKey):
                raise _NextCandidate
            key.verify(raw_signature, signed_info_c14n, PKCS1v15(), hash_algorithm)
        else:  # pragma: no cover - the allow-lists hold only RSA and ECDSA methods
            raise SignatureError(ErrorCode.ALGORITHM_NOT_ALLOWED, f"{method.name} is not verified")
    except InvalidSignature:
        raise _NextCandidate from None


def _verify_reference(
    root: Element, signature: Element, reference: Element, *, allow_sha1: bool
) -> SignedOctets:
    """The one Reference: remove the Signature from `root` (the enveloped transform), digest
    the rest's c14n as it streams to `SignedOctets`, and compare."""
    if reference.get("URI") != "":
        raise SignatureError(
            ErrorCode.INVALID_SIGNATURE, 'only a Reference with URI="" is verified'
        )
    transforms = reference.find(qname(DS_NS, "Transforms"))
    method = CanonicalizationMethod.CANONICAL_XML_1_0  # XMLDSig 4.4.3.2, as xmlsec1 does
    enveloped = False
    for transform in [] if transforms is None else transforms.findall(qname(DS_NS, "Transform")):
        algorithm = transform.get("Algorithm")
        if algorithm == ENVELOPED:
            enveloped = True
            continue
        method = _algorithm(CanonicalizationMethod, algorithm)
    if not enveloped:
        raise SignatureError(ErrorCode.INVALID_SIGNATURE, "only an enveloped signature is verified")
    if any(
        isinstance(node, etree._ProcessingInstruction)
        for node in [*root.itersiblings(preceding=True), *root.itersiblings()]
    ):
        raise SignatureError(
            ErrorCode.INVALID_SIGNATURE, "processing instructions beside the root element"
        )
    digest_algorithm = _algorithm(
        DigestAlgorithm, _find(reference, "DigestMethod").get("Algorithm")
    )
    if digest_algorithm not in (LEGACY_DIGESTS if allow_sha1 else STRONG_DIGESTS):
        raise SignatureError(
            ErrorCode.ALGORITHM_NOT_ALLOWED,
            f"Digest algorithm {digest_algorithm.name} forbidden by configuration",
        )
    expected = base64.b64decode(_find(reference, "DigestValue").text)
    _remove_keeping_tail(signature)
    # With the PIs beside the root refused and comments never signed, the document's c14n
    # is exactly the root element's.
    file, digest = canonical_file(root, method, None, digest_algorithm)
    if digest != expected:
        file.close()
        raise SignatureError(
            ErrorCode.INVALID_SIGNATURE,
            'digest mismatch: the document was changed after it was signed (URI="")',
        )
    return SignedOctets(file, method, None)


def _remove_keeping_tail(element: Element) -> None:
    """The enveloped transform: `element` out of its parent, its tail text left in place
    (joined to the previous node's tail, or the parent's text), as signxml removes it."""
    parent = element.getparent()
    if parent is None:
        raise SignatureError(ErrorCode.INVALID_SIGNATURE, "the root Signature cannot be removed")
    if element.tail is not None:
        previous = next(element.itersiblings(preceding=True), None)
        if previous is None:
            parent.text = (parent.text or "") + element.tail
        else:
            previous.tail = (previous.tail or "") + element.tail
    parent.remove(element)
