"""Registered certificates (windows, rotation), key usage and chains to the trust roots,
with cryptography's verification API and with the hand-check fallback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from signing_support import G22, Keys

from signing.certificates import (
    RegisteredCertificate,
    TrustStore,
    check_certificate,
    check_key_usage,
    not_valid_reason,
    valid_at,
)
from signing.devca import create_dev_ca, issue_agency_certificate
from signing.errors import ErrorCode, SignatureError
from signing.keys import certificate_pem

JAN_2022 = datetime(2022, 1, 1, tzinfo=UTC)
MAR_2024 = datetime(2024, 3, 1, tzinfo=UTC)
JAN_2024 = datetime(2024, 1, 1, tzinfo=UTC)
JAN_2026 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def rotation(keys: Keys) -> tuple[RegisteredCertificate, RegisteredCertificate]:
    old = issue_agency_certificate(keys.ca, G22, not_before=JAN_2022, not_after=MAR_2024)
    new = issue_agency_certificate(keys.ca, G22, not_before=JAN_2024, not_after=JAN_2026)
    return RegisteredCertificate.of(old.certificate), RegisteredCertificate.of(new.certificate)


def test_certificates_valid_at_a_receipt_time(rotation) -> None:
    old, new = rotation
    assert valid_at(rotation, datetime(2023, 1, 1, tzinfo=UTC)) == [old]
    assert valid_at(rotation, datetime(2024, 2, 1, tzinfo=UTC)) == [old, new]
    assert valid_at(rotation, datetime(2025, 1, 1, tzinfo=UTC)) == [new]
    assert valid_at(rotation, datetime(2027, 1, 1, tzinfo=UTC)) == []
    assert not_valid_reason(rotation, datetime(2027, 1, 1)).code == ErrorCode.CERTIFICATE_EXPIRED
    early = not_valid_reason(rotation, datetime(2021, 1, 1, tzinfo=UTC))
    assert early.code == ErrorCode.CERTIFICATE_NOT_YET_VALID
    assert not_valid_reason([], JAN_2024).code == ErrorCode.CERTIFICATE_NOT_REGISTERED


def test_registration_window_is_clipped_to_the_certificate(rotation, keys: Keys) -> None:
    old, _ = rotation
    wider = RegisteredCertificate.of(
        old.certificate, not_before=datetime(2000, 1, 1), not_after=datetime(2099, 1, 1)
    )
    assert (wider.not_before, wider.not_after) == (JAN_2022, MAR_2024)
    narrower = RegisteredCertificate.of(old.certificate, not_after=datetime(2023, 1, 1))
    assert narrower.not_after == datetime(2023, 1, 1, tzinfo=UTC)
    assert not narrower.valid_at(datetime(2023, 6, 1, tzinfo=UTC))


def test_from_pem_is_cached(keys: Keys) -> None:
    pem = certificate_pem(keys.ec.certificate)
    first = RegisteredCertificate.from_pem(pem)
    assert RegisteredCertificate.from_pem(pem.decode()) is first
    assert first.fingerprint == keys.ec.fingerprint
    with pytest.raises(SignatureError) as caught:
        RegisteredCertificate.from_pem(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        )
    assert caught.value.code == ErrorCode.MALFORMED


def test_key_usage(keys: Keys) -> None:
    check_key_usage(keys.ec.certificate)
    for certificate in [
        keys.no_digital_signature.certificate,
        issue_agency_certificate(keys.ca, G22, key_usage=False).certificate,
    ]:
        with pytest.raises(SignatureError) as caught:
            check_key_usage(certificate)
        assert caught.value.code == ErrorCode.KEY_USAGE


@pytest.fixture(params=[True, False], ids=["policy-builder", "hand-check"])
def engine(request) -> bool:
    return request.param


def store(keys: Keys, engine: bool, *intermediates) -> TrustStore:
    return TrustStore([keys.ca.certificate], intermediates, use_policy_builder=engine)


def test_chain_to_a_trust_root(keys: Keys, engine: bool) -> None:
    trust = store(keys, engine)
    assert trust.uses_policy_builder is engine
    now = datetime.now(UTC)
    assert trust.verify_chain(keys.ec.certificate, now) == (
        keys.ec.certificate,
        keys.ca.certificate,
    )
    assert trust.verify_chain(keys.rsa.certificate, now)[-1] == keys.ca.certificate


def test_untrusted_issuer(keys: Keys, engine: bool) -> None:
    with pytest.raises(SignatureError) as caught:
        store(keys, engine).verify_chain(keys.untrusted.certificate, datetime.now(UTC))
    assert caught.value.code == ErrorCode.UNTRUSTED_CHAIN


def test_same_name_different_key_is_untrusted(keys: Keys, engine: bool) -> None:
    """An impostor CA with the development CA's exact name: the signature check decides."""
    impostor = create_dev_ca(not_before=keys.ca.certificate.not_valid_before_utc)
    assert impostor.certificate.subject == keys.ca.certificate.subject
    leaf = issue_agency_certificate(impostor, G22)
    with pytest.raises(SignatureError) as caught:
        store(keys, engine).verify_chain(leaf.certificate, datetime.now(UTC), leaf.chain)
    assert caught.value.code == ErrorCode.UNTRUSTED_CHAIN


def test_intermediates(keys: Keys, engine: bool) -> None:
    intermediate = create_dev_ca(common_name="intermediate", parent=keys.ca)
    leaf = issue_agency_certificate(intermediate, G22)
    now = datetime.now(UTC)
    with pytest.raises(SignatureError):
        store(keys, engine).verify_chain(leaf.certificate, now)  # intermediate unknown
    configured = store(keys, engine, intermediate.certificate)
    assert configured.verify_chain(leaf.certificate, now) == leaf.certificates
    offered = store(keys, engine).verify_chain(leaf.certificate, now, [intermediate.certificate])
    assert offered == leaf.certificates


def test_ca_expired_at_receipt_time(keys: Keys, engine: bool) -> None:
    short_ca = create_dev_ca(not_before=JAN_2022, not_after=JAN_2024)
    leaf = issue_agency_certificate(short_ca, G22, not_before=JAN_2022, not_after=JAN_2026)
    trust = TrustStore([short_ca.certificate], use_policy_builder=engine)
    assert trust.verify_chain(leaf.certificate, datetime(2023, 1, 1, tzinfo=UTC))
    with pytest.raises(SignatureError) as caught:
        trust.verify_chain(leaf.certificate, datetime(2025, 1, 1, tzinfo=UTC))
    assert caught.value.code == ErrorCode.UNTRUSTED_CHAIN


def test_successful_chains_are_cached_per_validity_window(keys: Keys) -> None:
    trust = store(keys, True)
    now = datetime.now(UTC)
    chain = trust.verify_chain(keys.ec.certificate, now)
    assert trust.verify_chain(keys.ec.certificate, now + timedelta(days=1)) is chain
    later = keys.ec.certificate.not_valid_after_utc + timedelta(days=1)
    with pytest.raises(SignatureError):
        trust.verify_chain(keys.ec.certificate, later)  # outside the cached window: checked


def test_check_certificate_puts_it_together(keys: Keys) -> None:
    now = datetime.now(UTC)
    good = RegisteredCertificate.of(keys.ec.certificate)
    assert check_certificate(good, keys.trust, now)[0] == keys.ec.certificate
    for identity, code in [
        (keys.no_digital_signature, ErrorCode.KEY_USAGE),
        (keys.untrusted, ErrorCode.UNTRUSTED_CHAIN),
    ]:
        with pytest.raises(SignatureError) as caught:
            check_certificate(RegisteredCertificate.of(identity.certificate), keys.trust, now)
        assert caught.value.code == code
    with pytest.raises(SignatureError) as caught:
        check_certificate(good, keys.trust, now + timedelta(days=3650))
    assert caught.value.code == ErrorCode.CERTIFICATE_EXPIRED


def test_trust_store_from_pem(keys: Keys, tmp_path) -> None:
    path = tmp_path / "roots.pem"
    path.write_bytes(
        certificate_pem(keys.ca.certificate) + certificate_pem(keys.other_ca.certificate)
    )
    trust = TrustStore.from_pem(path)
    assert len(trust.roots) == 2
    assert trust.verify_chain(keys.untrusted.certificate, datetime.now(UTC))
    with pytest.raises(ValueError):
        TrustStore([])
