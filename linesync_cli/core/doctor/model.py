"""What a doctor check is and what it returns.

A check has a stable kebab-case ID (used by `--only`/`--skip` and in JSON), a
title, and a function from the shared context to a `CheckResult`: a status, a
one-line finding, a hint naming the next command, optional extra lines (shown
with `--details`) and optional machine-readable `data` (JSON only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from linesync_cli.errors import ExitCode

if TYPE_CHECKING:
    from linesync_cli.core.utm_links import UtmTags


class Status(str, Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"  # not applicable here, or a prerequisite failed
    ERROR = "error"  # the check itself raised: its outcome is unknown
    INFO = "info"  # nothing to judge, something to know (open-vs-read)


# Order of severity for the summary and the exit code.
FAILING = (Status.FAIL, Status.ERROR)


@dataclass(frozen=True)
class CheckResult:
    status: Status
    detail: str
    hint: str | None = None
    details: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    # Set by the gating checks (config, klaviyo-auth) when the run itself cannot
    # proceed: 2 configuration, 3 credentials refused, 4 Klaviyo unavailable.
    exit_code: ExitCode | None = None
    # The extra lines are the finding itself (utm-links: the untagged links, their fixed URLs): shown without -d.
    show_details: bool = False


def passed(detail: str, hint: str | None = None, details: Iterable[str] = (), **data: Any) -> CheckResult:
    return CheckResult(Status.PASS, detail, hint, tuple(details), data)


def warned(detail: str, hint: str | None = None, details: Iterable[str] = (), **data: Any) -> CheckResult:
    return CheckResult(Status.WARN, detail, hint, tuple(details), data)


def failed(detail: str, hint: str | None = None, details: Iterable[str] = (), exit_code: ExitCode | None = None,
           **data: Any) -> CheckResult:
    return CheckResult(Status.FAIL, detail, hint, tuple(details), data, exit_code)


def skipped(detail: str, hint: str | None = None, details: Iterable[str] = (), **data: Any) -> CheckResult:
    return CheckResult(Status.SKIP, detail, hint, tuple(details), data)


def informed(detail: str, hint: str | None = None, details: Iterable[str] = (), **data: Any) -> CheckResult:
    return CheckResult(Status.INFO, detail, hint, tuple(details), data)


class SkipCheck(Exception):
    """Raised inside a check (via `DoctorContext.need`) when a prerequisite did not pass."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.detail)
        self.result = result


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    # Takes the runner's DoctorContext; the model does not import the runner (which imports the model).
    run: Callable[[Any], CheckResult]
    # The product docs' troubleshooting row this check answers, if any.
    row: str | None = None


@dataclass(frozen=True)
class DoctorOptions:
    since: datetime  # recent-events: an event after this time counts as recent
    since_label: str = "in the last 24h"  # for messages: "in the last 24h", "since 2026-03-01"
    line_user_id: str | None = None
    message: Any = None  # the parsed --message document
    message_name: str | None = None
    segment_id: str | None = None
    link_map: Path | None = None
    strict: bool = False
    suggest_utm: UtmTags | None = None  # --suggest-utm: utm-links shows each fixed URL


@dataclass(frozen=True)
class CheckOutcome:
    check: Check
    result: CheckResult

    def to_json(self) -> dict[str, Any]:
        r = self.result
        out: dict[str, Any] = {
            "id": self.check.id,
            "title": self.check.title,
            "status": r.status.value,
            "detail": r.detail,
            "hint": r.hint,
            "details": list(r.details),
        }
        if self.check.row:
            out["row"] = self.check.row  # the troubleshooting-table row this check answers
        if r.data:
            out["data"] = r.data
        return out


@dataclass(frozen=True)
class DoctorReport:
    outcomes: tuple[CheckOutcome, ...]
    strict: bool = False
    # Results of prerequisites that ran without being selected (hidden), for the exit code.
    hidden: tuple[CheckOutcome, ...] = ()

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.result.status is status)

    @property
    def exit_code(self) -> ExitCode:
        """2/3/4 when a gating check stopped the run, else 1 on any failure (or warning with --strict), else 0."""
        for outcome in (*self.outcomes, *self.hidden):
            if outcome.result.exit_code is not None and outcome.result.status in FAILING:
                return outcome.result.exit_code
        # A hidden prerequisite that failed made a selected check skip: still a failure.
        if any(o.result.status in FAILING for o in (*self.outcomes, *self.hidden)):
            return ExitCode.FAILED
        if self.strict and self.count(Status.WARN):
            return ExitCode.FAILED
        return ExitCode.OK

    @property
    def summary_text(self) -> str:
        """"2 checks failed, 1 warning", or "No problems found: 7 checks passed, 3 skipped"."""

        def n(count: int, one: str, many: str) -> str:
            return f"{count} {one if count == 1 else many}"

        fail, err, warn = self.count(Status.FAIL), self.count(Status.ERROR), self.count(Status.WARN)
        ok, skip = self.count(Status.PASS), self.count(Status.SKIP)
        problems = []
        if fail:
            problems.append(n(fail, "check failed", "checks failed"))
        if err:
            problems.append(n(err, "check could not run", "checks could not run"))
        if warn:
            problems.append(n(warn, "warning", "warnings"))
        hidden = [o.check.id for o in self.hidden if o.result.status in FAILING]
        if hidden:
            problems.append(n(len(hidden), "unreported prerequisite failed", "unreported prerequisites failed")
                            + f" ({', '.join(hidden)})")
        rest = [n(ok, "passed", "passed")] + ([f"{skip} skipped"] if skip else [])
        if problems:
            return ", ".join(problems) + f" ({', '.join(rest)})"
        return f"No problems found: {n(ok, 'check passed', 'checks passed')}" + (f", {skip} skipped" if skip else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "checks": [o.to_json() for o in self.outcomes],
            "summary": {
                **{s.value: self.count(s) for s in Status},
                "total": len(self.outcomes),
                "strict": self.strict,
                "exit_code": int(self.exit_code),
                "text": self.summary_text,
            },
        }
