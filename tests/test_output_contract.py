"""Issue 15, item 7: one output contract.

docs/output.md lists each command's JSON keys (top level, and one level into objects and
lists of objects). This test runs every command with --json against the stand-in Klaviyo
and compares the keys it really prints with the documented ones, both ways: an
undocumented key fails, and so does a documented key the command no longer prints. Every
--json output is an object, and piped tables print numbers without thousands separators.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.standin_cli import run_cli

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


def documented() -> dict[str, set[str]]:
    """`## linesync COMMAND` sections of docs/output.md, each with its table of `key` rows."""
    sections: dict[str, set[str]] = {}
    current = None
    for line in OUTPUT_MD.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## `(linesync [^`]+)`", line)
        if heading:
            current = heading.group(1)
            sections[current] = set()
        elif current and (row := re.match(r"^\| `([^`]+)` \|", line)):
            sections[current].add(row.group(1))
    return sections


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
    assert set(docs) == set(outputs), "docs/output.md and this test must cover the same commands"
    problems = []
    for name, stdout in outputs.items():
        doc = json.loads(stdout)
        assert isinstance(doc, dict), f"{name} --json is a {type(doc).__name__}, not an object"
        real = shape(doc)
        if real - docs[name]:
            problems.append(f"{name}: printed but not in docs/output.md: {sorted(real - docs[name])}")
        if docs[name] - real:
            problems.append(f"{name}: in docs/output.md but not printed: {sorted(docs[name] - real)}")
    assert not problems, "\n".join(problems)


def test_piped_tables_have_plain_numbers_and_the_terminal_keeps_separators(klaviyo_standin, cli_env):
    for i in range(1234):
        klaviyo_standin.add_profile(email=f"p{i}@example.jp", properties={"LINE User ID": f"U{i:032x}"})
    terminal = run_cli(["links", "sync"], env=cli_env | {"TTY_COMPATIBLE": "1"})
    assert terminal.exit_code == 0, terminal.stderr
    assert "1,234" in terminal.stdout
    piped = run_cli(["links", "sync", "--full"], env=cli_env | {"TTY_COMPATIBLE": "0"})
    assert piped.exit_code == 0, piped.stderr
    assert re.search(r"\b1234\b", piped.stdout) and "1,234" not in piped.stdout
