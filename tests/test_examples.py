"""examples/: every file is exercised by a test, and the deployment examples work as written.

The .env example holds only real settings and loads; the nightly script, cron entry and
systemd units run linesync command lines that the CLI accepts. The data files, messages
and the GitHub Actions workflow are exercised by their commands' tests (USES below).
"""

from __future__ import annotations

import ast
import configparser
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from linesync_cli.config import ENV_PREFIX, FIELDS, env_name, load_settings
from linesync_cli.errors import ExitCode
from tests.support.cli_lines import linesync_invocations, parse_command_line

PROJECT = Path(__file__).resolve().parents[1]
EXAMPLES = PROJECT / "examples"
TESTS = PROJECT / "tests"

# Which test uses each example file: (pattern under examples/, test module, test function).
# A new example needs a test that exercises it, and a row here.
USES = [
    (".env.example", "test_examples.py", "test_env_example_holds_real_settings_and_loads"),
    ("nightly-backfill.sh", "test_examples.py", "test_nightly_script_runs_valid_linesync_command_lines"),
    ("linesync.cron", "test_examples.py", "test_cron_entry_runs_the_nightly_script_with_the_env_file"),
    ("systemd/*", "test_examples.py", "test_systemd_units_run_the_nightly_script"),
    ("github-actions-smoke.yml", "test_doctor_examples.py", "test_workflow_commands_run_against_the_stand_in"),
    ("github-actions-smoke.yml", "test_doctor_examples.py", "test_sandbox_job_runs_its_commands_against_a_sandbox"),
    ("sandbox-actions.csv", "test_sandbox.py", "test_the_sandbox_enforces_klaviyo_rules"),
    ("actions.csv", "test_backfill_e2e.py", "test_examples_dry_run_needs_no_key_and_sends_nothing"),
    ("actions.jsonl", "test_backfill_e2e.py", "test_examples_dry_run_needs_no_key_and_sends_nothing"),
    ("webhooks.jsonl", "test_backfill_e2e.py", "test_examples_dry_run_needs_no_key_and_sends_nothing"),
    ("link-map.csv", "test_backfill_e2e.py", "test_examples_dry_run_needs_no_key_and_sends_nothing"),
    ("messages/*.json", "test_message_walker.py", "test_sample_messages_are_valid_line_messages"),
    ("kubernetes/*.yaml", "test_examples.py", "test_kubernetes_jobs_run_valid_command_lines_one_writer_per_account"),
    ("airflow/linesync_dag.py", "test_examples.py", "test_airflow_dag_runs_valid_command_lines_and_maps_every_exit_code"),
]


def _example_files() -> list[str]:
    return sorted(p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*") if p.is_file())


def _defines(module: str, function: str) -> bool:
    path = TESTS / module
    tree = ast.parse(path.read_text(encoding="utf-8")) if path.is_file() else ast.Module(body=[])
    return any(isinstance(node, ast.FunctionDef) and node.name == function for node in tree.body)


@pytest.mark.parametrize("name", _example_files())
def test_every_example_file_is_used_by_a_test(name):
    rows = [row for row in USES if fnmatch.fnmatch(name, row[0])]
    assert rows, f"examples/{name} is used by no test: exercise it in a test and add a row to USES in {__file__}"
    for pattern, module, function in rows:
        assert _defines(module, function), f"examples/{name}: tests/{module}::{function} (USES) does not exist"
        source = (TESTS / module).read_text(encoding="utf-8")
        if "*" in pattern:  # the module globs the directory (messages/*.json)
            folder = Path(pattern).parent.name
            assert f'"{folder}"' in source and ".glob(" in source, f"examples/{name}: tests/{module} does not read it"
        else:
            assert Path(name).name in source, f"examples/{name}: tests/{module} does not read it"


# -- .env.example -----------------------------------------------------------------


def test_env_example_holds_real_settings_and_loads(tmp_path):
    from dotenv import dotenv_values

    text = (EXAMPLES / ".env.example").read_text(encoding="utf-8")
    active = dotenv_values(EXAMPLES / ".env.example")
    commented = re.findall(r"^#\s*(" + ENV_PREFIX + r"[A-Z_]+)=", text, flags=re.M)
    known = {env_name(f) for f in FIELDS}
    for key in [*active, *commented]:
        assert key in known, f"examples/.env.example: {key} is not a setting (known: {', '.join(sorted(known))})"
    # Copied to .env in the working directory, it loads and validates as the .env layer.
    (tmp_path / ".env").write_text(text, encoding="utf-8")
    config = tmp_path / "linesync.toml"
    config.write_text("")
    loaded = load_settings(environ={"LINESYNC_CONFIG": str(config)}, cwd=tmp_path)
    for key in active:
        field = key.removeprefix(ENV_PREFIX).lower()
        assert loaded.sources[field] == ".env", f"examples/.env.example: {key} was not read from .env"
    # The scopes it tells people to grant are exactly those the client's operations need.
    from linesync_cli.api.klaviyo import OPERATIONS

    needed = {scope for *_, scopes in OPERATIONS.values() for scope in scopes.split(" and ") if scope}
    listed = set(re.findall(r"\b[a-z]+:(?:read|write)\b", text))
    assert listed == needed, f"examples/.env.example lists scopes {sorted(listed)}; the client needs {sorted(needed)}"


# -- nightly script, cron, systemd --------------------------------------------------


def _bash() -> str:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    return bash


def test_nightly_script_runs_valid_linesync_command_lines(tmp_path):
    bash = _bash()
    script = EXAMPLES / "nightly-backfill.sh"
    check = subprocess.run([bash, "-n", str(script)], capture_output=True, text=True)
    assert check.returncode == 0, f"examples/nightly-backfill.sh does not parse: {check.stderr}"
    assert os.access(script, os.X_OK), "examples/nightly-backfill.sh is not executable (ExecStart runs it directly)"
    # Run it with a stand-in `linesync` on PATH that records each command line.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.jsonl"
    stub = bin_dir / "linesync"
    stub.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                    "with open(os.environ['LINESYNC_STUB_LOG'], 'a') as fh:\n"
                    "    fh.write(json.dumps(sys.argv[1:]) + '\\n')\n")
    stub.chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "LINESYNC_STUB_LOG": str(log),
           "EXPORT_DIR": str(tmp_path / "exports"), "HOME": str(tmp_path)}
    run = subprocess.run([bash, str(script)], capture_output=True, text=True, env=env, timeout=60)
    if run.returncode != 0 and "date" in run.stderr:
        pytest.skip(f"this date(1) lacks GNU -d: {run.stderr.strip()}")
    assert run.returncode == 0, f"examples/nightly-backfill.sh failed: {run.stderr}"
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    parsed = [parse_command_line(argv) for argv in calls]  # BadCommandLine names the bad line
    assert [(p.path, p.command.name) for p in parsed] == [(("links", "sync"), "sync"), (("backfill",), "run")]
    backfill = parsed[1].params
    assert [Path(f).parent for f in backfill["files"]] == [tmp_path / "exports"]
    assert backfill["files"][0].endswith(".csv.gz")


def _systemd(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(EXAMPLES / "systemd" / name, encoding="utf-8")
    return parser


def _units() -> tuple[configparser.ConfigParser, configparser.ConfigParser]:
    services = sorted((EXAMPLES / "systemd").glob("*.service"))
    assert len(services) == 1, f"examples/systemd/: expected one .service, found {services}"
    timer = services[0].with_suffix(".timer")
    assert timer.is_file(), f"examples/systemd/{timer.name} is missing: a timer starts {services[0].name}"
    return _systemd(services[0].name), _systemd(timer.name)


def test_systemd_units_run_the_nightly_script():
    service, timer = _units()
    assert service["Service"]["Type"] == "oneshot"
    exec_start = service["Service"]["ExecStart"].split()
    assert Path(exec_start[0]).name == "nightly-backfill.sh", "examples/systemd: ExecStart should run the nightly script"
    for assignment in service["Service"].get("Environment", "").split():
        key = assignment.split("=", 1)[0]
        assert key.removeprefix(ENV_PREFIX).lower() in FIELDS, f"examples/systemd: Environment={key} is not a setting"
    codes = {int(code) for code in service["Service"].get("SuccessExitStatus", "").split()}
    assert codes <= {ExitCode.FAILED}, (
        f"examples/systemd: SuccessExitStatus {codes}: only 1 (some records rejected) is a run that finished")
    assert service["Service"]["EnvironmentFile"].startswith("/")
    assert re.fullmatch(r"\*-\*-\* \d{2}:\d{2}(:\d{2})?", timer["Timer"]["OnCalendar"]), timer["Timer"]["OnCalendar"]
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_cron_entry_runs_the_nightly_script_with_the_env_file():
    service, timer = _units()
    entries = [line for line in (EXAMPLES / "linesync.cron").read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.lstrip().startswith("#") and not re.match(r"^[A-Z_]+=", line)]
    assert len(entries) == 1, f"examples/linesync.cron: expected one entry, found {entries}"
    fields = entries[0].split(None, 6)
    minute, hour, day, month, weekday, user, command = fields
    for value, low, high in ((minute, 0, 59), (hour, 0, 23)):
        assert value.isdigit() and low <= int(value) <= high, f"examples/linesync.cron: bad schedule {entries[0]!r}"
    assert (day, month, weekday) == ("*", "*", "*"), "examples/linesync.cron: the backfill is nightly"
    # /etc/cron.d lines name the user; it is the service's user.
    assert user == service["Service"]["User"], f"examples/linesync.cron: runs as {user!r}"
    assert "nightly-backfill.sh" in command
    assert service["Service"]["EnvironmentFile"] in command, "examples/linesync.cron: not the systemd env file"
    on_calendar = timer["Timer"]["OnCalendar"].split()[1]
    assert on_calendar.startswith(f"{int(hour):02d}:{int(minute):02d}"), "cron and the timer disagree on the time"
    check = subprocess.run([_bash(), "-n", "-c", command], capture_output=True, text=True)
    assert check.returncode == 0, f"examples/linesync.cron: the command does not parse: {check.stderr}"


# -- kubernetes/ and airflow/ (many accounts) ---------------------------------------


def _container_command_lines(container: dict) -> list[list[str]]:
    argv = [*container.get("command", []), *container.get("args", [])]
    if argv[:2] == ["/bin/sh", "-c"]:
        return linesync_invocations(" ".join(argv[2:]))
    assert argv and argv[0] == "linesync", argv
    return [argv[1:]]


def test_kubernetes_jobs_run_valid_command_lines_one_writer_per_account():
    import yaml

    files = sorted((EXAMPLES / "kubernetes").glob("*.yaml"))
    assert files
    seen: list[tuple[str, ...]] = []
    for path in files:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
        claims = {d["metadata"]["name"]: d for d in docs if d["kind"] == "PersistentVolumeClaim"}
        jobs = [d for d in docs if d["kind"] == "CronJob"]
        assert jobs and claims
        assert all(c["spec"]["accessModes"] == ["ReadWriteOnce"] for c in claims.values())  # one node writes
        for job in jobs:
            assert job["spec"]["concurrencyPolicy"] == "Forbid", job["metadata"]["name"]  # one run at a time
            pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            volumes = {v["name"]: v for v in pod["volumes"]}
            for container in pod["containers"]:
                env = {e["name"]: e for e in container["env"]}
                key = env["LINESYNC_KLAVIYO_API_KEY"]
                assert "value" not in key and key["valueFrom"]["secretKeyRef"]["name"]  # the key from a Secret
                state = env["LINESYNC_STATE_DIR"]["value"]
                mount = next(m for m in container["volumeMounts"] if state.startswith(m["mountPath"]))
                assert volumes[mount["name"]]["persistentVolumeClaim"]["claimName"] in claims  # state on the PVC
                for argv in _container_command_lines(container):
                    seen.append(parse_command_line(argv).path)
    assert {("links", "sync"), ("backfill",), ("doctor",)} <= set(seen)


def test_airflow_dag_runs_valid_command_lines_and_maps_every_exit_code():
    tree = ast.parse((EXAMPLES / "airflow" / "linesync_dag.py").read_text(encoding="utf-8"))
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            constants[node.targets[0].id] = ast.literal_eval(node.value)  # the DAG's settings are literals
    accounts, commands, outcome = constants["ACCOUNTS"], constants["COMMANDS"], constants["OUTCOME"]
    assert len(accounts) >= 2 and len(set(accounts)) == len(accounts)
    paths = []
    for account in accounts:
        for template in commands.values():
            argv = [part.replace("{account}", account).replace("{ds}", "2026-03-01") for part in template]
            assert argv[0] == "linesync" and argv[1:3] == ["--account", account]
            paths.append(parse_command_line(argv[1:]).path)
    assert {("links", "sync"), ("backfill",), ("doctor",)} <= set(paths)
    assert set(outcome) == {int(code) for code in ExitCode}  # every documented exit code is mapped
    assert outcome[0] == "success" and outcome[ExitCode.UNAVAILABLE] == "retry"
    assert outcome[ExitCode.USAGE] == outcome[ExitCode.AUTH] == "fail"  # a retry cannot fix these
