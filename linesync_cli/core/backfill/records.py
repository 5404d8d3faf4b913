"""What flows through the backfill pipeline: actions, rejects, skips, and the event JSON.

An `Action` is one valid LINE action with everything needed to send it and, should
Klaviyo refuse it, to write its original record to the rejects file. Events are
encoded to JSON once, here, in exactly the bytes the request will carry, so the
5 MB request limit is checked on real sizes and `--out` writes the real bodies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# The same encoding KlaviyoClient.post uses, so dry-run bodies are the bytes sent.
encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

# Klaviyo: a single string may not exceed 100 KB.
MAX_STRING_BYTES = 100 * 1024

# Input field -> event property (design.md section 5), in the order they are written.
OPTIONAL_PROPERTIES: tuple[tuple[str, str], ...] = (
    ("message_id", "Message ID"),
    ("broadcast_id", "Broadcast ID"),
    ("flow_id", "Flow ID"),
    ("workflow_id", "Workflow ID"),
    ("send_type", "Send Type"),
    ("url", "URL"),
    ("failure_reason", "Failure Reason"),
    ("qr_code_id", "QR Code ID"),
)


class Action:
    """One valid LINE action, ready to become an event once its profile is known."""

    __slots__ = ("action", "metric", "line_user_id", "epoch", "time_text", "unique_id", "properties",
                 "file", "line", "record")

    def __init__(self, action: str, metric: str, line_user_id: str, epoch: int, time_text: str,
                 unique_id: str, properties: dict[str, Any], file: str, line: int, record: Any) -> None:
        self.action = action  # catalogue key, e.g. "sent"
        self.metric = metric  # Klaviyo event name
        self.line_user_id = line_user_id
        self.epoch = epoch  # seconds since 1970 (Klaviyo truncates `time` to the second)
        self.time_text = time_text  # ISO 8601 in UTC, second precision
        self.unique_id = unique_id
        self.properties = properties
        self.file = file
        self.line = line
        self.record = record  # the original record, for the rejects file

    def dedup_key(self) -> str:
        # The LINE user stands for the profile: one user ID resolves to one profile.
        return f"{self.line_user_id}\x1f{self.metric}\x1f{self.unique_id}"

    def event_json(self, backfill: bool) -> str:
        """The `event` resource of the bulk request, encoded."""
        flag = "true" if backfill else "false"
        return (
            '{"type":"event","attributes":{"properties":' + encode_json(self.properties)
            + ',"time":"' + self.time_text + '","unique_id":' + encode_json(self.unique_id)
            + ',"backfill":' + flag + ',"metric":{"data":{"type":"metric","attributes":{"name":'
            + encode_json(self.metric) + "}}}}}"
        )


@dataclass(frozen=True, slots=True)
class Reject:
    """A record that cannot be sent, for the rejects file (JSON Lines)."""

    file: str
    line: int
    record: Any
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "record": self.record, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Skip:
    """A record that is valid but not a LINE action we sync (e.g. a webhook `message`)."""

    reason: str
