"""`axis audit verify` refuses what it cannot check with a clear message and exit status 2,
and reports a bundle's first problem with exit status 1 (the end-to-end audit trail test
runs it on a real export)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from axis.cli import app
from signing.devkeys import load_or_create_dev_keys
from signing.keys import certificate_pem


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    path = tmp_path / "axis.pem"
    path.write_bytes(certificate_pem(load_or_create_dev_keys(tmp_path / "keys").axis.certificate))
    return path


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "give a BUNDLE file or --database"),
        (["bundle.jsonl", "--database"], "give a BUNDLE file or --database"),
        (["bundle.jsonl"], "--certificate is needed"),
        (["missing.jsonl", "--certificate", "{certificate}"], "cannot read missing.jsonl"),
        (["bundle.jsonl", "--certificate", "bundle.jsonl"], "cannot read a certificate"),
    ],
)
def test_bad_arguments(
    arguments: list[str], message: str, certificate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(certificate.parent)
    Path("bundle.jsonl").write_text("{}\n")
    arguments = [a.replace("{certificate}", str(certificate)) for a in arguments]
    result = CliRunner().invoke(app, ["audit", "verify", *arguments])
    assert result.exit_code == 2
    assert message in result.output


def test_a_file_that_is_no_bundle(certificate: Path) -> None:
    bundle = certificate.parent / "notes.txt"
    bundle.write_text('{"type": "bundle", "format": "something else"}\n')
    result = CliRunner().invoke(
        app, ["audit", "verify", str(bundle), "--certificate", str(certificate)]
    )
    assert result.exit_code == 1
    assert (
        "FAILED at position 0: not a bundle in the edoc-axis/audit-bundle/1 format" in result.output
    )


def test_a_store_without_an_audit_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AXIS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("AXIS_DATABASE_URL", raising=False)
    runner = CliRunner()
    result = runner.invoke(app, ["audit", "verify", "--database"])
    assert result.exit_code == 2 and "cannot read the audit log" in result.output
    result = runner.invoke(app, ["audit", "export", str(tmp_path / "bundle.jsonl")])
    assert result.exit_code == 2 and "cannot read the audit log" in result.output
    assert not list(tmp_path.glob("bundle.jsonl*"))
