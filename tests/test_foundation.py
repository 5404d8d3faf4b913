"""Issue 2: the foundation's contracts.

Unit tests for rate-limit parsing and pacing, retry decisions and configuration
precedence; `OPERATIONS` checked against the spec; and `linesync metrics` end to end
against the Klaviyo stand-in for every "bad input and failure" of the issue, with a
recognisable key that must never appear in any output or log.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import socket

import httpx
import pytest
from pydantic import SecretStr

from linesync_cli.api.http import RetryPolicy
from linesync_cli.api.klaviyo import OPERATIONS, KlaviyoClient, Op
from linesync_cli.api.ratelimit import Window, WindowLimiter, parse_ratelimit_limit
from linesync_cli.catalogue import ACTIONS
from linesync_cli.config import load_settings
from linesync_cli.errors import (
    ApiError,
    AuthError,
    ChallengeBlocked,
    ConfigError,
    ExitCode,
    MissingScope,
    RateLimited,
    Unavailable,
)
from tests.support.spec import assert_all_valid, requires_specs, spec_copy_of_operation
from tests.support.standin_cli import KLAVIYO_TEST_KEY, run_cli
from tests.support.standins import JSONAPI

BASE = "https://a.klaviyo.com"
LINE_NAMES = [a.metric_name for a in ACTIONS]


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# -- RateLimit-Limit parsing -----------------------------------------------------------------

@pytest.mark.parametrize("header, windows", [
    ("10, 10;w=1, 150;w=60", [Window(10, 1.0), Window(150, 60.0)]),
    ("3;w=0.5", [Window(3, 0.5)]),
    ("75 ; w = 1 ,750;w=60", [Window(75, 1.0), Window(750, 60.0)]),
    ("10", []),  # a bare count says nothing about the window length
    ("", []),
    ("garbage;w=x, 0;w=1", []),
])
def test_parse_ratelimit_limit(header, windows):
    assert parse_ratelimit_limit(header) == windows


def test_limiter_waits_for_the_burst_window():
    t = FakeTime()
    limiter = WindowLimiter([Window(3, 1.0), Window(100, 60.0)], clock=t.clock, sleep=t.sleep)
    assert [limiter.acquire().waited for _ in range(3)] == [0.0, 0.0, 0.0]
    waited = limiter.acquire().waited
    # A whole window, plus the safety margin and no more.
    from linesync_cli.api.ratelimit import MIN_MARGIN_SECONDS

    assert 1.0 + MIN_MARGIN_SECONDS - 1e-9 <= waited <= 1.0 + MIN_MARGIN_SECONDS + 0.01


def test_limiter_steady_window_binds_after_bursts():
    t = FakeTime()
    limiter = WindowLimiter([Window(10, 1.0), Window(15, 60.0)], clock=t.clock, sleep=t.sleep)
    for _ in range(15):
        limiter.acquire()
    assert t.now - 1000.0 < 2.1  # two bursts
    limiter.acquire()
    assert t.now - 1000.0 >= 60.0  # the 16th waits for the minute


@pytest.mark.parametrize("limit, seconds, phase", [(10, 1.0, 0.0), (10, 1.0, 0.37), (3, 0.5, 0.9)])
def test_paced_requests_never_overfill_a_fixed_window(limit, seconds, phase):
    """Whatever the server's window phase, pacing keeps every fixed window within the limit."""
    t = FakeTime()
    limiter = WindowLimiter([Window(limit, seconds)], clock=t.clock, sleep=t.sleep)
    sent = []
    for _ in range(limit * 7):
        limiter.acquire()
        sent.append(t.now)
    per_window: dict[int, int] = {}
    for when in sent:
        key = int((when - phase) // seconds)
        per_window[key] = per_window.get(key, 0) + 1
    assert max(per_window.values()) <= limit
    # and the budget is used: 7 windows' worth in 6 windows plus the safety margin, no more
    from linesync_cli.api.ratelimit import MIN_MARGIN_SECONDS, WINDOW_MARGIN

    margin = max(seconds * WINDOW_MARGIN, MIN_MARGIN_SECONDS)
    assert sent[-1] - sent[0] <= 6 * (seconds + margin) + 1e-6


def test_limiter_follows_new_windows_and_blocks():
    t = FakeTime()
    limiter = WindowLimiter([Window(100, 1.0)], clock=t.clock, sleep=t.sleep)
    limiter.set_windows([Window(1, 1.0)])
    limiter.acquire()
    assert limiter.acquire().waited >= 1.0
    limiter.block_for(5.0)
    assert limiter.acquire().waited >= 5.0


# -- retry decisions (pytest-httpx, fake time) -----------------------------------------------------

def klaviyo(t: FakeTime, **retry) -> KlaviyoClient:
    return KlaviyoClient(SecretStr(KLAVIYO_TEST_KEY), BASE, retry=RetryPolicy(**retry) if retry else None,
                         sleep=t.sleep, clock=t.clock, rng=lambda: 0.5)


def throttled(detail_seconds: int | None = None, retry_after: str | None = None) -> dict:
    detail = "Request was throttled." + (f" Expected available in {detail_seconds} seconds." if detail_seconds is not None else "")
    kw: dict = {"status_code": 429, "json": {"errors": [{"status": 429, "code": "throttled",
                                                          "title": "Request was throttled.", "detail": detail}]}}
    if retry_after is not None:
        kw["headers"] = {"Retry-After": retry_after}
    return kw


METRICS_URL = f"{BASE}/api/metrics/AbC123"


def get_metric(client: KlaviyoClient) -> dict:
    """The request loop under test, through the client's private transport (no operation of
    linesync reads one metric; get_metrics has the same limits and scope)."""
    return client._get("/api/metrics/AbC123", op=Op.GET_METRICS)


def test_429_waits_for_retry_after(httpx_mock):
    t = FakeTime()
    httpx_mock.add_response(url=METRICS_URL, **throttled(0, retry_after="7"))
    httpx_mock.add_response(url=METRICS_URL, json={"data": {"id": "AbC123"}})
    assert get_metric(klaviyo(t))["data"]["id"] == "AbC123"
    assert 7.0 <= sum(t.sleeps) <= 7.4  # Retry-After wins over the detail text, plus a little jitter


def test_429_without_retry_after_reads_expected_available(httpx_mock):
    t = FakeTime()
    httpx_mock.add_response(url=METRICS_URL, **throttled(2))
    httpx_mock.add_response(url=METRICS_URL, json={"data": {"id": "AbC123"}})
    client = klaviyo(t)
    get_metric(client)
    assert 2.0 <= sum(t.sleeps) <= 2.4
    assert client.stats["throttled"] == 1


def test_429_with_neither_backs_off(httpx_mock):
    t = FakeTime()
    httpx_mock.add_response(url=METRICS_URL, **throttled(None))
    httpx_mock.add_response(url=METRICS_URL, json={"data": {"id": "AbC123"}})
    get_metric(klaviyo(t, base_delay=0.5))
    assert 0.0 < sum(t.sleeps) <= 1.0


def test_429_asking_too_long_gives_up_at_once(httpx_mock):
    t = FakeTime()
    httpx_mock.add_response(url=METRICS_URL, **throttled(0, retry_after="3600"))
    with pytest.raises(RateLimited) as info:
        get_metric(klaviyo(t))
    assert info.value.exit_code == ExitCode.UNAVAILABLE
    assert len(httpx_mock.get_requests()) == 1


def test_429_forever_ends_rate_limited(httpx_mock):
    t = FakeTime()
    httpx_mock.add_response(url=METRICS_URL, is_reusable=True, **throttled(0))
    with pytest.raises(RateLimited):
        get_metric(klaviyo(t, max_attempts=4))
    assert len(httpx_mock.get_requests()) == 4


def test_5xx_is_retried_then_succeeds(httpx_mock):
    t = FakeTime()
    httpx_mock.add_response(url=METRICS_URL, status_code=502)
    httpx_mock.add_response(url=METRICS_URL, status_code=500)
    httpx_mock.add_response(url=METRICS_URL, json={"data": {"id": "AbC123"}})
    client = klaviyo(t, base_delay=0.5)
    get_metric(client)
    assert client.stats["retries"] == 2
    assert t.sleeps[1] > t.sleeps[0]  # exponential


def test_5xx_until_attempts_run_out_is_unavailable(httpx_mock):
    t = FakeTime()
    httpx_mock.add_response(url=METRICS_URL, status_code=503, is_reusable=True,
                            json={"errors": [{"title": "Service unavailable."}]})
    with pytest.raises(Unavailable) as info:
        get_metric(klaviyo(t, max_attempts=3))
    assert info.value.exit_code == ExitCode.UNAVAILABLE and "503" in info.value.message
    assert len(httpx_mock.get_requests()) == 3


def test_503_retry_after_is_honoured(httpx_mock):
    t = FakeTime()
    httpx_mock.add_response(url=METRICS_URL, status_code=503, headers={"Retry-After": "4"})
    httpx_mock.add_response(url=METRICS_URL, json={"data": {}})
    get_metric(klaviyo(t))
    assert t.sleeps == [4.0]


def test_501_is_not_retried(httpx_mock):
    t = FakeTime()
    httpx_mock.add_response(url=METRICS_URL, status_code=501)
    with pytest.raises(ApiError):
        get_metric(klaviyo(t))
    assert len(httpx_mock.get_requests()) == 1


def test_non_idempotent_post_is_not_retried_after_5xx_or_timeout(httpx_mock):
    t = FakeTime()
    url = f"{BASE}/api/segments"
    httpx_mock.add_response(url=url, method="POST", status_code=503)
    with pytest.raises(Unavailable):
        klaviyo(t).create_segment("Seg", {"condition_groups": []})
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"), url=url, method="POST")
    with pytest.raises(Unavailable):
        klaviyo(t).create_segment("Seg", {"condition_groups": []})
    assert len(httpx_mock.get_requests()) == 2


def test_refused_connection_is_retried_even_for_posts(httpx_mock):
    t = FakeTime()
    url = f"{BASE}/api/segments"
    httpx_mock.add_exception(httpx.ConnectError("refused"), url=url, method="POST")
    httpx_mock.add_response(url=url, method="POST", status_code=201, json={"data": {"id": "Seg123"}})
    assert klaviyo(t).create_segment("Seg", {"condition_groups": []}).id == "Seg123"


def test_timeouts_and_drops_retried_for_idempotent_requests(httpx_mock):
    t = FakeTime()
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"), url=METRICS_URL)
    httpx_mock.add_exception(httpx.RemoteProtocolError("Server disconnected"), url=METRICS_URL)
    httpx_mock.add_response(url=METRICS_URL, json={"data": {"id": "AbC123"}})
    assert get_metric(klaviyo(t))["data"]["id"] == "AbC123"


def test_unreachable_after_retries(httpx_mock):
    t = FakeTime()
    httpx_mock.add_exception(httpx.ConnectError("refused"), url=METRICS_URL, is_reusable=True)
    with pytest.raises(Unavailable) as info:
        get_metric(klaviyo(t, max_attempts=3))
    assert "unreachable" in info.value.message and "a.klaviyo.com" in info.value.message
    assert len(httpx_mock.get_requests()) == 3


def test_auth_errors_are_typed_and_not_retried(httpx_mock):
    t = FakeTime()
    httpx_mock.add_response(url=METRICS_URL, status_code=401, json={"errors": [{"title": "Incorrect authentication credentials."}]})
    httpx_mock.add_response(url=METRICS_URL, status_code=403, json={"errors": [{"title": "You do not have permission to perform this action."}]})
    httpx_mock.add_response(url=METRICS_URL, status_code=403, text="<!DOCTYPE html><title>Just a moment...</title>",
                            headers={"Content-Type": "text/html; charset=UTF-8", "cf-mitigated": "challenge"})
    client = klaviyo(t)
    with pytest.raises(AuthError):
        get_metric(client)
    with pytest.raises(MissingScope, match="metrics:read"):
        get_metric(client)
    with pytest.raises(ChallengeBlocked) as info:
        get_metric(client)
    assert "challenge" in info.value.message and "missing the" not in info.value.message
    assert len(httpx_mock.get_requests()) == 3


def test_remaining_zero_pauses_until_reset(httpx_mock):
    t = FakeTime()
    headers = {"RateLimit-Limit": "10, 10;w=1, 150;w=60", "RateLimit-Remaining": "0", "RateLimit-Reset": "12"}
    httpx_mock.add_response(url=METRICS_URL, json={"data": {}}, headers=headers)
    httpx_mock.add_response(url=METRICS_URL, json={"data": {}})
    client = klaviyo(t)
    get_metric(client)
    get_metric(client)
    assert sum(t.sleeps) >= 12.0


def test_verbose_log_has_method_url_status_and_no_key(httpx_mock, caplog):
    t = FakeTime()
    httpx_mock.add_response(url=METRICS_URL, json={"data": {}})
    with caplog.at_level(logging.INFO, logger="linesync.http"):
        get_metric(klaviyo(t))
    line = caplog.records[0].getMessage()
    assert line.startswith("GET https://a.klaviyo.com/api/metrics/AbC123 200")
    assert KLAVIYO_TEST_KEY not in caplog.text


@requires_specs
def test_client_requests_follow_the_spec(httpx_mock):
    t = FakeTime()
    httpx_mock.add_response(json={"data": [], "links": {"next": None}}, is_reusable=True)
    client = klaviyo(t)
    client.get_account()
    client.list_metrics(api_only=True)
    client.list_metrics(api_only=False)
    client.get_flows_triggered_by_metric("AbC123")
    assert_all_valid(httpx_mock.get_requests())


# -- OPERATIONS against the spec ------------------------------------------------------------------

def _per(text: str) -> int:
    return int(text.split("/")[0])


@requires_specs
@pytest.mark.parametrize("op", sorted(OPERATIONS))
def test_operations_table_matches_spec(op):
    burst, steady, scope = OPERATIONS[op]
    spec_op = spec_copy_of_operation(op)
    limits = spec_op["x-klaviyo-ratelimit"]
    assert (burst, steady) == (_per(limits["burst"]), _per(limits["steady"])), f"{op}: spec says {limits}"
    assert set(scope.split(" and ")) == set(spec_op["x-klaviyo-scopes"]), f"{op}: {scope} vs {spec_op['x-klaviyo-scopes']}"


# -- configuration precedence -------------------------------------------------------------------------

@pytest.fixture
def layers(tmp_path):
    """A config file, a working directory with .env, and helpers to fill them."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    config = tmp_path / "linesync.toml"
    config.write_text("")

    def load(flags=None, env=None, dotenv=None, toml=None):
        (cwd / ".env").write_text("".join(f"{k}={v}\n" for k, v in (dotenv or {}).items()))
        config.write_text("".join(f'{k} = "{v}"\n' for k, v in (toml or {}).items()))
        return load_settings(flags or {}, config, env or {}, cwd)

    return load


def test_default(layers):
    loaded = layers()
    assert loaded.settings.link_key == "property:LINE User ID" and loaded.sources["link_key"] == "default"


def test_config_file_beats_default(layers):
    loaded = layers(toml={"link_key": "external_id"})
    assert loaded.settings.link_key == "external_id" and loaded.sources["link_key"].startswith("config file")


def test_dotenv_beats_config_file(layers):
    loaded = layers(toml={"link_key": "external_id"}, dotenv={"LINESYNC_LINK_KEY": "property:LINE ID"})
    assert loaded.settings.link_key == "property:LINE ID" and loaded.sources["link_key"] == ".env"


def test_env_beats_dotenv(layers):
    loaded = layers(dotenv={"LINESYNC_LINK_KEY": "property:LINE ID"}, env={"LINESYNC_LINK_KEY": "external_id"})
    assert loaded.settings.link_key == "external_id" and loaded.sources["link_key"] == "env"


def test_flag_beats_env(layers):
    loaded = layers(flags={"link_key": "property:From Flag"}, env={"LINESYNC_LINK_KEY": "external_id"})
    assert loaded.settings.link_key == "property:From Flag" and loaded.sources["link_key"] == "flag"


@pytest.mark.parametrize("variable, value", [
    ("LINESYNC_KLAVIYO_BASE_URL", "http://a.klaviyo.com"),
    ("LINESYNC_KLAVIYO_API_KEY", "sk_test_SECRET_wrong_kind"),
    ("LINESYNC_LINK_KEY", "LINE User ID"),
    ("LINESYNC_KLAVIYO_REVISION", "July 2026"),
])
def test_bad_value_names_the_variable_and_hides_it(layers, variable, value):
    with pytest.raises(ConfigError) as info:
        layers(env={variable: value})
    assert info.value.exit_code == ExitCode.USAGE
    assert variable in info.value.message
    if "KEY" in variable and "SECRET" in value:
        assert value not in info.value.message


def test_loopback_http_base_url_is_allowed(layers):
    assert layers(env={"LINESYNC_KLAVIYO_BASE_URL": "http://127.0.0.1:8080"}).settings.klaviyo_base_url \
        == "http://127.0.0.1:8080"


def test_config_show_masks_secrets_and_names_sources(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("LINESYNC_LINK_KEY=external_id\n")
    config = tmp_path / "linesync.toml"
    config.write_text('klaviyo_revision = "2026-07-15"\n')
    from tests.support.standin_cli import clean_env

    env = clean_env(LINESYNC_KLAVIYO_API_KEY=KLAVIYO_TEST_KEY, LINESYNC_CONFIG=str(config),
                    LINESYNC_LINE_CHANNEL_ACCESS_TOKEN="line_SECRET_token_value",
                    LINESYNC_STATE_DIR=str(tmp_path / "state"))
    result = run_cli(["--klaviyo-base-url", "http://127.0.0.1:9", "config", "show", "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    rows = {r["variable"]: r for r in json.loads(result.stdout)["settings"]}
    assert rows["LINESYNC_KLAVIYO_BASE_URL"]["source"] == "flag"
    assert rows["LINESYNC_KLAVIYO_API_KEY"]["source"] == "env"
    assert rows["LINESYNC_LINK_KEY"]["source"] == ".env"
    assert rows["LINESYNC_KLAVIYO_REVISION"]["source"].startswith("config file")
    assert rows["LINESYNC_LINE_BASE_URL"]["source"] == "default"
    assert KLAVIYO_TEST_KEY not in result.stdout + result.stderr
    assert "line_SECRET_token_value" not in result.stdout + result.stderr
    assert rows["LINESYNC_KLAVIYO_API_KEY"]["value"] != "(not set)"


# -- linesync metrics against the stand-in --------------------------------------------------------------

def add_line_metrics(standin, names=LINE_NAMES) -> dict[str, str]:
    return {name: standin.add_metric(name) for name in names}


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def assert_clean_failure(result, code: int) -> str:
    """Exit code, exactly one `error:` line, no traceback; returns the error line."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_all_nine_present(klaviyo_standin, cli_env):
    ids = add_line_metrics(klaviyo_standin)
    result = run_cli(["metrics", "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [m["name"] for m in doc["metrics"]] == LINE_NAMES
    assert all(m["present"] for m in doc["metrics"])
    assert {m["name"]: m["metric"]["id"] for m in doc["metrics"]} == ids
    assert doc["summary"] == {"present": 9, "missing": 0, "split": 0}
    assert error_lines(result) == []


def test_some_missing_exit_1_unless_allowed(klaviyo_standin, cli_env):
    add_line_metrics(klaviyo_standin, LINE_NAMES[:6])
    result = run_cli(["metrics"], env=cli_env)
    line = assert_clean_failure(result, 1)
    assert "3 of 9" in line
    for name in LINE_NAMES[6:]:
        assert name in result.stdout
    assert "no event of this kind has arrived yet" in result.stderr
    allowed = run_cli(["metrics", "--allow-missing", "--json"], env=cli_env)
    assert allowed.exit_code == 0
    missing = [m["name"] for m in json.loads(allowed.stdout)["metrics"] if not m["present"]]
    assert missing == LINE_NAMES[6:]


def test_metrics_from_other_integrations_do_not_count(klaviyo_standin, cli_env):
    for name in LINE_NAMES:
        klaviyo_standin.add_metric(name, integration_name="Shopify", integration_category="eCommerce")
    result = run_cli(["metrics", "--json"], env=cli_env)
    assert result.exit_code == 1
    assert not any(m["present"] for m in json.loads(result.stdout)["metrics"])


def test_split_metric_is_flagged(klaviyo_standin, cli_env):
    add_line_metrics(klaviyo_standin)
    other = klaviyo_standin.add_metric(LINE_NAMES[0], integration_name="Zapier", integration_category="Automation")
    result = run_cli(["metrics", "--json"], env=cli_env)
    assert result.exit_code == 0
    first = json.loads(result.stdout)["metrics"][0]
    assert first["split"] is True and [m["id"] for m in first["split_with"]] == [other]
    table = run_cli(["metrics"], env=cli_env)
    assert "split metric" in table.stderr and other in table.stdout


def test_several_pages_of_metrics(klaviyo_standin, cli_env):
    klaviyo_standin.metrics_page_size = 4
    for i in range(7):
        klaviyo_standin.add_metric(f"Placed Order {i}")
    add_line_metrics(klaviyo_standin)
    result = run_cli(["metrics", "--json"], env=cli_env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["present"] == 9
    pages = [r for r in klaviyo_standin.requests_for("get_metrics") if "page[cursor]" in r.query]
    assert len(pages) >= 6  # 16 metrics at 4 a page, listed twice (API only, then all)


def test_format_json_and_csv_shapes(klaviyo_standin, cli_env):
    add_line_metrics(klaviyo_standin, LINE_NAMES[:8])
    as_json = run_cli(["metrics", "--format", "json", "--allow-missing"], env=cli_env)
    doc = json.loads(as_json.stdout)
    assert set(doc) == {"metrics", "summary"} and len(doc["metrics"]) == 9
    assert set(doc["metrics"][0]) >= {"action", "name", "present", "metric", "status", "detail", "split", "split_with"}
    assert doc["metrics"][8]["metric"] is None and doc["metrics"][8]["detail"] == "no event of this kind has arrived yet"
    short = run_cli(["metrics", "--json", "--allow-missing"], env=cli_env)
    assert json.loads(short.stdout) == doc
    as_csv = run_cli(["metrics", "--format", "csv", "--allow-missing"], env=cli_env)
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == 9 and rows[0]["name"] == LINE_NAMES[0]
    assert [r["status"] for r in rows] == ["present"] * 8 + ["missing"]
    assert rows[0]["created"].startswith("20")  # ISO time, not a humanised one
    assert "error:" not in as_csv.stdout and "hint" not in as_csv.stdout  # stdout is data only


# -- failures: each one clear line, the documented exit code ---------------------------------------------

def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scope_error() -> dict:
    return {"errors": [{"id": "x", "status": 403, "code": "permission_denied",
                        "title": "You do not have permission to perform this action.",
                        "detail": "You do not have permission to perform this action.", "source": {"pointer": "/data/"}}]}


CHALLENGE_HTML = "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>challenge</body></html>"
MALFORMED_KEY = "sk_test_SECRET_malformed_1234"


def scenario(name, standin, env):
    """Set up one failure; return (env, expected exit code, words the error line must contain)."""
    if name == "missing key":
        return env | {"LINESYNC_KLAVIYO_API_KEY": None}, 2, ["no Klaviyo API key"]
    if name == "malformed key":
        return env | {"LINESYNC_KLAVIYO_API_KEY": MALFORMED_KEY}, 2, ["LINESYNC_KLAVIYO_API_KEY"]
    if name == "unreachable host":
        return env | {"LINESYNC_KLAVIYO_BASE_URL": f"http://127.0.0.1:{_closed_port()}"}, 4, ["unreachable"]
    if name == "401":
        standin.api_key = "pk_test_another_key_000000"
        return env, 3, ["refused the API key"]
    if name == "403 missing scope":
        standin.respond_next("/api/metrics", 403, _scope_error(), content_type=JSONAPI)
        return env, 3, ["metrics:read"]
    if name == "403 html challenge":
        standin.respond_next("/api/metrics", 403, CHALLENGE_HTML, headers={"cf-mitigated": "challenge"},
                             content_type="text/html; charset=UTF-8")
        return env, 3, ["challenge"]
    if name == "429 with retry-after":
        standin.throttle_next(2, "/api/metrics", retry_after=0)
        return env, 0, []
    if name == "429 without retry-after":
        standin.throttle_next(2, "/api/metrics", expected_in=0)
        return env, 0, []
    if name == "429 asking for ten minutes":
        standin.throttle_next(1, "/api/metrics", retry_after=600)
        return env, 4, ["429"]
    if name == "429 from the burst window":
        standin.set_rate_limit("get_metrics", burst=(1, 0.2), steady=(100, 60))
        return env, 0, []
    if name == "5xx then success":
        standin.fail_next(2, status=500, path_prefix="/api/metrics")
        return env, 0, []
    if name == "5xx until retries run out":
        standin.fail_next(100, status=503, path_prefix="/api/metrics")
        return env, 4, ["unavailable", "503"]
    if name == "dropped connection then success":
        standin.drop_next(1, "/api/metrics")
        return env, 0, []
    raise AssertionError(name)


SCENARIOS = ["missing key", "malformed key", "unreachable host", "401", "403 missing scope", "403 html challenge",
             "429 with retry-after", "429 without retry-after", "429 asking for ten minutes",
             "429 from the burst window", "5xx then success",
             "5xx until retries run out", "dropped connection then success"]


@pytest.mark.parametrize("name", SCENARIOS)
def test_failure_gives_one_clear_line_and_exit_code(name, klaviyo_standin, cli_env, fast_retries):
    add_line_metrics(klaviyo_standin)
    env, code, words = scenario(name, klaviyo_standin, cli_env)
    result = run_cli(["metrics"], env=env)
    statuses = [r.status for r in klaviyo_standin.requests]
    if name.startswith("429 with"):
        assert statuses.count(429) == 2  # the failure really happened before the success
    if name == "5xx then success":
        assert statuses.count(500) == 2
    if name == "dropped connection then success":
        assert any(r.dropped for r in klaviyo_standin.requests)
    if code == 0:
        assert result.exit_code == 0, (result.stdout, result.stderr)
        assert error_lines(result) == [] and "Traceback" not in result.stderr
        assert all(name in result.stdout for name in LINE_NAMES)
        return
    line = assert_clean_failure(result, code)
    for word in words:
        assert word.lower() in line.lower(), line
    if name == "403 html challenge":
        assert "scope" not in line.replace("not a missing scope", "")
    if name == "missing key" or name == "malformed key":
        assert "LINESYNC_KLAVIYO_API_KEY" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("name", SCENARIOS)
def test_key_never_appears_in_output_or_logs(name, klaviyo_standin, cli_env, fast_retries, caplog, tmp_path):
    add_line_metrics(klaviyo_standin)
    env, code, _ = scenario(name, klaviyo_standin, cli_env)
    with caplog.at_level(logging.DEBUG):
        results = [run_cli(["--verbose", "metrics"], env=env), run_cli(["--debug", "metrics", "--json"], env=env)]
    assert results[0].exit_code == code
    verbose_log = [line for line in results[0].stderr.splitlines() if line.startswith("linesync.http:")]
    if name not in ("missing key", "malformed key"):
        assert verbose_log, "--verbose should log the requests"
    secrets = [KLAVIYO_TEST_KEY, KLAVIYO_TEST_KEY.removeprefix("pk_"), MALFORMED_KEY]
    state = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())
    for text in [r.stdout for r in results] + [r.stderr for r in results] + [caplog.text, state]:
        for secret in secrets:
            assert secret not in text


# -- the clients against the stand-ins ------------------------------------------------------------------

def test_next_link_to_another_host_stays_on_the_base_url(httpx_mock):
    """The key must never follow a `links.next` to a different host."""
    t = FakeTime()
    first = httpx.URL(f"{BASE}/api/metrics", params={"fields[metric]": "name,created,updated,integration"})
    httpx_mock.add_response(url=first, json={
        "data": [{"id": "A"}], "links": {"next": "https://evil.example.com/api/metrics?page%5Bcursor%5D=2"}})
    httpx_mock.add_response(url=f"{BASE}/api/metrics?page%5Bcursor%5D=2", json={"data": [{"id": "B"}], "links": {}})
    assert [m.id for m in klaviyo(t).list_metrics(api_only=False)] == ["A", "B"]
    assert {r.url.host for r in httpx_mock.get_requests()} == {"a.klaviyo.com"}


def line_client(line_standin, token: str | None = None):
    from linesync_cli.api.line import LineClient

    return LineClient(SecretStr(token or line_standin.token), line_standin.base_url,
                      retry=RetryPolicy(max_attempts=2, base_delay=0.01))


def test_line_client_bot_info_profile_and_errors(line_standin):
    from linesync_cli.api.line import LineProfile
    from linesync_cli.errors import BadRequest, NotFound

    user = "U" + "0123456789abcdef" * 2
    line_standin.add_user(user, "Hanako")
    with line_client(line_standin) as client:
        assert (client.get_bot_info().basic_id or "").startswith("@")
        assert client.get_profile(user) == LineProfile(user, "Hanako")
        with pytest.raises(NotFound):
            client.get_profile("U" + "f" * 32)
        with pytest.raises(BadRequest):
            client.get_profile("not-a-line-id")
    with line_client(line_standin, "wrong-token") as client, pytest.raises(AuthError) as info:
        client.get_bot_info()
    assert info.value.exit_code == ExitCode.AUTH and "wrong-token" not in info.value.message


@pytest.mark.parametrize("kind", ["long-lived", "v2.1"])
def test_line_verify_token_tries_both_endpoints_and_never_logs_the_token(line_standin, caplog, kind):
    token = f"line_{kind}_SECRET_token_0123"
    line_standin.add_token(token, kind=kind, expires_in=86400)
    with caplog.at_level(logging.INFO, logger="linesync.http"), line_client(line_standin, token) as client:
        assert client.verify_token().expires_in == 86400
    assert token not in caplog.text
    verify_ops = [r.op for r in line_standin.requests if r.op and r.op.startswith("verify")]
    assert verify_ops == (["verifyChannelToken"] if kind == "long-lived"
                          else ["verifyChannelToken", "verifyChannelTokenByJWT"])
    # Neither verify endpoint may receive the token in an Authorization header.
    assert all("authorization" not in r.headers for r in line_standin.requests)


def test_line_5xx_then_success(line_standin):
    line_standin.fail_next(1, status=503)
    with line_client(line_standin) as client:
        assert client.get_bot_info().display_name
    assert [r.status for r in line_standin.requests] == [503, 200]
