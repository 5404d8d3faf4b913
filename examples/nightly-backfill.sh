#!/usr/bin/env bash
# Nightly incremental backfill: refresh the link index, then load yesterday's
# LINE actions export. Safe to re-run: the ledger resumes an interrupted run and
# unique_id keeps Klaviyo from recording an event twice.
set -euo pipefail

EXPORT_DIR=${EXPORT_DIR:-/srv/line-exports}
DAY=$(date -d yesterday +%F)

linesync links sync
linesync backfill "$EXPORT_DIR/line-actions-$DAY.csv.gz" \
  --rejects "/var/log/linesync/rejects-$DAY.jsonl" \
  --unlinked "/var/log/linesync/unlinked-$DAY.csv" \
  --format json
