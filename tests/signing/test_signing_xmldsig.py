"""Agency signatures on edXML envelopes: round trips on a real sample, and every refusal
the axis must make (each with its machine code)."""

from __future__ import annotations

import base64
import copy
import hashlib
import random
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree
from signing_support import (
    DS,
    ED,
    G22,
    LARGE_TEXT_VALUE,
    NS,
    Keys,
    registered,
    sample_path,
    signature_value_sha256,
    to_bytes,
    tree,
    with_large_texts,
)
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner

from schemas.edxml import EnvelopeLimits, parse_xml
from signing.certificates import RegisteredCertificate, TrustStore
from signing.devca import issue_agency_certificate
from signing.dsig import EXC_C14N, placeholder
from signing.errors import ErrorCode, SignatureError
from signing.xmldsig import VerifiedEnvelope, envelope_header, sign_envelope, verify_envelope

ALGORITHMS = {"ec": "ecdsa-sha256", "rsa": "rsa-sha256"}


def verify(data: bytes, keys: Keys, *identities, at: datetime | None = None, **kw):
    return verify_envelope(
        data,
        certificates=registered(*(identities or (keys.ec,))),
        trust=kw.pop("trust", keys.trust),
        receipt_time=at or datetime.now(UTC),
        **kw,
    )


def refused(code: ErrorCode, data: bytes, keys: Keys, *identities, **kw) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        verify(data, keys, *identities, **kw)
    assert caught.value.code == code, caught.value.message
    return caught.value


@pytest.fixture(scope="module")
def signed_ec(keys: Keys, sample: bytes) -> bytes:
    return sign_envelope(sample, keys.ec)


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_round_trip_on_a_real_sample(kind: str, keys: Keys, sample: bytes) -> None:
    identity = getattr(keys, kind)
    signed = sign_envelope(sample, identity)
    result = verify(signed, keys, identity)
    assert isinstance(result, VerifiedEnvelope)
    assert result.algorithm == ALGORITHMS[kind]
    assert result.digest_algorithm == "sha256"
    assert result.fingerprint == identity.fingerprint
    assert result.certificate.fingerprint == identity.fingerprint
    assert result.signature_value_sha256 == signature_value_sha256(signed)
    assert result.chain[-1] == keys.ca.certificate
    # The signed tree is the document without its Signature, and it reads like the sample.
    assert result.signed_xml.find(f".//{{{DS}}}Signature") is None
    assert result.signed_xml.findtext("ed:edXMLEnvelope//ed:From/ed:OrganId", namespaces=NS) == G22
    organs = result.signed_xml.findall("ed:edXMLEnvelope//ed:To/ed:OrganId", namespaces=NS)
    assert [o.text for o in organs] == ["000.00.00.H41", "000.00.00.H14", "000.00.00.G17"]
    assert tree(result.signed_bytes).tag == f"{{{ED}}}edXML"


def test_signature_replaces_the_placeholder_as_last_child_of_the_header(
    signed_ec: bytes, sample: bytes
) -> None:
    assert b"<Signature>" in sample  # real files carry an edXML-namespace placeholder
    header = envelope_header(tree(signed_ec))
    assert header[-1].tag == f"{{{DS}}}Signature"
    assert header.find(f"{{{ED}}}Signature") is None
    assert len(tree(signed_ec).findall(f".//{{{DS}}}Signature")) == 1
    reference = header[-1].find("ds:SignedInfo/ds:Reference", NS)
    assert reference.get("URI") == ""
    transforms = [t.get("Algorithm") for t in reference.findall("ds:Transforms/ds:Transform", NS)]
    assert transforms == [
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
    ]
    assert header[-1].find("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS) is not None


def test_every_sample_envelope_signs_and_verifies(keys: Keys) -> None:
    names = ["bkav_edoc_new.edxml", "bkav_edoc_update.edxml", "lgsp_edoc_new.edxml"]
    names += ["bkav_status_processing_05.edxml"]  # no Signature at all: one is added
    for name in names:
        signed = sign_envelope(sample_path(name).read_bytes(), keys.ec)
        assert verify(signed, keys).fingerprint == keys.ec.fingerprint, name


def test_unsigned_sample_is_missing_its_signature(keys: Keys, sample: bytes) -> None:
    refused(ErrorCode.MISSING_SIGNATURE, sample, keys)  # the placeholder is no XMLDSig


def test_sha384_and_chain_in_key_info(keys: Keys, sample: bytes) -> None:
    signed = sign_envelope(sample, keys.ec, algorithm="ecdsa-sha384", include_chain=True)
    result = verify(signed, keys)
    assert result.algorithm == "ecdsa-sha384"
    assert len(tree(signed).findall(".//ds:X509Certificate", NS)) == 2


def test_sign_refuses_what_it_cannot_do(keys: Keys, sample: bytes, signed_ec: bytes) -> None:
    with pytest.raises(SignatureError) as caught:
        sign_envelope(sample, keys.ec, algorithm="rsa-sha256")
    assert caught.value.code == ErrorCode.UNSUPPORTED_KEY
    with pytest.raises(SignatureError) as caught:
        sign_envelope(sample, keys.ec, algorithm="rsa-sha1")
    assert caught.value.code == ErrorCode.ALGORITHM_NOT_ALLOWED
    with pytest.raises(SignatureError) as caught:
        sign_envelope(b"<not-edxml/>", keys.ec)
    assert caught.value.code == ErrorCode.MALFORMED
    root = tree(signed_ec)
    moved = envelope_header(root)[-1]
    root.append(moved)  # a Signature outside the header is not ours to replace
    with pytest.raises(SignatureError) as caught:
        sign_envelope(to_bytes(root), keys.ec)
    assert caught.value.code == ErrorCode.MULTIPLE_SIGNATURES


def test_re_signing_replaces_the_previous_signature(keys: Keys, signed_ec: bytes) -> None:
    again = sign_envelope(signed_ec, keys.rsa)
    assert len(tree(again).findall(".//ds:Signature", NS)) == 1
    assert verify(again, keys, keys.rsa).algorithm == "rsa-sha256"


def test_naive_receipt_time_is_utc(keys: Keys, signed_ec: bytes) -> None:
    naive = datetime.now(UTC).replace(tzinfo=None)
    assert verify(signed_ec, keys, at=naive).receipt_time.tzinfo is not None


# --- certificates: registration, rotation, validity, key usage, chain ---------------------


def test_rotation_old_certificate_at_old_receipt_time_new_one_later(
    keys: Keys, sample: bytes
) -> None:
    old = issue_agency_certificate(
        keys.ca,
        G22,
        not_before=datetime(2022, 1, 1, tzinfo=UTC),
        not_after=datetime(2024, 3, 1, tzinfo=UTC),
    )
    new = issue_agency_certificate(
        keys.ca,
        G22,
        not_before=datetime(2024, 1, 1, tzinfo=UTC),
        not_after=datetime(2026, 1, 1, tzinfo=UTC),
    )
    both = (old, new)
    signed_old = sign_envelope(sample, old)
    signed_new = sign_envelope(sample, new)
    in_old_only = datetime(2023, 6, 1, tzinfo=UTC)
    in_overlap = datetime(2024, 2, 1, tzinfo=UTC)
    in_new_only = datetime(2025, 6, 1, tzinfo=UTC)

    assert verify(signed_old, keys, *both, at=in_old_only).fingerprint == old.fingerprint
    assert verify(signed_old, keys, *both, at=in_overlap).fingerprint == old.fingerprint
    assert verify(signed_new, keys, *both, at=in_overlap).fingerprint == new.fingerprint
    assert verify(signed_new, keys, *both, at=in_new_only).fingerprint == new.fingerprint
    # Out of their windows: the old one has expired, the new one is not valid yet.
    refused(ErrorCode.CERTIFICATE_EXPIRED, signed_old, keys, *both, at=in_new_only)
    refused(ErrorCode.CERTIFICATE_NOT_YET_VALID, signed_new, keys, *both, at=in_old_only)
    # The one KeyInfo names is tried first, whatever the registration order.
    reversed_order = (new, old)
    assert verify(signed_old, keys, *reversed_order, at=in_overlap).fingerprint == old.fingerprint


def test_operator_window_narrows_a_registration(keys: Keys, signed_ec: bytes) -> None:
    cut = RegisteredCertificate.of(
        keys.ec.certificate, not_after=datetime.now(UTC) - timedelta(minutes=1)
    )
    with pytest.raises(SignatureError) as caught:
        verify_envelope(
            signed_ec, certificates=[cut], trust=keys.trust, receipt_time=datetime.now(UTC)
        )
    assert caught.value.code == ErrorCode.CERTIFICATE_EXPIRED


def test_expired_and_not_yet_valid_certificates(keys: Keys, sample: bytes) -> None:
    now = datetime.now(UTC)
    expired = issue_agency_certificate(
        keys.ca, G22, not_before=now - timedelta(days=400), not_after=now - timedelta(days=1)
    )
    future = issue_agency_certificate(
        keys.ca, G22, not_before=now + timedelta(days=1), not_after=now + timedelta(days=400)
    )
    refused(ErrorCode.CERTIFICATE_EXPIRED, sign_envelope(sample, expired), keys, expired)
    refused(ErrorCode.CERTIFICATE_NOT_YET_VALID, sign_envelope(sample, future), keys, future)
    # Received while it was valid, it still verifies (what receipt time is for).
    past = now - timedelta(days=10)
    assert verify(sign_envelope(sample, expired), keys, expired, at=past)


def test_wrong_registered_certificate_is_refused(keys: Keys, signed_ec: bytes) -> None:
    # Signed by G22, but the registry holds another agency's certificate for the sender.
    error = refused(ErrorCode.CERTIFICATE_NOT_REGISTERED, signed_ec, keys, keys.ec_other)
    assert "not registered" in error.message
    refused(ErrorCode.CERTIFICATE_NOT_REGISTERED, signed_ec, keys, keys.rsa)
    with pytest.raises(SignatureError) as caught:  # the sender has none registered
        verify_envelope(
            signed_ec, certificates=[], trust=keys.trust, receipt_time=datetime.now(UTC)
        )
    assert caught.value.code == ErrorCode.CERTIFICATE_NOT_REGISTERED


def test_key_info_is_never_trusted(keys: Keys, sample: bytes, signed_ec: bytes) -> None:
    """Signed with another key, KeyInfo claiming the registered certificate: refused."""
    forged = sign_envelope(sample, keys.ec_other)
    root = tree(forged)
    x509_cert = root.find(".//ds:X509Certificate", NS)
    x509_cert.text = base64.b64encode(keys.ec.certificate.public_bytes(_der())).decode()
    refused(ErrorCode.INVALID_SIGNATURE, to_bytes(root), keys, keys.ec)
    # And a genuine signature verifies even with KeyInfo removed or pointing elsewhere.
    root = tree(signed_ec)
    key_info = root.find(".//ds:KeyInfo", NS)
    key_info.getparent().remove(key_info)
    assert verify(to_bytes(root), keys, keys.ec_other, keys.ec).fingerprint == keys.ec.fingerprint


def _der():
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def test_certificate_without_digital_signature(keys: Keys, sample: bytes) -> None:
    signed = sign_envelope(sample, keys.no_digital_signature)
    refused(ErrorCode.KEY_USAGE, signed, keys, keys.no_digital_signature)
    bare = issue_agency_certificate(keys.ca, G22, key_usage=False)
    refused(ErrorCode.KEY_USAGE, sign_envelope(sample, bare), keys, bare)


def test_untrusted_chain(keys: Keys, sample: bytes, signed_ec: bytes) -> None:
    signed = sign_envelope(sample, keys.untrusted, include_chain=True)
    refused(ErrorCode.UNTRUSTED_CHAIN, signed, keys, keys.untrusted)
    # Trusting only the other CA: our own agency's certificate is the untrusted one now.
    other = TrustStore([keys.other_ca.certificate])
    refused(ErrorCode.UNTRUSTED_CHAIN, signed_ec, keys, keys.ec, trust=other)


# --- algorithms and transforms ---------------------------------------------------------------


class LegacySigner(XMLSigner):
    """signxml refuses to sign with SHA-1; legacy agencies still do."""

    def check_deprecated_methods(self) -> None:
        return None


def sign_sha1(sample: bytes, keys: Keys) -> bytes:
    root = tree(sample)
    header = envelope_header(root)
    header.remove(header.find(f"{{{ED}}}Signature"))
    header.append(placeholder())
    signer = LegacySigner(
        signature_algorithm=SignatureMethod.RSA_SHA1,
        digest_algorithm=DigestAlgorithm.SHA1,
        c14n_algorithm=EXC_C14N,
    )
    return to_bytes(signer.sign(root, key=keys.rsa.key, cert=[keys.rsa.certificate]))


def test_sha1_refused_unless_the_agency_is_marked_legacy(keys: Keys, sample: bytes) -> None:
    signed = sign_sha1(sample, keys)
    error = refused(ErrorCode.ALGORITHM_NOT_ALLOWED, signed, keys, keys.rsa)
    assert "sha1" in error.message
    result = verify(signed, keys, keys.rsa, allow_sha1=True)
    assert (result.algorithm, result.digest_algorithm) == ("rsa-sha1", "sha1")


def _edit_signed_info(data: bytes, edit) -> bytes:
    root = tree(data)
    edit(root.find(".//ds:SignedInfo", NS))
    return to_bytes(root)


@pytest.mark.parametrize(
    "uri",
    [
        "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
        "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-md5",
        "http://www.w3.org/2009/xmldsig11#dsa-sha256",
        "http://www.w3.org/2000/09/xmldsig#dsa-sha1",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha224",
        "urn:made-up",
    ],
)
def test_signature_methods_outside_the_allow_list(uri: str, keys: Keys, signed_ec: bytes) -> None:
    def edit(signed_info):
        signed_info.find("ds:SignatureMethod", NS).set("Algorithm", uri)

    data = _edit_signed_info(signed_ec, edit)
    refused(ErrorCode.ALGORITHM_NOT_ALLOWED, data, keys)
    refused(ErrorCode.ALGORITHM_NOT_ALLOWED, data, keys, allow_sha1=True)


@pytest.mark.parametrize(
    "uri",
    ["http://www.w3.org/2001/04/xmldsig-more#md5", "http://www.w3.org/2000/09/xmldsig#sha1"],
)
def test_digest_methods_outside_the_allow_list(uri: str, keys: Keys, signed_ec: bytes) -> None:
    def edit(signed_info):
        signed_info.find("ds:Reference/ds:DigestMethod", NS).set("Algorithm", uri)

    refused(ErrorCode.ALGORITHM_NOT_ALLOWED, _edit_signed_info(signed_ec, edit), keys)


def test_c14n_with_comments_is_refused(keys: Keys, signed_ec: bytes) -> None:
    def edit(signed_info):
        signed_info.find("ds:CanonicalizationMethod", NS).set(
            "Algorithm", "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
        )

    refused(ErrorCode.ALGORITHM_NOT_ALLOWED, _edit_signed_info(signed_ec, edit), keys)


@pytest.mark.parametrize(
    "algorithm",
    [
        "http://www.w3.org/TR/1999/REC-xpath-19991116",
        "http://www.w3.org/TR/1999/REC-xslt-19991116",
        "http://www.w3.org/2002/06/xmldsig-filter2",
        "http://www.w3.org/2000/09/xmldsig#base64",
        "http://www.w3.org/2006/12/xml-c14n11#WithComments",
    ],
)
def test_transforms_outside_the_allow_list(algorithm: str, keys: Keys, signed_ec: bytes) -> None:
    def edit(signed_info):
        transforms = signed_info.find("ds:Reference/ds:Transforms", NS)
        added = etree.SubElement(transforms, f"{{{DS}}}Transform", Algorithm=algorithm)
        etree.SubElement(added, f"{{{DS}}}XPath").text = "ancestor-or-self::*"

    refused(ErrorCode.TRANSFORM_NOT_ALLOWED, _edit_signed_info(signed_ec, edit), keys)


def test_xpath_content_inside_an_allowed_transform_is_refused(keys: Keys, signed_ec: bytes) -> None:
    def edit(signed_info):
        transform = signed_info.find("ds:Reference/ds:Transforms/ds:Transform", NS)
        etree.SubElement(transform, f"{{{DS}}}XPath").text = "not(ancestor-or-self::ed:To)"

    refused(ErrorCode.TRANSFORM_NOT_ALLOWED, _edit_signed_info(signed_ec, edit), keys)


def test_missing_enveloped_transform(keys: Keys, signed_ec: bytes) -> None:
    def edit(signed_info):
        transforms = signed_info.find("ds:Reference/ds:Transforms", NS)
        transforms.remove(transforms[0])

    refused(ErrorCode.BAD_REFERENCE, _edit_signed_info(signed_ec, edit), keys)


def test_two_references(keys: Keys, signed_ec: bytes) -> None:
    def edit(signed_info):
        signed_info.append(copy.deepcopy(signed_info.find("ds:Reference", NS)))

    refused(ErrorCode.BAD_REFERENCE, _edit_signed_info(signed_ec, edit), keys)


@pytest.mark.parametrize("uri", ["#envelope", "#xpointer(/)", "http://example.invalid/doc", None])
def test_reference_other_than_the_whole_document(uri, keys: Keys, signed_ec: bytes) -> None:
    def edit(signed_info):
        reference = signed_info.find("ds:Reference", NS)
        if uri is None:
            del reference.attrib["URI"]
        else:
            reference.set("URI", uri)

    refused(ErrorCode.BAD_REFERENCE, _edit_signed_info(signed_ec, edit), keys)


# --- where the Signature sits ------------------------------------------------------------


def test_a_second_signature(keys: Keys, signed_ec: bytes) -> None:
    root = tree(signed_ec)
    signature = root.find(".//ds:Signature", NS)
    root.find("ed:edXMLEnvelope/ed:edXMLBody", NS).append(copy.deepcopy(signature))
    refused(ErrorCode.MULTIPLE_SIGNATURES, to_bytes(root), keys)
    root = tree(signed_ec)
    header = envelope_header(root)
    header.append(copy.deepcopy(header[-1]))
    refused(ErrorCode.MULTIPLE_SIGNATURES, to_bytes(root), keys)


@pytest.mark.parametrize(
    "new_parent",
    [
        ".",  # the root (signxml's default location would find it anywhere)
        "ed:edXMLEnvelope",
        "ed:edXMLEnvelope/ed:edXMLHeader/ed:MessageHeader",
        "ed:edXMLEnvelope/ed:edXMLBody",
        "ed:AttachmentEncoded",
    ],
)
def test_a_signature_moved_elsewhere(new_parent: str, keys: Keys, signed_ec: bytes) -> None:
    root = tree(signed_ec)
    signature = root.find(".//ds:Signature", NS)
    root.find(new_parent, NS).append(signature)
    error = refused(ErrorCode.SIGNATURE_MISPLACED, to_bytes(root), keys)
    assert "edXMLHeader" in error.message


def test_wrapping_attack_with_forged_content(keys: Keys, signed_ec: bytes) -> None:
    """The signed envelope hidden inside a forged one: the Signature is no longer where the
    edXML header of the document says it must be."""
    forged = tree(signed_ec)
    original = copy.deepcopy(forged)
    forged.find(".//ed:Subject", NS).text = "forged"
    forged.find(".//ds:Signature", NS).getparent().remove(forged.find(".//ds:Signature", NS))
    forged.find(".//ed:AttachmentEncoded", NS).append(original)
    refused(ErrorCode.SIGNATURE_MISPLACED, to_bytes(forged), keys)


# --- what was signed is what is read ------------------------------------------------------


def _with_subject(sample: bytes, subject_xml: bytes) -> bytes:
    start = sample.index(b"<edXML:Subject>") + len(b"<edXML:Subject>")
    end = sample.index(b"</edXML:Subject>")
    return sample[:start] + subject_xml + sample[end:]


def test_comment_injection_reads_the_full_text_from_the_signed_tree(
    keys: Keys, sample: bytes
) -> None:
    signed = sign_envelope(_with_subject(sample, b"hel<!-- x -->lo"), keys.ec)
    raw = tree(signed).find(".//ed:Subject", NS)
    assert raw.text == "hel"  # what a careless reader of the received tree would get
    result = verify(signed, keys)
    assert result.signed_xml.find(".//ed:Subject", NS).text == "hello"
    # A comment added after signing verifies (comments are not signed) and is not read.
    later = signed.replace(b"</edXML:Subject>", b"<!-- unsigned -->!</edXML:Subject>")
    with pytest.raises(SignatureError):
        verify(later, keys)  # the "!" is text, so it breaks the digest
    comment_only = signed.replace(b"</edXML:Subject>", b"<!-- unsigned --></edXML:Subject>")
    result = verify(comment_only, keys)
    assert result.signed_xml.find(".//ed:Subject", NS).text == "hello"
    assert b"unsigned" not in result.signed_bytes


def test_tampering_anywhere_signed_is_refused(keys: Keys, signed_ec: bytes) -> None:
    for old, new in [
        (b"000.00.00.H41", b"000.00.00.H42"),  # a recipient
        (b"Nguyen Thanh Phuc", b"Nguyen Thanh Phuk"),  # the signer's name
        (b"UEsDBBQACAgI", b"UEsDBBQACAgJ"),  # the attachment, outside the envelope
        (b"<edXML:Paper>0</edXML:Paper>", b"<edXML:Paper>1</edXML:Paper>"),
    ]:
        assert old in signed_ec
        error = refused(ErrorCode.INVALID_SIGNATURE, signed_ec.replace(old, new, 1), keys)
        assert "digest" in error.message


def test_signature_value_tampering(keys: Keys, signed_ec: bytes) -> None:
    root = tree(signed_ec)
    value = root.find(".//ds:SignatureValue", NS)
    raw = bytearray(base64.b64decode(value.text))
    raw[5] ^= 1
    value.text = base64.b64encode(bytes(raw)).decode()
    refused(ErrorCode.INVALID_SIGNATURE, to_bytes(root), keys)
    value.text = "not base64!"
    refused(ErrorCode.INVALID_SIGNATURE, to_bytes(root), keys)


# --- hostile input comes out as SignatureError only ---------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not xml",
        b"<edXML",
        b'<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY x "y">]><edXML>&x;</edXML>',
        b'<!DOCTYPE edXML SYSTEM "http://example.invalid/x.dtd"><edXML/>',
        b"<other/>",
        f'<edXML xmlns="{ED}"/>'.encode(),
        f'<edXML xmlns="{ED}"><edXMLEnvelope/><edXMLEnvelope/></edXML>'.encode(),
    ],
)
def test_malformed_input(data: bytes, keys: Keys) -> None:
    refused(ErrorCode.MALFORMED, data, keys)


def test_random_damage_never_escapes_as_another_exception(keys: Keys, signed_ec: bytes) -> None:
    rng = random.Random(20240611)
    outcomes: dict[str, int] = {}
    for _ in range(300):
        data = bytearray(signed_ec)
        for _ in range(rng.randint(1, 3)):
            action = rng.random()
            position = rng.randrange(len(data))
            if action < 0.5:
                data[position] = rng.randrange(256)
            elif action < 0.8:
                del data[position : position + rng.randint(1, 40)]
            else:
                data[position:position] = rng.choice([b"<", b"&", b"<ds:Signature/>", b"]]>"])
        try:
            verify(bytes(data), keys)
            outcomes["verified"] = outcomes.get("verified", 0) + 1
        except SignatureError as error:
            outcomes[error.code] = outcomes.get(error.code, 0) + 1
    assert outcomes.get("verified", 0) < 30, outcomes  # only damage to unsigned parts verifies
    assert sum(outcomes.values()) == 300


def test_structural_damage_to_the_signature(keys: Keys, signed_ec: bytes) -> None:
    def drop(path: str):
        root = tree(signed_ec)
        element = root.find(path, NS)
        element.getparent().remove(element)
        return to_bytes(root)

    for path in [
        ".//ds:SignedInfo",
        ".//ds:SignatureValue",
        ".//ds:SignatureMethod",
        ".//ds:CanonicalizationMethod",
        ".//ds:DigestMethod",
        ".//ds:DigestValue",
    ]:
        with pytest.raises(SignatureError):
            verify(drop(path), keys)


def test_a_very_large_attachment_verifies(keys: Keys, sample: bytes) -> None:
    """One base64 text node past libxml2's 10 MB default limit (attachments reach 48 MB)."""
    big = base64.b64encode(random.Random(1).randbytes(9 * 1024 * 1024))
    start = sample.index(b"<edXML:ContentTransferEncoded")
    start = sample.index(b">", start) + 1
    end = sample.index(b"</edXML:ContentTransferEncoded>")
    data = sample[:start] + big + sample[end:]
    assert len(big) > 10_000_000
    result = verify(sign_envelope(data, keys.ec), keys)
    assert hashlib.sha256(result.signed_bytes).digest()


def test_large_text_nodes_are_canonicalized_as_libxml2_does(
    keys: Keys, sample: bytes, tmp_path
) -> None:
    """Text nodes past LARGE_TEXT are spliced into the c14n outside libxml2: the digest must
    be the one signxml (libxml2's c14n) signed, from bytes and from a file, and the signed
    tree must read the same text."""
    signed = sign_envelope(with_large_texts(sample), keys.ec)
    (tmp_path / "signed.edxml").write_bytes(signed)
    digest_value = base64.b64decode(tree(signed).findtext(f".//{{{DS}}}DigestValue"))
    for given in (signed, tmp_path / "signed.edxml"):
        result = verify(given, keys)
        read = result.signed_xml.find(".//ed:Subject", namespaces=NS)
        assert (read.text, read.tail) == (LARGE_TEXT_VALUE, LARGE_TEXT_VALUE)
        assert hashlib.sha256(result.signed_bytes).digest() == digest_value
    changed = signed.replace(b"&amp; &lt;b&gt;", b"&amp; &lt;i&gt;", 1)
    refused(ErrorCode.INVALID_SIGNATURE, changed, keys)


def test_processing_instructions_beside_the_root_are_refused(keys: Keys, signed_ec: bytes) -> None:
    """xmlsec1 digests them under URI="" and signxml does not: refuse rather than disagree."""
    assert signed_ec.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<edXML")
    before = signed_ec.replace(b"?>\n<edXML", b"?>\n<?app note?>\n<edXML", 1)
    refused(ErrorCode.MALFORMED, before, keys)
    refused(ErrorCode.MALFORMED, signed_ec + b"\n<?app note?>", keys)
    commented = signed_ec.replace(b"?>\n<edXML", b"?>\n<!-- note -->\n<edXML", 1)
    assert verify(commented, keys).fingerprint == keys.ec.fingerprint  # comments: never signed


def test_signxml_alone_skips_an_xpath_transform_we_refuse(keys: Keys, sample: bytes) -> None:
    """A genuinely signed SignedInfo with an XPath transform: signxml ignores transforms it
    does not know (and verifies), so the allow-list must run before it."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from signxml.verifier import SignatureConfiguration, XMLVerifier

    from signing.xmldsig import SIGNATURE_LOCATION

    root = tree(sign_envelope(sample, keys.rsa))
    signed_info = root.find(".//ds:SignedInfo", NS)
    transforms = signed_info.find("ds:Reference/ds:Transforms", NS)
    xpath = etree.SubElement(
        transforms, f"{{{DS}}}Transform", Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"
    )
    etree.SubElement(xpath, f"{{{DS}}}XPath").text = "not(ancestor-or-self::*[local-name()='To'])"
    c14n = etree.tostring(signed_info, method="c14n", exclusive=True)
    value = keys.rsa.key.sign(c14n, padding.PKCS1v15(), hashes.SHA256())
    root.find(".//ds:SignatureValue", NS).text = base64.b64encode(value).decode()
    data = to_bytes(root)
    config = SignatureConfiguration(location=SIGNATURE_LOCATION)
    assert XMLVerifier().verify(data, x509_cert=keys.rsa.certificate, expect_config=config)
    refused(ErrorCode.TRANSFORM_NOT_ALLOWED, data, keys, keys.rsa)


def test_a_tree_parsed_under_the_limits_verifies_as_its_bytes_do(
    keys: Keys, signed_ec: bytes
) -> None:
    """The receiving path hands the verifier the tree it parsed (and read) under its
    limits: the same verdict and the same signed octets as from the bytes."""
    received = parse_xml(signed_ec, EnvelopeLimits())
    from_tree = verify(received, keys)
    from_bytes = verify(signed_ec, keys)
    assert from_tree.fingerprint == from_bytes.fingerprint
    assert from_tree.signed_bytes == from_bytes.signed_bytes
    assert received.find(f".//{{{DS}}}Signature") is None  # the tree was given up


def test_received_is_signed_only_when_nothing_unsigned_could_be_read(
    keys: Keys, sample: bytes
) -> None:
    """Comments are not signed and split text; an xsi attribute's QName value may use a
    prefix exclusive c14n leaves undeclared: either makes readers use `signed_xml`."""
    plain = sign_envelope(sample, keys.ec)
    assert verify(plain, keys).received_is_signed
    commented = plain.replace(b"</edXML:Subject>", b"<!-- unsigned --></edXML:Subject>")
    assert not verify(commented, keys).received_is_signed
    xsi = b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="false"'
    typed = sign_envelope(
        sample.replace(b"<edXML:Subject>", b"<edXML:Subject " + xsi + b">"), keys.ec
    )
    assert b"xsi:nil" in typed
    assert not verify(typed, keys).received_is_signed
