"""Importing a country from a file: CSV and JSON, and clear errors for bad files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from axis.delivery.adapters.pull import PullDelivery
from axis.delivery.adapters.push import PushDelivery
from axis.registry import RegistryError, read_agency_file
from axis.storage.models import AgencyLevel
from signing.devca import create_dev_ca, issue_agency_certificate
from signing.keys import certificate_pem

PUSH = '{""kind"": ""push"", ""url"": ""https://dms.example/in"", ""secret"": ""0123456789abcdef""}'
CSV = f"""code,name,parent_code,level,delivery
000.00.00.H26,UBND Thành phố Hà Nội,,province,"{PUSH}"
000.00.05.H26,UBND Quận Hoàn Kiếm,000.00.00.H26,district,
"""


def test_csv_file(tmp_path: Path) -> None:
    path = tmp_path / "country.csv"
    path.write_text(CSV, encoding="utf-8")
    hanoi, district = read_agency_file(path)
    assert hanoi.level is AgencyLevel.PROVINCE
    assert isinstance(hanoi.delivery, PushDelivery)
    assert str(hanoi.delivery.url) == "https://dms.example/in"
    assert district.parent_code == "000.00.00.H26"
    assert isinstance(district.delivery, PullDelivery)


def test_bad_file_names_the_fault(tmp_path: Path) -> None:
    path = tmp_path / "country.json"
    path.write_text('[{"code": "000.00.00.H26", "name": "x", "level": "planet"}]')
    with pytest.raises(RegistryError, match="level"):
        read_agency_file(path)
    path.write_text("[{")
    with pytest.raises(RegistryError, match=r"country\.json"):
        read_agency_file(path)


def test_cli_imports_and_lists(tmp_path: Path) -> None:
    path = tmp_path / "country.csv"
    path.write_text(CSV, encoding="utf-8")
    env = {"AXIS_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}

    def axis(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "axis.cli", *args], env=env, capture_output=True, text=True
        )

    imported = axis("agencies", "import", str(path))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "2 created, 0 updated"
    listing = axis("agencies", "list").stdout.splitlines()
    assert [line.split()[0] for line in listing] == ["000.00.00.H26", "000.00.05.H26"]
    ca = create_dev_ca()
    pem = tmp_path / "hanoi.pem"
    pem.write_bytes(certificate_pem(issue_agency_certificate(ca, "000.00.00.H26").certificate))
    registered = axis("agencies", "certificate", "000.00.00.H26", str(pem))
    assert registered.returncode == 0, registered.stderr
    assert registered.stdout.startswith("registered ")
    wrong = axis("agencies", "certificate", "000.00.00.Z99", str(pem))
    assert wrong.returncode == 2
    assert "000.00.00.Z99" in wrong.stderr
    missing = axis("agencies", "import", str(tmp_path / "nothing.csv"))
    assert missing.returncode == 2
    assert "nothing.csv" in missing.stderr
