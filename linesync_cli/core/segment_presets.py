"""Klaviyo Segments from LINE reactions: presets, their definitions, and the create step.

A definition is a list of condition groups; Klaviyo ANDs the groups and ORs the
conditions inside a group (klaviyo-api.md section 9). The presets use
`profile-metric` conditions (count of a metric's events in the last N days) and a
`profile-property` condition (`is-set`), shaped as the spec's
`SegmentsProfileMetricCondition` and `ProfilePropertyCondition`.

These are Klaviyo Segments. They are not the messaging platform's recipient
segments, and Klaviyo fills them in the background after creation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from linesync_cli.api.klaviyo import segment_create_body
from linesync_cli.catalogue import ACTIONS
from linesync_cli.config import LinkKey
from linesync_cli.core.funnel import EMAIL_STEPS, KnownMetrics
from linesync_cli.errors import CheckFailed, RateLimited, Unavailable, UsageError

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo import KlaviyoClient

DEFAULT_DAYS = 30

# Metric names by the keys presets use (LINE action keys, email step keys).
METRIC_NAMES: dict[str, str] = {a.key: a.metric_name for a in ACTIONS} | {s.key: s.metric_name for s in EMAIL_STEPS}

Condition = dict[str, Any]
Groups = list[list[Condition]]  # AND of groups, OR inside a group


def metric_count(metric_id: str, operator: str, value: int, days: int) -> Condition:
    """Count of the metric's events in the last `days` days, compared with `value`."""
    return {
        "type": "profile-metric",
        "metric_id": metric_id,
        "measurement": "count",
        "measurement_filter": {"type": "numeric", "operator": operator, "value": value},
        "timeframe_filter": {"type": "date", "operator": "in-the-last", "quantity": days, "unit": "day"},
    }


def did(metric_id: str, days: int) -> Condition:
    return metric_count(metric_id, "greater-than", 0, days)


def did_not(metric_id: str, days: int) -> Condition:
    return metric_count(metric_id, "equals", 0, days)


def property_is_set(name: str) -> Condition:
    """A custom profile property that is set, written `properties['name']` as the spec asks."""
    quote = "'" if "'" not in name else '"'
    if quote in name:
        raise UsageError(f"the property name {name!r} holds both quote characters; Klaviyo cannot address it")
    return {
        "type": "profile-property",
        "property": f"properties[{quote}{name}{quote}]",
        "filter": {"type": "existence", "operator": "is-set"},
    }


@dataclass(frozen=True)
class Preset:
    key: str
    summary: str
    default_name: str  # may hold {days} and {property}
    metrics: tuple[str, ...]  # METRIC_NAMES keys it needs
    uses_days: bool
    build: Callable[[dict[str, str], int, LinkKey], Groups] = field(repr=False)

    def metric_names(self) -> list[str]:
        return [METRIC_NAMES[k] for k in self.metrics]


def _linked(ids: dict[str, str], days: int, link: LinkKey) -> Groups:
    if link.kind != "property" or not link.property_name:
        raise UsageError(
            "line-linked needs a link property, but LINESYNC_LINK_KEY is external_id",
            hint="external_id is shared with other integrations, so \"external_id is set\" does not mean LINE-linked; "
            "if the platform also writes the LINE User ID property, run with --link-key \"property:LINE User ID\"",
        )
    return [[property_is_set(link.property_name)]]


PRESETS: tuple[Preset, ...] = (
    Preset(
        "line-opened-not-clicked",
        "Opened a LINE message in the last N days and clicked none",
        "LINE opened, not clicked ({days}d)",
        ("opened", "clicked"), True,
        lambda ids, d, _: [[did(ids["opened"], d)], [did_not(ids["clicked"], d)]],
    ),
    Preset(
        "line-clicked-recently",
        "Clicked a LINE message in the last N days",
        "LINE clicked ({days}d)",
        ("clicked",), True,
        lambda ids, d, _: [[did(ids["clicked"], d)]],
    ),
    Preset(
        "email-unopened-line-clicked",
        "Received email but opened none in the last N days, and clicked a LINE message",
        "Email unopened, LINE clicked ({days}d)",
        ("email_received", "email_opened", "clicked"), True,
        lambda ids, d, _: [[did(ids["email_received"], d)], [did_not(ids["email_opened"], d)],
                           [did(ids["clicked"], d)]],
    ),
    Preset(
        "line-blocked-recently",
        "Blocked the LINE account in the last N days (a later re-follow is not checked)",
        "LINE blocked ({days}d)",
        ("blocked",), True,
        lambda ids, d, _: [[did(ids["blocked"], d)]],
    ),
    Preset(
        "line-linked",
        "Profiles whose link property (LINESYNC_LINK_KEY) is set",
        "LINE linked ({property} is set)",
        (), False,
        _linked,
    ),
)
_BY_KEY = {p.key: p for p in PRESETS}


def get_preset(key: str) -> Preset:
    preset = _BY_KEY.get(key.strip().lower())
    if preset is None:
        raise UsageError(f"no preset called {key!r}", hint="presets: " + ", ".join(_BY_KEY) +
                         " (`linesync segments presets` describes them)")
    return preset


def placeholder_id(metric_key: str) -> str:
    return f"<ID of {METRIC_NAMES[metric_key]}>"


def segment_definition(groups: Groups) -> dict[str, Any]:
    """A segment definition (spec `SegmentDefinition`): the groups, each a list of conditions."""
    return {"condition_groups": [{"conditions": conditions} for conditions in groups]}


@dataclass
class SegmentPlan:
    preset: Preset
    name: str
    days: int | None
    definition: dict[str, Any]
    missing: list[str]  # metric names with no events yet
    placeholders: bool  # metric IDs are placeholders (not resolved)
    existing: list[dict[str, Any]] = field(default_factory=list)  # segments already named so

    @property
    def body(self) -> dict[str, Any]:
        """Exactly what create would send (a dry run shows it)."""
        return segment_create_body(self.name, self.definition)

    def to_json(self) -> dict[str, Any]:
        return {
            "preset": self.preset.key, "name": self.name, "days": self.days,
            "missing_metrics": self.missing, "placeholders": self.placeholders,
            "existing": self.existing, "body": self.body,
        }


def plan_segment(preset: Preset, *, link: LinkKey, days: int | None = None, name: str | None = None,
                 metrics: KnownMetrics | None = None) -> SegmentPlan:
    """The request for a preset. Without `metrics` (no key) metric IDs are placeholders."""
    if days is not None and days < 1:
        raise UsageError("--days must be 1 or more")
    used_days = (days or DEFAULT_DAYS) if preset.uses_days else None
    ids: dict[str, str] = {}
    missing: list[str] = []
    for key in preset.metrics:
        metric = metrics.get(key) if metrics is not None else None
        if metric is None and metrics is not None:
            missing.append(METRIC_NAMES[key])
        ids[key] = metric.id if metric is not None else placeholder_id(key)
    groups = preset.build(ids, used_days or DEFAULT_DAYS, link)
    label = name.strip() if name and name.strip() else preset.default_name.format(
        days=used_days, property=link.property_name or "external_id")
    return SegmentPlan(preset, label, used_days, segment_definition(groups), missing,
                       placeholders=metrics is None and bool(preset.metrics))


def segments_named(client: KlaviyoClient, name: str) -> list[dict[str, Any]]:
    """Segments whose name equals `name`, as the plan shows them."""
    return [{"id": seg.id, "name": seg.name, "created": seg.created} for seg in client.segments_named(name)]


def check_plan(plan: SegmentPlan, *, force: bool) -> None:
    """Refuse what Klaviyo would reject or the user would regret (missing metrics, a taken name)."""
    if plan.missing:
        raise CheckFailed(
            f"cannot create {plan.preset.key}: no events yet for {', '.join(plan.missing)}, so Klaviyo has no "
            "such metric to build on (the first event of a kind creates its metric)",
            hint="send those events first (`linesync backfill FILE`), then check with `linesync metrics`",
        )
    if plan.existing and not force:
        ids = ", ".join(str(s["id"]) for s in plan.existing)
        raise CheckFailed(
            f"a segment named {plan.name!r} already exists ({ids})",
            hint="choose another --name, or --force to create another segment with the same name",
        )


@dataclass
class CreatedSegment:
    id: str
    name: str
    is_processing: bool | None
    created: str | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "is_processing": self.is_processing, "created": self.created}


def create_segment(client: KlaviyoClient, plan: SegmentPlan) -> CreatedSegment:
    """Send the create. It is not retried after a 5xx or a dropped connection (not idempotent)."""
    try:
        doc = client.create_segment(plan.name, plan.definition)
    except RateLimited as exc:
        raise RateLimited(
            "Klaviyo refused the create with 429: an account may create or update at most 100 segments a day "
            "(and 1 a second, 15 a minute)",
            hint="try again tomorrow, or reuse an existing segment; `--dry-run` shows the definition to add by hand",
            service=exc.service, status=exc.status, errors=exc.errors,
        ) from None
    except Unavailable as exc:
        raise Unavailable(
            f"{exc.message}; the segment may or may not have been created",
            hint=f"look for {plan.name!r} in Klaviyo (Audience > Lists & segments) before retrying; re-running this "
            "command refuses if it exists",
            service=exc.service, status=exc.status, errors=exc.errors,
        ) from None
    return CreatedSegment(id=doc.id, name=doc.name or plan.name, is_processing=doc.is_processing, created=doc.created)
