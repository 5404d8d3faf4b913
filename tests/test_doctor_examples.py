"""examples/github-actions-smoke.yml: a valid workflow whose linesync commands work as written."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from linesync_cli.catalogue import ACTIONS
from tests.support.standin_cli import run_cli

WORKFLOW = Path(__file__).resolve().parents[1] / "examples" / "github-actions-smoke.yml"


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def linesync_steps() -> list[list[str]]:
    steps = workflow()["jobs"]["smoke"]["steps"]
    return [shlex.split(s["run"]) for s in steps if s.get("run", "").startswith("linesync ")]


def test_workflow_shape_and_secrets():
    doc = workflow()
    job = doc["jobs"]["smoke"]
    # YAML reads the bare `on:` key as True.
    assert "schedule" in doc[True] and "workflow_dispatch" in doc[True]
    assert job["env"]["LINESYNC_KLAVIYO_API_KEY"] == "${{ secrets.KLAVIYO_API_KEY }}"
    assert job["env"]["LINESYNC_LINE_CHANNEL_ACCESS_TOKEN"] == "${{ secrets.LINE_CHANNEL_ACCESS_TOKEN }}"
    assert any("pip install" in s.get("run", "") for s in job["steps"])
    commands = [argv[:2] for argv in linesync_steps()]
    assert commands == [["linesync", "doctor"], ["linesync", "metrics"]]
    assert "--ci" in linesync_steps()[0]


@pytest.mark.parametrize("argv", linesync_steps(), ids=lambda a: " ".join(a[:2]))
def test_workflow_commands_run_against_the_stand_in(argv, cli_env, klaviyo_standin):
    now = datetime.now(UTC)
    pid = klaviyo_standin.add_profile(email="a@example.com")
    for action in ACTIONS:
        klaviyo_standin.add_event(klaviyo_standin.add_metric(action.metric_name), pid, now - timedelta(hours=1))
    result = run_cli(argv[1:], env=cli_env)
    assert result.exit_code == 0, result.stdout + result.stderr
