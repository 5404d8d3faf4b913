"""Request bodies and sending: limits, grouping, byte-exact encoding, spec validity, 400s.

The bodies are built by hand for speed, so they are checked here against
json.dumps (the client's own encoding) and against the official spec.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from linesync_cli.api.http import RetryPolicy
from linesync_cli.api.klaviyo import KlaviyoClient
from linesync_cli.core.backfill.batching import MAX_BYTES, Batch, BatchBuilder, SeenKeys, batch_key
from linesync_cli.core.backfill.ledger import Ledger
from linesync_cli.core.backfill.records import Action, encode_json, properties_json
from linesync_cli.core.backfill.sender import BISECT_BUDGET, RequestRefused, deliver
from linesync_cli.errors import BadRequest
from tests.support.backfill_data import line_id
from tests.support.spec import check_klaviyo_contract, requires_specs, validate_klaviyo_request

BASE = "https://a.klaviyo.com"
BULK_URL = BASE + "/api/event-bulk-create-jobs"
HEADERS = {"revision": "2026-07-15", "Authorization": "Klaviyo-API-Key pk_test_0000000000",
           "Content-Type": "application/vnd.api+json"}


def action(n: int, *, user: int | None = None, metric: str = "Sent LINE Message", unique_id: str | None = None,
           extra: list | None = None) -> Action:
    uid = line_id(n if user is None else user)
    return Action("sent", metric, uid, 1780000000 + n, unique_id or f"u-{n}",
                  properties_json(uid, extra or [("Message ID", f"m-{n}"), ("URL", "https://x.example/ü?a=\"b\"")]),
                  "in.csv", n + 2, {"n": n})


def fill(builder: BatchBuilder, actions: list[tuple[str, Action]]) -> list[Batch]:
    batches = []
    for profile, a in actions:
        done, _ = builder.add(profile, a)
        if done:
            batches.append(done)
    last = builder.flush()
    return batches + ([last] if last else [])


def as_dict(batch: Batch) -> dict:
    """The body as the Klaviyo client would build it from a dict (json.dumps)."""
    entries = []
    for profile, events in batch.entries.items():
        entries.append({"type": "event-bulk-create", "attributes": {
            "backfill": batch.backfill,
            "profile": {"data": {"type": "profile", "id": profile, "attributes": {}}},
            "events": {"data": [json.loads(e) for e, _ in events]}}})
    return {"data": {"type": "event-bulk-create-job", "attributes": {"events-bulk-create": {"data": entries}}}}


def test_body_is_byte_identical_to_the_clients_encoding_and_groups_by_profile():
    batch = fill(BatchBuilder(backfill=True), [("P1", action(1)), ("P2", action(2, extra=[("Unblocked", True)])),
                                               ("P1", action(3))])[0]
    body = batch.body()
    assert body == encode_json(as_dict(batch)).encode()
    doc = json.loads(body)
    entries = doc["data"]["attributes"]["events-bulk-create"]["data"]
    assert [e["attributes"]["profile"]["data"] for e in entries] == [
        {"type": "profile", "id": "P1", "attributes": {}}, {"type": "profile", "id": "P2", "attributes": {}}]
    assert [len(e["attributes"]["events"]["data"]) for e in entries] == [2, 1]
    assert all(e["attributes"]["backfill"] is True for e in entries)
    events = [ev["attributes"] for e in entries for ev in e["attributes"]["events"]["data"]]
    assert all(ev["backfill"] is True for ev in events)
    assert events[0]["properties"]["URL"] == 'https://x.example/ü?a="b"'
    assert events[2]["properties"] == {"LINE User ID": line_id(2), "Channel": "LINE", "Unblocked": True}
    assert batch.size == len(body)


@requires_specs
@pytest.mark.parametrize("backfill", [True, False])
def test_body_is_valid_against_the_official_spec(backfill):
    batch = fill(BatchBuilder(backfill=backfill), [(f"P{n % 7}", action(n)) for n in range(50)])[0]
    assert validate_klaviyo_request("POST", BULK_URL, HEADERS, batch.body()) == "bulk_create_events"


def test_at_most_1000_events_per_request_and_sizes_are_exact():
    batches = fill(BatchBuilder(backfill=True), [(f"P{n % 300}", action(n)) for n in range(2500)])
    assert [b.events for b in batches] == [1000, 1000, 500]
    assert all(b.size == len(b.body()) for b in batches)
    assert [b.seq for b in batches] == [1, 2, 3]


def test_requests_stay_under_5_mb():
    big = [("Failure Reason", "x" * 100_000)]
    batches = fill(BatchBuilder(backfill=True), [(f"P{n}", action(n, extra=big)) for n in range(120)])
    assert len(batches) == 3
    assert all(len(b.body()) == b.size <= MAX_BYTES for b in batches)


def test_no_two_events_in_a_request_share_profile_metric_and_unique_id():
    builder = BatchBuilder(backfill=True)
    first, added = builder.add("P1", action(1, unique_id="same"))
    assert added
    _, added = builder.add("P1", action(2, user=2, unique_id="same"))  # another LINE user, the same profile
    assert not added
    _, added = builder.add("P1", action(3, unique_id="same", metric="Opened LINE Message"))
    assert added


def test_batches_are_deterministic():
    items = [(f"P{n % 13}", action(n)) for n in range(1500)]
    keys = [batch_key(b.body()) for b in fill(BatchBuilder(backfill=True), items)]
    assert keys == [batch_key(b.body()) for b in fill(BatchBuilder(backfill=True), items)]
    assert len(set(keys)) == 2


def test_seen_keys_across_and_within_chunks(tmp_path):
    seen = SeenKeys(tmp_path)
    try:
        a, b = action(1), action(2)
        assert seen.first_seen([a, b, action(1)]) == [True, True, False]
        assert seen.first_seen([action(2), action(3)]) == [False, True]
        assert seen.first_seen([action(n) for n in range(10, 1300)]) == [True] * 1290
        assert list(tmp_path.iterdir()) == []  # the file is unlinked while open: nothing left after a kill -9
    finally:
        seen.close()


def test_seen_keys_repeats_within_a_chunk_and_from_earlier_ones_mixed(tmp_path):
    seen = SeenKeys(tmp_path)
    try:
        assert seen.first_seen([action(n) for n in range(5)]) == [True] * 5
        # 1 and 3 met before; 7 twice in this chunk (600 keys: two INSERT statements).
        chunk = [action(1), action(7), *[action(n) for n in range(100, 697)], action(7), action(3)]
        assert seen.first_seen(chunk) == [False, True] + [True] * 597 + [False, False]
        assert seen.first_seen([action(7), action(697)]) == [False, True]
    finally:
        seen.close()


def test_seen_keys_stay_exact_when_keys_share_the_first_64_bits(tmp_path, monkeypatch):
    # Every key gets the same first half: all but one live in the side table, by all 128 bits.
    import linesync_cli.core.backfill.batching as batching

    real_hash = hash
    monkeypatch.setattr(batching, "hash", lambda s: real_hash(s) if s.endswith("\x1e") else 42, raising=False)
    seen = SeenKeys(tmp_path)
    try:
        assert seen.first_seen([action(1), action(2), action(1), action(3)]) == [True, True, False, True]
        assert seen.first_seen([action(3), action(4), action(2), action(4), action(1)]) == [
            False, True, False, False, False]
    finally:
        seen.close()


# -- deliver: what a 400 does ----------------------------------------------------------

class FakeKlaviyo:
    """Accepts a body unless it holds an event whose unique_id is bad; says where, or not."""

    def __init__(self, bad: set[str], *, pointers: bool) -> None:
        self.bad = bad
        self.pointers = pointers
        self.calls: list[list[str]] = []

    def post(self, body: bytes) -> None:
        doc = json.loads(body)
        entries = doc["data"]["attributes"]["events-bulk-create"]["data"]
        ids = [ev["attributes"]["unique_id"] for e in entries for ev in e["attributes"]["events"]["data"]]
        self.calls.append(ids)
        errors = []
        for i, e in enumerate(entries):
            for j, ev in enumerate(e["attributes"]["events"]["data"]):
                if ev["attributes"]["unique_id"] in self.bad:
                    err = {"title": "Invalid input.", "detail": "bad event"}
                    if self.pointers:
                        err["source"] = {"pointer": f"/data/attributes/events-bulk-create/data/{i}/attributes/events/data/{j}/attributes/time"}
                    errors.append(err)
        if errors:
            raise BadRequest("Klaviyo rejected the request (400)", status=400, errors=errors)


def _batch(n: int) -> Batch:
    return fill(BatchBuilder(backfill=True), [(f"P{i % 5}", action(i)) for i in range(n)])[0]


def test_pointers_refuse_just_those_events_and_the_rest_is_resent():
    fake = FakeKlaviyo({"u-3", "u-17"}, pointers=True)
    result = deliver(fake.post, _batch(40))
    assert result.sent == 38
    assert sorted(a.unique_id for a, _ in result.refused) == ["u-17", "u-3"]
    assert all("bad event" in reason for _, reason in result.refused)
    assert len(fake.calls) == 2 and len(fake.calls[1]) == 38


def test_without_pointers_the_batch_is_bisected_to_isolate_the_bad_event():
    fake = FakeKlaviyo({"u-21"}, pointers=False)
    result = deliver(fake.post, _batch(64))
    assert result.sent == 63
    assert [a.unique_id for a, _ in result.refused] == ["u-21"]
    assert len(fake.calls) <= 2 * 7 + 1
    sent = [i for call in fake.calls for i in call]
    assert sent.count("u-0") >= 1


def test_a_request_wide_refusal_stops_within_the_bisection_budget():
    fake = FakeKlaviyo({f"u-{i}" for i in range(1000)}, pointers=False)  # everything is "bad"
    with pytest.raises(RequestRefused, match="refused all 1,000 events of batch 1"):
        deliver(fake.post, _batch(1000))
    assert len(fake.calls) <= BISECT_BUDGET + 2


def test_many_bad_events_without_pointers_are_refused_within_the_budget():
    fake = FakeKlaviyo({f"u-{i}" for i in range(0, 1000, 3)}, pointers=False)
    result = deliver(fake.post, _batch(1000))
    assert result.sent > 0
    assert result.sent + len(result.refused) == 1000
    assert {f"u-{i}" for i in range(0, 1000, 3)} <= {a.unique_id for a, _ in result.refused}
    assert len(fake.calls) <= BISECT_BUDGET + 2


def test_a_single_bad_event_alone_is_just_refused():
    fake = FakeKlaviyo({"u-0"}, pointers=False)
    result = deliver(fake.post, _batch(1))
    assert (result.sent, [a.unique_id for a, _ in result.refused]) == (0, ["u-0"])


def test_the_client_sends_the_encoded_body_as_is(httpx_mock):
    httpx_mock.add_response(method="POST", url=BULK_URL, status_code=202)
    client = KlaviyoClient(SecretStr("pk_test_0000000000"), BASE, retry=RetryPolicy(max_attempts=1),
                           sleep=lambda _s: None)
    body = _batch(10).body()
    client.bulk_create_events_encoded(body)
    [request] = httpx_mock.get_requests()
    assert request.content == body
    assert request.headers["content-type"] == "application/vnd.api+json"
    check_klaviyo_contract("POST", str(request.url), dict(request.headers), request.content,
                           operation="bulk_create_events")


def test_ledger_records_batches_and_refused_records(tmp_path):
    ledger = Ledger(tmp_path)
    try:
        run = ledger.start_run("fp", ["a.csv"], {"limit": None})
        ledger.record_batch(run, "k1", 1, 1000, 998, [{"file": "a.csv", "line": 3, "record": {}, "reason": "x"}] * 2)
        assert ledger.accepted_batches(run)["k1"].sent == 998
        assert len(ledger.refused_for(run, "k1")) == 2
        assert ledger.latest_run("fp").id == run
        ledger.finish(run, "complete", {"read": 1000})
        assert ledger.runs()[0].status == "complete" and ledger.runs()[0].events_sent == 998
        ledger.supersede("fp")
        assert ledger.latest_run("fp") is None
    finally:
        ledger.close()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["P1", "P2", "P3"]), st.sampled_from(["Sent LINE Message", "Opened"]),
                          st.sampled_from(["a", "b", "c"])), max_size=40),
       st.integers(1, 5), st.integers(0, 6))
def test_add_run_cuts_and_leaves_out_repeats_like_a_model(events, max_events, start):
    """add_run keeps keys only for profiles with more than one event in a request; the
    requests, their order and the repeats left out are still those of the plain rule."""
    actions = [action(n, unique_id=uid, metric=metric) for n, (_, metric, uid) in enumerate(events)]
    profiles = [p for p, _, _ in events]
    start = min(start, len(actions))
    expected: list[list[tuple[str, int]]] = [[]]
    keys: set = set()
    left_out = 0
    for i in range(start, len(actions)):
        if len(expected[-1]) >= max_events:
            expected.append([])
            keys = set()
        key = (profiles[i], actions[i].metric, actions[i].unique_id)
        if key in keys:
            left_out += 1
            continue
        keys.add(key)
        expected[-1].append((profiles[i], i))
    builder = BatchBuilder(backfill=True, max_events=max_events)
    got, at, repeats = [], start, 0
    while at < len(actions):
        done, at, r = builder.add_run(profiles, actions, at)
        repeats += r
        if done is not None:
            got.append(done)
    last = builder.flush()
    got += [last] if last is not None else []
    index = {id(a): i for i, a in enumerate(actions)}
    as_model = [sorted((p, index[id(a)]) for p, evs in b.entries.items() for _, a in evs) for b in got]
    assert as_model == [sorted(b) for b in expected if b]
    assert repeats == left_out
    for b in got:
        assert len(b.body()) == b.size
        assert json.loads(b.body())  # well-formed
