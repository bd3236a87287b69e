"""Settings come from the environment, then the TOML file, then the defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from axis.config import Settings


def test_defaults_need_no_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AXIS_CONFIG_FILE", raising=False)
    settings = Settings()
    assert settings.bus == "embedded"
    assert settings.resolved_database_url == "sqlite+aiosqlite:///axis-data/axis.sqlite3"
    assert settings.resolved_bus_path == Path("axis-data/bus.sqlite3")
    assert settings.resolved_blob_dir == Path("axis-data/blobs")


def test_environment_wins_over_the_toml_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "axis.toml"
    config.write_text('bus = "kafka"\nport = 9000\ndata_dir = "/srv/axis"\n')
    monkeypatch.setenv("AXIS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AXIS_PORT", "9100")
    settings = Settings()
    assert settings.bus == "kafka"
    assert settings.port == 9100
    assert settings.resolved_blob_dir == Path("/srv/axis/blobs")


def test_an_unknown_or_invalid_setting_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "axis.toml"
    config.write_text('buss = "kafka"\n')
    monkeypatch.setenv("AXIS_CONFIG_FILE", str(config))
    with pytest.raises(ValidationError, match="buss"):
        Settings()
    monkeypatch.delenv("AXIS_CONFIG_FILE")
    monkeypatch.setenv("AXIS_BUS", "rabbitmq")
    with pytest.raises(ValidationError, match="bus"):
        Settings()
