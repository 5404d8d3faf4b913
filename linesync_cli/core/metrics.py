"""Are the nine LINE metrics present in Klaviyo under integration type API?

A metric exists only once its first event has arrived (there is no create-metric
endpoint), so "missing" means "no event of this kind has arrived yet".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from linesync_cli.catalogue import ACTIONS, LineAction, by_metric_name
from linesync_cli.timeutil import parse_api_time

API_FILTER = 'equals(integration.category,"API")'
METRIC_FIELDS = ["name", "created", "updated", "integration"]
MISSING_TEXT = "no event of this kind has arrived yet"


@dataclass(frozen=True)
class Metric:
    id: str
    name: str
    integration_name: str
    integration_category: str
    created: datetime | None
    updated: datetime | None

    @property
    def is_api(self) -> bool:
        return self.integration_category.casefold() == "api"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "integration": {"name": self.integration_name, "category": self.integration_category},
            "created": self.created.isoformat() if self.created else None,
            "updated": self.updated.isoformat() if self.updated else None,
        }


def parse_metric(resource: dict) -> Metric:
    """Defensive: OAuth-app metrics carry `integration.category` as an object."""
    attrs = resource.get("attributes") or {}
    integration = attrs.get("integration") or {}
    category = integration.get("category") if isinstance(integration, dict) else None
    if isinstance(category, dict):
        category = category.get("category") or category.get("name") or ""
    name = integration.get("name") if isinstance(integration, dict) else None
    return Metric(
        id=str(resource.get("id", "")),
        name=str(attrs.get("name") or ""),
        integration_name=str(name or ""),
        integration_category=str(category or ""),
        created=parse_api_time(attrs.get("created")),
        updated=parse_api_time(attrs.get("updated")),
    )


@dataclass
class LineMetricStatus:
    action: LineAction
    metric: Metric | None  # the API-integration metric, None when no event arrived yet
    # The same event name under other integrations (or duplicated under API): a split.
    others: list[Metric] = field(default_factory=list)

    @property
    def present(self) -> bool:
        return self.metric is not None

    @property
    def split(self) -> bool:
        return bool(self.others)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action.key,
            "name": self.action.metric_name,
            "present": self.present,
            "metric": self.metric.to_json() if self.metric else None,
            "status": "present" if self.present else "missing",
            "detail": None if self.present else MISSING_TEXT,
            "split": self.split,
            "split_with": [m.to_json() for m in self.others],
        }


def list_metrics(client: Any, *, api_only: bool) -> list[Metric]:
    return [parse_metric(r) for r in client.get_metrics(API_FILTER if api_only else None, METRIC_FIELDS)]


def line_metric_status(api_metrics: list[Metric], all_metrics: list[Metric] | None = None) -> list[LineMetricStatus]:
    """Pair each of the nine actions with its API metric and any split copies.

    `all_metrics` (every integration) finds a LINE event name recorded under another
    integration too; without it only duplicates under API are found.
    """
    by_name: dict[str, list[Metric]] = {}
    pool = {m.id: m for m in (all_metrics or [])} | {m.id: m for m in api_metrics}
    for m in pool.values():
        if by_metric_name(m.name):
            by_name.setdefault(m.name.casefold(), []).append(m)
    statuses = []
    for action in ACTIONS:
        # API metrics first, oldest first: the one that has been collecting events.
        found = sorted(
            by_name.get(action.metric_name.casefold(), []),
            key=lambda m: (not m.is_api, m.created.timestamp() if m.created else float("inf")),
        )
        api = [m for m in found if m.is_api and m.name == action.metric_name] or [m for m in found if m.is_api]
        primary = api[0] if api else None
        statuses.append(LineMetricStatus(action, primary, [m for m in found if m is not primary]))
    return statuses


def check_line_metrics(client: Any) -> list[LineMetricStatus]:
    """The nine LINE metrics as Klaviyo sees them (two paged listings of /api/metrics)."""
    api_metrics = list_metrics(client, api_only=True)
    all_metrics = list_metrics(client, api_only=False)
    return line_metric_status(api_metrics, all_metrics)
