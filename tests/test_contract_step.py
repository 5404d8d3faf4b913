"""The contract step of behaviour tests: validates when the specs exist, skips only itself otherwise."""

from __future__ import annotations

import httpx
import pytest

from tests.support import spec
from tests.support.spec import check_contract, check_klaviyo_contract, requires_specs

HEADERS = {"Authorization": "Klaviyo-API-Key pk_test_0000", "revision": "2026-07-15", "accept": "application/json"}
METRICS = "https://a.klaviyo.com/api/metrics"
BOGUS = httpx.Request("GET", f"{METRICS}?bogus=1", headers=HEADERS)


def test_without_specs_the_step_is_noted_and_the_test_goes_on(monkeypatch) -> None:
    monkeypatch.setattr(spec, "SPECS_PRESENT", False)
    monkeypatch.setattr(spec, "UNVALIDATED", [])
    check_contract([BOGUS])  # would fail with the specs: nothing validated, nothing raised
    check_klaviyo_contract("GET", f"{METRICS}?bogus=1", HEADERS)
    assert spec.UNVALIDATED == ["tests/test_contract_step.py::test_without_specs_the_step_is_noted_and_the_test_goes_on"]


@requires_specs
def test_with_specs_a_bad_request_fails_the_step() -> None:
    with pytest.raises(AssertionError, match="bogus"):
        check_contract([BOGUS])
    with pytest.raises(AssertionError, match="bogus"):
        check_klaviyo_contract("GET", f"{METRICS}?bogus=1", HEADERS)


@requires_specs
def test_with_specs_the_step_checks_which_operations_were_sent() -> None:
    good = httpx.Request("GET", METRICS, headers=HEADERS)
    check_contract([good], operations=["get_metrics"])
    with pytest.raises(AssertionError, match="expected"):
        check_contract([good], operations=["get_metric"])
    with pytest.raises(AssertionError, match="expected"):
        check_klaviyo_contract("GET", METRICS, HEADERS, operation="get_metric")
