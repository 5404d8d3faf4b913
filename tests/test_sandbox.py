"""`linesync sandbox`: lifecycle through the CLI, a coherent demo seed, bad input, loopback only.

The sandbox serves the same stand-in classes as the other end-to-end tests
(linesync_cli/sandbox); here without the spec check, as users get it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from linesync_cli.sandbox import service
from linesync_cli.sandbox.klaviyo import KlaviyoStandIn
from linesync_cli.sandbox.seed import DEMO_PROFILES, DEMO_WEEKS, resolve_seed, seed_demo
from tests.support.standin_cli import clean_env, run_cli

ROOT = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str | None]:
    config = tmp_path / "linesync.toml"
    config.write_text("")
    return clean_env(LINESYNC_STATE_DIR=str(tmp_path / "state"), LINESYNC_CONFIG=str(config), **extra)


def _exports(lines: str) -> dict[str, str]:
    """`export A=1 B=2` lines -> {"A": "1", "B": "2"} (what eval would set)."""
    import shlex

    values: dict[str, str] = {}
    for line in lines.splitlines():
        words = shlex.split(line)
        assert words[0] == "export", line
        values.update(word.split("=", 1) for word in words[1:])
    return values


def _subprocess_env(env: dict[str, str | None]) -> dict[str, str]:
    merged = {k: v for k, v in os.environ.items() if not k.startswith("LINESYNC_")}
    merged.update({k: v for k, v in env.items() if v is not None})
    return merged


def _linesync(args: list[str], env: dict[str, str | None], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "linesync_cli", *args], env=_subprocess_env(env),
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def _free_port_pair() -> int:
    """A port N with N + 1 free too (the sandbox's Klaviyo and LINE)."""
    for _ in range(50):
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise AssertionError("no two adjacent free ports")


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    assert len(lines) <= 2 and all(line.startswith(("error: ", "hint: ")) for line in lines), stderr
    return errors[0]


@pytest.fixture
def demo(tmp_path):
    """A demo sandbox on free ports in this process; env is what `eval "$(linesync sandbox env)"` sets."""
    options = service.SandboxOptions(port=0)
    sandbox = service.Sandbox(options, seed_demo, tmp_path / "state")
    info = sandbox.start()
    env = _env(tmp_path) | _exports("\n".join(info.exports()))
    try:
        yield sandbox, env
    finally:
        sandbox.close()


# -- lifecycle through the CLI ---------------------------------------------------------

def test_detach_env_status_stop(tmp_path) -> None:
    env = _env(tmp_path)
    port = _free_port_pair()
    started = _linesync(["sandbox", "start", "--detach", "--port", str(port), "--seed", "empty"], env)
    try:
        assert started.returncode == 0, started.stderr
        exports = _exports(started.stdout)
        assert exports["LINESYNC_KLAVIYO_BASE_URL"] == f"http://127.0.0.1:{port}"
        assert exports["LINESYNC_LINE_BASE_URL"] == f"http://127.0.0.1:{port + 1}"
        assert exports["LINESYNC_KLAVIYO_API_KEY"].startswith("pk_sandbox_")
        control = tmp_path / "state" / "sandbox"
        pid = int((control / "sandbox.pid").read_text())
        assert pid != os.getpid() and f"pid {pid}" in started.stderr

        # env prints the same exports, also from a shell that already evaluated them
        # (LINESYNC_STATE_DIR then points at the sandbox's workspace).
        again = run_cli(["sandbox", "env"], env=env)
        assert again.exit_code == 0 and _exports(again.stdout) == exports
        inside = run_cli(["sandbox", "env"], env=clean_env(**exports))
        assert inside.exit_code == 0 and _exports(inside.stdout) == exports

        status = run_cli(["sandbox", "status", "--json"], env=env)
        assert status.exit_code == 0, status.stderr
        data = json.loads(status.stdout)
        assert data["pid"] == pid and data["answering"] == {"klaviyo": True, "line": True}
        assert "api_key" not in data and exports["LINESYNC_KLAVIYO_API_KEY"] not in status.stdout

        # A second sandbox for the same state directory is refused, the first keeps running.
        second = run_cli(["sandbox", "start", "--port", "0"], env=env)
        assert second.exit_code == 2 and f"pid {pid}" in _one_error_line(second.stderr)

        # The exports work: a command reaches the sandbox, and says so on stderr.
        metrics = run_cli(["metrics", "--allow-missing"], env=clean_env(**exports))
        assert "talking to the linesync sandbox" in metrics.stderr
    finally:
        stopped = run_cli(["sandbox", "stop"], env=env)
    assert stopped.exit_code == 0 and "sandbox stopped" in stopped.stderr
    assert not (tmp_path / "state" / "sandbox" / "sandbox.json").exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    for args in (["sandbox", "env"], ["sandbox", "status"]):
        result = run_cli(args, env=env)
        assert result.exit_code == 1 and "no sandbox is running" in result.stderr and result.stdout == ""
    assert run_cli(["sandbox", "stop"], env=env).exit_code == 0  # stopping none is fine (CI cleanup steps)


def test_foreground_sandbox_ends_quietly_on_ctrl_c(tmp_path) -> None:
    env = _env(tmp_path)
    child = subprocess.Popen([sys.executable, "-m", "linesync_cli", "sandbox", "start", "--port", "0", "--seed",
                              "empty"], env=_subprocess_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=ROOT)
    control = tmp_path / "state" / "sandbox"
    # Read both pipes as lines arrive, and press Ctrl-C only once the sandbox has said how to
    # stop it: the control file alone appears a moment before the export lines are printed.
    out_lines: list[str] = []
    err_lines: list[str] = []
    pumps = [threading.Thread(target=lines.extend, args=(stream,), daemon=True)
             for stream, lines in ((child.stdout, out_lines), (child.stderr, err_lines))]
    for pump in pumps:
        pump.start()
    deadline = time.monotonic() + 30
    while (not any("Ctrl-C stops the sandbox" in line for line in err_lines)
           and time.monotonic() < deadline and child.poll() is None):
        time.sleep(0.05)
    assert (control / "sandbox.json").exists(), "".join(err_lines)
    child.send_signal(signal.SIGINT)
    child.wait(timeout=20)
    for pump in pumps:
        pump.join(timeout=5)
    out, err = "".join(out_lines), "".join(err_lines)
    assert child.returncode == 0, err
    assert "export LINESYNC_KLAVIYO_BASE_URL=" in out
    assert "sandbox stopped" in err and "error" not in err and "Traceback" not in err
    assert not (control / "sandbox.json").exists() and not (control / "sandbox.pid").exists()


# -- the demo seed is coherent -----------------------------------------------------------

def test_doctor_against_the_demo_gives_the_expected_checks(demo) -> None:
    sandbox, env = demo
    assert run_cli(["links", "sync"], env=env).exit_code == 0
    result = run_cli(["doctor", "--json"], env=env)
    assert result.exit_code == 1, result.stderr  # the demo's gap is within the 7 days doctor compares
    checks = {c["id"]: c for c in json.loads(result.stdout)["checks"]}
    statuses = {name: c["status"] for name, c in checks.items()}
    assert statuses == {
        "config": "pass", "klaviyo-auth": "pass", "klaviyo-scopes": "pass", "line-metrics": "pass",
        "metric-split": "pass", "recent-events": "pass",
        "link-index": "warn",  # the one LINE user ID on two profiles
        "linkage": "skip", "trackable-message": "skip", "utm-links": "skip", "open-vs-read": "info", "segment-processing": "skip",
        "line-token": "pass",
        "line-vs-klaviyo": "fail",  # the two gap days, and no other
    }
    assert checks["line-vs-klaviyo"]["data"]["short_days"] == [d.isoformat() for d in sandbox.summary.gap_days]
    segment = sandbox.summary.processing_segment
    processing = run_cli(["doctor", "--only", "segment-processing", "--segment", segment, "--json"], env=env)
    check = json.loads(processing.stdout)["checks"][0]
    assert check["status"] == "warn" and "still recalculating" in check["detail"]


def test_reconcile_against_the_demo_names_exactly_the_two_gap_days(demo) -> None:
    sandbox, env = demo
    result = run_cli(["reconcile", "--since", "14d", "--json"], env=env)
    assert result.exit_code == 1, result.stderr
    summary = json.loads(result.stdout)["summary"]
    gap = [d.isoformat() for d in sandbox.summary.gap_days]
    assert summary["short_days"] == gap
    assert summary["missing_delivered"] > 200  # the gap holds a broadcast
    assert summary["states"]["match"] >= 10  # every other finished day matches
    assert f"2 short days ({gap[0]} to {gap[1]})" in result.stderr

    per_send = run_cli(["reconcile", "--request-id", sandbox.summary.request_id, "--match-property",
                        "LINE Request ID", "--json"], env=env)
    assert per_send.exit_code == 0, per_send.stderr
    send = json.loads(per_send.stdout)["sends"][0]
    assert send["problem"] is None and send["delivered"]["state"] == "match"
    assert send["line"]["delivered"] == send["klaviyo_unique"]["delivered"] > 100


def test_metrics_lists_the_nine_and_the_emails_are_beside_them(demo) -> None:
    sandbox, env = demo
    result = run_cli(["metrics", "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["metrics"]
    assert len(rows) == 9 and all(r["status"] == "present" for r in rows)
    names = {m["name"] for m in sandbox.klaviyo.metrics.values()}
    assert {"Received Email", "Opened Email", "Clicked Email"} <= names


def test_check_link_of_the_seeded_users(demo) -> None:
    sandbox, env = demo
    assert run_cli(["links", "sync"], env=env).exit_code == 0
    samples = sandbox.summary.samples
    expected = {"linked": 0, "unlinked": 1, "ambiguous": 1, "malformed": 1}
    codes = {kind: run_cli(["check-link", samples[kind], "--json"], env=env) for kind in expected}
    assert {kind: r.exit_code for kind, r in codes.items()} == expected
    # Each run says once that it talks to a sandbox (the unlinked one only to its LINE).
    assert all(r.stderr.count("talking to the linesync sandbox") == 1 for r in codes.values())
    assert "not LINE" in codes["unlinked"].stderr
    statuses = {kind: json.loads(r.stdout)["results"][0]["status"] for kind, r in codes.items()}
    assert statuses["linked"] == "linked" and statuses["unlinked"] == "unlinked"
    assert statuses["ambiguous"] == "ambiguous" and statuses["malformed"] != "linked"


def test_demo_is_the_same_on_every_start_and_holds_what_the_seed_says() -> None:
    from datetime import UTC, datetime

    from linesync_cli.sandbox.line import LineStandIn

    now = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)
    first, second = (seed_demo(KlaviyoStandIn(), LineStandIn(), now) for _ in range(2))
    assert first.to_json() == second.to_json()
    later = seed_demo(KlaviyoStandIn(), LineStandIn(), now.replace(hour=2))
    assert later.events == first.events  # anchored on the day: the same counts at any hour

    klaviyo, line = KlaviyoStandIn(), LineStandIn()
    summary = seed_demo(klaviyo, line, now)
    assert len(klaviyo.profiles) == DEMO_PROFILES and summary.events == len(klaviyo.events)
    carriers: dict[str, int] = {}
    for profile in klaviyo.profiles.values():
        value = profile["properties"].get("LINE User ID")
        if value:
            carriers[value] = carriers.get(value, 0) + 1
    assert carriers[summary.samples["ambiguous"]] == 2 and carriers[summary.samples["linked"]] == 1
    assert summary.samples["unlinked"] in line.users and summary.samples["unlinked"] not in carriers
    # Event Sync records only linked users' actions, with the identifiers reports and reads need.
    by_profile = {p["id"]: p["properties"].get("LINE User ID") for p in klaviyo.profiles.values()}
    line_events = [e for e in klaviyo.events if "LINE" in klaviyo.metrics[e["metric_id"]]["name"]]
    assert line_events and all(e["properties"]["LINE User ID"] == by_profile[e["profile_id"]] for e in line_events)
    assert all(e["properties"]["$event_id"] == e["unique_id"] for e in klaviyo.events)
    sent = [e for e in line_events if klaviyo.metrics[e["metric_id"]]["name"] == "Sent LINE Message"]
    assert {"broadcast", "flow"} == {e["properties"]["Send Type"] for e in sent}
    assert all(e["properties"].get("Broadcast ID") or e["properties"].get("Flow ID") for e in sent)
    # LINE's Insight figures are the same events counted per JST day: on every day but the
    # gap's, LINE's delivered (every send type) is Klaviyo's Delivered LINE Message, and LINE's
    # follower and block totals grow by the day's Followed and Blocked events.
    from linesync_cli.sandbox.seed import JST

    def klaviyo_per_jst_day(metric: str) -> Counter[date]:
        return Counter(e["datetime"].astimezone(JST).date() for e in line_events
                       if klaviyo.metrics[e["metric_id"]]["name"] == metric)

    delivered = klaviyo_per_jst_day("Delivered LINE Message")
    followed, blocked = klaviyo_per_jst_day("Followed LINE Account"), klaviyo_per_jst_day("Blocked LINE Account")
    days = sorted(day for day in line.insight.deliveries if day not in summary.gap_days)
    assert len(days) >= DEMO_WEEKS * 7 - 2 and max(days) == now.astimezone(JST).date()
    for day in days:
        assert sum(line.insight.deliveries[day].values()) == delivered[day], day
        if day == min(days):
            continue  # LINE's totals before the demo's weeks: no change to compare
        before, after = line.insight.followers[day - timedelta(days=1)], line.insight.followers[day]
        assert after["followers"] - before["followers"] == followed[day], day
        assert after["blocks"] - before["blocks"] == blocked[day], day
    assert sum(1 for day in days if sum(line.insight.deliveries[day].values()) >= 20) >= len(days) - 2
    assert line.insight.followers[min(days)]["blocks"] >= 20  # over LINE's privacy threshold, so compared
    # The two gap days: LINE counted deliveries and follows, Klaviyo holds none of them.
    assert len(summary.gap_days) == 2
    for day in summary.gap_days:
        assert sum(line.insight.deliveries[day].values()) > 0 and delivered[day] == 0
        assert line.insight.followers[day]["followers"] > line.insight.followers[day - timedelta(days=1)]["followers"]
        assert not [e for e in line_events if e["datetime"].astimezone(JST).date() == day]
    assert now.astimezone(JST).date() in line.insight.unready_days
    # The broadcast with a request ID: LINE's figures are the unique profiles Klaviyo holds for it.
    figures = line.insight.message_events[summary.request_id]
    tagged = {e["profile_id"] for e in line_events if e["properties"].get("LINE Request ID") == summary.request_id
              and klaviyo.metrics[e["metric_id"]]["name"] == "Delivered LINE Message"}
    assert figures["delivered"] == len(tagged) > 100
    live = [f for f in klaviyo.flows.values() if f["status"] == "live"]
    assert [klaviyo.metrics[f["trigger_metric_id"]]["name"] for f in live] == ["Followed LINE Account"]
    assert klaviyo.segments[summary.processing_segment]["is_processing"] is True


def test_the_sandbox_enforces_klaviyo_rules(demo, tmp_path) -> None:
    sandbox, env = demo
    assert run_cli(["links", "sync"], env=env).exit_code == 0
    first = run_cli(["backfill", str(ROOT / "examples" / "sandbox-actions.csv"), "--json"], env=env)
    assert first.exit_code == 1  # the one bad row
    counts = json.loads(first.stdout)["counts"]
    assert (counts["sent"], counts["rejected"], counts["unlinked"], counts["ambiguous"]) == (7, 1, 1, 1)
    events, profiles = len(sandbox.klaviyo.events), len(sandbox.klaviyo.profiles)
    again = run_cli(["backfill", str(ROOT / "examples" / "sandbox-actions.csv"), "--restart", "--json"], env=env)
    assert again.exit_code == 1
    # Sent again, recorded once: unique_id de-duplication, as Klaviyo does it.
    assert len(sandbox.klaviyo.events) == events and sandbox.klaviyo.duplicates_ignored == 7
    assert len(sandbox.klaviyo.profiles) == profiles and sandbox.klaviyo.profiles_created == 0
    # Rate limits are Klaviyo's: get_accounts allows 1 a second.
    limit = sandbox.klaviyo._limit_for("get_accounts")
    assert limit.windows[:2] == [(1, 1.0), (15, 60.0)]


def test_faults_make_requests_fail(tmp_path, fast_retries) -> None:
    options = service.SandboxOptions(port=0, seed_name="empty", faults=1.0)
    sandbox = service.Sandbox(options, resolve_seed("empty"), tmp_path / "state")
    info = sandbox.start()
    try:
        result = run_cli(["metrics"], env=_env(tmp_path) | _exports("\n".join(info.exports())))
    finally:
        sandbox.close()
    assert result.exit_code == 4, result.stderr  # unavailable after retries


# -- bad input: one line, exit 2, nothing started ------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["--faults", "1.5"], "--faults 1.5 is not a probability between 0 and 1"),
    (["--faults", "-0.1"], "is not a probability"),
    (["--host", "0.0.0.0"], "loopback only"),
    (["--host", "192.168.1.20"], "loopback only"),
    (["--seed", "no-such-seed.jsonl"], "seed file no-such-seed.jsonl does not exist"),
])
def test_bad_options_exit_2_with_one_line(tmp_path, args, words) -> None:
    result = run_cli(["sandbox", "start", "--port", "0", *args], env=_env(tmp_path))
    assert result.exit_code == 2
    assert words in _one_error_line(result.stderr)
    assert not (tmp_path / "state" / "sandbox" / "sandbox.json").exists()


def test_a_port_in_use_exits_2(tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(["sandbox", "start", "--port", str(port), "--seed", "empty"], env=_env(tmp_path))
    assert result.exit_code == 2
    assert f"port {port} on 127.0.0.1 is in use" in _one_error_line(result.stderr)
    assert not (tmp_path / "state" / "sandbox" / "sandbox.json").exists()


def test_a_seed_file_that_does_not_parse_names_file_and_line(tmp_path) -> None:
    seed = tmp_path / "seed.jsonl"
    seed.write_text('{"profile": {"email": "taro@example.jp"}}\n\n{"event": {"metric": "Sent LINE Message",\n')
    result = run_cli(["sandbox", "start", "--port", "0", "--seed", str(seed)], env=_env(tmp_path))
    assert result.exit_code == 2
    assert f"{seed}:3: not JSON" in _one_error_line(result.stderr)
    seed.write_text('{"profile": {"email": "taro@example.jp"}}\n'
                    '{"event": {"metric": "Sent LINE Message", "profile": {"email": "hanako@example.jp"}, '
                    '"time": "2026-11-02T10:00:00+09:00"}}\n')
    result = run_cli(["sandbox", "start", "--port", "0", "--seed", str(seed)], env=_env(tmp_path))
    assert result.exit_code == 2
    assert f"{seed}:2: event: no profile with email hanako@example.jp" in _one_error_line(result.stderr)


def test_a_seed_file_seeds_what_it_says(tmp_path) -> None:
    uid = "U" + "ab" * 16
    seed = tmp_path / "seed.jsonl"
    seed.write_text("\n".join(json.dumps(line) for line in [
        {"profile": {"email": "taro@example.jp", "properties": {"LINE User ID": uid}}},
        {"line_user": {"userId": uid, "displayName": "Taro"}},
        {"event": {"metric": "Followed LINE Account", "profile": {"line_user_id": uid},
                   "time": "2026-11-02T10:00:00+09:00", "properties": {"LINE User ID": uid}}},
        {"flow": {"name": "Welcome", "trigger_metric": "Followed LINE Account"}},
    ]) + "\n")
    sandbox = service.Sandbox(service.SandboxOptions(port=0, seed_name=str(seed)), resolve_seed(str(seed)),
                              tmp_path / "state")
    info = sandbox.start()
    try:
        env = _env(tmp_path) | _exports("\n".join(info.exports()))
        assert run_cli(["links", "sync"], env=env).exit_code == 0
        assert run_cli(["check-link", uid], env=env).exit_code == 0
        assert info.summary["events"] == 1 and len(sandbox.klaviyo.flows) == 1
    finally:
        sandbox.close()


def test_the_stand_in_refuses_anything_but_loopback() -> None:
    for host in ("0.0.0.0", "192.168.1.20", "::"):
        with pytest.raises(ValueError, match="loopback only"):
            KlaviyoStandIn().start(host)


def test_a_stop_signal_ends_serving_every_time(tmp_path) -> None:
    """SIGTERM (`sandbox stop`) and SIGHUP (terminal closed) end serve_forever, whenever they land.

    The handler only sets a flag: an Event.set() in it deadlocked when the signal landed while
    serve_forever held the Event's lock (CI saw `sandbox stop` time out once)."""
    sandbox = service.Sandbox(service.SandboxOptions(port=0, seed_name="empty"), resolve_seed("empty"),
                              tmp_path / "state")
    sandbox.start()
    try:
        for attempt in range(20):
            sig = signal.SIGTERM if attempt % 2 else signal.SIGHUP
            timer = threading.Timer(0.001 * (attempt % 7), os.kill, (os.getpid(), sig))
            began = time.monotonic()
            timer.start()
            sandbox.serve_forever()
            timer.join()
            assert time.monotonic() - began < 2.0
            sandbox._stopping = False
    finally:
        sandbox.close()
    assert signal.getsignal(signal.SIGTERM) != sandbox._on_stop_signal  # the previous handler is back (a bound
    # method is a new object at each access, so `is not` could never fail)
