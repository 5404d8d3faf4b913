"""linesync: run and repair LINE Event Sync (LINE actions as Klaviyo events)."""

__version__ = "0.1.0"
