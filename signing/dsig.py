"""Enveloped XMLDSig with signxml, pinned down: what the axis accepts before signxml runs,
how signxml is called, and how its exceptions become `SignatureError`s.

Shared by the edXML envelope signatures (`signing.xmldsig`) and the axis's own evidence
records (`signing.evidence`). signxml alone is too permissive for us: it looks for a
Signature anywhere (`.//`), silently skips transforms it does not know (XPath, XSLT), and
verifies with whatever chains to the system CA store unless a certificate is pinned.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
    digest_algorithm_implementations,
)
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, SignXMLException
from signxml.exceptions import InvalidSignature as SignXMLInvalidSignature
from signxml.signer import XMLSigner
from signxml.util import _remove_sig
from signxml.verifier import SignatureConfiguration, VerifyResult, XMLVerifier

from signing.errors import ErrorCode, SignatureError
from signing.keys import CertifiedKey, PrivateKey
from signing.xmlparse import DS_NS, Element, etree, parse, parser, qname

ENVELOPED = SignatureConstructionMethod.enveloped.value
EXC_C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0

ALLOWED_C14N = frozenset(
    {
        CanonicalizationMethod.CANONICAL_XML_1_0.value,
        CanonicalizationMethod.CANONICAL_XML_1_1.value,
        EXC_C14N.value,
    }
)
"""c14n without comments only: with comments signed, `hel<!-- x -->lo` would read `hel`."""

STRONG_SIGNATURE_METHODS = frozenset(
    {
        SignatureMethod.RSA_SHA256,
        SignatureMethod.RSA_SHA384,
        SignatureMethod.RSA_SHA512,
        SignatureMethod.ECDSA_SHA256,
        SignatureMethod.ECDSA_SHA384,
        SignatureMethod.ECDSA_SHA512,
    }
)
STRONG_DIGESTS = frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512})
LEGACY_SIGNATURE_METHODS = STRONG_SIGNATURE_METHODS | {SignatureMethod.RSA_SHA1}
LEGACY_DIGESTS = STRONG_DIGESTS | {DigestAlgorithm.SHA1}

_EC_NS = "http://www.w3.org/2001/10/xml-exc-c14n#"


def algorithm_name(method: SignatureMethod) -> str:
    """`ecdsa-sha256`, `rsa-sha256`, ...: the short name used in results and evidence."""
    return method.name.lower().replace("_", "-")


_BY_NAME = {algorithm_name(m): m for m in STRONG_SIGNATURE_METHODS}


def method_named(name: str | None) -> SignatureMethod | None:
    """The signing method for a short name (`rsa-sha256`, `ecdsa-sha256`, ...); None for None.
    Only strong methods: the axis never signs with SHA-1."""
    if name is None:
        return None
    try:
        return _BY_NAME[name]
    except KeyError:
        raise SignatureError(
            ErrorCode.ALGORITHM_NOT_ALLOWED,
            f"cannot sign with {name!r}; choose one of {', '.join(sorted(_BY_NAME))}",
        ) from None


@dataclass(frozen=True)
class SignatureSummary:
    """What the Signature element claims, read before verification (nothing here is trusted
    except as a hint for which registered certificate to try first)."""

    signature_method: SignatureMethod
    digest_method: DigestAlgorithm
    signature_value: bytes
    key_info_certificates: tuple[bytes, ...]
    """DER of each `KeyInfo/X509Data/X509Certificate` (hints only, never trusted)."""

    @property
    def signature_value_sha256(self) -> str:
        """SHA-256 (hex) of the decoded SignatureValue octets: names this signature."""
        return hashlib.sha256(self.signature_value).hexdigest()


def refuse_outer_instructions(root: Element) -> None:
    """Refuse processing instructions beside the root element: with URI="" xmlsec1 digests
    them and signxml does not, so the two would disagree about what was signed."""
    for node in [*root.itersiblings(preceding=True), *root.itersiblings()]:
        if isinstance(node, etree._ProcessingInstruction):
            raise SignatureError(
                ErrorCode.MALFORMED,
                f"processing instruction <?{node.target}?> outside the root element "
                '(XMLDSig tools disagree on whether URI="" covers it)',
            )


def single_signature(root: Element) -> Element:
    """The one `ds:Signature` in the document; missing_signature / multiple_signatures."""
    signatures = list(root.iter(qname(DS_NS, "Signature")))
    if not signatures:
        raise SignatureError(
            ErrorCode.MISSING_SIGNATURE, "the document has no XMLDSig Signature element"
        )
    if len(signatures) > 1:
        lines = ", ".join(str(s.sourceline) for s in signatures)
        raise SignatureError(
            ErrorCode.MULTIPLE_SIGNATURES,
            f"the document has {len(signatures)} XMLDSig Signature elements (lines {lines}); "
            "exactly one is allowed",
        )
    return signatures[0]


def _only(parent: Element, local: str, *, what: str) -> Element:
    found = parent.findall(qname(DS_NS, local))
    if len(found) != 1:
        raise SignatureError(
            ErrorCode.MALFORMED, f"{what} must hold exactly one {local}, found {len(found)}"
        )
    return found[0]


def _check_c14n_children(element: Element, algorithm: str, *, code: ErrorCode) -> None:
    """Only exclusive c14n may carry a child, and only `ec:InclusiveNamespaces`."""
    for child in element:
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions carry no meaning here
        if algorithm == EXC_C14N.value and child.tag == qname(_EC_NS, "InclusiveNamespaces"):
            continue
        raise SignatureError(code, f"unexpected {child.tag} inside {algorithm}")


def inspect_signature(signature: Element, *, allow_sha1: bool) -> SignatureSummary:
    """Apply the allow-lists to the Signature element before any cryptography: one Reference
    with URI="", the enveloped transform then at most one c14n, allowed algorithms only."""
    signed_info = _only(signature, "SignedInfo", what="Signature")
    c14n = _only(signed_info, "CanonicalizationMethod", what="SignedInfo")
    c14n_algorithm = c14n.get("Algorithm") or ""
    if c14n_algorithm not in ALLOWED_C14N:
        raise SignatureError(
            ErrorCode.ALGORITHM_NOT_ALLOWED,
            f"canonicalization {c14n_algorithm!r} is not allowed",
        )
    _check_c14n_children(c14n, c14n_algorithm, code=ErrorCode.ALGORITHM_NOT_ALLOWED)

    method_uri = _only(signed_info, "SignatureMethod", what="SignedInfo").get("Algorithm") or ""
    methods = LEGACY_SIGNATURE_METHODS if allow_sha1 else STRONG_SIGNATURE_METHODS
    method = next((m for m in methods if m.value == method_uri), None)
    if method is None:
        hint = "" if allow_sha1 or "sha1" not in method_uri else " (SHA-1 only for legacy agencies)"
        raise SignatureError(
            ErrorCode.ALGORITHM_NOT_ALLOWED, f"signature method {method_uri!r} is not allowed{hint}"
        )

    references = signed_info.findall(qname(DS_NS, "Reference"))
    if len(references) != 1:
        raise SignatureError(
            ErrorCode.BAD_REFERENCE,
            f"the signature must hold exactly one Reference, found {len(references)}",
        )
    reference = references[0]
    if reference.get("URI") != "":
        raise SignatureError(
            ErrorCode.BAD_REFERENCE,
            f'the Reference must have URI="" (the whole document), found {reference.get("URI")!r}',
        )
    _check_transforms(reference)

    digest_uri = _only(reference, "DigestMethod", what="Reference").get("Algorithm") or ""
    digests = LEGACY_DIGESTS if allow_sha1 else STRONG_DIGESTS
    digest = next((d for d in digests if d.value == digest_uri), None)
    if digest is None:
        raise SignatureError(
            ErrorCode.ALGORITHM_NOT_ALLOWED, f"digest method {digest_uri!r} is not allowed"
        )

    value_text = _only(signature, "SignatureValue", what="Signature").text or ""
    try:
        value = base64.b64decode("".join(value_text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(ErrorCode.INVALID_SIGNATURE, "SignatureValue is not base64") from exc
    if not value:
        raise SignatureError(ErrorCode.INVALID_SIGNATURE, "SignatureValue is empty")

    hints: list[bytes] = []
    for element in signature.iterfind(
        f"{qname(DS_NS, 'KeyInfo')}/{qname(DS_NS, 'X509Data')}/{qname(DS_NS, 'X509Certificate')}"
    ):
        try:
            hints.append(base64.b64decode("".join((element.text or "").split())))
        except (binascii.Error, ValueError):
            continue
    return SignatureSummary(method, digest, value, tuple(hints))


def _check_transforms(reference: Element) -> None:
    transforms_elements = reference.findall(qname(DS_NS, "Transforms"))
    if len(transforms_elements) > 1:
        raise SignatureError(ErrorCode.MALFORMED, "the Reference has more than one Transforms")
    transforms = (
        [t for t in transforms_elements[0] if isinstance(t.tag, str)] if transforms_elements else []
    )
    algorithms = []
    for transform in transforms:
        if transform.tag != qname(DS_NS, "Transform"):
            raise SignatureError(
                ErrorCode.TRANSFORM_NOT_ALLOWED, f"unexpected {transform.tag} in Transforms"
            )
        algorithm = transform.get("Algorithm") or ""
        if algorithm == ENVELOPED:
            if any(isinstance(child.tag, str) for child in transform):
                raise SignatureError(
                    ErrorCode.TRANSFORM_NOT_ALLOWED, "the enveloped transform takes no content"
                )
        elif algorithm in ALLOWED_C14N:
            _check_c14n_children(transform, algorithm, code=ErrorCode.TRANSFORM_NOT_ALLOWED)
        else:
            raise SignatureError(
                ErrorCode.TRANSFORM_NOT_ALLOWED,
                f"transform {algorithm!r} is not allowed (only enveloped-signature and c14n)",
            )
        algorithms.append(algorithm)
    if not algorithms or algorithms[0] != ENVELOPED:
        raise SignatureError(
            ErrorCode.BAD_REFERENCE, "the first transform must be enveloped-signature"
        )
    if len(algorithms) > 2 or algorithms.count(ENVELOPED) != 1:
        raise SignatureError(
            ErrorCode.TRANSFORM_NOT_ALLOWED,
            "only enveloped-signature followed by at most one c14n transform is allowed",
        )


def _fits(certificate: x509.Certificate, method: SignatureMethod) -> bool:
    """Whether this certificate's key type can have made a signature of this method."""
    key = certificate.public_key()
    if method.name.startswith("ECDSA_"):
        return isinstance(key, ec.EllipticCurvePublicKey)
    return isinstance(key, rsa.RSAPublicKey)


def order_candidates(
    candidates: Sequence[x509.Certificate],
    summary: SignatureSummary,
    ders: Sequence[bytes] | None = None,
) -> list[int]:
    """Indexes of the candidates worth trying, the one named in KeyInfo first (rotation
    overlaps then cost one verification, not two). KeyInfo only orders; it never admits.
    `ders` (the candidates' DER, if the caller has it cached) saves re-encoding."""
    hinted = set(summary.key_info_certificates)
    encoded = ders if ders is not None else [c.public_bytes(Encoding.DER) for c in candidates]
    usable = [i for i, c in enumerate(candidates) if _fits(c, summary.signature_method)]
    return sorted(usable, key=lambda i: encoded[i] not in hinted)


def _config(location: str, moment: datetime, *, allow_sha1: bool) -> SignatureConfiguration:
    return SignatureConfiguration(
        require_x509=True,
        location=location,
        expect_references=1,
        signature_methods=LEGACY_SIGNATURE_METHODS if allow_sha1 else STRONG_SIGNATURE_METHODS,
        digest_algorithms=LEGACY_DIGESTS if allow_sha1 else STRONG_DIGESTS,
        verification_time=moment,
        # A Reference without a c14n transform is serialized with c14n 1.0 (XMLDSig 4.4.3.2,
        # what xmlsec1 does); signxml's own default is 1.1.
        default_reference_c14n_method=CanonicalizationMethod.CANONICAL_XML_1_0,
    )


class SignedOctets:
    """The canonical octets a verified Reference digested, spooled to a temporary file as
    they were digested: a document's signed content is as large as the document, and a
    second copy of it in memory is what this avoids. Close it (or use `with`) when done."""

    def __init__(self, file: IO[bytes], method: CanonicalizationMethod, prefixes: Any) -> None:
        self.file = file
        self.method = method
        """The c14n the digest was computed over (what `canonical` repeats)."""
        self.inclusive_ns_prefixes = prefixes

    def tree(self) -> Element:
        """The signed octets parsed: what callers read the document from."""
        self.file.seek(0)
        try:
            return parse(self.file)
        except SignatureError as exc:
            raise SignatureError(
                ErrorCode.INVALID_SIGNATURE, "the signed content is not XML"
            ) from exc

    def canonical(self, tree: Element) -> bytes:
        """`tree` (parsed from these octets) canonicalized as they were: the same octets,
        since c14n of a canonical document is the document itself."""
        return c14n(tree, self.method, self.inclusive_ns_prefixes)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> SignedOctets:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def c14n(node: Element, method: CanonicalizationMethod, prefixes: Any = None) -> bytes:
    """`node` canonicalized by `method`, as signxml does it."""
    return bytes(
        etree.tostring(
            node,
            method="c14n",
            exclusive=method.value.startswith(_EC_NS),
            with_comments=method.value.endswith("#WithComments"),
            inclusive_ns_prefixes=prefixes,
        )
    )


LARGE_TEXT = 1024 * 1024
"""Text nodes longer than this (attachments' base64) are canonicalized outside libxml2."""
_SLICE = 1024 * 1024


def _escaped_text(text: str) -> str:
    """A text node as c14n writes it (XML-C14N 1.0 section 2.3; exclusive c14n alike)."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#xD;")
    )


def canonical_file(
    root: Element, method: CanonicalizationMethod, prefixes: Any, digest: DigestAlgorithm
) -> tuple[IO[bytes], bytes]:
    """The c14n of `root`'s document in an anonymous temporary file, and its digest (in
    memory when no text node is large: a file per small document costs more than it saves).

    libxml2's c14n holds two more copies of a text node in its buffers on the way out
    (measured: a 40 MB attachment costs 80 MB more), so each large text node is taken out
    of the tree (which is the caller's to give up) and left as a unique marker; the small
    remainder is canonicalized by libxml2, and each text is spliced back in where its
    marker came out, escaped as c14n escapes text, slice by slice.
    """
    hasher = hashes.Hash(digest_algorithm_implementations[digest]())
    # Counted in C first: most documents hold no large text, and walking them in Python
    # costs more than their c14n.
    if not root.xpath("count(//text()[string-length() > $n])", n=LARGE_TEXT):
        octets = c14n(root, method, prefixes)
        hasher.update(octets)
        return io.BytesIO(octets), hasher.finalize()
    marker = f"c14n-{uuid.uuid4().hex}-"
    texts: list[str | None] = []
    for node in root.iter():
        for place in ("text", "tail") if isinstance(node.tag, str) else ("tail",):
            value = getattr(node, place)
            if value is not None and len(value) > LARGE_TEXT:
                setattr(node, place, f"{marker}{len(texts)}.")
                texts.append(value)
            del value
    remainder = c14n(root, method, prefixes)
    file = tempfile.TemporaryFile()

    def write(octets: bytes) -> None:
        hasher.update(octets)
        file.write(octets)

    try:
        pieces = re.split(rb"%s(\d+)\." % re.escape(marker.encode()), remainder)
        for position, piece in enumerate(pieces):
            if position % 2 == 0:
                write(piece)
                continue
            index = int(piece)
            text, texts[index] = texts[index], None  # each marker comes out once
            if text is None:
                raise InvalidInput("a text node's marker came out of c14n twice")
            for start in range(0, len(text), _SLICE):
                write(_escaped_text(text[start : start + _SLICE]).encode())
            del text
        if any(text is not None for text in texts):
            raise InvalidInput("a text node's marker did not come out of c14n")
    except BaseException:
        file.close()
        raise
    return file, hasher.finalize()


class _StreamingVerifier(XMLVerifier):
    """signxml's verifier without its copies of the document.

    signxml serializes and re-parses the whole document three times to check a Reference
    (a copy of the root, a copy of the payload, the signed XML), and then holds the
    canonical octets too: about six times the document in memory at once. For the one
    Reference form `inspect_signature` admits (URI="", enveloped, then at most one c14n),
    this removes the Signature from the tree the caller handed in (its own parse, not used
    afterwards), streams the canonical octets into the digest and a temporary file, and
    leaves the signed tree to be parsed from that file once the received tree is gone.
    Everything else (SignedInfo, the key, the algorithms, the certificate) is signxml's.
    """

    signed: SignedOctets | None = None

    def get_root(self, data: Any) -> Element:
        if isinstance(data, bytes | str):
            parent: Any = super()  # signxml's helpers carry no types
            return parent.get_root(data)
        return data  # the caller's own tree, which the enveloped transform may change

    def _verify_reference(
        self,
        reference: Element,
        index: int,
        root: Element,
        uri_resolver: Any,
        c14n_algorithm: Any,
        signature: Element,
        signature_key_used: Any,
    ) -> VerifyResult:
        signxml: Any = self  # its helpers carry no types
        if reference.get("URI") != "":
            raise InvalidInput('only a Reference with URI="" is verified here')
        transforms = signxml._find(reference, "Transforms", require=False)
        algorithms = [] if transforms is None else signxml._findall(transforms, "Transform")
        method = self.config.default_reference_c14n_method
        prefixes = None
        enveloped = False
        for transform in algorithms:
            algorithm = transform.get("Algorithm")
            if algorithm == ENVELOPED:
                enveloped = True
                continue
            method = CanonicalizationMethod(algorithm)
            prefixes = signxml._get_inclusive_ns_prefixes(transform)
        if not enveloped:
            raise InvalidInput("only an enveloped signature is verified here")
        if any(
            isinstance(node, etree._ProcessingInstruction)
            for node in [*root.itersiblings(preceding=True), *root.itersiblings()]
        ):
            raise InvalidInput("processing instructions beside the root element")
        digest_algorithm = DigestAlgorithm(
            signxml._find(reference, "DigestMethod").get("Algorithm")
        )
        signxml.check_digest_alg_expected(digest_algorithm)
        expected = base64.b64decode(signxml._find(reference, "DigestValue").text)
        remove_signature: Any = _remove_sig
        remove_signature(signxml._get_signature(root))
        # With the PIs beside the root refused and comments never signed, the document's
        # c14n is exactly the root element's.
        file, digest = canonical_file(root, method, prefixes, digest_algorithm)
        if digest != expected:
            file.close()
            raise InvalidDigest(f'Digest mismatch for reference {index} (URI="")')
        self.signed = SignedOctets(file, method, prefixes)
        return VerifyResult(b"", None, signature, signature_key=b"")


def verify_pinned_signxml(
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

    signxml's verifier: the reference `signing.fastverify.verify_pinned` is held to (tests/
    signing/test_fastverify_differential.py), and what it hands the forms it does not take.

    `data` is the document's bytes or a tree the caller parsed and gives up: its Signature
    is removed once the SignedInfo verifies (the enveloped transform)."""
    config = _config(location, moment, allow_sha1=allow_sha1)
    for index in order:
        verifier = _StreamingVerifier()
        try:
            try:
                verifier.verify(
                    data, x509_cert=candidates[index], expect_config=config, parser=parser()
                )
            except BaseException:
                if verifier.signed is not None:
                    verifier.signed.close()
                raise
        except InvalidDigest as exc:
            raise SignatureError(
                ErrorCode.INVALID_SIGNATURE,
                f"digest mismatch: the document was changed after it was signed ({exc})",
            ) from exc
        except InvalidCertificate as exc:
            text = str(exc)
            code = (
                ErrorCode.CERTIFICATE_NOT_YET_VALID
                if "not yet valid" in text
                else ErrorCode.CERTIFICATE_EXPIRED
            )
            raise SignatureError(code, text) from exc
        except SignXMLInvalidSignature:
            continue  # this key did not make the SignatureValue: try the next one
        except InvalidInput as exc:
            text = str(exc)
            if "does not match specified signature algorithm" in text:
                continue
            if "forbidden by configuration" in text or "Unrecognized" in text:
                raise SignatureError(ErrorCode.ALGORITHM_NOT_ALLOWED, text) from exc
            raise SignatureError(ErrorCode.INVALID_SIGNATURE, text) from exc
        except etree.DocumentInvalid as exc:
            raise SignatureError(
                ErrorCode.MALFORMED, f"the Signature element breaks the XMLDSig schema: {exc}"
            ) from exc
        except (SignXMLException, etree.LxmlError, ValueError, TypeError) as exc:
            raise SignatureError(
                ErrorCode.INVALID_SIGNATURE, f"{type(exc).__name__}: {exc}"
            ) from exc
        if verifier.signed is None:  # pragma: no cover - signxml checked the one Reference
            raise SignatureError(ErrorCode.INVALID_SIGNATURE, "no Reference was verified")
        return verifier.signed, index
    return None


def default_method(key: PrivateKey) -> SignatureMethod:
    """RSA-SHA256 for RSA keys, ECDSA-SHA256 for P-256 (ECDSA-SHA384 for P-384)."""
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise SignatureError(ErrorCode.UNSUPPORTED_KEY, "RSA keys under 2048 bits")
        return SignatureMethod.RSA_SHA256
    if isinstance(key.curve, ec.SECP256R1):
        return SignatureMethod.ECDSA_SHA256
    if isinstance(key.curve, ec.SECP384R1):
        return SignatureMethod.ECDSA_SHA384
    raise SignatureError(ErrorCode.UNSUPPORTED_KEY, f"curve {key.curve.name} is not supported")


def placeholder() -> Element:
    """The empty `ds:Signature` signxml fills in where it stands (it is left out of the digest)."""
    return etree.Element(qname(DS_NS, "Signature"), {"Id": "placeholder"}, nsmap={"ds": DS_NS})


def sign_enveloped(
    root: Element,
    identity: CertifiedKey,
    *,
    method: SignatureMethod | None = None,
    include_chain: bool = False,
) -> bytes:
    """Sign `root` (which holds one `placeholder()`): URI="", enveloped + exclusive c14n,
    SHA-256 digest (SHA-384 with ECDSA-SHA384), the certificate in KeyInfo/X509Data."""
    chosen = method or default_method(identity.key)
    if chosen not in STRONG_SIGNATURE_METHODS or not _fits(identity.certificate, chosen):
        raise SignatureError(
            ErrorCode.UNSUPPORTED_KEY,
            f"cannot sign {algorithm_name(chosen)} with a {type(identity.key).__name__}",
        )
    digest = DigestAlgorithm.SHA384 if chosen.name.endswith("SHA384") else DigestAlgorithm.SHA256
    if chosen.name.endswith("SHA512"):
        digest = DigestAlgorithm.SHA512
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=chosen,
        digest_algorithm=digest,
        c14n_algorithm=EXC_C14N,
    )
    # signxml re-parses the tree with its own parser, which refuses text nodes over 10 MB.
    signer._parser = parser()
    certificates = list(identity.certificates if include_chain else (identity.certificate,))
    try:
        signed = signer.sign(root, key=identity.key, cert=certificates)
        return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))
    except (SignXMLException, etree.LxmlError, ValueError, TypeError) as exc:
        raise SignatureError(ErrorCode.MALFORMED, f"cannot sign: {exc}") from exc
