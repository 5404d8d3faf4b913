"""`linesync segments`: each preset's definition (validated against the spec), create and its refusals."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

import linesync_cli.app
from linesync_cli.api.klaviyo import segment_name_filter as name_filter
from linesync_cli.config import LinkKey
from linesync_cli.core.funnel import KnownMetrics
from linesync_cli.core.metrics import Metric
from linesync_cli.core.segment_presets import PRESETS, get_preset, plan_segment
from linesync_cli.errors import UsageError
from tests.support.report_fakes import BASE, IDS, add_metrics, env, error_doc
from tests.support.spec import check_contract, check_klaviyo_contract

runner = CliRunner()
SEGMENTS_URL = re.compile(re.escape(BASE) + r"/api/segments(\?.*)?$")
HEADERS = {"Authorization": "Klaviyo-API-Key pk_test_x", "revision": "2026-07-15",
           "Content-Type": "application/vnd.api+json"}
LINK = LinkKey("property", "LINE User ID")
KEY_BY_NAME = {"Opened LINE Message": "opened", "Clicked LINE Message": "clicked", "Blocked LINE Account": "blocked",
               "Received Email": "email_received", "Opened Email": "email_opened"}


PLACED = Metric("ORDER1", "Placed Order", "Shopify", "eCommerce", None, None)


def known(*names: str, orders: tuple[Metric, ...] = (PLACED,)) -> KnownMetrics:
    by_key = {KEY_BY_NAME[n]: Metric(IDS[n], n, "API", "API", None, None) for n in names}
    return KnownMetrics(by_key, every=[*by_key.values(), *orders])


ALL = known(*KEY_BY_NAME)


def metric_cond(metric_id: str, operator: str, days: int = 30) -> dict:
    return {"type": "profile-metric", "metric_id": metric_id, "measurement": "count",
            "measurement_filter": {"type": "numeric", "operator": operator, "value": 0},
            "timeframe_filter": {"type": "date", "operator": "in-the-last", "quantity": days, "unit": "day"}}


EXPECTED_GROUPS = {
    "line-opened-not-clicked": [[metric_cond("OPEN01", "greater-than")], [metric_cond("CLICK1", "equals")]],
    "line-clicked-recently": [[metric_cond("CLICK1", "greater-than")]],
    "email-unopened-line-clicked": [[metric_cond("RECV01", "greater-than")], [metric_cond("OPENEM", "equals")],
                                    [metric_cond("CLICK1", "greater-than")]],
    "line-blocked-recently": [[metric_cond("BLOCK1", "greater-than")]],
    "line-clicked-then-ordered": [[{
        "type": "profile-metric-funnel",
        "timeframe_filter": {"type": "date", "operator": "in-the-last", "quantity": 30, "unit": "day"},
        "completion_window_seconds": "DAYS_5",
        "steps": [{"metric_exists": True, "metric_id": "CLICK1"}, {"metric_exists": True, "metric_id": "ORDER1"}]}]],
    "line-clicked-and-ordered": [[metric_cond("CLICK1", "greater-than")], [metric_cond("ORDER1", "greater-than")]],
    "line-linked": [[{"type": "profile-property", "property": "properties['LINE User ID']",
                      "filter": {"type": "existence", "operator": "is-set"}}]],
}


def test_every_preset_has_an_expected_definition() -> None:
    assert sorted(p.key for p in PRESETS) == sorted(EXPECTED_GROUPS)


@pytest.mark.parametrize("preset", sorted(EXPECTED_GROUPS))
def test_preset_definition_is_exact_and_matches_the_spec(preset: str) -> None:
    plan = plan_segment(get_preset(preset), link=LINK, metrics=ALL)
    groups = [g["conditions"] for g in plan.body["data"]["attributes"]["definition"]["condition_groups"]]
    assert groups == EXPECTED_GROUPS[preset]
    assert plan.body["data"]["type"] == "segment" and not plan.missing and not plan.placeholders
    check_klaviyo_contract("POST", f"{BASE}/api/segments", HEADERS, plan.body, operation="create_segment")


def test_days_name_and_link_property_are_used() -> None:
    plan = plan_segment(get_preset("line-clicked-recently"), link=LINK, days=7, metrics=ALL)
    assert plan.name == "LINE clicked (7d)"
    cond = plan.body["data"]["attributes"]["definition"]["condition_groups"][0]["conditions"][0]
    assert cond["timeframe_filter"]["quantity"] == 7
    linked = plan_segment(get_preset("line-linked"), link=LinkKey("property", "LINE User ID 2"), name="  Mine ")
    assert linked.name == "Mine" and linked.days is None
    assert linked.body["data"]["attributes"]["definition"]["condition_groups"][0]["conditions"][0]["property"] == \
        "properties['LINE User ID 2']"
    odd = plan_segment(get_preset("line-linked"), link=LinkKey("property", "O'Brien ID"))
    assert odd.body["data"]["attributes"]["definition"]["condition_groups"][0]["conditions"][0]["property"] == \
        "properties[\"O'Brien ID\"]"


def test_line_linked_refuses_external_id_and_unknown_presets_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="external_id"):
        plan_segment(get_preset("line-linked"), link=LinkKey("external_id"))
    with pytest.raises(UsageError, match="no preset called") as refused:
        get_preset("line-clicked")
    assert "line-clicked-recently" in (refused.value.hint or "")
    assert name_filter('say "hi"') == "equals(name,'say \"hi\"')"


# -- the command -------------------------------------------------------------------

def run(args: list[str], tmp_path, **extra):
    return runner.invoke(linesync_cli.app.app, ["segments", *args], env=env(tmp_path, **extra))


def segments_list(*names: str) -> dict:
    return {"data": [{"type": "segment", "id": f"SEG{i}", "attributes": {"name": n, "created": "2026-11-01T00:00:00+00:00"},
                      "links": {"self": f"{BASE}/api/segments/SEG{i}"}} for i, n in enumerate(names)],
            "links": {"self": f"{BASE}/api/segments"}}


def created(name: str) -> dict:
    return {"data": {"type": "segment", "id": "NEWSEG", "attributes": {
        "name": name, "created": "2026-11-28T10:00:00+00:00", "updated": "2026-11-28T10:00:00+00:00",
        "is_active": True, "is_processing": True, "is_starred": False}, "links": {"self": f"{BASE}/api/segments/NEWSEG"}}}


def said(result) -> str:
    return " ".join(result.stderr.split())


def test_create_sends_a_valid_body_and_says_what_happens_next(httpx_mock, tmp_path) -> None:
    add_metrics(httpx_mock, list(IDS))
    httpx_mock.add_response(method="GET", url=SEGMENTS_URL, json=segments_list())
    httpx_mock.add_response(method="POST", url=f"{BASE}/api/segments", status_code=201,
                            json=created("LINE opened, not clicked (14d)"))
    result = run(["create", "line-opened-not-clicked", "--days", "14", "--json"], tmp_path)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["created"]["id"] == "NEWSEG" and doc["created"]["is_processing"] is True
    assert doc["definition"]["condition_groups"] == [{"conditions": g} for g in
                                                     [[metric_cond("OPEN01", "greater-than", 14)],
                                                      [metric_cond("CLICK1", "equals", 14)]]]
    assert "fills new segments in the background (it is processing now)" in said(result)
    assert "Klaviyo Segments, not the messaging platform's recipient segments" in said(result)
    requests = httpx_mock.get_requests()
    name_check = next(r for r in requests if r.method == "GET" and "/api/segments" in str(r.url))
    assert name_check.url.params["filter"] == 'equals(name,"LINE opened, not clicked (14d)")'
    create = next(r for r in requests if r.method == "POST")
    assert create.content.startswith(b'{"data":{"type":"segment","attributes":{"name":"LINE opened, not clicked '
                                     b'(14d)","definition":{"condition_groups":[{"conditions":[{"type":')
    assert json.loads(create.content)["data"]["attributes"]["definition"] == doc["definition"]
    check_contract(requests)


def test_refuses_when_a_needed_metric_has_no_events(httpx_mock, tmp_path) -> None:
    add_metrics(httpx_mock, [n for n in IDS if n != "Clicked LINE Message"])
    result = run(["create", "line-opened-not-clicked"], tmp_path)
    assert result.exit_code == 1
    assert "no events yet for Clicked LINE Message" in said(result)
    assert "first event" in said(result)
    assert not [r for r in httpx_mock.get_requests() if "/api/segments" in str(r.url)]


def test_refuses_a_taken_name_unless_forced(httpx_mock, tmp_path) -> None:
    add_metrics(httpx_mock, list(IDS))
    httpx_mock.add_response(method="GET", url=SEGMENTS_URL, json=segments_list("LINE clicked (30d)"), is_reusable=True)
    result = run(["create", "line-clicked-recently"], tmp_path)
    assert result.exit_code == 1
    assert "already exists (SEG0)" in said(result) and "--force" in said(result)
    assert not [r for r in httpx_mock.get_requests() if r.method == "POST"]

    httpx_mock.add_response(method="POST", url=f"{BASE}/api/segments", status_code=201, json=created("LINE clicked (30d)"))
    result = run(["create", "line-clicked-recently", "--force"], tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "NEWSEG" in result.stdout


def test_429_explains_the_daily_limit(httpx_mock, tmp_path) -> None:
    add_metrics(httpx_mock, list(IDS))
    httpx_mock.add_response(method="GET", url=SEGMENTS_URL, json=segments_list())
    httpx_mock.add_response(method="POST", url=f"{BASE}/api/segments", status_code=429,
                            json=error_doc(429, "throttled", "Request was throttled. Expected available in 52000 seconds."))
    result = run(["create", "line-blocked-recently"], tmp_path)
    assert result.exit_code == 4
    assert "100 segments a day" in said(result)
    assert len([r for r in httpx_mock.get_requests() if r.method == "POST"]) == 1


def test_a_5xx_after_create_is_not_retried_and_says_check_first(httpx_mock, tmp_path) -> None:
    add_metrics(httpx_mock, list(IDS))
    httpx_mock.add_response(method="GET", url=SEGMENTS_URL, json=segments_list())
    httpx_mock.add_response(method="POST", url=f"{BASE}/api/segments", status_code=502, text="bad gateway")
    result = run(["create", "line-blocked-recently"], tmp_path)
    assert result.exit_code == 4
    assert "may or may not have been created" in said(result)
    assert "before retrying" in said(result)
    assert len([r for r in httpx_mock.get_requests() if r.method == "POST"]) == 1


def test_dry_run_without_a_key_prints_placeholders_and_calls_nothing(httpx_mock, tmp_path) -> None:
    result = run(["create", "email-unopened-line-clicked", "--dry-run"], tmp_path, LINESYNC_KLAVIYO_API_KEY="")
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    ids = [c["metric_id"] for g in body["data"]["attributes"]["definition"]["condition_groups"] for c in g["conditions"]]
    assert ids == ["<ID of Received Email>", "<ID of Opened Email>", "<ID of Clicked LINE Message>"]
    assert "placeholders" in said(result) and "nothing was created" in said(result)
    assert httpx_mock.get_requests() == []


def test_dry_run_with_a_key_resolves_ids_warns_and_creates_nothing(httpx_mock, tmp_path) -> None:
    add_metrics(httpx_mock, [n for n in IDS if n != "Opened Email"])
    httpx_mock.add_response(method="GET", url=SEGMENTS_URL, json=segments_list("Email unopened, LINE clicked (30d)"))
    result = run(["create", "email-unopened-line-clicked", "--dry-run"], tmp_path)
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    ids = [c["metric_id"] for g in body["data"]["attributes"]["definition"]["condition_groups"] for c in g["conditions"]]
    assert ids == ["RECV01", "<ID of Opened Email>", "CLICK1"]
    assert "Opened Email has no events yet" in said(result) and "exists" in said(result)
    assert not [r for r in httpx_mock.get_requests() if r.method == "POST"]
    check_contract(httpx_mock.get_requests())


def test_line_linked_with_external_id_is_refused(tmp_path) -> None:
    result = runner.invoke(linesync_cli.app.app, ["--link-key", "external_id", "segments", "create", "line-linked"],
                           env=env(tmp_path))
    assert result.exit_code == 2 and "external_id" in result.stderr


def test_presets_lists_every_preset(tmp_path) -> None:
    result = run(["presets", "--json"], tmp_path, LINESYNC_KLAVIYO_API_KEY="")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)["presets"]  # an object, like every --json output
    assert [r["preset"] for r in rows] == [p.key for p in PRESETS]
    assert rows[0]["metrics"] == "Opened LINE Message; Clicked LINE Message"


def test_create_offers_only_table_and_json(tmp_path) -> None:
    refused = run(["create", "line-clicked-recently", "--format", "csv"], tmp_path, TTY_COMPATIBLE="0")
    assert refused.exit_code == 2 and refused.stdout == ""
    assert "'csv' is not one of 'table', 'json'" in refused.stderr
    assert "╭" not in refused.stderr  # piped: click's plain lines, not a box
    dry_table = run(["create", "line-clicked-recently", "--dry-run", "--format", "table"], tmp_path,
                    LINESYNC_KLAVIYO_API_KEY="")
    assert dry_table.exit_code == 2 and dry_table.stdout == ""  # not JSON under a "table" label
    assert "--dry-run prints the request body, which is JSON" in dry_table.stderr


# -- clicked on LINE, then ordered (issue 19, item 3) ------------------------------------

def integration(name: str, category: str = "eCommerce") -> dict:
    return {"object": "integration", "id": name[:6], "key": name.lower(), "name": name, "category": category}


def raw_metric(metric_id: str, name: str, source: str) -> dict:
    return {"type": "metric", "id": metric_id, "attributes": {
        "name": name, "created": "2026-01-05T00:00:00+00:00", "updated": "2026-11-20T00:00:00+00:00",
        "integration": integration(source)}, "links": {"self": f"{BASE}/api/metrics/{metric_id}"}}


@pytest.mark.parametrize(("window", "enum"), [("1h", "HOURS_1"), ("24h", "DAYS_1"), ("3d", "DAYS_3"),
                                              ("1w", "WEEKS_1"), ("7d", "WEEKS_1"), ("30d", "DAYS_30")])
def test_the_funnel_window_maps_to_klaviyo_s_completion_windows(window: str, enum: str) -> None:
    plan = plan_segment(get_preset("line-clicked-then-ordered"), link=LINK, days=30, window=window, metrics=ALL)
    (cond,) = plan.definition["condition_groups"][0]["conditions"]
    assert cond["completion_window_seconds"] == enum
    assert [step["metric_id"] for step in cond["steps"]] == ["CLICK1", "ORDER1"]  # the click comes first
    assert plan.name.startswith("LINE clicked, then Placed Order within ")
    check_klaviyo_contract("POST", f"{BASE}/api/segments", HEADERS, plan.body, operation="create_segment")


@pytest.mark.parametrize(("days", "window", "message"), [
    (30, "4d", "not a completion window Klaviyo offers"),
    (30, "2w", "not a completion window Klaviyo offers"),
    (30, "soon", "not a completion window Klaviyo offers"),
    (3, "5d", "--window 5d is longer than the time period (--days 3)"),
    (400, "5d", "an event funnel looks back at most 365 days"),
])
def test_bad_windows_and_periods_are_usage_errors(days: int, window: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        plan_segment(get_preset("line-clicked-then-ordered"), link=LINK, days=days, window=window, metrics=ALL)
    # The weaker preset has no window and no cap beyond Klaviyo's own.
    plan_segment(get_preset("line-clicked-and-ordered"), link=LINK, days=days, metrics=ALL)


def test_the_weaker_preset_does_not_claim_a_sequence() -> None:
    preset = get_preset("line-clicked-and-ordered")
    plan = plan_segment(preset, link=LINK, days=14, metrics=ALL)
    assert plan.name == "LINE clicked and Placed Order (14d)" and "then" not in plan.name
    assert "either order" in preset.summary and "not a sequence" in (preset.note or "")
    assert all(c["type"] == "profile-metric" for g in plan.definition["condition_groups"] for c in g["conditions"])


def test_a_missing_order_metric_lists_the_account_s_order_metrics_and_exits_2(httpx_mock, tmp_path) -> None:
    add_metrics(httpx_mock, list(IDS), extra=[raw_metric("SHOP01", "Ordered Product", "Shopify"),
                                               raw_metric("WOO001", "Started Checkout", "WooCommerce"),
                                               raw_metric("VIEW01", "Viewed Product", "Shopify")])
    result = run(["create", "line-clicked-then-ordered", "--order-metric", "Order Placed"], tmp_path)
    assert result.exit_code == 2, result.stderr
    text = said(result)
    assert "no metric named 'Order Placed' in this Klaviyo account" in text
    assert "'Ordered Product' (Shopify, ID SHOP01)" in text and "'Started Checkout' (WooCommerce, ID WOO001)" in text
    assert "Viewed Product" not in text  # not order-like
    assert '"Placed Order"' in text  # the hint names the stores' own metric
    assert not [r for r in httpx_mock.get_requests() if r.method == "POST"]


def test_the_default_order_metric_is_placed_order_and_is_checked(httpx_mock, tmp_path) -> None:
    add_metrics(httpx_mock, list(IDS))  # no order metric at all
    result = run(["create", "line-clicked-and-ordered", "--dry-run"], tmp_path)
    assert result.exit_code == 2
    assert "no metric named 'Placed Order'" in said(result) and "order-like metrics: none in this account" in said(result)
    assert result.stdout == ""


def test_an_order_metric_name_held_by_two_integrations_is_refused_and_an_id_chooses(httpx_mock, tmp_path) -> None:
    add_metrics(httpx_mock, list(IDS), extra=[raw_metric("SHOPPO", "Placed Order", "Shopify"),
                                               raw_metric("APIPO1", "Placed Order", "API")])
    both = run(["create", "line-clicked-then-ordered", "--dry-run"], tmp_path)
    assert both.exit_code == 2
    assert "names 2 metrics" in said(both) and "SHOPPO" in said(both) and "APIPO1" in said(both)
    httpx_mock.add_response(method="GET", url=SEGMENTS_URL, json=segments_list())
    chosen = run(["create", "line-clicked-then-ordered", "--dry-run", "--order-metric", "SHOPPO"], tmp_path)
    assert chosen.exit_code == 0, chosen.stderr
    (cond,) = json.loads(chosen.stdout)["data"]["attributes"]["definition"]["condition_groups"][0]["conditions"]
    assert cond["steps"][1]["metric_id"] == "SHOPPO"
    assert "Marketing Analytics" in said(chosen)  # the dry run says what the funnel needs


def test_creating_the_funnel_sends_a_valid_body_and_a_refusal_points_to_the_weaker_preset(httpx_mock, tmp_path) -> None:
    add_metrics(httpx_mock, list(IDS), extra=[raw_metric("SHOPPO", "Placed Order", "Shopify")])
    httpx_mock.add_response(method="GET", url=SEGMENTS_URL, json=segments_list(), is_reusable=True)
    httpx_mock.add_response(method="POST", url=f"{BASE}/api/segments", status_code=201,
                            json=created("LINE clicked, then Placed Order within 7d (60d)"))
    ok = run(["create", "line-clicked-then-ordered", "--days", "60", "--window", "7d", "--json"], tmp_path)
    assert ok.exit_code == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["window"] == "7d" and doc["order_metric"]["id"] == "SHOPPO"
    (cond,) = doc["definition"]["condition_groups"][0]["conditions"]
    assert cond["completion_window_seconds"] == "WEEKS_1" and cond["timeframe_filter"]["quantity"] == 60
    check_contract(httpx_mock.get_requests())

    httpx_mock.add_response(method="POST", url=f"{BASE}/api/segments", status_code=400,
                            json=error_doc(400, "invalid", "Invalid segment definition."))
    refused = run(["create", "line-clicked-then-ordered", "--name", "again"], tmp_path)
    assert refused.exit_code != 0
    assert "Marketing Analytics" in said(refused) and "line-clicked-and-ordered" in said(refused)


def test_options_a_preset_does_not_use_are_warned_about(httpx_mock, tmp_path) -> None:
    result = run(["create", "line-clicked-recently", "--dry-run", "--window", "5d", "--order-metric", "X"], tmp_path,
                 LINESYNC_KLAVIYO_API_KEY="")
    assert result.exit_code == 0, result.stderr
    assert "--window is ignored" in said(result) and "--order-metric is ignored" in said(result)


def test_presets_say_what_the_sequence_needs(tmp_path) -> None:
    rows = {r["preset"]: r for r in json.loads(run(["presets", "--json"], tmp_path).stdout)["presets"]}
    assert "Marketing Analytics" in rows["line-clicked-then-ordered"]["note"]
    assert rows["line-clicked-then-ordered"]["metrics"] == "Clicked LINE Message; Placed Order"
    assert rows["line-clicked-recently"]["note"] is None
    table = run(["presets"], tmp_path)
    assert "line-clicked-then-ordered: an event funnel" in said(table)
