"""Flow safety: which live Flows would the backfilled metrics trigger?

Only metrics that already exist can trigger Flows (a metric appears with its first
event). With `backfill: true` (the default) Klaviyo records the events without
starting them; `--trigger-flows` turns that off, so the command lists these Flows
and asks first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from linesync_cli.catalogue import ACTIONS
from linesync_cli.core.metrics import line_metric_status, list_metrics

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo import KlaviyoClient


@dataclass(frozen=True)
class Flow:
    id: str
    name: str
    status: str


@dataclass
class MetricFlows:
    action: str
    metric_name: str
    metric_id: str
    live_flows: list[Flow] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "metric": self.metric_name, "metric_id": self.metric_id,
                "live_flows": [{"id": f.id, "name": f.name, "status": f.status} for f in self.live_flows]}


def triggered_flows(client: KlaviyoClient, actions: tuple[str, ...] = ()) -> list[MetricFlows]:
    """Per existing LINE metric (limited to `actions` when given): the live Flows it triggers."""
    wanted = set(actions) or {a.key for a in ACTIONS}
    found = []
    for status in line_metric_status(list_metrics(client, api_only=True)):
        if status.metric is None or status.action.key not in wanted:
            continue
        flows = []
        for trigger in client.get_flows_triggered_by_metric(status.metric.id):
            if trigger.status.lower() == "live" and not trigger.archived:
                flows.append(Flow(trigger.id, trigger.name, "live"))
        found.append(MetricFlows(status.action.key, status.action.metric_name, status.metric.id, flows))
    return found
