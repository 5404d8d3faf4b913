"""Secret sweep: no command ever shows or stores the Klaviyo key or the LINE token.

Every command and subcommand (found by walking the Click tree, so a new command
cannot be forgotten: `test_every_command_is_swept` fails until it has arguments
here) runs against the stand-ins with a recognisable key and token, in several
worlds:

- `ok`: both credentials accepted, data present (success paths);
- `refused`: both answered 401/400 (Klaviyo's JSON:API error body, LINE's message);
- `echoing`: every API answer is an error whose body quotes the credentials back
  (a misbehaving proxy or API): the tool must not pass them on;
- `unavailable`: 5xx, then the retries give up (exit 4);
- `throttled`: a 429 asking for ten minutes (stops at once, exit 4);
- `unreachable`: nothing listens at the base URLs (connection refused);
- `dotenv`, `config-file`: as `ok`, with the credentials in `.env` in the working
  directory or in the TOML config file instead of the environment;
- `broken-config`: the config file holds the credentials in values it cannot take
  (a list, a number, an unquoted string): every command stops with exit 2.

Each run has `--verbose --debug` (request logs and tracebacks); the `ok` world also
runs plain. Searched for the secrets, and for any 10-character piece of them: stdout,
stderr, the traceback of an exception that escaped (what `--debug` prints from a
real process), every log record at DEBUG level from every logger, and every byte of
every file the runs wrote (state dir with the SQLite ledger and link index, rejects
file, --unlinked list, --out request bodies, the working directory).
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer

from linesync_cli.catalogue import ACTIONS
from tests.support.spec import SPECS_PRESENT
from tests.support.standin_cli import clean_env, run_cli
from tests.support.standins import KlaviyoStandIn, LineStandIn

SWEEP_KEY = "pk_SWEEPsecret7c1e0b94d2a65f38"
SWEEP_TOKEN = "LINEtokenSWEEP4f0e9a7b2c61d853"
SECRETS = (SWEEP_KEY, SWEEP_TOKEN)
WINDOW = 10  # any piece of a secret this long counts as a leak (masks show at most "pk_…")
UID = "U4af4980629a1b2c3d4e5f60718293a4b"
UNLINKED_UID = "U0000000000000000000000000000beef"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
JSONAPI = "application/vnd.api+json"
WORLDS = ("ok", "refused", "echoing", "unavailable", "throttled", "unreachable", "dotenv", "config-file",
          "accounts", "broken-config")
SETTINGS_FILES = {"linesync.toml", ".env"}  # where the credentials are put on purpose: not searched


def _pieces(secret: str) -> set[str]:
    return {secret[i:i + WINDOW] for i in range(len(secret) - WINDOW + 1)}


PIECES = {piece: secret for secret in SECRETS for piece in _pieces(secret)}


def leaks(data: str | bytes) -> list[str]:
    """The secret pieces found in `data` (text or raw bytes: UTF-8 and UTF-16 both searched)."""
    if isinstance(data, bytes):
        texts = [data.decode("utf-8", "replace"), data.decode("utf-16-le", "replace"), data.decode("latin-1")]
    else:
        texts = [data]
    return sorted({piece for piece in PIECES for text in texts if piece in text})


# -- the commands ------------------------------------------------------------------------------
def leaf_commands() -> Iterator[str]:
    """Every runnable command path ("backfill runs", "metrics", ...), walked from the Click tree."""
    from linesync_cli.app import app

    def walk(command, path: list[str]) -> Iterator[str]:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            yield " ".join(path)
            return
        if path and getattr(command, "invoke_without_command", False):
            yield " ".join(path)
        for name, sub in subcommands.items():
            yield from walk(sub, [*path, name])

    yield from walk(typer.main.get_command(app), [])


def command_runs(tmp: Path) -> dict[str, list[list[str]]]:
    """Arguments for each command path: the runs of one world (success and failure inputs)."""
    actions = tmp / "actions.csv"
    link_map = tmp / "map.csv"
    message = EXAMPLES / "messages" / "text-with-url.json"
    return {
        "links sync": [["links", "sync"], ["links", "sync", "--full", "--json"]],
        "links status": [["links", "status"], ["links", "status", "--json"]],
        "backfill run": [
            ["backfill", str(actions), "--link-map", str(link_map), "--unlinked", str(tmp / "unlinked.csv"),
             "--rejects", str(tmp / "rejects.jsonl"), "--json"],
            ["backfill", str(actions), "--dry-run", "--out", str(tmp / "bodies"), "--link-map", str(link_map)],
            ["backfill", str(actions), "--json"],  # through the link index
            ["backfill", str(actions), "--link-map", str(link_map), "--trigger-flows"],  # refused: no --yes
        ],
        "backfill runs": [["backfill", "runs"], ["backfill", "runs", "--json"]],
        "backfill verify": [["backfill", "verify", "--settle", "0s"], ["backfill", "verify", "--json", "--sample", "5"]],
        "events pull": [["events", "pull", "--since", "30d"], ["events", "pull", "--json", "--full"]],
        "events status": [["events", "status"], ["events", "status", "--json"]],
        "events export": [["events", "export", str(tmp / "export"), "--format", "jsonl", "--json"]],
        "report broadcasts": [["report", "broadcasts"], ["report", "broadcasts", "--format", "csv", "--by", "message"]],
        "report revenue": [["report", "revenue"], ["report", "revenue", "--json", "--by", "broadcast", "--per", "week",
                                                   "--order-metric", "Purchase"]],
        "check-link": [["check-link", UID], ["check-link", UNLINKED_UID, "--json"], ["check-link", "not-an-id"]],
        "inspect-profile": [["inspect-profile", "--line-user-id", UID], ["inspect-profile", "--email", "a@example.com",
                                                                          "--json"]],
        "doctor": [["doctor"], ["doctor", "--json", "--line-user-id", UID, "--message", str(message)]],
        "metrics": [["metrics"], ["metrics", "--json"]],
        "metrics show": [["metrics", "show", "Sent LINE Message", "--feed"], ["metrics", "show", "clicked", "--json"]],
        "report funnel": [["report", "funnel", "--since", "30d"], ["report", "funnel", "--json", "--compare-email"]],
        "reconcile": [["reconcile", "--since", "3d"], ["reconcile", "--request-id", "f70dd685-0000", "--json"]],
        "segments presets": [["segments", "presets"]],
        "segments create": [["segments", "create", "clicked-recently", "--dry-run"],
                            ["segments", "create", "clicked-recently", "--json"]],
        "config show": [["config", "show"], ["config", "show", "--json"]],
        "config accounts": [["config", "accounts"], ["config", "accounts", "--json"]],
        # The sandbox uses its own credentials; these runs check its errors carry none of the user's.
        "sandbox start": [["sandbox", "start", "--faults", "2"], ["sandbox", "start", "--seed", str(tmp / "no.jsonl")]],
        "sandbox stop": [["sandbox", "stop"]],
        "sandbox env": [["sandbox", "env"]],
        "sandbox status": [["sandbox", "status", "--json"]],
        "config path": [["config", "path"], ["config", "path", "--json"]],
        # Written next to the settings files but under another name, so it is searched: the
        # template must not copy a key from the environment, .env or the config file.
        "config init": [["config", "init", "--config", str(tmp / "written-by-init.toml")],
                        ["config", "init", "--json", "--force", "--config", str(tmp / "written-by-init.toml")]],
    }


# -- the worlds --------------------------------------------------------------------------------
class Sweep:
    def __init__(self, tmp: Path, world: str) -> None:
        self.tmp = tmp
        self.world = world
        self.klaviyo = KlaviyoStandIn(api_key=SWEEP_KEY, validate=True).start()
        self.klaviyo.rate_limits_enabled = False  # pacing is not what this sweep is about
        self.line = LineStandIn(token=SWEEP_TOKEN).start()
        self.outputs: list[tuple[str, str]] = []  # (what, text) to search
        self._populate()
        self._break()
        config = tmp / "linesync.toml"
        config.write_text("")
        klaviyo_url, line_url = self.klaviyo.base_url, self.line.base_url
        if world == "unreachable":
            klaviyo_url = line_url = "http://127.0.0.1:9"  # discard port: connection refused
        key, token = SWEEP_KEY, SWEEP_TOKEN
        if world == "dotenv":  # tmp is the working directory
            (tmp / ".env").write_text(f"LINESYNC_KLAVIYO_API_KEY={SWEEP_KEY}\n"
                                      f"LINESYNC_LINE_CHANNEL_ACCESS_TOKEN='{SWEEP_TOKEN}'\n")
            key = token = None
        elif world == "config-file":
            config.write_text(f'klaviyo_api_key = "{SWEEP_KEY}"\nline_channel_access_token = "{SWEEP_TOKEN}"\n')
            key = token = None
        elif world == "accounts":  # the secrets in a named account's table, the default account
            config.write_text(f'default_account = "sweep"\n[accounts.sweep]\nklaviyo_api_key = "{SWEEP_KEY}"\n'
                              f'line_channel_access_token = "{SWEEP_TOKEN}"\n')
            key = token = None
        elif world == "broken-config":
            config.write_text(f'[linesync]\nklaviyo_api_key = ["{SWEEP_KEY}"]\nline_channel_access_token = '
                              f'{{ value = "{SWEEP_TOKEN}" }}\n')
            key = token = None
        self.env = clean_env(
            LINESYNC_KLAVIYO_API_KEY=key, LINESYNC_KLAVIYO_BASE_URL=klaviyo_url,
            LINESYNC_LINE_CHANNEL_ACCESS_TOKEN=token, LINESYNC_LINE_BASE_URL=line_url,
            LINESYNC_STATE_DIR=str(tmp / "state"), LINESYNC_CONFIG=str(config),
        )

    def _populate(self) -> None:
        k, now = self.klaviyo, datetime.now(UTC)
        pid = k.add_profile(email="a@example.com", properties={"LINE User ID": UID})
        for action in ACTIONS:
            mid = k.add_metric(action.metric_name)
            k.add_event(mid, pid, now - timedelta(hours=2), properties={"LINE User ID": UID, "URL": "https://x.example"})
        k.add_metric("Opened Email", integration_name="Klaviyo", integration_category="Email")
        k.add_flow("Welcome", trigger_metric_id=k.metric_by_name("Followed LINE Account")["id"])
        self.line.add_user(UID, display_name="Sweep User")
        (self.tmp / "map.csv").write_text(f"line_user_id,profile_id\n{UID},{pid}\n")
        (self.tmp / "actions.csv").write_text(
            "action,line_user_id,occurred_at,url\n"
            f"clicked,{UID},2026-03-01T09:15:00+09:00,https://shop.example.com/p/1\n"
            f"sent,{UNLINKED_UID},2026-03-01T09:16:00+09:00,\n"
            f"opened,{UID},not a time,\n")

    def _break(self) -> None:
        k, line = self.klaviyo, self.line
        if self.world == "refused":
            k.api_key = "pk_someoneelse00000000000000"
            line.tokens.clear()
        elif self.world == "echoing":
            # Each API can only quote back what it was sent: the key to Klaviyo, the token to LINE.
            echo = f"key {SWEEP_KEY} / Authorization: Klaviyo-API-Key {SWEEP_KEY}"
            k.respond_next(None, 400, {"errors": [{"id": "e1", "status": 400, "code": "invalid",
                                                   "title": f"Invalid input ({SWEEP_KEY}).", "detail": echo,
                                                   "source": {"pointer": "/data/", "parameter": SWEEP_KEY}}]},
                           content_type=JSONAPI, n=10_000)
            line.respond_next(None, 401, {"message": f"Authorization: Bearer {SWEEP_TOKEN}",
                                          "details": [{"message": SWEEP_TOKEN, "property": SWEEP_TOKEN}]}, n=10_000)
        elif self.world == "unavailable":
            k.respond_next(None, 503, {"errors": [{"id": "e", "status": 503, "code": "error", "title": "Unavailable.",
                                                   "detail": f"upstream said {SWEEP_KEY}"}]}, content_type=JSONAPI,
                           n=10_000)
            line.respond_next(None, 500, {"message": f"upstream said {SWEEP_TOKEN}"}, n=10_000)
        elif self.world == "throttled":
            k.throttle_next(10_000, retry_after=600)
            line.respond_next(None, 429, {"message": f"The API rate limit has been exceeded ({SWEEP_TOKEN})"},
                              headers={"Retry-After": "600"}, n=10_000)

    def run(self, args: list[str]) -> None:
        result = run_cli(args, env=self.env)
        label = f"[{self.world}] linesync {' '.join(args)} (exit {result.exit_code})"
        self.outputs.append((f"{label} stdout", result.stdout))
        self.outputs.append((f"{label} stderr", result.stderr))
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            # What `--debug` prints from a real process: the traceback, without locals.
            self.outputs.append((f"{label} traceback", "".join(traceback.format_exception(*result.exc_info))))
            self.outputs.append((f"{label} exception", repr(result.exception)))
        assert result.exit_code in (0, 1, 2, 3, 4), (label, result.stderr, result.exception)

    def files(self) -> Iterator[Path]:
        for path in sorted(self.tmp.rglob("*")):
            if path.is_file():
                yield path

    def stop(self) -> None:
        self.klaviyo.stop()
        self.line.stop()


@pytest.fixture
def no_pacing(monkeypatch):
    """The client's own pacing (1 request/s for accounts, 3/s for aggregates) is not what is swept."""
    import linesync_cli.api.klaviyo as klaviyo_api

    monkeypatch.setattr(klaviyo_api, "OPERATIONS",
                        {op: (10_000, 100_000, scope) for op, (_, _, scope) in klaviyo_api.OPERATIONS.items()})


class LogCapture(logging.Handler):
    """Every record from every logger, formatted with its arguments (and exception text)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def log_capture():
    handler = LogCapture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # httpx/httpcore debug records included
    # `--verbose` makes the "linesync" logger stop propagating; catch its records there too.
    original = logging.Logger.callHandlers

    def call_handlers(self, record):
        if self.name.startswith("linesync") and not self.propagate:
            handler.handle(record)
        return original(self, record)

    logging.Logger.callHandlers = call_handlers  # type: ignore[method-assign]
    try:
        yield handler
    finally:
        logging.Logger.callHandlers = original  # type: ignore[method-assign]
        root.removeHandler(handler)
        root.setLevel(old_level)


def _sweep(tmp: Path, world: str, flags: list[list[str]], log_capture: LogCapture) -> Sweep:
    sweep = Sweep(tmp, world)
    try:
        runs = command_runs(tmp)
        order = ["links sync", *[c for c in runs if c != "links sync"]]  # the index first, for the rest
        for command in order:
            for args in runs[command]:
                for flag in flags:
                    sweep.run([*flag, *args])
    finally:
        sweep.stop()
    found: list[str] = []
    for what, text in sweep.outputs:
        if leaks(text):
            found.append(f"{what}: {leaks(text)}\n{text[:2000]}")
    for line in log_capture.lines:
        if leaks(line):
            found.append(f"log record: {leaks(line)}: {line[:500]}")
    for path in sweep.files():
        if path.name in SETTINGS_FILES:
            continue
        data = path.read_bytes()
        if leaks(data):
            found.append(f"file {path.relative_to(tmp)}: {leaks(data)}")
    assert not found, "secrets leaked:\n" + "\n".join(found)
    if SPECS_PRESENT and world in ("ok", "dotenv", "config-file"):
        assert not sweep.klaviyo.contract_violations, sweep.klaviyo.contract_violations[:5]
    return sweep


# -- the tests ---------------------------------------------------------------------------------
def test_every_command_is_swept(tmp_path):
    assert sorted(leaf_commands()) == sorted(command_runs(tmp_path))


def test_leak_detector_finds_pieces_in_text_and_bytes():
    assert leaks(f"error: bad key {SWEEP_KEY[3:14]}…") and leaks(SWEEP_TOKEN[-12:].encode("utf-16-le"))
    assert not leaks("LINESYNC_KLAVIYO_API_KEY  pk_…(30 chars)  env")


@pytest.mark.parametrize("world", WORLDS)
def test_no_secret_in_any_output_log_or_file(tmp_path, world, log_capture, fast_retries, no_pacing, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep = _sweep(tmp_path, world, [["--verbose", "--debug"]] + ([[]] if world == "ok" else []), log_capture)
    # The sweep must have exercised what it claims: the credentials went out and came to harm or success.
    klaviyo_auth = [r.headers.get("authorization") for r in sweep.klaviyo.requests]
    if world in ("unreachable", "broken-config"):
        assert not klaviyo_auth
        if world == "broken-config":
            assert "config file" in "\n".join(t for w, t in sweep.outputs if w.endswith("stderr"))
        return
    assert f"Klaviyo-API-Key {SWEEP_KEY}" in klaviyo_auth
    assert any(r.headers.get("authorization") == f"Bearer {SWEEP_TOKEN}" for r in sweep.line.requests)
    if world in ("ok", "dotenv", "config-file"):
        assert sweep.klaviyo.bulk_jobs >= 1  # a backfill really sent
        assert (tmp_path / "rejects.jsonl").exists() and list((tmp_path / "bodies").glob("batch-*.json"))
        assert list((tmp_path / "state").glob("*.sqlite")), "the ledger and the link index were written"
    stderr = "\n".join(text for what, text in sweep.outputs if what.endswith("stderr"))
    assert stderr.count("\n") > 20  # --verbose request lines and error messages were there to search
    if world == "echoing":
        assert any(r.status == 400 for r in sweep.klaviyo.requests)


@pytest.mark.slow
@pytest.mark.parametrize("world", WORLDS)
def test_no_secret_with_each_flag_alone(tmp_path, world, log_capture, fast_retries, no_pacing, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _sweep(tmp_path, world, [[], ["--verbose"], ["--debug"]], log_capture)


def test_debug_traceback_of_an_unexpected_error_holds_no_secret(tmp_path, log_capture, monkeypatch):
    """A bug inside a command with --debug re-raises: the traceback (no locals) must not hold the key."""
    monkeypatch.chdir(tmp_path)
    sweep = Sweep(tmp_path, "ok")
    try:
        import linesync_cli.api.klaviyo as klaviyo_api

        def boom(self, *args, **kwargs):
            raise RuntimeError(f"simulated bug while talking to {self.__class__.__name__}")

        monkeypatch.setattr(klaviyo_api.KlaviyoClient, "get_account", boom)
        monkeypatch.setattr(klaviyo_api.KlaviyoClient, "list_metrics", boom)
        for flags in (["--debug"], ["--debug", "--verbose"], []):
            sweep.run([*flags, "doctor", "--json"])
            sweep.run([*flags, "metrics"])
        text = "\n".join(t for _, t in sweep.outputs)
        assert "simulated bug" in text
        assert "Traceback" in text
        assert not leaks(text)
        assert not [line for line in log_capture.lines if leaks(line)]
    finally:
        sweep.stop()


def test_backfill_json_summary_and_runs_listing_name_no_secret(tmp_path, log_capture, monkeypatch):
    """The ledger's run options are shown by `backfill runs --json`: they must hold no credentials."""
    monkeypatch.chdir(tmp_path)
    sweep = Sweep(tmp_path, "ok")
    try:
        sweep.run(["backfill", str(tmp_path / "actions.csv"), "--link-map", str(tmp_path / "map.csv"), "--json"])
        sweep.run(["backfill", "runs", "--json"])
        runs = json.loads(sweep.outputs[-2][1])["runs"]
        assert runs and not leaks(json.dumps(runs))
    finally:
        sweep.stop()


def test_refused_events_quoting_the_key_leave_it_out_of_rejects_and_ledger(tmp_path, log_capture, monkeypatch):
    """Klaviyo's words on refused events are stored (rejects file, ledger) and shown: never the key."""
    monkeypatch.chdir(tmp_path)
    sweep = Sweep(tmp_path, "ok")
    try:
        sweep.klaviyo.respond_next(
            "/api/event-bulk-create-jobs", 400,
            {"errors": [{"id": "e1", "status": 400, "code": "invalid", "title": "Invalid input.",
                         "detail": f"profile refused for key {SWEEP_KEY}",
                         "source": {"pointer": "/data/attributes/events-bulk-create/data/0"}}]},
            content_type=JSONAPI)
        for flags in (["--verbose", "--debug"], []):
            sweep.run([*flags, "backfill", str(tmp_path / "actions.csv"), "--link-map", str(tmp_path / "map.csv"),
                       "--rejects", str(tmp_path / "rejects.jsonl"), "--json"])
            sweep.run([*flags, "backfill", "runs", "--json"])
    finally:
        sweep.stop()
    refused = (tmp_path / "rejects.jsonl").read_text()
    assert "Klaviyo refused the event" in refused and "profile refused for key ***" in refused
    stored = b"".join(p.read_bytes() for p in sweep.files() if p.name not in SETTINGS_FILES)
    ledger = b"".join(p.read_bytes() for p in (tmp_path / "state").glob("ledger.sqlite*"))
    assert b"profile refused for key ***" in ledger  # the ledger keeps the refusal, scrubbed
    assert not leaks(stored)
    assert not [t for _, t in sweep.outputs if leaks(t)]
    assert not [line for line in log_capture.lines if leaks(line)]


def test_verify_token_errors_quoting_the_token_from_form_or_query_are_scrubbed(httpx_mock):
    """LINE's verify calls carry the token in a form body or the query, not a header: scrubbed too."""
    from pydantic import SecretStr

    from linesync_cli.api.line import LineClient
    from linesync_cli.errors import BadRequest

    quoted = {"error": "invalid_request", "error_description": f"access_token {SWEEP_TOKEN} invalid",
              "details": [{"message": SWEEP_TOKEN}]}
    httpx_mock.add_response(method="POST", url="https://api.line.me/v2/oauth/verify", status_code=400, json=quoted)
    httpx_mock.add_response(method="GET", status_code=400, json=quoted)
    with pytest.raises(BadRequest) as info:
        LineClient(SecretStr(SWEEP_TOKEN)).verify_token()
    error = info.value
    assert "access_token *** invalid" in error.message
    assert not leaks(error.message + repr(error.errors) + str(error) + repr(error.args))


def test_verify_token_401_quoting_the_form_token_is_scrubbed(httpx_mock):
    from pydantic import SecretStr

    from linesync_cli.api.line import LineClient
    from linesync_cli.errors import AuthError

    httpx_mock.add_response(method="POST", url="https://api.line.me/v2/oauth/verify", status_code=401,
                            json={"message": f"token {SWEEP_TOKEN} expired"})
    with pytest.raises(AuthError) as info:
        LineClient(SecretStr(SWEEP_TOKEN)).verify_token()
    assert "token *** expired" in info.value.message and not leaks(str(info.value))
