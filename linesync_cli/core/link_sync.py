"""`links sync`: build or refresh the link index from Klaviyo's profiles.

Every page is committed together with the run's cursor, so an interrupted run
continues where it stopped. A full run stamps the rows it sees with a new
generation and, once complete, drops rows of older generations (profiles that
lost the property, or were deleted). An incremental run reads the profiles
updated since the previous run started (minus an overlap for clock skew) and
updates or removes their rows. Segment members cannot be filtered on `updated`:
every segment run is a full pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from linesync_cli.core.link_index import IndexStatus, LinkIndex, index_path, iso_utc, parse_utc, property_value, utc_now
from linesync_cli.errors import BadRequest, Interrupted

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo import KlaviyoClient

# Incremental runs re-read profiles updated a little before the previous run
# started: covers clock skew between this machine and Klaviyo.
OVERLAP = timedelta(minutes=15)


@dataclass(frozen=True)
class SyncOptions:
    segment_id: str | None = None
    full: bool = False


@dataclass
class SyncProgress:
    kind: str  # 'full' | 'incremental'
    profiles_read: int
    pages: int
    resumed: bool


@dataclass
class SyncReport:
    link_key: str
    kind: str  # 'full' | 'incremental'
    scope: str
    resumed: bool
    since: datetime | None  # incremental runs: profiles updated after this
    profiles_read: int  # by this run (including pages read before an interruption)
    status: IndexStatus
    malformed_examples: list[dict[str, str]] = field(default_factory=list)
    ambiguous_examples: list[dict[str, Any]] = field(default_factory=list)
    elapsed_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "link_key": f"property:{self.link_key}",
            "run": self.kind,
            "scope": self.scope,
            "resumed": self.resumed,
            "since": iso_utc(self.since),
            "profiles_read": self.profiles_read,
            "linked_ids": self.status.linked_ids,
            "ambiguous_ids": self.status.ambiguous_ids,
            "malformed_values": self.status.malformed_values,
            "profiles_with_value": self.status.profiles_with_value,
            "malformed_examples": self.malformed_examples,
            "ambiguous_examples": self.ambiguous_examples,
            "built_at": iso_utc(self.status.built_at),
            "synced_at": iso_utc(self.status.synced_at),
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "notes": self.notes,
        }


def sync_links(
    client: KlaviyoClient,
    state_dir: Path,
    property_name: str,
    options: SyncOptions,
    *,
    progress: Callable[[SyncProgress], None] | None = None,
    now: Callable[[], datetime] = utc_now,
) -> SyncReport:
    """Build or refresh the index for `property_name`; resumes an interrupted run of the same scope."""
    started = time.monotonic()
    scope = f"segment:{options.segment_id}" if options.segment_id else "all"
    index = LinkIndex(index_path(state_dir))
    notes: list[str] = []
    try:
        row = index.key_row(property_name)
        pending: str | None = row["run_kind"] if row else None
        # The interrupted run this one continues, if any.
        resumed = row if row is not None and pending and row["run_scope"] == scope \
            and not (options.full and pending == "incremental") else None
        resumable = resumed is not None
        if resumed is not None:
            kind = resumed["run_kind"]
            generation = resumed["run_generation"]
            cursor = resumed["run_cursor"]
            run_started = parse_utc(resumed["run_started_at"]) or now()
        else:
            # Segment members cannot be filtered on `updated`: every segment run is a full pass.
            incremental_ok = bool(row and row["built_at"] and row["high_water"] and row["scope"] == scope
                                  and scope == "all" and not options.full)
            if row and row["built_at"] and row["scope"] != scope and not options.full:
                notes.append(f"the index was built from {row['scope']}; this run rebuilds it from {scope}")
            kind = "incremental" if incremental_ok else "full"
            run_started = now()
            generation = index.begin_run(property_name, kind, scope, run_started)
            cursor = None
        since = None
        if kind == "incremental":
            key_row = index.key_row(property_name)
            assert key_row is not None
            since = (parse_utc(key_row["high_water"]) or run_started) - OVERLAP

        read = resumed["run_profiles_read"] if resumed is not None else 0
        pages = resumed["run_pages"] if resumed is not None else 0

        def read_pass(start: str | None) -> None:
            nonlocal read, pages
            cursor = start
            while True:
                page = client.profile_properties_page(cursor, segment_id=options.segment_id, updated_after=since)
                batch = [(p.id, property_value(p.properties, property_name)) for p in page.profiles]
                index.commit_page(property_name, generation, batch, page.next_cursor)
                read += len(batch)
                pages += 1
                if progress:
                    progress(SyncProgress(kind, read, pages, resumable))
                if not page.next_cursor or page.next_cursor == cursor:
                    return
                cursor = page.next_cursor

        try:
            try:
                read_pass(cursor)
            except BadRequest:
                if not cursor:
                    raise
                # The saved cursor has expired: read this pass again from the first page
                # (same generation, so nothing read before is lost or counted twice in the index).
                notes.append("the saved page cursor had expired; the interrupted pass restarted from the first page")
                read_pass(None)
        except KeyboardInterrupt:
            raise Interrupted(
                f"links sync interrupted after {read:,} profiles; progress is saved",
                hint="run `linesync links sync` again to continue where it stopped",
            ) from None
        index.finish_run(property_name, now())
        status = index.status(property_name)
        return SyncReport(
            link_key=property_name, kind=kind, scope=scope, resumed=resumable, since=since,
            profiles_read=read, status=status,
            malformed_examples=index.malformed_examples(property_name),
            ambiguous_examples=index.ambiguous_examples(property_name),
            elapsed_seconds=time.monotonic() - started, notes=notes,
        )
    finally:
        index.close()
