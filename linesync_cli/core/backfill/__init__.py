"""`linesync backfill`: historical LINE actions into Klaviyo, exactly once, on linked profiles only.

readers (files to records) -> validate (records to actions) -> run (filters,
duplicates, linkage) -> batching (request bodies) -> sender (HTTP through the
client) -> ledger (what was accepted, for resume).
"""
