"""The doctor's runner and the context its checks share.

Checks run independently: one that raises is reported as `error` and the rest go
on. A check that depends on another calls `ctx.need(id)`: the prerequisite runs
first (once, even when not selected, then hidden from the report), and when it
did not pass the dependent check is skipped with the reason, instead of repeating
the same failure. API results that several checks use (the account, the metric
listings, the resolved profile) are fetched once per run through `ctx.shared`:
the account allows 1 request/s and 15/min, so it is called at most once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from linesync_cli.core.doctor.model import (
    Check,
    CheckOutcome,
    CheckResult,
    DoctorOptions,
    DoctorReport,
    SkipCheck,
    Status,
    skipped,
)
from linesync_cli.errors import LinesyncError, UsageError

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo import KlaviyoClient
    from linesync_cli.api.klaviyo_records import Account
    from linesync_cli.api.line import LineClient
    from linesync_cli.config import LoadedSettings, Settings


class DoctorContext:
    """What checks share: options, settings, API clients, memoised API results, other checks' results."""

    def __init__(
        self,
        options: DoctorOptions,
        checks: Sequence[Check],
        *,
        load_settings: Callable[[], LoadedSettings],
        klaviyo: Callable[[], KlaviyoClient],
        line: Callable[[], LineClient | None],
        now: Callable[[], datetime] | None = None,
        raise_unexpected: bool = False,
    ) -> None:
        self.options = options
        self._checks = {c.id: c for c in checks}
        self._load_settings = load_settings
        self._klaviyo = klaviyo
        self._line = line
        self.now = now or (lambda: datetime.now(UTC))
        self.raise_unexpected = raise_unexpected  # --debug: let bugs show their traceback
        self._memo: dict[str, tuple[bool, Any]] = {}
        self.results: dict[str, CheckResult] = {}
        self.selected: set[str] = {c.id for c in checks}  # narrowed by run_checks

    # -- shared, memoised values ---------------------------------------------
    def shared(self, key: str, compute: Callable[[], Any]) -> Any:
        """Compute once per run; a failure is remembered and raised again, never retried."""
        if key not in self._memo:
            try:
                self._memo[key] = (True, compute())
            except Exception as exc:  # remembered, including bugs: each caller reports it
                self._memo[key] = (False, exc)
        ok, value = self._memo[key]
        if ok:
            return value
        raise value

    @property
    def loaded(self) -> LoadedSettings:
        return self.shared("settings", self._load_settings)

    @property
    def settings(self) -> Settings:
        return self.loaded.settings

    def klaviyo(self) -> KlaviyoClient:
        return self.shared("klaviyo", self._klaviyo)

    def line(self) -> LineClient | None:
        return self.shared("line", self._line)

    def account(self) -> Account:
        """The account (1/s, 15/min): once per run, shared by klaviyo-auth and klaviyo-scopes."""
        return self.shared("accounts", lambda: self.klaviyo().get_account())

    def api_metrics(self) -> list:
        from linesync_cli.core.metrics import list_metrics

        return self.shared("api-metrics", lambda: list_metrics(self.klaviyo(), api_only=True))

    def line_metrics(self) -> list:
        """The nine LINE metrics (core.metrics), from the two shared listings."""
        from linesync_cli.core.metrics import line_metric_status, list_metrics

        def compute() -> list:
            all_metrics = list_metrics(self.klaviyo(), api_only=False)
            return line_metric_status(self.api_metrics(), all_metrics)

        return self.shared("line-metrics", compute)

    # -- other checks --------------------------------------------------------
    def result(self, check_id: str) -> CheckResult:
        """The result of a check, running it first if it has not run yet."""
        if check_id not in self.results:
            self.results[check_id] = self._run(self._checks[check_id])
        return self.results[check_id]

    def need(self, check_id: str, accept: Iterable[Status] = (Status.PASS, Status.WARN, Status.INFO)) -> CheckResult:
        """The prerequisite's result; raises SkipCheck (the caller is skipped) unless it is accepted.

        The skip names the root cause (the first check in the chain that did not
        pass), and repeats its hint only when that check is not in the report.
        """
        r = self.result(check_id)
        if r.status in tuple(accept):
            return r
        root_id = r.data.get("blocked_by", check_id) if r.status is Status.SKIP else check_id
        root = self.results[root_id]
        verb = {Status.FAIL: "failed", Status.ERROR: "could not run", Status.SKIP: "was skipped"}.get(
            root.status, root.status.value)
        raise SkipCheck(skipped(
            f"not checked: {self._checks[root_id].title} {verb}: {root.detail}",
            None if root_id in self.selected else root.hint,
            blocked_by=root_id,
        ))

    def _run(self, check: Check) -> CheckResult:
        try:
            return check.run(self)
        except SkipCheck as skip:
            return skip.result
        except LinesyncError as exc:
            return CheckResult(Status.ERROR, exc.message, exc.hint, data={"error": exc.code})
        except Exception as exc:
            if self.raise_unexpected:
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
            return CheckResult(
                Status.ERROR, f"unexpected error: {type(exc).__name__}: {first}".rstrip(": "),
                "re-run with --debug for the traceback, and report it", data={"error": "unexpected"},
            )


def select_checks(checks: Sequence[Check], only: Sequence[str] = (), skip: Sequence[str] = ()) -> list[Check]:
    """The checks to report, in registry order; unknown IDs are a usage error listing the valid ones."""
    valid = [c.id for c in checks]
    for option, ids in (("--only", only), ("--skip", skip)):
        unknown = [i for i in ids if i not in valid]
        if unknown:
            raise UsageError(
                f"{option}: unknown check ID{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}",
                hint="valid IDs: " + ", ".join(valid),
            )
    chosen = [c for c in checks if (not only or c.id in only) and c.id not in skip]
    if not chosen:
        raise UsageError("--only and --skip leave no check to run", hint="valid IDs: " + ", ".join(valid))
    return chosen


def run_checks(ctx: DoctorContext, selected: Sequence[Check]) -> DoctorReport:
    """Run the selected checks (and, hidden, any prerequisite they need)."""
    chosen = {c.id for c in selected}
    ctx.selected = chosen
    for check in selected:
        ctx.result(check.id)
    outcomes = tuple(CheckOutcome(c, ctx.results[c.id]) for c in selected)
    hidden = tuple(CheckOutcome(ctx._checks[i], r) for i, r in ctx.results.items() if i not in chosen)
    return DoctorReport(outcomes, strict=ctx.options.strict, hidden=hidden)
