"""`linesync links sync|status`: full, incremental, interrupted and segment runs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from typer.testing import CliRunner

from linesync_cli.app import app
from linesync_cli.core.link_index import LinkIndex, index_path
from linesync_cli.core.linkage import open_resolver
from linesync_cli.errors import NoLinkIndex
from tests.support.linkage_helpers import API_KEY, accounts_doc, line_id, page, profile, query, settings
from tests.support.spec import check_contract
from tests.support.standin_cli import clean_env

runner = CliRunner()
KEY = "LINE User ID"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env
    return clean_env(
        LINESYNC_KLAVIYO_API_KEY=API_KEY,
        LINESYNC_STATE_DIR=str(tmp_path / "state"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )


def _profile_requests(httpx_mock) -> list[httpx.Request]:
    """The requests of the sync itself (the state guard's `GET /api/accounts` left out)."""
    return [r for r in httpx_mock.get_requests() if r.url.path.rstrip("/") != "/api/accounts"]


@dataclass
class FakeProfiles:
    """Klaviyo's profile listing over an in-memory account: cursor pages of 100, `updated` filter."""

    profiles: dict[str, dict] = field(default_factory=dict)  # id -> {"properties", "updated"}
    segments: dict[str, list[str]] = field(default_factory=dict)
    interrupt_at_cursor: str | None = None
    expired_cursors: set[str] = field(default_factory=set)

    def put(self, pid: str, value=None, *, updated: datetime | None = None, **props) -> None:
        properties = dict(props)
        if value is not None:
            properties[KEY] = value
        self.profiles[pid] = {"properties": properties, "updated": updated or datetime(2026, 1, 1, tzinfo=UTC)}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.rstrip("/") == "/api/accounts":  # the state guard asks whose key it is
            return httpx.Response(200, json=accounts_doc())
        q = query(request)
        assert q["fields[profile]"] == "properties"
        assert q["page[size]"] == "100"
        cursor = q.get("page[cursor]")
        if cursor and cursor == self.interrupt_at_cursor:
            self.interrupt_at_cursor = None
            raise KeyboardInterrupt
        if cursor in self.expired_cursors:
            self.expired_cursors.discard(cursor)  # a fresh pass gets fresh cursors
            return httpx.Response(400, json={"errors": [{"title": "Invalid cursor", "detail": "cursor expired"}]})
        path = request.url.path
        if path.startswith("/api/segments/"):
            ids = self.segments[path.split("/")[3]]
        else:
            ids = sorted(self.profiles)
        rows = [(pid, self.profiles[pid]) for pid in ids]
        flt = q.get("filter")
        if flt:
            assert flt.startswith("greater-than(updated,") and q.get("sort") == "updated"
            since = datetime.fromisoformat(flt[len("greater-than(updated,"):-1].replace("Z", "+00:00"))
            rows = sorted([r for r in rows if r[1]["updated"] > since], key=lambda r: r[1]["updated"])
        start = int(cursor or 0)
        chunk = rows[start:start + 100]
        nxt = None
        if start + 100 < len(rows):
            nxt = f"{request.url.scheme}://{request.url.host}{path}?page%5Bcursor%5D={start + 100}&page%5Bsize%5D=100"
        return httpx.Response(200, json=page([profile(pid, properties=p["properties"]) for pid, p in chunk],
                                             next_url=nxt))


def index_rows(tmp_path, key=KEY) -> dict[str, str]:
    index = LinkIndex(index_path(tmp_path / "state"))
    try:
        return dict(index.conn.execute("SELECT profile_id, value FROM profile_values WHERE link_key = ?", (key,)))
    finally:
        index.close()


def flat(text: str) -> str:
    """Terminal-wrapped stderr as one line."""
    return " ".join(text.split())


def run(env, *args):
    return runner.invoke(app, list(args), env=env)


def test_full_run_reports_and_builds_the_index(httpx_mock, env, tmp_path):
    fake = FakeProfiles()
    for n in range(250):
        fake.put(f"p{n:03d}", line_id(n) if n % 5 else None)
    fake.put("dup1", line_id(1))  # line_id(1) is also on p001
    fake.put("bad1", "U123")
    fake.put("bad2", "[red]x[/] \x1b[31mred")
    fake.put("num", 12345)
    httpx_mock.add_callback(fake, is_reusable=True)

    result = run(env, "links", "sync", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["run"] == "full" and report["scope"] == "all" and not report["resumed"]
    assert report["profiles_read"] == 254
    assert report["linked_ids"] == 199  # 200 values, line_id(1) ambiguous
    assert report["ambiguous_ids"] == 1
    assert report["ambiguous_examples"] == [{"line_user_id": line_id(1), "profile_ids": ["dup1", "p001"]}]
    assert report["malformed_values"] == 3
    assert {e["value"] for e in report["malformed_examples"]} == {"U123", "[red]x[/] \x1b[31mred", "12345"}
    requests = _profile_requests(httpx_mock)
    assert len(requests) == 3
    check_contract(requests)
    assert "filter" not in query(requests[0])

    status = run(env, "links", "status", "--json")
    assert status.exit_code == 0
    st = json.loads(status.stdout)
    assert st["exists"] and st["linked_ids"] == 199 and st["profiles_read"] == 254


def test_piped_table_escapes_nothing_and_terminal_escapes_markup(httpx_mock, env):
    fake = FakeProfiles()
    fake.put("p1", line_id(1))
    fake.put("bad", "[red]x[/] \x1b[31mred")
    httpx_mock.add_callback(fake, is_reusable=True)
    piped = run(env, "links", "sync")
    assert piped.exit_code == 0
    assert "profiles read" in piped.stdout and "LINE IDs linked (on one profile)" in piped.stdout
    assert "\x1b" not in piped.stdout + piped.stderr  # control characters never reach the terminal
    assert "[red]x[/]" in piped.stderr  # markup shown as text, not interpreted

    terminal = run(dict(env, TTY_COMPATIBLE="1", FORCE_COLOR="1", NO_COLOR=None), "links", "sync", "--full")
    assert terminal.exit_code == 0, terminal.stderr
    assert "┃" in terminal.stdout or "│" in terminal.stdout or "━" in terminal.stdout  # a Rich table
    assert "[red]x[/]" in terminal.stderr
    assert "\x1b[31mred" not in terminal.stderr


def test_incremental_run_updates_changed_and_removed_values(httpx_mock, env, tmp_path):
    fake = FakeProfiles()
    old = datetime(2026, 1, 1, tzinfo=UTC)
    fake.put("keep", line_id(1), updated=old)
    fake.put("change", line_id(2), updated=old)
    fake.put("drop", line_id(3), updated=old)
    httpx_mock.add_callback(fake, is_reusable=True)
    assert run(env, "links", "sync").exit_code == 0
    first = len(_profile_requests(httpx_mock))

    now = datetime.now(UTC)
    fake.put("change", line_id(9), updated=now)
    fake.put("drop", None, updated=now)  # the property was removed
    fake.put("new", line_id(4), updated=now)
    result = run(env, "links", "sync", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["run"] == "incremental"
    assert report["profiles_read"] == 3
    since = datetime.fromisoformat(report["since"])
    assert now - timedelta(minutes=30) < since < now  # previous run's start minus the overlap
    q = query(_profile_requests(httpx_mock)[first])
    assert q["filter"].startswith("greater-than(updated,") and q["sort"] == "updated"
    check_contract(httpx_mock.get_requests())
    assert index_rows(tmp_path) == {"keep": line_id(1), "change": line_id(9), "new": line_id(4)}

    # --full drops rows for profiles that vanished entirely (deleted profiles).
    del fake.profiles["keep"]
    assert run(env, "links", "sync", "--full").exit_code == 0
    assert index_rows(tmp_path) == {"change": line_id(9), "new": line_id(4)}


def test_interrupted_run_exits_130_and_resumes_from_the_saved_page(httpx_mock, env, tmp_path):
    fake = FakeProfiles()
    for n in range(350):
        fake.put(f"p{n:03d}", line_id(n))
    fake.interrupt_at_cursor = "200"
    httpx_mock.add_callback(fake, is_reusable=True)

    result = run(env, "links", "sync")
    assert result.exit_code == 130
    assert "interrupted after 200 profiles; progress is saved" in flat(result.stderr)
    assert "linesync links sync" in result.stderr

    # No index yet: the first build did not finish, and commands that need it say so.
    st = json.loads(run(env, "links", "status", "--json").stdout)
    assert st["exists"] is False and st["run_in_progress"] == "full" and st["run_profiles_read"] == 200
    with pytest.raises(NoLinkIndex, match="the first sync was interrupted"):
        open_resolver(settings(tmp_path / "state"), lambda: None)

    before = len(_profile_requests(httpx_mock))
    again = run(env, "links", "sync", "--json")
    assert again.exit_code == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["resumed"] and report["run"] == "full"
    assert report["profiles_read"] == 350 and report["linked_ids"] == 350
    resumed = _profile_requests(httpx_mock)[before:]
    assert [query(r).get("page[cursor]") for r in resumed] == ["200", "300"]
    check_contract(httpx_mock.get_requests())


def test_expired_cursor_restarts_the_pass(httpx_mock, env, tmp_path):
    fake = FakeProfiles()
    for n in range(150):
        fake.put(f"p{n:03d}", line_id(n))
    fake.interrupt_at_cursor = "100"
    httpx_mock.add_callback(fake, is_reusable=True)
    assert run(env, "links", "sync").exit_code == 130
    fake.expired_cursors.add("100")
    result = run(env, "links", "sync", "--json")
    assert result.exit_code == 0, result.stderr
    assert "cursor had expired" in flat(result.stderr)
    assert json.loads(result.stdout)["linked_ids"] == 150


def test_segment_run_reads_members_and_is_always_full(httpx_mock, env, tmp_path):
    fake = FakeProfiles()
    for n in range(5):
        fake.put(f"p{n}", line_id(n))
    fake.segments["SEG1"] = ["p1", "p2"]
    httpx_mock.add_callback(fake, is_reusable=True)
    for _ in range(2):
        result = run(env, "links", "sync", "--segment", "SEG1", "--json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["run"] == "full"
    assert all(r.url.path == "/api/segments/SEG1/profiles" for r in _profile_requests(httpx_mock))
    check_contract(httpx_mock.get_requests())
    assert index_rows(tmp_path) == {"p1": line_id(1), "p2": line_id(2)}
    # Switching back to all profiles rebuilds rather than increments.
    result = run(env, "links", "sync", "--json")
    assert json.loads(result.stdout)["run"] == "full" and json.loads(result.stdout)["scope"] == "all"
    assert "rebuilds it from all" in flat(result.stderr)
    assert len(index_rows(tmp_path)) == 5


def test_numbered_link_key_has_its_own_index(httpx_mock, env, tmp_path):
    fake = FakeProfiles()
    fake.put("p1", line_id(1), **{"LINE User ID 2": line_id(2)})
    httpx_mock.add_callback(fake, is_reusable=True)
    result = run(env, "--link-key", "property:LINE User ID 2", "links", "sync", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["link_key"] == "property:LINE User ID 2"
    assert index_rows(tmp_path, "LINE User ID 2") == {"p1": line_id(2)}
    assert index_rows(tmp_path) == {}


def test_oa_is_the_numbered_link_key_and_status_lists_every_index(httpx_mock, env, tmp_path):
    fake = FakeProfiles()
    fake.put("p1", line_id(1), **{"LINE User ID 2": line_id(2)})
    fake.put("p2", line_id(3))
    httpx_mock.add_callback(fake, is_reusable=True)
    assert run(env, "--oa", "2", "links", "sync").exit_code == 0
    assert index_rows(tmp_path, "LINE User ID 2") == {"p1": line_id(2)}
    assert index_rows(tmp_path) == {}  # --oa 2 did not write the first OA's index
    assert run(env, "--oa", "1", "links", "sync").exit_code == 0
    assert index_rows(tmp_path) == {"p1": line_id(1), "p2": line_id(3)}

    status = run(env, "--oa", "2", "links", "status", "--json")
    data = json.loads(status.stdout)
    assert data["link_key"] == "property:LINE User ID 2"
    assert [(i["link_key"], i["linked_ids"]) for i in data["indexes"]] == [
        ("property:LINE User ID", 2), ("property:LINE User ID 2", 1)]
    table = run(env, "links", "status")
    assert table.exit_code == 0
    listed = table.stdout.split("link indexes in", 1)[1].splitlines()
    rows = {("ID 2" if "LINE User ID 2" in line else "ID"): line.split()
            for line in listed if "property:LINE User ID" in line}
    assert rows["ID"][0] == "*" and rows["ID"][4:6] == ["2", "0"]  # the configured key is marked
    assert rows["ID 2"][0] == "property:LINE" and rows["ID 2"][4:6] == ["1", "0"]
    clash = run(env, "--oa", "2", "--link-key", "external_id", "links", "status")
    assert clash.exit_code == 2 and "--oa" in clash.stderr


def test_external_id_needs_no_index(env):
    result = run(env, "--link-key", "external_id", "links", "sync", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"link_key": "external_id", "index_needed": False}
    assert "no link index is needed" in flat(result.stderr)
    assert run(env, "--link-key", "external_id", "links", "status").exit_code == 0


def test_status_without_an_index(env):
    result = run(env, "links", "status")
    assert result.exit_code == 0
    assert "run `linesync links sync`" in result.stderr


def test_sync_without_a_key_exits_2(env):
    result = run(dict(env, LINESYNC_KLAVIYO_API_KEY=None), "links", "sync")
    assert result.exit_code == 2
    assert "LINESYNC_KLAVIYO_API_KEY" in result.stderr


def test_plain_progress_lines_when_not_on_a_terminal(httpx_mock, env, monkeypatch):
    import linesync_cli.commands.links as links_cmd

    monkeypatch.setattr(links_cmd, "PLAIN_PROGRESS_SECONDS", 0.0)
    fake = FakeProfiles()
    for n in range(250):
        fake.put(f"p{n:03d}", line_id(n))
    httpx_mock.add_callback(fake, is_reusable=True)
    result = run(env, "links", "sync")
    assert result.exit_code == 0
    assert "full run: 100 profiles read, 1 page" in result.stderr
    assert "full run: 250 profiles read, 3 pages" in result.stderr
    assert "\r" not in result.stderr  # plain lines, no bar redraws
