"""Keys for the adapter tests, made once per session (RSA key generation is slow)."""

from __future__ import annotations

import pytest
from adapters_support import RECIPIENTS, SENDER, Keys

from signing.devca import create_dev_ca, issue_agency_certificate, issue_axis_certificate


@pytest.fixture(scope="session")
def keys() -> Keys:
    ca = create_dev_ca()
    return Keys(
        ca=ca,
        ec=issue_agency_certificate(ca, SENDER),
        rsa=issue_agency_certificate(ca, SENDER, key_kind="rsa-2048"),
        recipient=issue_agency_certificate(ca, RECIPIENTS[0]),
        axis=issue_axis_certificate(ca),
    )
