"""Helpers shared by the signing tests (imported by name: tests/signing is on sys.path)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from signing.certificates import RegisteredCertificate, TrustStore
from signing.dsig import LARGE_TEXT
from signing.keys import CertifiedKey

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIRS = (ROOT / "tests" / "edxml" / "samples", ROOT.parent / "shared" / "samples" / "edxml")
SMALL_SAMPLE = "lgsp_edoc_3_recipients.edxml"
G22 = "000.00.00.G22"

# The development CA spans every window the tests use; "now" certificates use the defaults.
CA_START = datetime(2020, 1, 1, tzinfo=UTC)
CA_END = datetime(2045, 1, 1, tzinfo=UTC)


def sample_path(name: str = SMALL_SAMPLE) -> Path:
    """A real edXML sample: from tests/edxml/samples/ if the parser's tests ship one, else
    from shared/samples/edxml beside the repository."""
    for directory in SAMPLE_DIRS:
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(f"{name} in none of {[str(d) for d in SAMPLE_DIRS]}")


def registered(*identities: CertifiedKey) -> list[RegisteredCertificate]:
    return [RegisteredCertificate.of(identity.certificate) for identity in identities]


DS = "http://www.w3.org/2000/09/xmldsig#"
ED = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
NS = {"ds": DS, "ed": ED}


def tree(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def to_bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def signature_value_sha256(data: bytes) -> str:
    text = tree(data).find(".//ds:SignatureValue", NS).text
    return hashlib.sha256(base64.b64decode("".join(text.split()))).hexdigest()


@dataclass(frozen=True)
class Keys:
    """Everything the tests sign and verify with."""

    ca: CertifiedKey
    other_ca: CertifiedKey
    ec: CertifiedKey
    rsa: CertifiedKey
    ec_other: CertifiedKey
    no_digital_signature: CertifiedKey
    untrusted: CertifiedKey
    axis_ec: CertifiedKey
    axis_rsa: CertifiedKey

    @property
    def trust(self) -> TrustStore:
        return TrustStore([self.ca.certificate])


LARGE_TEXT_VALUE = ("Nội dung & <b> > \r; " + "x" * 200) * 6000
"""Past LARGE_TEXT, with every character c14n escapes and some that are not ASCII."""


def with_large_texts(sample: bytes) -> bytes:
    """The sample with LARGE_TEXT_VALUE as the Subject's text and as its tail."""
    assert len(LARGE_TEXT_VALUE) > LARGE_TEXT
    root = etree.fromstring(sample)
    subject = root.find(".//ed:Subject", namespaces=NS)
    subject.text = subject.tail = LARGE_TEXT_VALUE
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
