"""Shared fixtures: stand-in servers, a clean CLI environment, and a CLI runner.

    def test_metrics(klaviyo_standin, cli_env):
        klaviyo_standin.add_metric("Followed LINE Account")
        result = run_cli(["metrics", "--json"], env=cli_env)
        assert result.exit_code == 1

`klaviyo_standin` / `line_standin`: a started stand-in per test (linesync_cli/sandbox, via tests/support/standins.py);
at teardown the test fails if any request broke the official spec.
`cli_env`: env vars pointing the CLI at the Klaviyo stand-in with a recognisable key,
a private state dir and an empty config file; every other LINESYNC_* variable is unset
and the working directory is a fresh one (no stray `.env`).
`run_cli(args, env=..., input=...)` (tests/support/standin_cli.py): CliRunner on linesync_cli.app.app (stdout and
stderr kept apart).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# `from tests.support import ...` must work however pytest is started (`pytest`,
# `python -m pytest`, from another directory).
PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from tests.support.spec import SPECS_DIR, SPECS_PRESENT, UNVALIDATED, note_contract_skipped  # noqa: E402
from tests.support.standin_cli import KLAVIYO_TEST_KEY, LINE_TEST_TOKEN, clean_env  # noqa: E402
from tests.support.standins import KlaviyoStandIn, LineStandIn  # noqa: E402


def _assert_contract(standin) -> None:
    if not SPECS_PRESENT:
        if standin.requests:
            note_contract_skipped()
        return
    if standin.contract_violations:
        listed = "\n".join(f"  - {v}" for v in standin.contract_violations[:20])
        more = len(standin.contract_violations) - 20
        pytest.fail(f"{standin.service} stand-in received requests that break the official spec:\n{listed}"
                    + (f"\n  ... and {more} more" if more > 0 else ""), pytrace=False)


def pytest_terminal_summary(terminalreporter) -> None:
    # Behaviour tests run without the specs; say how many of them sent requests nobody validated.
    if UNVALIDATED:
        terminalreporter.write_line(
            f"contract validation skipped in {len(UNVALIDATED)} tests that otherwise ran: the official "
            f"API specs are not at {SPECS_DIR} (CI has them and validates every request)")


@pytest.fixture
def klaviyo_standin():
    """A started KlaviyoStandIn accepting KLAVIYO_TEST_KEY; stopped (and contract-checked) after the test."""
    standin = KlaviyoStandIn(api_key=KLAVIYO_TEST_KEY).start()
    try:
        yield standin
    finally:
        standin.stop()
    _assert_contract(standin)


@pytest.fixture
def line_standin():
    """A started LineStandIn accepting LINE_TEST_TOKEN; stopped (and contract-checked) after the test."""
    standin = LineStandIn(token=LINE_TEST_TOKEN).start()
    try:
        yield standin
    finally:
        standin.stop()
    _assert_contract(standin)


@pytest.fixture
def cli_env(tmp_path, klaviyo_standin, monkeypatch) -> dict[str, str | None]:
    """Environment for run_cli: Klaviyo stand-in, recognisable key, private state, no user config.

    Add the LINE stand-in with `cli_env | line_env(line_standin)`.
    """
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)  # no `.env` from the repository or the developer's shell
    config = tmp_path / "linesync.toml"
    config.write_text("")
    return clean_env(
        LINESYNC_KLAVIYO_API_KEY=KLAVIYO_TEST_KEY,
        LINESYNC_KLAVIYO_BASE_URL=klaviyo_standin.base_url,
        LINESYNC_STATE_DIR=str(tmp_path / "state"),
        LINESYNC_CONFIG=str(config),
    )


@pytest.fixture
def fast_retries(monkeypatch):
    """Shrink the client's jittered backoff 100-fold (attempt counts and decisions unchanged)."""
    from linesync_cli.api.http import HttpService

    original = HttpService._backoff
    monkeypatch.setattr(HttpService, "_backoff", lambda self, attempt: original(self, attempt) / 100)
