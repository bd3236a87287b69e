"""Development keys and certificates: kinds, key usage, loading PEM and PKCS#12,
fingerprints, and the development key set kept on disk between `axis demo` runs."""

from __future__ import annotations

import hashlib
import stat
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from signing_support import G22, Keys

from signing.certificates import has_digital_signature, organisation_code
from signing.devca import create_dev_ca, issue_agency_certificate
from signing.devkeys import (
    DevKeySet,
    load_or_create_dev_keys,
    read_dev_keys,
    write_dev_keys,
)
from signing.keys import (
    CertifiedKey,
    KeyLoadError,
    certificate_pem,
    dump_pkcs12,
    fingerprint_sha256,
    generate_private_key,
    key_kind,
    load_certificate,
    load_certificates,
    load_certified_key,
    load_pkcs12,
    load_private_key,
    private_key_pem,
)


def test_key_kinds(keys: Keys) -> None:
    assert key_kind(keys.ec.key) == "ec-secp256r1"
    assert key_kind(keys.rsa.key) == "rsa-2048"
    assert isinstance(keys.ec.key, ec.EllipticCurvePrivateKey)
    assert isinstance(keys.rsa.key, rsa.RSAPrivateKey)
    rsa3072 = generate_private_key("rsa-3072")
    assert key_kind(rsa3072) == "rsa-3072"
    with pytest.raises(KeyLoadError):
        generate_private_key("dsa-1024")  # type: ignore[arg-type]


def test_agency_certificate_carries_the_organisation_code(keys: Keys) -> None:
    certificate = keys.ec.certificate
    assert organisation_code(certificate) == G22
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    assert names[0].value == "Văn phòng Chính phủ"
    assert certificate.issuer == keys.ca.certificate.subject
    assert keys.ec.chain == (keys.ca.certificate,)
    assert has_digital_signature(certificate)
    assert not has_digital_signature(keys.no_digital_signature.certificate)
    assert not has_digital_signature(keys.ca.certificate)
    constraints = keys.ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.value.ca
    assert organisation_code(keys.axis_ec.certificate) == "edoc-axis evidence"


def test_validity_window_is_the_one_asked_for(keys: Keys) -> None:
    start = datetime(2023, 1, 1, tzinfo=UTC)
    end = datetime(2023, 7, 1, tzinfo=UTC)
    identity = issue_agency_certificate(keys.ca, G22, not_before=start, not_after=end)
    assert identity.certificate.not_valid_before_utc == start
    assert identity.certificate.not_valid_after_utc == end


def test_intermediate_ca_chain(keys: Keys) -> None:
    intermediate = create_dev_ca(common_name="intermediate", parent=keys.ca)
    leaf = issue_agency_certificate(intermediate, G22)
    assert leaf.chain == (intermediate.certificate, keys.ca.certificate)
    assert leaf.certificates[0] == leaf.certificate


def test_fingerprint_is_sha256_of_der(keys: Keys) -> None:
    der = keys.ec.certificate.public_bytes(Encoding.DER)
    assert fingerprint_sha256(keys.ec.certificate) == hashlib.sha256(der).hexdigest()
    assert keys.ec.fingerprint == fingerprint_sha256(keys.ec.certificate)
    assert len(keys.ec.fingerprint) == 64


def test_pem_round_trip(keys: Keys, tmp_path) -> None:
    key_file = tmp_path / "key.pem"
    cert_file = tmp_path / "cert.pem"
    key_file.write_bytes(private_key_pem(keys.rsa.key))
    cert_file.write_bytes(b"".join(certificate_pem(c) for c in keys.rsa.certificates))
    loaded = load_certified_key(key_file, cert_file)
    assert loaded.fingerprint == keys.rsa.fingerprint
    assert loaded.chain == keys.rsa.chain
    assert load_certificate(cert_file) == keys.rsa.certificate
    assert len(load_certificates(cert_file.read_bytes())) == 2

    encrypted = private_key_pem(keys.ec.key, password=b"secret")
    assert b"ENCRYPTED" in encrypted
    assert load_private_key(encrypted, password=b"secret").public_key() == keys.ec.key.public_key()
    with pytest.raises(KeyLoadError):
        load_private_key(encrypted, password=b"wrong")
    with pytest.raises(KeyLoadError):
        load_private_key(b"not a key")
    with pytest.raises(KeyLoadError):
        load_certificates(b"not a certificate")


def test_certificate_must_match_the_key(keys: Keys) -> None:
    with pytest.raises(KeyLoadError):
        CertifiedKey(keys.ec.key, keys.rsa.certificate)


@pytest.mark.parametrize("password", [None, b"p12-password"])
def test_pkcs12_round_trip(password: bytes | None, keys: Keys, tmp_path) -> None:
    path = tmp_path / "agency.p12"
    path.write_bytes(dump_pkcs12(keys.rsa, password=password, name=b"G22"))
    loaded = load_pkcs12(path, password)
    assert loaded.fingerprint == keys.rsa.fingerprint
    assert loaded.chain == (keys.ca.certificate,)
    assert loaded.key.public_key() == keys.rsa.key.public_key()
    if password:
        with pytest.raises(KeyLoadError):
            load_pkcs12(path, b"wrong")


def test_dev_key_set_round_trip_with_private_file_modes(keys: Keys, tmp_path) -> None:
    directory = tmp_path / "keys"
    write_dev_keys(directory, DevKeySet(ca=keys.ca, axis=keys.axis_ec, agencies={G22: keys.ec}))
    for key_file in [directory / "ca.key.pem", directory / "axis.key.pem"]:
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((directory / "agencies" / f"{G22}.key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) & 0o077 == 0
    assert not list(directory.rglob(".*"))  # no temporary files left behind
    back = read_dev_keys(directory)
    assert back.ca.fingerprint == keys.ca.fingerprint
    assert back.axis.fingerprint == keys.axis_ec.fingerprint
    assert back.agencies[G22].fingerprint == keys.ec.fingerprint
    assert back.agencies[G22].chain == (keys.ca.certificate,)


def test_load_or_create_keeps_keys_between_runs(tmp_path) -> None:
    directory = tmp_path / "demo-keys"
    with pytest.raises(FileNotFoundError):
        read_dev_keys(directory)
    first = load_or_create_dev_keys(directory, [G22])
    second = load_or_create_dev_keys(directory, [G22, "000.00.00.H41"])
    assert second.ca.fingerprint == first.ca.fingerprint
    assert second.axis.fingerprint == first.axis.fingerprint
    assert second.agencies[G22].fingerprint == first.agencies[G22].fingerprint
    assert second.agencies["000.00.00.H41"].certificate.issuer == first.ca.certificate.subject
    assert sorted(read_dev_keys(directory).agencies) == [G22, "000.00.00.H41"]
    with pytest.raises(ValueError):
        load_or_create_dev_keys(directory, ["../escape"])
