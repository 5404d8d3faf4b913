"""Link index figures: how fast pages commit during `links sync`, and how fast a
backfill resolves LINE user IDs through the index.

    /work/venv/bin/python benchmarks/bench_link_index.py [PROFILES]

Prints figures; asserts nothing (speed targets are not tests).
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linesync_cli.config import Settings  # noqa: E402
from linesync_cli.core.link_index import LinkIndex, index_path, property_value  # noqa: E402
from linesync_cli.core.linkage import open_resolver  # noqa: E402

KEY = "LINE User ID"


def line_id(n: int) -> str:
    return "U" + f"{n:032x}"


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 500_000
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        index = LinkIndex(index_path(state))
        started = time.perf_counter()
        gen = index.begin_run(KEY, "full", "all", datetime.now(UTC))
        for start in range(0, total, 100):  # one transaction per page of 100, as links sync does
            rows = [(f"p{n}", property_value({KEY: line_id(n)}, KEY)) for n in range(start, min(total, start + 100))]
            index.commit_page(KEY, gen, rows, str(start + 100))
        index.finish_run(KEY, datetime.now(UTC))
        build = time.perf_counter() - started
        index.close()
        size = index_path(state).stat().st_size + sum(p.stat().st_size for p in state.glob("links.sqlite-*"))
        print(f"build: {total:,} profiles in {build:.2f}s ({total / build:,.0f} profiles/s, "
              f"{total / 100 / build:,.0f} pages/s); index {size / 1e6:.1f} MB")

        resolver = open_resolver(Settings(state_dir=state), lambda: None)
        rng = random.Random(7)
        asked = [line_id(rng.randrange(total * 2)) for _ in range(total)]  # about half are linked
        started = time.perf_counter()
        linked = 0
        for start in range(0, len(asked), 1000):
            chunk = list(dict.fromkeys(asked[start:start + 1000]))
            linked += sum(link.profile_id is not None for link in resolver.resolve(chunk).values())
        took = time.perf_counter() - started
        print(f"resolve: {len(asked):,} IDs in batches of 1000 in {took:.2f}s "
              f"({len(asked) / took:,.0f} IDs/s); {linked:,} linked")


if __name__ == "__main__":
    main()
