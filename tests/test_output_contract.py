"""Issue 15, item 7: one output contract.

docs/output.md lists each command's JSON keys (top level, and one level into objects and
lists of objects). This test runs every command with --json against the stand-in Klaviyo
and compares the keys it really prints with the documented ones, both ways: an
undocumented key fails, and so does a documented key the command no longer prints. Every
--json output is an object, and piped tables print numbers without thousands separators.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.standin_cli import clean_env, run_cli

PROJECT = Path(__file__).resolve().parents[1]
OUTPUT_MD = PROJECT / "docs" / "output.md"
EXAMPLES = PROJECT / "examples"
UID = "U" + "4af4980629a1b2c3d4e5f60718293a4b"


def shape(doc) -> set[str]:
    """`key`, `key.sub` and `key[].sub` for the top level and one level below."""
    keys: set[str] = set()
    for key, value in doc.items():
        keys.add(key)
        if isinstance(value, dict):
            keys |= {f"{key}.{sub}" for sub in value}
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    keys |= {f"{key}[].{sub}" for sub in item}
    return keys


def _sections() -> dict[str, list[str]]:
    """`## linesync COMMAND` sections of docs/output.md with their lines (other headings end one)."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in OUTPUT_MD.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            heading = re.match(r"^## `(linesync [^`]+)`", line)
            current = heading.group(1) if heading else None
            if current:
                sections[current] = []
        elif current:
            sections[current].append(line)
    return sections


def documented() -> dict[str, set[str]]:
    """Each command section's table of `key` rows."""
    return {name: {row.group(1) for line in lines if (row := re.match(r"^\| `([^`]+)` \|", line))}
            for name, lines in _sections().items()}


def documented_csv() -> dict[str, list[str]]:
    """The sections that say `CSV columns: `a`, `b`, ... .`, with those columns in order."""
    columns = {}
    for name, lines in _sections().items():
        text = " ".join(line for line in lines if not line.startswith("|"))
        if listed := re.search(r"CSV columns: ((?:`[^`]+`,?\s*)+)", text):
            columns[name] = re.findall(r"`([^`]+)`", listed.group(1))
    return columns


@pytest.fixture
def world(klaviyo_standin, cli_env, tmp_path):
    """A small account: LINE metrics with events on one linked profile, a segment, a link index."""
    s = klaviyo_standin
    now = datetime.now(UTC)
    profile = s.add_profile(email="taro@example.jp", properties={"LINE User ID": UID})
    for name in ("Sent LINE Message", "Clicked LINE Message", "Opened LINE Message"):
        metric = s.add_metric(name)
        s.add_event(metric, profile, now - timedelta(hours=2), {"URL": "https://shop.example/x"})
    s.add_segment("LINE clickers", members=[profile])
    synced = run_cli(["links", "sync", "--json"], env=cli_env)
    assert synced.exit_code == 0, synced.stderr
    return cli_env | {"TTY_COMPATIBLE": "0"}, synced


def _commands(tmp_path) -> dict[str, list[str]]:
    actions = str(EXAMPLES / "actions.csv")
    link_map = str(EXAMPLES / "link-map.csv")
    return {
        "linesync metrics": ["metrics", "--json", "--allow-missing"],
        "linesync metrics show": ["metrics", "show", "clicked", "--since", "7d", "--json"],
        "linesync doctor": ["doctor", "--json", "--skip", "line-token"],
        "linesync check-link": ["check-link", UID, "--json"],
        "linesync inspect-profile": ["inspect-profile", "--line-user-id", UID, "--json"],
        "linesync links status": ["links", "status", "--json"],
        "linesync report funnel": ["report", "funnel", "--since", "7d", "--json"],
        "linesync segments presets": ["segments", "presets", "--json"],
        "linesync segments create": ["segments", "create", "line-clicked-recently", "--json"],
        "linesync config show": ["config", "show", "--json"],
        "linesync config path": ["config", "path", "--json"],
        "linesync config init": ["config", "init", "--json", "--config", str(tmp_path / "new.toml")],
        "linesync backfill": ["backfill", actions, "--link-map", link_map, "--dry-run", "--json"],
        "linesync backfill runs": ["backfill", "runs", "--json"],
    }


def test_every_json_output_is_an_object_with_the_documented_keys(world, tmp_path):
    env, synced = world
    docs = documented()
    outputs = {"linesync links sync": synced.stdout}
    for name, argv in _commands(tmp_path).items():
        result = run_cli(argv, env=env)
        assert result.exit_code in (0, 1), f"{name}: {result.stderr}"
        outputs[name] = result.stdout
    assert set(docs) == set(outputs) | set(SANDBOX_COMMANDS), "docs/output.md and this test must cover the same commands"
    problems = _key_problems({name: docs[name] for name in outputs}, outputs)
    assert not problems, "\n".join(problems)


def _key_problems(docs: dict[str, set[str]], outputs: dict[str, str]) -> list[str]:
    problems = []
    for name, stdout in outputs.items():
        doc = json.loads(stdout)
        assert isinstance(doc, dict), f"{name} --json is a {type(doc).__name__}, not an object"
        real = shape(doc)
        if real - docs[name]:
            problems.append(f"{name}: printed but not in docs/output.md: {sorted(real - docs[name])}")
        if docs[name] - real:
            problems.append(f"{name}: in docs/output.md but not printed: {sorted(docs[name] - real)}")
    return problems


# -- the newer commands, against the sandbox's demo account (LINE Insight, a mirror, a run) ---------

# The demo broadcast's X-Line-Request-Id: uuid5 of a fixed name, the same on every start.
REQUEST_ID = "d50e9ef9-9309-54b2-8306-f09cbf1542c8"
ACCOUNTS_TOML = """default_account = "shop-jp"
[accounts.shop-jp]
klaviyo_api_key = "pk_abcdefabcdefabcdefabcdefabcdefabcd"
[accounts.shop-tw]
key_command = "echo pk_x"
"""
# name -> (argv, exit code). Run in this order: verify needs the backfill, the reports the pull.
SANDBOX_COMMANDS: dict[str, tuple[list[str], int]] = {
    "linesync events pull": (["events", "pull", "--json"], 0),
    "linesync events status": (["events", "status", "--json"], 0),
    "linesync backfill verify": (["backfill", "verify", "--json"], 0),
    "linesync report broadcasts": (["report", "broadcasts", "--since", "30d", "--no-pull", "--json"], 0),
    "linesync report funnel --exact": (["report", "funnel", "--exact", "--since", "7d", "--json"], 0),
    # The demo's Shopify Placed Order; pulls the order metric itself.
    "linesync report revenue": (["report", "revenue", "--by", "broadcast", "--json"], 0),
    "linesync reconcile": (["reconcile", "--json"], 1),  # the demo's two gap days
    "linesync reconcile --request-id": (["reconcile", "--request-id", REQUEST_ID, "--match-property",
                                         "LINE Request ID", "--json"], 0),
    "linesync sandbox status": (["sandbox", "status", "--json"], 0),
    "linesync config accounts": (["--config", "ACCOUNTS_TOML", "config", "accounts", "--json"], 0),
    "linesync backfill runs --all-accounts": (["--config", "ACCOUNTS_TOML", "backfill", "runs", "--all-accounts",
                                               "--json"], 0),
    "linesync events export": (["events", "export", "EXPORT_DIR", "--json"], 0),
}


@pytest.fixture
def demo_sandbox(tmp_path):
    """The demo sandbox on free ports in this process, a link index and one backfill run on it."""
    from linesync_cli.sandbox import service
    from linesync_cli.sandbox.seed import seed_demo

    sandbox = service.Sandbox(service.SandboxOptions(port=0), seed_demo, tmp_path / "state")
    info = sandbox.start()
    (tmp_path / "none.toml").write_text("")
    (tmp_path / "accounts.toml").write_text(ACCOUNTS_TOML)
    env = clean_env(LINESYNC_CONFIG=str(tmp_path / "none.toml"), TTY_COMPATIBLE="0")
    for line in info.exports():
        env.update(word.split("=", 1) for word in shlex.split(line)[1:])
    try:
        for argv in (["links", "sync"], ["backfill", str(EXAMPLES / "sandbox-actions.csv")]):
            result = run_cli(argv, env=env)
            assert result.exit_code in (0, 1), result.stderr
        yield env
    finally:
        sandbox.close()


def _run_sandbox_command(argv: list[str], env: dict, tmp_path) -> object:
    paths = {"EXPORT_DIR": str(tmp_path / "export"), "ACCOUNTS_TOML": str(tmp_path / "accounts.toml")}
    return run_cli([paths.get(a, a) for a in argv], env=env)


def test_the_newer_commands_print_the_documented_keys_and_csv_columns(demo_sandbox, tmp_path):
    docs, csv_docs = documented(), documented_csv()
    outputs = {}
    for name, (argv, code) in SANDBOX_COMMANDS.items():
        result = _run_sandbox_command(argv, demo_sandbox, tmp_path)
        assert result.exit_code == code, f"{name}: exit {result.exit_code}: {result.stderr}"
        outputs[name] = result.stdout
    assert json.loads(outputs["linesync config accounts"])["accounts"], "the accounts must be listed to check their keys"
    # The demo's run has nothing missing: first_missing[]'s keys are checked in the next test.
    docs["linesync backfill verify"] = {k for k in docs["linesync backfill verify"] if not k.startswith("first_missing[]")}
    problems = _key_problems({name: docs[name] for name in outputs}, outputs)
    assert set(csv_docs) <= set(SANDBOX_COMMANDS), "CSV columns are checked for the sandbox's commands only"
    for name, columns in csv_docs.items():
        argv = [a for a in SANDBOX_COMMANDS[name][0] if a != "--json"] + ["--format", "csv"]
        result = _run_sandbox_command(argv, demo_sandbox, tmp_path)
        header = next(csv.reader(io.StringIO(result.stdout)), [])
        if header != columns:
            problems.append(f"{name} --format csv prints {header}, docs/output.md lists {columns}")
    # Every listed command that has CSV says its columns (those without are the JSON-only ones).
    assert set(SANDBOX_COMMANDS) - set(csv_docs) == {"linesync backfill verify", "linesync events export"}
    assert not problems, "\n".join(problems)


def test_backfill_verify_missing_events_print_the_documented_keys(klaviyo_standin, cli_env, tmp_path):
    from tests.support.backfill_data import link_users, write_actions_csv, write_link_map

    link_map = write_link_map(tmp_path / "map.csv", link_users(klaviyo_standin, 3))
    dropped: list = []
    klaviyo_standin.drop_events = lambda event: not dropped and not dropped.append(event)  # the first one only
    sent = run_cli(["backfill", str(write_actions_csv(tmp_path / "actions.csv", 30, 3)), "--link-map", str(link_map)],
                   env=cli_env)
    assert sent.exit_code == 0, sent.stderr
    verified = run_cli(["backfill", "verify", "--settle", "0s", "--json"], env=cli_env)
    assert verified.exit_code == 1, verified.stderr
    assert len(json.loads(verified.stdout)["first_missing"]) == 1
    assert not _key_problems({"linesync backfill verify": documented()["linesync backfill verify"]},
                             {"linesync backfill verify": verified.stdout})


def test_the_sandbox_export_lines_are_all_of_stdout(demo_sandbox, tmp_path):
    """docs/output.md: `sandbox env` prints only export lines (stdout is for eval)."""
    result = run_cli(["sandbox", "env"], env=demo_sandbox)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("export LINESYNC_") for line in lines), result.stdout


def test_piped_tables_have_plain_numbers_and_the_terminal_keeps_separators(klaviyo_standin, cli_env):
    for i in range(1234):
        klaviyo_standin.add_profile(email=f"p{i}@example.jp", properties={"LINE User ID": f"U{i:032x}"})
    terminal = run_cli(["links", "sync"], env=cli_env | {"TTY_COMPATIBLE": "1"})
    assert terminal.exit_code == 0, terminal.stderr
    assert "1,234" in terminal.stdout
    piped = run_cli(["links", "sync", "--full"], env=cli_env | {"TTY_COMPATIBLE": "0"})
    assert piped.exit_code == 0, piped.stderr
    assert re.search(r"\b1234\b", piped.stdout) and "1,234" not in piped.stdout
