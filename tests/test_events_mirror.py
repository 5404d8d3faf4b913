"""The mirror's own questions, on pages stored directly (no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from linesync_cli.api.klaviyo_records import ReadEvent
from linesync_cli.core.events.mirror import Mirror

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _event(i: int, profile: str, minutes: int, **props) -> ReadEvent:
    return ReadEvent(f"e{i}", "MO", profile, (T0 + timedelta(minutes=minutes)).isoformat(), props)


def test_unique_profiles_per_property_value(tmp_path):
    mirror = Mirror(tmp_path / "events.duckdb")
    s = mirror.add_slices([("MO", "opened", T0, T0 + timedelta(days=1), False)])[0]
    events = [_event(1, "P1", 1, **{"Broadcast ID": "B1"}), _event(2, "P1", 2, **{"Broadcast ID": "B1"}),
              _event(3, "P2", 3, **{"Broadcast ID": "B1"}), _event(4, "P3", 4, **{"Broadcast ID": "B2"}),
              _event(5, "P4", 5, **{"Request ID": "r-9"}), _event(6, "P4", 60 * 30, **{"Broadcast ID": "B1"})]
    mirror.store_pages([(s, events, None, None)])
    end = T0 + timedelta(days=1)
    assert mirror.unique_profiles("opened", T0, end) == 4
    # B1 in the first day: P1 (twice) and P2; P4's B1 event is 30 hours in.
    assert mirror.unique_profiles("opened", T0, end, property_name="Broadcast ID", value="B1") == 2
    assert mirror.unique_profiles("opened", T0, T0 + timedelta(days=2), property_name="Broadcast ID",
                                  value="B1") == 3
    # A property without a column of its own is matched in the stored JSON.
    assert mirror.unique_profiles("opened", T0, end, property_name="Request ID", value="r-9") == 1
    assert mirror.unique_profiles("clicked", T0, end) == 0
    # The slice's last page closed it and recorded its range as read.
    assert mirror.pending_slices() == []
    assert [(c.since, c.until) for c in mirror.coverage("MO")] == [(T0, end)]
    mirror.close()


def test_long_queries_draw_no_progress_bar_on_stdout(tmp_path):
    # DuckDB prints its own bar to stdout for queries over 2 s; stdout carries data (JSON).
    mirror = Mirror(tmp_path / "events.duckdb")
    assert mirror.scalar("SELECT current_setting('enable_progress_bar')") is False
    mirror.close()


def test_an_older_schema_mirror_is_refused_untouched_with_a_one_line_fix(tmp_path):
    import duckdb
    import pytest

    from linesync_cli.core.events.mirror import MirrorError

    for old_version in ("1", "2"):
        path = tmp_path / f"v{old_version}" / "events.duckdb"
        path.parent.mkdir()
        old = duckdb.connect(str(path))
        # Schema 2 had events.id as PRIMARY KEY: its index is what grew memory (issue 13).
        old.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR); CREATE TABLE events (id VARCHAR "
                    f"PRIMARY KEY); INSERT INTO meta VALUES ('schema', '{old_version}')")
        old.close()
        for read_only in (False, True):
            with pytest.raises(MirrorError) as caught:
                Mirror(path, read_only=read_only)
            assert f"schema {old_version};" in str(caught.value) and "reads schema 3" in str(caught.value)
            assert "\n" not in str(caught.value) and f"delete {path}" in (caught.value.hint or "")
        check = duckdb.connect(str(path), read_only=True)
        assert sorted(r[0] for r in check.execute("SELECT table_name FROM duckdb_tables()").fetchall()) == [
            "events", "meta"]
        assert check.execute("SELECT value FROM meta").fetchall() == [(old_version,)]
        check.close()


def test_the_events_table_keeps_no_index_and_memory_is_bounded(tmp_path):
    # An index on events.id is held in memory by DuckDB and grows with every event stored.
    with Mirror(tmp_path / "events.duckdb") as mirror:
        assert mirror.scalar("SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'events' "
                             "AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')") == 0
        assert mirror.scalar("SELECT count(*) FROM duckdb_indexes() WHERE table_name = 'events'") == 0
        limit = mirror.scalar("SELECT current_setting('memory_limit')")
        assert limit.endswith("MiB") and float(limit.split()[0]) <= 256, limit


def _ids(mirror: Mirror) -> list[tuple[str, int]]:
    return mirror.db.execute("SELECT id, count(*) FROM events GROUP BY id ORDER BY id").fetchall()


def test_a_re_read_stores_no_event_twice_within_a_batch_across_batches_and_the_overlap(tmp_path):
    with Mirror(tmp_path / "events.duckdb") as mirror:
        a, b = mirror.add_slices([("MO", "opened", T0, T0 + timedelta(hours=12), False),
                                  ("MO", "opened", T0 + timedelta(hours=12), T0 + timedelta(days=1), False)])
        first = [_event(i, "P1", i) for i in range(1, 4)]
        # One batch: the same events in two pages of one slice and in a page of another slice.
        mirror.store_pages([(a, first, "c1", None), (a, first[1:], "c2", None), (b, first[:1], "c3", None)])
        assert _ids(mirror) == [("e1", 1), ("e2", 1), ("e3", 1)]
        # Another batch re-reads e3 (the overlap window) beside a new event; and a batch of only re-reads.
        mirror.store_pages([(a, [_event(3, "P1", 3), _event(4, "P2", 4)], "c4", None)])
        mirror.store_pages([(b, first, "c5", None)])
        assert _ids(mirror) == [("e1", 1), ("e2", 1), ("e3", 1), ("e4", 1)]


def test_full_rebuild_keeps_re_read_events_once_and_drops_what_klaviyo_no_longer_holds(tmp_path):
    end = T0 + timedelta(days=1)
    with Mirror(tmp_path / "events.duckdb") as mirror:
        s = mirror.add_slices([("MO", "opened", T0, end, False)])[0]
        mirror.store_pages([(s, [_event(i, "P1", i) for i in range(1, 6)], None, None)])
        # Klaviyo now holds e1, e2, e4 (e3, e5 deleted) and one late event e6; the rebuild reads
        # e2 in two pages of one batch, and e4 again in the next batch.
        full = mirror.add_slices([("MO", "opened", T0, end, True)])[0]
        mirror.store_pages([(full, [_event(1, "P1", 1), _event(2, "P1", 2)], "c1", None),
                            (full, [_event(2, "P1", 2), _event(4, "P1", 4)], "c2", None)])
        # Nothing is dropped before the slice completes (an interrupted --full loses nothing).
        assert [i for i, _ in _ids(mirror)] == ["e1", "e2", "e3", "e4", "e5"]
        mirror.store_pages([(full, [_event(4, "P1", 4), _event(6, "P2", 6)], None, None)])
        assert _ids(mirror) == [("e1", 1), ("e2", 1), ("e4", 1), ("e6", 1)]
        assert mirror.scalar("SELECT count(DISTINCT read_by) FROM events") == 1


def test_each_profile_gets_one_key_and_unique_counts_use_it(tmp_path):
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with Mirror(tmp_path / "events.duckdb") as mirror:
        from linesync_cli.core.events.mirror import Slice

        s = Slice(1, "M1", "opened", now - timedelta(days=1), now)
        events = [ReadEvent(f"e{i}", "M1", p, (now - timedelta(minutes=i)).isoformat(), {"$event_id": f"u{i}"})
                  for i, p in enumerate(["PA", "PB", "PA", None])]
        mirror.store_page(s, events[:2], "c1")
        mirror.store_page(s, events[2:], "c2")
        keys = dict(mirror.db.execute("SELECT id, profile_key FROM events").fetchall())
        assert keys["e0"] == keys["e2"] != keys["e1"] and keys["e3"] is None
        assert mirror.scalar("SELECT count(*) FROM profiles") == 2
        assert mirror.unique_profiles("opened", now - timedelta(days=1), now) == 2


def _klaviyo_page(resources: list, links_first: bool = False) -> bytes:
    """A Get Events page as bytes, with its `links` last (Klaviyo's order) or first."""
    import json

    links = {"self": "https://a.klaviyo.com/api/events", "next": None}
    doc = {"links": links, "data": resources} if links_first else {"data": resources, "links": links}
    return json.dumps(doc).encode()


def test_raw_pages_are_parsed_and_stored_by_the_mirror_with_the_same_columns(tmp_path):
    import json

    now = datetime(2026, 11, 1, tzinfo=UTC)
    resources = [
        {"type": "event", "id": "E1", "attributes": {"datetime": "2026-10-31T09:00:00+00:00", "event_properties": {
            "$event_id": "u-1", "Broadcast ID": "B1", "Message ID": "", "Flow ID": 42, "$value": 3.5,
            "links": {"nested": "a property named like the envelope"}}},
         "relationships": {"profile": {"data": {"type": "profile", "id": "PA"}}},
         "links": {"self": "https://a.klaviyo.com/api/events/E1/"}},
        {"type": "event", "id": "E2", "attributes": {"datetime": "2026-10-31T10:30:00+00:00",
                                                     "event_properties": None},
         "relationships": {"profile": {"data": None}}},
    ]
    with Mirror(tmp_path / "events.duckdb") as mirror:
        first = mirror.add_slices([("M1", "opened", now - timedelta(days=1), now, False)])[0]
        counts = mirror.store_pages([(first, _klaviyo_page(resources[:1]), "c1", None),
                                     (first, _klaviyo_page(resources[1:], links_first=True), "c2", None)])
        assert counts == [(1, datetime(2026, 10, 31, 9, tzinfo=UTC)), (1, datetime(2026, 10, 31, 10, 30, tzinfo=UTC))]
        rows = mirror.db.execute("SELECT id, metric_id, metric, profile_id, profile_key IS NOT NULL, unique_id, "
                                 "broadcast_id, message_id, flow_id, workflow_id, read_by FROM events ORDER BY id"
                                 ).fetchall()
        assert rows == [("E1", "M1", "opened", "PA", True, "u-1", "B1", None, "42", None, first.id),
                        ("E2", "M1", "opened", None, False, None, None, None, None, None, first.id)]
        props = dict(mirror.db.execute("SELECT id, properties FROM events").fetchall())
        # report revenue reads $value from the stored properties: kept as Klaviyo sent them.
        assert json.loads(props["E1"])["$value"] == 3.5 and json.loads(props["E2"]) == {}
        # The slice moved on to the last page's cursor and newest event; it is still open.
        (pending,) = mirror.pending_slices()
        assert (pending.cursor, pending.events, pending.last_time) == ("c2", 2, datetime(2026, 10, 31, 10, 30,
                                                                                          tzinfo=UTC))
        # Stored again (a re-read): one row per event id; an empty last page closes the slice.
        assert mirror.store_pages([(pending, _klaviyo_page(resources), None, None)]) == [
            (2, datetime(2026, 10, 31, 10, 30, tzinfo=UTC))]
        assert mirror.scalar("SELECT count(*) FROM events") == 2 and mirror.pending_slices() == []
        assert mirror.store_pages([]) == []


def test_a_page_that_cannot_be_stored_keeps_the_pages_before_it(tmp_path):
    import pytest

    from linesync_cli.core.events.mirror import MirrorError

    now = datetime(2026, 11, 1, tzinfo=UTC)
    with Mirror(tmp_path / "events.duckdb") as mirror:
        s = mirror.add_slices([("M1", "opened", now - timedelta(days=1), now, False)])[0]
        good = [{"type": "event", "id": "E1", "attributes": {"datetime": "2026-10-31T09:00:00+00:00"}}]
        mirror.store_pages([(s, _klaviyo_page(good), "c1", None)])
        bad = [{"type": "event", "id": "E2", "attributes": {"datetime": "yesterday"}}]
        with pytest.raises(MirrorError) as caught:
            mirror.store_pages([(s, _klaviyo_page(bad), "c2", None)])
        assert "could not be stored" in caught.value.message and caught.value.hint
        assert [r[0] for r in mirror.db.execute("SELECT id FROM events").fetchall()] == ["E1"]
        assert mirror.pending_slices()[0].cursor == "c1"


def test_duckdb_out_of_memory_is_one_line_with_a_hint_and_keeps_the_pages_before(tmp_path):
    import duckdb
    import pytest

    from linesync_cli.core.events.mirror import MirrorError, out_of_memory

    with Mirror(tmp_path / "events.duckdb") as mirror:
        s = mirror.add_slices([("MO", "opened", T0, T0 + timedelta(days=1), False)])[0]
        mirror.store_pages([(s, [_event(0, "P0", 0)], "c0", None)])
        mirror.db.execute("SET memory_limit = '1MB'")
        big = [_event(i, f"P{i}", i % 1440, note="x" * 200) for i in range(1, 20_001)]
        with pytest.raises(MirrorError) as caught:
            mirror.store_pages([(s, big[:10_000], "c1", None), (s, big[10_000:], "c2", None)])
        assert "ran out of memory" in caught.value.message and "\n" not in caught.value.message
        assert "run the same command again" in (caught.value.hint or "")
        mirror.db.execute("RESET memory_limit")
        assert [r[0] for r in mirror.db.execute("SELECT id FROM events").fetchall()] == ["e0"]
    # A report's query failing the same way reaches app.py, which shows this one line (exit 2).
    known = out_of_memory(duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block"))
    assert known is not None and known.exit_code == 2 and "ran out of memory" in known.message
    assert out_of_memory(duckdb.IOException("disk")) is None and out_of_memory(MemoryError()) is None
