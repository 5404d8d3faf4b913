"""Where finished request bodies go: Klaviyo, or (a dry run) a directory or nowhere.

A sink takes the exact bytes of one request (`send`) and names where they go
(`identity`, part of the run's fingerprint). `delivers` is the one place a dry run
is stated: a sink that does not deliver records nothing in the ledger. This module
is the only backfill code that calls the Klaviyo client.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from linesync_cli.errors import UsageError
from linesync_cli.state import ensure_dir, open_owner_only

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo import KlaviyoClient
    from linesync_cli.core.backfill.flows import MetricFlows


class Sink(Protocol):
    identity: str  # where the events go, for the run's fingerprint
    delivers: bool  # False: a dry run (nothing sent, nothing recorded)

    def open(self) -> None:
        """Once the inputs are checked, before the first body (nothing is written before)."""
        ...

    def send(self, body: bytes) -> None:
        """One request body; raises the client's typed errors (BadRequest for a 400)."""
        ...


class KlaviyoSink:
    """Bulk create jobs on one Klaviyo account. Safe from several threads (the client is)."""

    delivers = True

    def __init__(self, client: KlaviyoClient) -> None:
        self._client = client
        self.identity = client.base_url
        self.send = client.bulk_create_events_encoded
        self.in_flight = client.bulk_create_in_flight  # (upper) -> requests worth keeping in flight

    def open(self) -> None:
        pass

    def triggered_flows(self, actions: tuple[str, ...]) -> list[MetricFlows]:
        """The live Flows that the LINE metrics (of `actions`, or all) trigger on this account."""
        from linesync_cli.core.backfill.flows import triggered_flows

        return triggered_flows(self._client, actions)


class DryRunSink:
    """Sends nothing; with `out_dir`, writes each body to out_dir/batch-NNNNNN.json (1-based, in order)."""

    delivers = False
    identity = "dry run"

    def __init__(self, out_dir: Path | None = None) -> None:
        self.out_dir = out_dir
        self._written = 0

    def open(self) -> None:
        if self.out_dir is None:
            return
        try:
            ensure_dir(self.out_dir)
            for old in self.out_dir.glob("batch-*.json"):  # an earlier dry run's bodies are replaced
                old.unlink()
        except OSError as exc:
            raise UsageError(f"cannot write request bodies to {self.out_dir}: {exc.strerror or exc}") from None

    def send(self, body: bytes) -> None:
        if self.out_dir is None:
            return
        path = self.out_dir / f"batch-{self._written + 1:06d}.json"
        try:
            with open_owner_only(path, "wb") as fh:  # profile IDs and LINE actions: owner-only
                fh.write(body)
        except OSError as exc:
            raise UsageError(f"cannot write request body {path}: {exc.strerror or exc}") from None
        self._written += 1
