"""How fast the dry run's per-row work could be in DuckDB: a probe for a decision, not linesync.

Issue 16 asks the dry run to come within 1.5x of Python's csv module plus json.dumps of
each row. linesync's pipeline is pure Python and sits at about 3.4x (docs/benchmarks.md).
This measures the same shape of work done inside DuckDB, in one SQL statement: read the
CSV, check each LINE user ID and time, join the link map, keep the first of each
(LINE user, metric, unique_id) key, and make an event's JSON text, fetched into Python
10,000 rows at a time. The events are simplified (not the bytes linesync sends) and
rejected rows are dropped, not reported; what a real pipeline in DuckDB would also need
is listed in docs/benchmarks.md.

    python benchmarks/backfill_dryrun.py --sizes 1000000 --work DIR     # makes the inputs
    python benchmarks/duckdb_probe.py DIR/actions-1000000.csv DIR/map.csv [--threads 1]

Prints one JSON line (CPU and wall seconds, peak memory); asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time

import duckdb

EVENT_SQL = """
WITH actions AS (
    SELECT * FROM read_csv($actions, all_varchar = true, header = true)
), links AS (
    SELECT * FROM read_csv($links, all_varchar = true, header = true)
), valid AS (
    SELECT a.*, links.profile_id,
           CASE a.action WHEN 'sent' THEN 'Sent LINE Message' WHEN 'delivered' THEN 'Delivered LINE Message'
                         WHEN 'opened' THEN 'Opened LINE Message' WHEN 'clicked' THEN 'Clicked LINE Message'
                         ELSE a.action END AS metric,
           coalesce(a.event_id, md5(a.action || a.line_user_id || a.occurred_at || coalesce(a.message_id, '')))
               AS unique_id
    FROM actions a JOIN links USING (line_user_id)
    WHERE regexp_full_match(a.line_user_id, 'U[0-9a-f]{32}')
      AND try_cast(a.occurred_at AS TIMESTAMPTZ) IS NOT NULL
), firsts AS (
    SELECT DISTINCT ON (line_user_id, metric, unique_id) * FROM valid
)
SELECT '{"type":"event","attributes":{"properties":'
       || to_json({'LINE User ID': line_user_id, 'Channel': 'LINE', 'Message ID': message_id})
       || ',"time":"' || occurred_at || '","unique_id":' || to_json(unique_id)
       || ',"metric":{"data":{"type":"metric","attributes":{"name":' || to_json(metric)
       || '}}},"profile":{"data":{"type":"profile","id":' || to_json(profile_id) || '}}}}'
FROM firsts
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("actions", help="an actions CSV made by backfill_dryrun.py")
    parser.add_argument("links", help="its link map (line_user_id,profile_id)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--memory-limit", default="200MB")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="duckdb-probe-") as spill:
        con = duckdb.connect()
        con.execute(f"SET threads = {args.threads}")
        con.execute(f"SET memory_limit = '{args.memory_limit}'")
        con.execute(f"SET temp_directory = '{spill}'")
        con.execute("SET preserve_insertion_order = false")
        cpu, wall = time.process_time(), time.perf_counter()
        result = con.execute(EVENT_SQL, {"actions": args.actions, "links": args.links})
        events = chars = 0
        while rows := result.fetchmany(10_000):
            events += len(rows)
            chars += sum(len(row[0]) for row in rows)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(json.dumps({"events": events, "json_chars": chars, "threads": args.threads, "cpu_s": round(cpu, 2),
                      "wall_s": round(wall, 2),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
