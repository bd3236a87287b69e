"""What a registration may point at (issue 12, item 7), through the operator API on both
databases, and again where the delivery adapters act on it.

Push URLs are https to ordinary hosts unless `AXIS_PUSH_ALLOW_INSECURE_HOSTS` lists the
host; drop folders lie under `AXIS_FILE_DROP_ROOT`; the axis's own certificate is never an
agency's; the push secret is write-only.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from running_axis import RECIPIENT, Axis, axis_settings, start_axis

from axis.bus.topics import EVENTS
from axis.delivery.adapters.base import Dead, Delivered, Payload, Resources
from axis.delivery.adapters.file_drop import FileDropAdapter, FileDropDelivery
from axis.delivery.adapters.push import PushAdapter, PushDelivery
from axis.delivery.adapters.push_targets import PushTargets, TargetRefused
from axis.storage.blobs import BlobStore
from axis.storage.models import Agency
from signing.keys import certificate_pem

CODE = "000.00.00.P01"
SECRET = "push-secret-0123456789"


@pytest.fixture
async def axis(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_database_url: str
) -> AsyncIterator[Axis]:
    """The app on the embedded bus; pushes allowed to 127.0.0.1, drops under tmp_path/drops."""
    settings = axis_settings(request, tmp_path, migrated_database_url)
    settings = settings.model_copy(update={"file_drop_root": tmp_path / "drops"})
    (tmp_path / "drops").mkdir()
    async for running in start_axis(settings):
        yield running


def agency(delivery: dict[str, Any]) -> dict[str, Any]:
    return {"code": CODE, "name": "DMS", "level": "central", "delivery": delivery}


async def register(axis: Axis, delivery: dict[str, Any]) -> httpx.Response:
    return await axis.request("POST", "/v1/admin/agencies", "operator", json=[agency(delivery)])


def refused_for(response: httpx.Response, *words: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:edoc-axis:problem:registry_error"
    for word in words:
        assert word in problem["detail"], problem["detail"]


# -------------------------------------------------------------------------------- push URLs

REFUSED_URLS = [
    ("http://dms.example/edoc", "https"),
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254"),
    ("https://[fd00:ec2::254]/", "fd00:ec2::254"),
    ("https://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ("https://METADATA.google.internal./", "metadata"),
    ("https://localhost:8443/", "this host"),
    ("https://dms.localhost/", "this host"),
    ("https://127.0.0.2/", "127.0.0.2"),
    ("https://2130706434/", "127.0.0.2"),  # the decimal form of 127.0.0.2
    ("https://[::1]/", "::1"),
    ("https://[::ffff:127.0.0.2]/", "127.0.0.2"),
    ("https://0.0.0.0/", "0.0.0.0"),
    ("https://[::]/", "::"),
    ("https://[fe80::1]/", "fe80::1"),
    ("https://224.0.0.1/", "224.0.0.1"),
    ("http://127.0.0.2/", "https"),  # 127.0.0.1 is allowed, not its neighbours
]


async def test_push_urls_are_https_to_ordinary_hosts(axis: Axis) -> None:
    for url, why in REFUSED_URLS:
        response = await register(axis, {"kind": "push", "url": url, "secret": SECRET})
        refused_for(response, CODE, why)  # (127.0.0.1 itself is allowed in the tests)
    async with axis.app.state.sessions() as session:
        assert await session.get(Agency, CODE) is None, "a refused registration was stored"
    for url in (
        "https://dms.hanoi.example/edoc",
        "https://10.20.30.40:8443/edoc",  # a government network's private address
        "http://127.0.0.1:8080/",  # listed in AXIS_PUSH_ALLOW_INSECURE_HOSTS by the tests
    ):
        response = await register(axis, {"kind": "push", "url": url, "secret": SECRET})
        assert response.status_code == 200, (url, response.text)


def test_push_targets_allow_names_addresses_and_networks() -> None:
    targets = PushTargets.allowing(["dms.test", "10.9.0.0/16", "::1"])
    for url in (
        "http://dms.test/in",
        "http://DMS.test./in",
        "http://10.9.8.7/in",
        "http://[::1]:8080/in",
        "https://example.org/in",
    ):
        targets.check_url(url)
    for url in ("http://10.10.0.1/in", "http://other.test/in", "https://127.0.0.1/"):
        with pytest.raises(TargetRefused):
            targets.check_url(url)
    strict = PushTargets()
    for url in ("http://dms.test/in", "https://[::ffff:7f00:1]/", "https://127.0.0.1/"):
        with pytest.raises(TargetRefused):
            strict.check_url(url)


# ------------------------------------------------------------------ delivery-time resolution


def loopback_name() -> str:
    """A host name that is neither an address nor a well-known name, resolving to loopback
    (this machine's own name usually does)."""
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, 443)}
    except OSError:
        pytest.skip(f"{name} does not resolve here")
    if not all(address.startswith("127.") or address == "::1" for address in addresses):
        pytest.skip(f"{name} resolves to {addresses}, not only to loopback")
    return name


async def payload(tmp_path: Path) -> Payload:
    blobs = BlobStore(tmp_path / "blobs")
    envelope, evidence = await blobs.put(b"<edXML/>"), await blobs.put(b"<Evidence/>")
    return Payload("delivery-1", "document-1", 1, envelope, evidence, blobs)


def push_resources(
    targets: PushTargets, handler: Callable[[httpx.Request], httpx.Response]
) -> Resources:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return Resources(http, targets, Path("/nonexistent"))


async def test_a_push_whose_name_resolves_to_loopback_is_not_sent(tmp_path: Path) -> None:
    """What the registry cannot see (a name, rebound later) the push adapter refuses when it
    resolves the name: nothing is sent."""
    name = loopback_name()
    sent: list[httpx.Request] = []
    resources = push_resources(PushTargets(), lambda r: sent.append(r) or httpx.Response(200))
    delivery = PushDelivery(url=f"https://{name}:8443/edoc", secret=SECRET)  # type: ignore[arg-type]
    outcome = await PushAdapter(resources).deliver(delivery, await payload(tmp_path))
    assert isinstance(outcome, Dead), outcome
    assert "127." in outcome.reason or "::1" in outcome.reason
    assert sent == []


async def test_a_push_goes_to_the_address_that_was_checked(tmp_path: Path) -> None:
    """The request connects to the checked address; Host and the TLS name stay the
    registered host's, and the connection is not kept for another host."""
    name = loopback_name()
    [address] = {info[4][0] for info in socket.getaddrinfo(name, 443, type=socket.SOCK_STREAM)}
    sent: list[httpx.Request] = []

    def receive(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    resources = push_resources(PushTargets.allowing([address]), receive)
    delivery = PushDelivery(url=f"https://{name}:8443/edoc", secret=SECRET)  # type: ignore[arg-type]
    outcome = await PushAdapter(resources).deliver(delivery, await payload(tmp_path))
    assert isinstance(outcome, Delivered), outcome
    [request] = sent
    assert (request.url.host, request.url.port, request.url.path) == (address, 8443, "/edoc")
    assert request.headers["host"] == f"{name}:8443"
    assert request.headers["connection"] == "close"
    assert request.extensions["sni_hostname"] == name


# -------------------------------------------------------------------------- file-drop paths


async def test_drop_folders_lie_under_the_root(axis: Axis, tmp_path: Path) -> None:
    root = tmp_path / "drops"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    for directory, why in (
        (str(outside), "not under the file-drop root"),
        (f"{root}/a/../../elsewhere", "'..'"),
        (f"{root}/a/..", "'..'"),
        ("drops/agency", "not an absolute path"),
        (str(root / "escape" / "agency"), "not under the file-drop root"),
        ("/etc", "not under the file-drop root"),
    ):
        response = await register(axis, {"kind": "file_drop", "directory": directory})
        refused_for(response, why)
    inside = await register(axis, {"kind": "file_drop", "directory": str(root / "agency")})
    assert inside.status_code == 200, inside.text


async def test_a_drop_folder_turned_into_a_symlink_out_is_not_written(tmp_path: Path) -> None:
    root, outside = tmp_path / "drops", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    folder = root / "agency"
    folder.symlink_to(outside)  # after registration, someone swapped the folder for a link
    resources = Resources(httpx.AsyncClient(), PushTargets(), root.resolve())
    outcome = await FileDropAdapter(resources).deliver(
        FileDropDelivery(directory=folder), await payload(tmp_path)
    )
    assert isinstance(outcome, Dead), outcome
    assert "not under the file-drop root" in outcome.reason
    assert list(outside.iterdir()) == []
    folder.unlink()
    folder.mkdir()
    outcome = await FileDropAdapter(resources).deliver(
        FileDropDelivery(directory=folder), await payload(tmp_path)
    )
    assert isinstance(outcome, Delivered), outcome
    assert sorted(p.name for p in folder.iterdir()) == [
        "delivery-1.edxml",
        "delivery-1.evidence.xml",
    ]


# ------------------------------------------------------------------- the axis's certificates


async def test_the_axis_certificate_is_never_an_agency_s(axis: Axis) -> None:
    pem = (await axis.request("GET", "/v1/audit/certificate", "auditor")).text
    own = [certificate_pem(c).decode() for c in axis.app.state.ingest.identity.signer.certificates]
    assert x509.load_pem_x509_certificate(pem.encode()) == x509.load_pem_x509_certificate(
        own[0].encode()
    )
    for certificate in own:
        response = await axis.request(
            "POST",
            f"/v1/admin/agencies/{RECIPIENT}/certificates",
            "operator",
            json={"pem": certificate},
        )
        refused_for(response, "the axis's own")
    agency_pem = certificate_pem(axis.key(RECIPIENT).certificate).decode()
    again = await axis.request(
        "POST", f"/v1/admin/agencies/{RECIPIENT}/certificates", "operator", json={"pem": agency_pem}
    )
    assert again.status_code == 201, again.text


# ---------------------------------------------------------------------- write-only secrets


async def test_the_push_secret_is_write_only(axis: Axis) -> None:
    url = "http://127.0.0.1:9/edoc"
    created = await register(axis, {"kind": "push", "url": url, "secret": SECRET})
    assert created.status_code == 200, created.text

    read = await axis.request("GET", f"/v1/admin/agencies/{CODE}", "operator")
    assert read.status_code == 200
    view = read.json()
    assert view["push_secret_set"] is True
    assert "secret" not in view["delivery"]

    # Read, change, write back without the secret: the stored one is kept.
    view["name"] = "DMS renamed"
    del view["push_secret_set"]
    replaced = await axis.request("PUT", f"/v1/admin/agencies/{CODE}", "operator", json=view)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["name"] == "DMS renamed"
    assert replaced.json()["push_secret_set"] is True
    async with axis.app.state.sessions() as session:
        stored = await session.get(Agency, CODE)
        assert stored is not None and stored.delivery["secret"] == SECRET

    for path in ("/v1/agencies", f"/v1/admin/agencies/{CODE}"):
        assert SECRET not in (await axis.request("GET", path, "operator")).text
    events: list[bytes] = []
    async with axis.app.state.bus.consumer("secret-check", [EVENTS]) as consumer:
        while batch := await consumer.getmany(max_wait=1):
            events.extend(record.value for record in batch)
    assert any(json.loads(event)["type"] == "agency.changed" for event in events)
    assert not any(SECRET.encode() in event for event in events)

    # A new push agency needs a secret; a pull agency shows none set.
    fresh = agency({"kind": "push", "url": url})
    fresh["code"] = "000.00.00.P02"
    response = await axis.request("POST", "/v1/admin/agencies", "operator", json=[fresh])
    refused_for(response, "needs a secret")
    pull = await axis.request("GET", f"/v1/admin/agencies/{RECIPIENT}", "operator")
    assert pull.json()["push_secret_set"] is False
