"""The doctor's runner: independence, prerequisites, shared results, selection, summary and exit codes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from linesync_cli.core.doctor import CHECK_IDS, CHECKS
from linesync_cli.core.doctor.model import (
    Check,
    CheckOutcome,
    CheckResult,
    DoctorOptions,
    DoctorReport,
    Status,
    failed,
    passed,
    skipped,
    warned,
)
from linesync_cli.core.doctor.runner import DoctorContext, run_checks, select_checks
from linesync_cli.errors import AuthError, ExitCode, UsageError

OPTIONS = DoctorOptions(since=datetime(2026, 11, 27, tzinfo=UTC))


def context(checks, **kw):
    return DoctorContext(OPTIONS, checks, load_settings=lambda: None, klaviyo=lambda: None, line=lambda: None, **kw)


def report_of(checks, selected=None, strict=False):
    options = DoctorOptions(since=OPTIONS.since, strict=strict)
    ctx = DoctorContext(options, checks, load_settings=lambda: None, klaviyo=lambda: None, line=lambda: None)
    return run_checks(ctx, selected or checks)


def test_the_check_ids_are_stable_and_kebab_case():
    assert CHECK_IDS == (
        "config", "klaviyo-auth", "klaviyo-scopes", "line-metrics", "metric-split", "recent-events",
        "link-index", "linkage", "trackable-message", "utm-links", "open-vs-read", "segment-processing", "line-token",
        "line-vs-klaviyo",
    )
    assert all(c.title and c.id.replace("-", "").isalpha() and c.id.islower() for c in CHECKS)


def test_a_check_that_raises_is_an_error_and_the_rest_go_on():
    def boom(ctx):
        raise RuntimeError("disk on fire\nsecond line")

    def typed(ctx):
        raise AuthError("Klaviyo refused the API key (401)", hint="check the key")

    checks = [Check("a", "A", boom), Check("b", "B", typed), Check("c", "C", lambda ctx: passed("fine"))]
    report = report_of(checks)
    by_id = {o.check.id: o.result for o in report.outcomes}
    assert by_id["a"].status is Status.ERROR
    assert by_id["a"].detail == "unexpected error: RuntimeError: disk on fire"
    assert "--debug" in by_id["a"].hint
    assert by_id["b"].status is Status.ERROR
    assert (by_id["b"].detail, by_id["b"].hint) == ("Klaviyo refused the API key (401)", "check the key")
    assert by_id["c"].status is Status.PASS
    assert report.exit_code is ExitCode.FAILED
    assert report.summary_text == "2 checks could not run (1 passed)"


def test_unexpected_errors_propagate_with_debug():
    ctx = context([Check("a", "A", lambda ctx: 1 / 0)], raise_unexpected=True)
    with pytest.raises(ZeroDivisionError):
        run_checks(ctx, ctx._checks.values())


def test_a_failed_prerequisite_skips_its_dependents_naming_the_root_cause():
    checks = [
        Check("root", "Root", lambda ctx: failed("no key", "set the key")),
        Check("mid", "Middle", lambda ctx: (ctx.need("root"), passed("ok"))[1]),
        Check("leaf", "Leaf", lambda ctx: (ctx.need("mid"), passed("ok"))[1]),
    ]
    report = report_of(checks)
    leaf = report.outcomes[2].result
    assert leaf.status is Status.SKIP
    assert leaf.detail == "not checked: Root failed: no key"
    # The root is in the report with its hint: not repeated on every skipped line.
    assert leaf.hint is None
    assert leaf.data["blocked_by"] == "root"


def test_a_hidden_prerequisite_still_runs_once_and_its_failure_counts():
    calls = []

    def root(ctx):
        calls.append("root")
        return failed("no key", "set the key", exit_code=ExitCode.USAGE)

    checks = [
        Check("root", "Root", root),
        Check("one", "One", lambda ctx: (ctx.need("root"), passed("ok"))[1]),
        Check("two", "Two", lambda ctx: (ctx.need("root"), passed("ok"))[1]),
    ]
    report = report_of(checks, selected=checks[1:])
    assert calls == ["root"]
    assert [o.check.id for o in report.outcomes] == ["one", "two"]
    assert [o.check.id for o in report.hidden] == ["root"]
    assert report.outcomes[0].result.hint == "set the key"  # the root is not shown: its hint is
    assert report.exit_code is ExitCode.USAGE
    assert report.summary_text == "1 unreported prerequisite failed (root) (0 passed, 2 skipped)"


def test_accepting_a_failed_prerequisite():
    checks = [
        Check("root", "Root", lambda ctx: failed("none present")),
        Check("dep", "Dep", lambda ctx: (ctx.need("root", accept=(Status.PASS, Status.FAIL)), passed("ran"))[1]),
    ]
    assert report_of(checks).outcomes[1].result.detail == "ran"


def test_shared_values_are_computed_once_even_when_they_fail():
    ctx = context([])
    calls = []

    def account():
        calls.append(1)
        raise AuthError("401")

    for _ in range(3):
        with pytest.raises(AuthError):
            ctx.shared("accounts", account)
    assert calls == [1]
    assert ctx.shared("x", lambda: 5) == 5 and ctx.shared("x", lambda: 6) == 5


def test_select_checks_validates_ids():
    assert [c.id for c in select_checks(CHECKS, only=["linkage", "config"])] == ["config", "linkage"]
    assert "line-token" not in [c.id for c in select_checks(CHECKS, skip=["line-token"])]
    with pytest.raises(UsageError, match="--only: unknown check ID nope") as exc:
        select_checks(CHECKS, only=["nope"])
    assert exc.value.hint == "valid IDs: " + ", ".join(CHECK_IDS)
    with pytest.raises(UsageError, match="--skip: unknown check IDs x, y"):
        select_checks(CHECKS, skip=["x", "y"])
    with pytest.raises(UsageError, match="leave no check"):
        select_checks(CHECKS, only=["config"], skip=["config"])


def outcome(status: Status, exit_code=None, cid="x") -> CheckOutcome:
    return CheckOutcome(Check(cid, cid.title(), lambda ctx: None), CheckResult(status, "d", exit_code=exit_code))


@pytest.mark.parametrize(("statuses", "strict", "code"), [
    ([Status.PASS, Status.SKIP, Status.INFO], False, ExitCode.OK),
    ([Status.PASS, Status.WARN], False, ExitCode.OK),
    ([Status.PASS, Status.WARN], True, ExitCode.FAILED),
    ([Status.PASS, Status.FAIL], False, ExitCode.FAILED),
    ([Status.ERROR], False, ExitCode.FAILED),
])
def test_exit_codes(statuses, strict, code):
    assert DoctorReport(tuple(outcome(s) for s in statuses), strict=strict).exit_code is code


def test_gating_exit_codes_win_over_plain_failures():
    report = DoctorReport((outcome(Status.FAIL, ExitCode.AUTH, "auth"), outcome(Status.FAIL, cid="other")))
    assert report.exit_code is ExitCode.AUTH
    # An exit code on a check that did not fail means nothing.
    assert DoctorReport((outcome(Status.PASS, ExitCode.AUTH),)).exit_code is ExitCode.OK


@pytest.mark.parametrize(("statuses", "text"), [
    ([Status.FAIL, Status.FAIL, Status.WARN, Status.PASS], "2 checks failed, 1 warning (1 passed)"),
    ([Status.ERROR, Status.WARN, Status.WARN, Status.SKIP], "1 check could not run, 2 warnings (0 passed, 1 skipped)"),
    ([Status.PASS, Status.PASS, Status.SKIP, Status.INFO], "No problems found: 2 checks passed, 1 skipped"),
    ([Status.PASS], "No problems found: 1 check passed"),
])
def test_summary_text(statuses, text):
    assert DoctorReport(tuple(outcome(s) for s in statuses)).summary_text == text


def test_json_shape():
    checks = [Check("a", "A", lambda ctx: warned("w", "do x", ["extra"], n=1)),
              Check("b", "B", lambda ctx: skipped("s"))]
    doc = report_of(checks).to_json()
    assert doc["checks"][0] == {"id": "a", "title": "A", "status": "warn", "detail": "w", "hint": "do x",
                                "details": ["extra"], "data": {"n": 1}}
    assert doc["checks"][1] == {"id": "b", "title": "B", "status": "skip", "detail": "s", "hint": None,
                                "details": []}
    assert doc["summary"] == {"pass": 0, "warn": 1, "fail": 0, "skip": 1, "error": 0, "info": 0, "total": 2,
                              "strict": False, "exit_code": 0, "text": "1 warning (0 passed, 1 skipped)"}
