"""The peer for benchmarks/backfill_throughput.py: Klaviyo's official Python SDK, one Create Event per action.

Run with an interpreter that has `klaviyo-api` installed (it is not a linesync
dependency), e.g. `python3 -m venv /tmp/peer-venv && /tmp/peer-venv/bin/pip install klaviyo-api`:

    /tmp/peer-venv/bin/python benchmarks/peer_sdk.py BASE_URL API_KEY SECONDS PROFILE_ID,PROFILE_ID,...

Sends events one call at a time (the SDK is synchronous, and this is how its
README creates events) for SECONDS against BASE_URL (the SDK's `test_host`), with
the SDK's own retries on 429; prints what it sent as JSON.
"""

from __future__ import annotations

import json
import sys
import time

from klaviyo_api import KlaviyoAPI


def main() -> None:
    base_url, key, seconds, profiles = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4].split(",")
    client = KlaviyoAPI(key, test_host=base_url)
    events = client.Events
    deadline = time.monotonic() + seconds
    sent = failed = 0
    while time.monotonic() < deadline:
        body = {"data": {"type": "event", "attributes": {
            "properties": {"line_user_id": f"U{sent:032x}", "message_id": f"msg-{sent // 50}"},
            "time": "2026-06-01T00:00:00+00:00", "unique_id": f"peer-{sent}",
            "metric": {"data": {"type": "metric", "attributes": {"name": "Opened LINE Message"}}},
            "profile": {"data": {"type": "profile", "id": profiles[sent % len(profiles)], "attributes": {}}}}}}
        try:
            events.create_event(body)
            sent += 1
        except Exception as exc:  # noqa: BLE001 - the SDK gave up (its retries spent): count, go on
            failed += 1
            if failed > 100:
                raise SystemExit(f"peer: too many failures, last: {exc}") from exc
    print(json.dumps({"events_sent": sent, "calls_failed": failed, "seconds": seconds}))


if __name__ == "__main__":
    main()
