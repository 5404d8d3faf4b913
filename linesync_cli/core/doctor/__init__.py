"""`linesync doctor`: the troubleshooting checklist as check objects.

The rows of the product docs' troubleshooting table that issue 5 names are checks
(`row`); the others are the set-up and event checks that come before them. The order here is the order of the report
and of `--only`/`--skip` validation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from linesync_cli.core.doctor.checks_account import (
    check_config,
    check_klaviyo_auth,
    check_klaviyo_scopes,
    check_line_token,
)
from linesync_cli.core.doctor.checks_events import check_line_metrics, check_metric_split, check_recent_events
from linesync_cli.core.doctor.checks_linkage import check_link_index, check_linkage, check_segment_processing
from linesync_cli.core.doctor.checks_messages import check_open_vs_read, check_trackable_message, check_utm_links
from linesync_cli.core.doctor.checks_reconcile import check_line_vs_klaviyo
from linesync_cli.core.doctor.model import (
    Check,
    CheckOutcome,
    CheckResult,
    DoctorOptions,
    DoctorReport,
    Status,
)
from linesync_cli.core.doctor.runner import DoctorContext, run_checks, select_checks

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo import KlaviyoClient
    from linesync_cli.api.line import LineClient
    from linesync_cli.config import LoadedSettings

__all__ = [
    "CHECKS",
    "CHECK_IDS",
    "Check",
    "CheckOutcome",
    "CheckResult",
    "DoctorContext",
    "DoctorOptions",
    "DoctorReport",
    "Status",
    "run_doctor",
    "select_checks",
]

CHECKS: tuple[Check, ...] = (
    Check("config", "Configuration", check_config),
    Check("klaviyo-auth", "Klaviyo API key", check_klaviyo_auth),
    Check("klaviyo-scopes", "Klaviyo API key scopes", check_klaviyo_scopes),
    Check("line-metrics", "LINE metrics in Klaviyo", check_line_metrics),
    Check("metric-split", "Split LINE metrics", check_metric_split),
    Check("recent-events", "Recent LINE events", check_recent_events),
    Check("link-index", "Link index", check_link_index),
    Check("linkage", "Customer linkage", check_linkage,
          row="Events are not recorded in Klaviyo"),
    Check("trackable-message", "Trackable links and images", check_trackable_message,
          row="Clicks and opens are not recorded"),
    Check("utm-links", "UTM parameters on links", check_utm_links),
    Check("open-vs-read", "Opens versus LINE's Read", check_open_vs_read,
          row="Open counts do not match Read"),
    Check("segment-processing", "Klaviyo Segment", check_segment_processing,
          row="Events are not reflected in a Klaviyo Segment"),
    Check("line-token", "LINE channel access token", check_line_token),
    Check("line-vs-klaviyo", "LINE's counts against Klaviyo's", check_line_vs_klaviyo),
)
CHECK_IDS: tuple[str, ...] = tuple(c.id for c in CHECKS)


def run_doctor(
    options: DoctorOptions,
    *,
    only: Sequence[str] = (),
    skip: Sequence[str] = (),
    load_settings: Callable[[], LoadedSettings],
    klaviyo: Callable[[], KlaviyoClient],
    line: Callable[[], LineClient | None],
    now: Callable[[], datetime] | None = None,
    raise_unexpected: bool = False,
) -> DoctorReport:
    """Select, run and report. Unknown `only`/`skip` IDs raise UsageError before anything runs."""
    selected = select_checks(CHECKS, only, skip)
    ctx = DoctorContext(options, CHECKS, load_settings=load_settings, klaviyo=klaviyo, line=line, now=now,
                        raise_unexpected=raise_unexpected)
    return run_checks(ctx, selected)
