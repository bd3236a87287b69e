"""Cross-checks with a tool nobody here wrote: Debian's `xmlsec1` signs and we verify, we sign
and it verifies, for envelopes and evidence records, RSA-SHA256 and ECDSA-P256-SHA256.
xmlsec1 is judged by its exit code, always with `--enabled-key-data x509` and the pinned
certificate (without that flag it trusts a key embedded in the document)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

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
    to_bytes,
    tree,
    with_large_texts,
)

from signing.errors import ErrorCode, SignatureError
from signing.evidence import EvidenceKind, EvidenceRecord, sign_evidence, verify_evidence
from signing.keys import CertifiedKey, certificate_pem, private_key_pem
from signing.xmldsig import envelope_header, sign_envelope, verify_envelope

METHODS = {
    "rsa": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "ec": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
}
C14N = {
    "exc": "http://www.w3.org/2001/10/xml-exc-c14n#",
    "inclusive": "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
}
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


class Xmlsec1:
    """Runs xmlsec1 on files in a temporary directory."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory

    def _file(self, name: str, data: bytes) -> str:
        path = self.directory / name
        path.write_bytes(data)
        return str(path)

    def sign(self, template: bytes, identity: CertifiedKey) -> bytes:
        key = self._file("key.pem", private_key_pem(identity.key))
        cert = self._file("signer-cert.pem", certificate_pem(identity.certificate))
        source = self._file("template.xml", template)
        output = self.directory / "signed-by-xmlsec1.xml"
        done = subprocess.run(
            [
                self.binary,
                "--sign",
                "--privkey-pem",
                f"{key},{cert}",
                "--output",
                str(output),
                source,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return output.read_bytes()

    def verify(
        self, data: bytes, pinned: CertifiedKey, *extra: str
    ) -> subprocess.CompletedProcess[str]:
        cert = self._file("pinned-cert.pem", certificate_pem(pinned.certificate))
        source = self._file("to-verify.xml", data)
        return subprocess.run(
            [
                self.binary,
                "--verify",
                "--enabled-key-data",
                "x509",
                "--pubkey-cert-pem",
                cert,
                *extra,
                source,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture
def xmlsec(xmlsec1: str, tmp_path: Path) -> Xmlsec1:
    return Xmlsec1(xmlsec1, tmp_path)


def template(
    method: str, *, c14n: str = C14N["exc"], transforms: tuple[str, ...] | None = None
) -> etree._Element:
    """An empty ds:Signature for xmlsec1 to fill: URI="", enveloped (+ c14n) transforms,
    empty DigestValue and SignatureValue, KeyInfo/X509Data for the signer's certificate."""
    if transforms is None:
        transforms = ("http://www.w3.org/2000/09/xmldsig#enveloped-signature", C14N["exc"])
    transform_xml = "".join(f'<ds:Transform Algorithm="{t}"/>' for t in transforms)
    return etree.fromstring(
        f'<ds:Signature xmlns:ds="{DS}"><ds:SignedInfo>'
        f'<ds:CanonicalizationMethod Algorithm="{c14n}"/>'
        f'<ds:SignatureMethod Algorithm="{method}"/>'
        f'<ds:Reference URI=""><ds:Transforms>{transform_xml}</ds:Transforms>'
        f'<ds:DigestMethod Algorithm="{SHA256 if "sha256" in method else _SHA1}"/>'
        "<ds:DigestValue/></ds:Reference></ds:SignedInfo>"
        "<ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>"
    )


_SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"


def envelope_template(sample: bytes, signature: etree._Element) -> bytes:
    """The sample with its placeholder Signature replaced by `signature` (same place)."""
    root = tree(sample)
    header = envelope_header(root)
    old = header.find(f"{{{ED}}}Signature")
    signature.tail = old.tail
    header.replace(old, signature)
    return to_bytes(root)


def verify(data: bytes, keys: Keys, identity: CertifiedKey, **kw):
    return verify_envelope(
        data,
        certificates=registered(identity),
        trust=keys.trust,
        receipt_time=datetime.now(UTC),
        **kw,
    )


# --- xmlsec1 signs, we verify ------------------------------------------------------------------


@pytest.mark.parametrize("c14n", ["exc", "inclusive"])
@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_xmlsec1_signs_an_envelope_we_verify(
    kind: str, c14n: str, keys: Keys, sample: bytes, xmlsec: Xmlsec1
) -> None:
    identity = getattr(keys, kind)
    signed = xmlsec.sign(
        envelope_template(sample, template(METHODS[kind], c14n=C14N[c14n])), identity
    )
    result = verify(signed, keys, identity)
    assert result.algorithm == {"rsa": "rsa-sha256", "ec": "ecdsa-sha256"}[kind]
    assert result.fingerprint == identity.fingerprint
    assert result.signed_xml.findtext(".//ed:From/ed:OrganId", namespaces=NS) == G22
    # xmlsec1 agrees with itself, and we refuse what it signed once it is changed.
    assert xmlsec.verify(signed, identity).returncode == 0
    with pytest.raises(SignatureError) as caught:
        verify(signed.replace(b"000.00.00.H41", b"000.00.00.H40", 1), keys, identity)
    assert caught.value.code == ErrorCode.INVALID_SIGNATURE


def test_xmlsec1_signature_without_a_c14n_transform(
    keys: Keys, sample: bytes, xmlsec: Xmlsec1
) -> None:
    """Only the enveloped transform: both sides must serialize with c14n 1.0 (XMLDSig's rule;
    signxml's own default would be 1.1)."""
    only_enveloped = ("http://www.w3.org/2000/09/xmldsig#enveloped-signature",)
    signed = xmlsec.sign(
        envelope_template(sample, template(METHODS["ec"], transforms=only_enveloped)), keys.ec
    )
    assert verify(signed, keys, keys.ec).fingerprint == keys.ec.fingerprint


def test_xmlsec1_large_text_nodes_without_a_c14n_transform(
    keys: Keys, sample: bytes, xmlsec: Xmlsec1
) -> None:
    """Large text nodes (spliced into our c14n outside libxml2) under c14n 1.0, as xmlsec1
    digests them."""
    only_enveloped = ("http://www.w3.org/2000/09/xmldsig#enveloped-signature",)
    signed = xmlsec.sign(
        envelope_template(
            with_large_texts(sample), template(METHODS["ec"], transforms=only_enveloped)
        ),
        keys.ec,
    )
    result = verify(signed, keys, keys.ec)
    assert result.signed_xml.findtext(".//ed:Subject", namespaces=NS) == LARGE_TEXT_VALUE


def test_xmlsec1_legacy_rsa_sha1_needs_the_agency_flag(
    keys: Keys, sample: bytes, xmlsec: Xmlsec1
) -> None:
    """What real agency software produces (rsa-sha1, sha1 digest, inclusive c14n)."""
    legacy = template("http://www.w3.org/2000/09/xmldsig#rsa-sha1", c14n=C14N["inclusive"])
    signed = xmlsec.sign(envelope_template(sample, legacy), keys.rsa)
    with pytest.raises(SignatureError) as caught:
        verify(signed, keys, keys.rsa)
    assert caught.value.code == ErrorCode.ALGORITHM_NOT_ALLOWED
    assert verify(signed, keys, keys.rsa, allow_sha1=True).algorithm == "rsa-sha1"


# --- we sign, xmlsec1 verifies -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_we_sign_an_envelope_xmlsec1_verifies(
    kind: str, keys: Keys, sample: bytes, xmlsec: Xmlsec1
) -> None:
    identity = getattr(keys, kind)
    signed = sign_envelope(sample, identity)
    done = xmlsec.verify(signed, identity)
    assert done.returncode == 0, done.stderr
    assert "SignedInfo References (ok/all): 1/1" in done.stderr


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_xmlsec1_rejects_a_tampered_envelope_we_signed(
    kind: str, keys: Keys, sample: bytes, xmlsec: Xmlsec1
) -> None:
    """The cross-check can fail: a one-character change to signed content is caught."""
    identity = getattr(keys, kind)
    signed = sign_envelope(sample, identity)
    tampered = signed.replace(b"Nguyen Thanh Phuc", b"Nguyen Thanh Phuk", 1)
    assert tampered != signed
    assert xmlsec.verify(tampered, identity).returncode != 0


def test_xmlsec1_rejects_another_pinned_certificate(
    keys: Keys, sample: bytes, xmlsec: Xmlsec1
) -> None:
    signed = sign_envelope(sample, keys.ec)
    assert xmlsec.verify(signed, keys.ec_other).returncode != 0
    assert xmlsec.verify(signed, keys.rsa).returncode != 0


def test_xmlsec1_pin_yields_to_a_key_info_certificate_it_trusts(
    keys: Keys, sample: bytes, xmlsec: Xmlsec1, tmp_path: Path
) -> None:
    """Documenting xmlsec1 1.2.x: with `--enabled-key-data x509`, a KeyInfo certificate that
    chains to a root xmlsec1 trusts (`--trusted-pem` here; the OS store by default) is used
    instead of the pinned one. Recipients who want a strict pin remove KeyInfo first (it is
    not signed), and then only the pinned certificate verifies."""
    ca = tmp_path / "ca.pem"
    ca.write_bytes(certificate_pem(keys.ca.certificate))
    signed = sign_envelope(sample, keys.ec)
    assert xmlsec.verify(signed, keys.ec_other, "--trusted-pem", str(ca)).returncode == 0
    root = tree(signed)
    key_info = root.find(".//ds:KeyInfo", NS)
    key_info.getparent().remove(key_info)
    stripped = to_bytes(root)
    assert xmlsec.verify(stripped, keys.ec_other, "--trusted-pem", str(ca)).returncode != 0
    assert xmlsec.verify(stripped, keys.ec, "--trusted-pem", str(ca)).returncode == 0
    assert verify(stripped, keys, keys.ec).fingerprint == keys.ec.fingerprint


# --- evidence records, both directions ----------------------------------------------------------


@pytest.fixture(scope="module")
def evidence_record(keys: Keys, sample: bytes) -> EvidenceRecord:
    original = sign_envelope(sample, keys.rsa)
    received = datetime.now(UTC)
    verified = verify_envelope(
        original, certificates=registered(keys.rsa), trust=keys.trust, receipt_time=received
    )
    return EvidenceRecord.for_document(
        original,
        kind=EvidenceKind.TRANSIT,
        document_id="000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
        sender=G22,
        recipients=["000.00.00.H41", "000.00.00.H14", "000.00.00.G17"],
        time=received,
        verified=verified,
        audit_position=7,
    )


@pytest.mark.parametrize("axis", ["axis_ec", "axis_rsa"])
def test_xmlsec1_verifies_our_evidence(
    axis: str, keys: Keys, evidence_record: EvidenceRecord, xmlsec: Xmlsec1
) -> None:
    identity = getattr(keys, axis)
    signed = sign_evidence(evidence_record, identity)
    done = xmlsec.verify(signed, identity)
    assert done.returncode == 0, done.stderr
    tampered = signed.replace(b"000.00.00.H14", b"000.00.00.H15", 1)
    assert tampered != signed
    assert xmlsec.verify(tampered, identity).returncode != 0
    assert (
        xmlsec.verify(signed, keys.axis_rsa if axis == "axis_ec" else keys.axis_ec).returncode != 0
    )


@pytest.mark.parametrize("axis", ["axis_ec", "axis_rsa"])
def test_xmlsec1_signs_evidence_we_verify(
    axis: str, keys: Keys, evidence_record: EvidenceRecord, xmlsec: Xmlsec1
) -> None:
    """Our record with its signature emptied into a template, signed again by xmlsec1."""
    identity = getattr(keys, axis)
    root = tree(sign_evidence(evidence_record, identity))
    for path in [".//ds:DigestValue", ".//ds:SignatureValue"]:
        root.find(path, NS).text = None
    x509_data = root.find(".//ds:X509Data", NS)
    for child in list(x509_data):
        x509_data.remove(child)
    signed = xmlsec.sign(to_bytes(root), identity)
    assert verify_evidence(signed, identity.certificate) == evidence_record
    with pytest.raises(SignatureError) as caught:
        verify_evidence(signed.replace(b">7<", b">8<", 1), identity.certificate)
    assert caught.value.code == ErrorCode.INVALID_SIGNATURE


def test_processing_instruction_beside_the_root_is_where_the_tools_disagree(
    keys: Keys, sample: bytes, xmlsec: Xmlsec1
) -> None:
    """xmlsec1 digests a processing instruction before the root; signxml does not. So the
    axis refuses such documents (malformed) instead of verifying something else."""
    with_pi = envelope_template(sample, template(METHODS["ec"])).replace(
        b"?>\n<edXML", b"?>\n<?app note?>\n<edXML", 1
    )
    assert b"<?app note?>" in with_pi
    signed = xmlsec.sign(with_pi, keys.ec)
    assert xmlsec.verify(signed, keys.ec).returncode == 0
    assert xmlsec.verify(signed.replace(b"<?app note?>", b"<?app other?>"), keys.ec).returncode != 0
    with pytest.raises(SignatureError) as caught:
        verify(signed, keys, keys.ec)
    assert caught.value.code == ErrorCode.MALFORMED
