"""Running the CLI in-process with a clean environment."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from typer.testing import CliRunner, Result

# Recognisable secrets: a test greps every output and log for them.
KLAVIYO_TEST_KEY = "pk_test_standin_SECRET_7f3a9c1e5b"
LINE_TEST_TOKEN = "line_test_token_SECRET_4d2b8e6a0c"


def clean_env(**values: str | None) -> dict[str, str | None]:
    """`values` plus every other LINESYNC_* variable of the calling shell unset, and NO_COLOR=1.

    CliRunner merges `env` into os.environ and unsets keys whose value is None.
    """
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("LINESYNC_")}
    env.update({"NO_COLOR": "1", "COLUMNS": "200"})
    env.update(values)
    return env


def line_env(line_standin: Any) -> dict[str, str]:
    return {"LINESYNC_LINE_CHANNEL_ACCESS_TOKEN": line_standin.token,
            "LINESYNC_LINE_BASE_URL": line_standin.base_url}


def _reset_logging() -> None:
    # `--verbose` points the "linesync" logger at this run's stderr; the next in-process
    # run must not log into a closed stream.
    logger = logging.getLogger("linesync")
    logger.handlers.clear()
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


def run_cli(args: Sequence[str], env: dict[str, str | None] | None = None, input: str | bytes | None = None) -> Result:  # noqa: A002
    """Invoke `linesync ARGS` in-process; `result.stdout` and `result.stderr` are separate."""
    from linesync_cli.app import app

    runner = CliRunner()
    try:
        return runner.invoke(app, list(args), env=env if env is not None else clean_env(), input=input,
                             catch_exceptions=True)
    finally:
        _reset_logging()
