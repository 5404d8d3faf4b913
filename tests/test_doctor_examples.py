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


def test_sandbox_job_runs_its_commands_against_a_sandbox(tmp_path, monkeypatch):
    job = workflow()["jobs"]["sandbox"]
    assert "secrets." not in str(job), "the sandbox job needs no secrets"
    lines = [line.strip() for step in job["steps"] for line in step.get("run", "").splitlines()]
    commands = [line for line in lines if line.startswith(("linesync ", "eval "))]
    assert commands[0] == "linesync sandbox start --detach" and commands[-1] == "linesync sandbox stop"
    assert job["steps"][-1]["if"] == "${{ always() }}"  # stopped even when a check failed
    monkeypatch.chdir(tmp_path)
    (tmp_path / "none.toml").write_text("")
    base = {k: None for k in __import__("os").environ if k.startswith("LINESYNC_")}
    base.update(LINESYNC_STATE_DIR=str(tmp_path / "state"), LINESYNC_CONFIG=str(tmp_path / "none.toml"),
                NO_COLOR="1")
    env = dict(base)
    ran = []
    try:
        for line in commands:
            if line.startswith("eval "):
                assert line == 'eval "$(linesync sandbox env)"'
                exports = run_cli(["sandbox", "env"], env=env).stdout
                env.update(word.split("=", 1) for row in exports.splitlines() for word in shlex.split(row)[1:])
                continue
            argv = shlex.split(line)[1:]
            if argv == ["sandbox", "start", "--detach"]:
                argv += ["--port", "0"]  # the default port may be taken on this machine
            result = run_cli(argv, env=env)
            assert result.exit_code == 0, f"{line}: {result.stdout}{result.stderr}"
            ran.append(argv[0])
    finally:
        run_cli(["sandbox", "stop"], env=base)
    assert ran == ["sandbox", "links", "doctor", "metrics", "sandbox"]
