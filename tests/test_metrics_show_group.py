"""`linesync metrics` (the group without a subcommand): the nine LINE metrics, present or missing.

Klaviyo is tests/support/klaviyo_metrics_model.py behind pytest-httpx; every
request is checked against the spec.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from linesync_cli.app import app
from linesync_cli.catalogue import METRIC_NAMES
from tests.support.klaviyo_metrics_model import BASE, SHOPIFY, FakeKlaviyo
from tests.support.spec import check_contract

pytestmark = pytest.mark.httpx_mock(assert_all_responses_were_requested=False)
KEY = "pk_test_metricsgroup_SECRET_0000"
NINE = list(METRIC_NAMES)


@pytest.fixture
def klaviyo(httpx_mock) -> FakeKlaviyo:
    fake = FakeKlaviyo()
    httpx_mock.add_callback(fake, is_reusable=True)
    return fake


def run(args: list[str], tmp_path):
    config = tmp_path / "linesync.toml"
    config.touch()
    env = {"LINESYNC_KLAVIYO_API_KEY": KEY, "LINESYNC_KLAVIYO_BASE_URL": BASE, "LINESYNC_STATE_DIR": str(tmp_path),
           "LINESYNC_CONFIG": str(config), "TTY_COMPATIBLE": "0", "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["metrics", *args], env=env)
    assert KEY not in result.stdout + result.stderr
    return result


def all_nine(fake, skip: tuple[str, ...] = ()) -> None:
    for i, name in enumerate(NINE):
        if name not in skip:
            fake.metric(f"M{i}", name)


def test_all_nine_present_exits_0(klaviyo, tmp_path):
    all_nine(klaviyo)
    result = run([], tmp_path)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["Event", "Status", "Metric", "ID"]
    assert [ln.split("  ")[0] for ln in lines[1:]] == NINE
    assert all(" present " in ln for ln in lines[1:])
    assert "all 9 LINE metrics are present" in result.stderr


def test_missing_metrics_exit_1_unless_allowed(klaviyo, tmp_path):
    all_nine(klaviyo, skip=("Opened LINE Message", "Clicked LINE Message"))
    result = run([], tmp_path)
    assert result.exit_code == 1
    assert "Opened LINE Message: no event of this kind has arrived yet" in result.stderr
    assert "2 of 9 LINE metrics are missing" in result.stderr
    assert "trackable link or image" in result.stderr and "linesync check-link" in result.stderr
    assert run(["--allow-missing"], tmp_path).exit_code == 0
    doc = json.loads(run(["--json", "--allow-missing"], tmp_path).stdout)
    assert doc["summary"] == {"present": 7, "missing": 2, "split": 0}
    missing = [m for m in doc["metrics"] if not m["present"]]
    assert [m["action"] for m in missing] == ["opened", "clicked"]
    assert missing[0]["detail"] == "no event of this kind has arrived yet"


def test_split_metric_is_flagged(klaviyo, tmp_path):
    all_nine(klaviyo)
    klaviyo.metric("SHOPSENT", "Sent LINE Message", integration=SHOPIFY)
    result = run(["--format", "csv"], tmp_path)
    assert result.exit_code == 0, result.stderr
    sent = next(ln for ln in result.stdout.splitlines() if ln.startswith("sent,") or ln.startswith("Sent LINE"))
    assert "Shopify (SHOPSENT)" in sent
    assert "Sent LINE Message also exists under another integration" in result.stderr


def test_every_page_is_read_and_every_request_is_valid(klaviyo, httpx_mock, tmp_path):
    klaviyo.metrics_page = 4
    for i in range(10):
        klaviyo.metric(f"OTHER{i}", f"Placed Order {i}")
    all_nine(klaviyo)
    result = run(["--json"], tmp_path)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["present"] == 9
    metric_requests = [r for r in httpx_mock.get_requests() if r.url.path == "/api/metrics"]
    assert len(metric_requests) == 5 + 5  # API-only listing and the full one, 19 metrics in pages of 4
    check_contract(httpx_mock.get_requests())
