"""`.env` problems are said, not silently skipped."""

from __future__ import annotations

import pytest

from linesync_cli.config import load_settings
from linesync_cli.errors import ConfigError


def test_a_malformed_dotenv_line_stops_with_its_number(tmp_path):
    (tmp_path / ".env").write_text("LINESYNC_LINK_KEY=external_id\nthis line is not an assignment\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={}, cwd=tmp_path, config_file=None)
    assert "line 2" in caught.value.message
    assert ".env" in caught.value.message


def test_a_wellformed_dotenv_is_read_once_and_used(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("# comment\nLINESYNC_LINK_KEY=external_id\nOTHER=1\n")
    import dotenv

    calls = []
    real = dotenv.dotenv_values
    monkeypatch.setattr(dotenv, "dotenv_values", lambda *a, **k: calls.append(a) or real(*a, **k))
    loaded = load_settings(environ={}, cwd=tmp_path, config_file=None)
    assert loaded.settings.link_key == "external_id"
    assert loaded.sources["link_key"] == ".env"
    assert len(calls) == 1
