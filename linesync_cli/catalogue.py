"""The nine LINE actions and their Klaviyo event (metric) names.

This module is the only place that knows them; everything else asks it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LineAction:
    key: str  # short input name, as in actions files: `sent`, `qr_scanned`
    metric_name: str  # Klaviyo event name
    description: str  # the LINE action, in words
    # Opens and clicks exist only for messages with a trackable link or image.
    needs_trackable_content: bool = False
    # Message events carry message/broadcast/flow identifiers.
    is_message_event: bool = False


ACTIONS: tuple[LineAction, ...] = (
    LineAction("sent", "Sent LINE Message", "message sent", is_message_event=True),
    LineAction("delivered", "Delivered LINE Message", "message delivered", is_message_event=True),
    LineAction("failed", "Failed LINE Message", "message send failed", is_message_event=True),
    LineAction(
        "opened", "Opened LINE Message", "message opened",
        needs_trackable_content=True, is_message_event=True,
    ),
    LineAction(
        "clicked", "Clicked LINE Message", "message clicked",
        needs_trackable_content=True, is_message_event=True,
    ),
    LineAction("followed", "Followed LINE Account", "added as friend"),
    LineAction("blocked", "Blocked LINE Account", "blocked"),
    LineAction("qr_scanned", "Scanned LINE QR Code", "QR code scanned"),
    LineAction("linked", "Linked LINE Identity", "ID linkage completed"),
)

ACTION_KEYS: tuple[str, ...] = tuple(a.key for a in ACTIONS)
METRIC_NAMES: tuple[str, ...] = tuple(a.metric_name for a in ACTIONS)

_BY_KEY = {a.key: a for a in ACTIONS}
_BY_METRIC = {a.metric_name.casefold(): a for a in ACTIONS}

# Klaviyo's own email metrics, for side-by-side reports and channel detection.
EMAIL_METRICS = ("Received Email", "Opened Email", "Clicked Email")


def lookup(name: str) -> LineAction | None:
    """Find an action by short name or Klaviyo event name; case and spaces do not matter.

    `qr-scanned` and `qr scanned` are accepted for `qr_scanned`.
    """
    text = " ".join(name.split()).casefold()
    if not text:
        return None
    found = _BY_METRIC.get(text)
    if found:
        return found
    return _BY_KEY.get(text.replace("-", "_").replace(" ", "_"))


def by_metric_name(metric_name: str) -> LineAction | None:
    """Exact-case-insensitive match on the Klaviyo event name only."""
    return _BY_METRIC.get(metric_name.casefold())


