"""Keys, certificates and sample envelopes for the signing tests, made once per session
(RSA key generation is slow), plus the `xmlsec1` binary for the outside cross-checks."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime

import pytest
from signing_support import CA_END, CA_START, G22, Keys, sample_path

from signing.certificates import TrustStore
from signing.devca import create_dev_ca, issue_agency_certificate, issue_axis_certificate


@pytest.fixture(scope="session")
def keys() -> Keys:
    ca = create_dev_ca(not_before=CA_START, not_after=CA_END)
    other_ca = create_dev_ca(common_name="someone else's CA", not_before=CA_START, not_after=CA_END)
    return Keys(
        ca=ca,
        other_ca=other_ca,
        ec=issue_agency_certificate(ca, G22, organ_name="Văn phòng Chính phủ"),
        rsa=issue_agency_certificate(ca, G22, key_kind="rsa-2048"),
        ec_other=issue_agency_certificate(ca, "000.00.00.H41"),
        no_digital_signature=issue_agency_certificate(ca, G22, digital_signature=False),
        untrusted=issue_agency_certificate(other_ca, G22),
        axis_ec=issue_axis_certificate(ca),
        axis_rsa=issue_axis_certificate(ca, key_kind="rsa-2048"),
    )


@pytest.fixture(scope="session")
def trust(keys: Keys) -> TrustStore:
    return keys.trust


@pytest.fixture(scope="session")
def sample() -> bytes:
    return sample_path().read_bytes()


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="session")
def xmlsec1() -> str:
    """Path of Debian's xmlsec1: the cross-checks fail without it under CI, skip elsewhere."""
    path = shutil.which("xmlsec1")
    if path is None:
        message = "xmlsec1 is not installed (apt-get install xmlsec1); the cross-checks need it"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
