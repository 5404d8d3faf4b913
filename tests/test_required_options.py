"""An empty `--since` is a usage error (exit 2) said in one line, not an unexpected TypeError.

mypy found these: `parse_when("")` is None, and the commands compared or formatted it.
"""

from __future__ import annotations

import pytest

from tests.support.standin_cli import run_cli


@pytest.mark.parametrize("argv", [
    ["metrics", "show", "Followed LINE Account", "--since", ""],
    ["doctor", "--since", " "],
    ["report", "funnel", "--since", ""],
])
def test_an_empty_since_is_a_usage_error(argv, cli_env, klaviyo_standin) -> None:
    result = run_cli(argv, env=cli_env)
    assert result.exit_code == 2, result.stderr
    assert "error: --since needs a value" in result.stderr
    assert "unexpected" not in result.stderr
    assert klaviyo_standin.requests == []  # caught before the network
