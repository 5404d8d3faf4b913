"""The order metric a command names (`--order-metric`): one lookup for every command that reads orders.

Order metrics come from the store's integration (Shopify's and WooCommerce's "Placed Order"), not
from linesync, so they are found in the account's metrics listing. Names are not unique across
integrations (Shopify and an API import can both have "Placed Order"): more than one match is
refused with their IDs, which are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from linesync_cli.catalogue import by_metric_name, lookup
from linesync_cli.errors import UsageError

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo_records import Metric

DEFAULT_ORDER_METRIC = "Placed Order"
# Words in a metric name that suggest orders, to list candidates when the one asked for is absent.
ORDER_WORDS = ("order", "purchase", "checkout", "paid", "bought", "transaction")


def _label(m: Metric) -> str:
    return f"{m.name!r} ({m.integration_name or m.integration_category or 'unknown integration'}, ID {m.id})"


def check_order_metric_name(wanted: str) -> None:
    """Before any network: the name is not empty and is not one of the LINE metrics."""
    if not wanted.strip():
        raise UsageError("--order-metric is empty", hint=f'e.g. --order-metric "{DEFAULT_ORDER_METRIC}"')
    if lookup(wanted) is not None:
        raise UsageError(f"{wanted!r} is a LINE metric, not an order metric",
                         hint=f'name the metric your shop records orders with, e.g. --order-metric "{DEFAULT_ORDER_METRIC}"')


def find_order_metric(metrics: list[Metric], wanted: str) -> Metric:
    """The metric with the ID `wanted`, else the one named so (exactly, then ignoring case).

    Several with that name: a UsageError naming their IDs. None: a UsageError listing the
    account's order-like metrics (LINE's own left out)."""
    wanted = wanted.strip()
    by_id = [m for m in metrics if m.id == wanted]
    if by_id:
        return by_id[0]
    named = [m for m in metrics if m.name == wanted] or [m for m in metrics if m.name.casefold() == wanted.casefold()]
    if len(named) == 1:
        return named[0]
    if named:
        raise UsageError(f"--order-metric {wanted!r} names {len(named)} metrics: " + "; ".join(map(_label, named)),
                         hint=f"give the ID of the one your store writes, e.g. --order-metric {named[0].id}")
    candidates = [m for m in metrics
                  if any(word in m.name.casefold() for word in ORDER_WORDS) and not by_metric_name(m.name)]
    listed = "; ".join(map(_label, candidates[:8])) if candidates else "none in this account"
    raise UsageError(
        f"--order-metric: no metric named {wanted!r} in this Klaviyo account (order-like metrics: {listed})",
        hint=f'give one with --order-metric NAME or ID; Shopify and WooCommerce record orders as "{DEFAULT_ORDER_METRIC}" '
        "(each item as \"Ordered Product\") once the store is connected to Klaviyo",
    )
