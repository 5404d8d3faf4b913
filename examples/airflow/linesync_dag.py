"""Nightly linesync for several Klaviyo accounts on Airflow: one task chain per account, in parallel.

The accounts are the [accounts.NAME] tables of one linesync.toml on the worker (keys via
`key_command`, or LINESYNC_KLAVIYO_API_KEY in each task's environment). Accounts run in
parallel because Klaviyo limits each account on its own; one account never runs twice at
once (max_active_tis_per_dag=1 per task), because its ledger is one SQLite file and a second
process would not go faster: the account's rate limit is the ceiling.

Retries are left to linesync's own resume: re-running the same `backfill` continues the
interrupted run and sends nothing twice. So only the exit codes a retry can fix are retried.
"""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta

from airflow import DAG
from airflow.exceptions import AirflowException, AirflowFailException
from airflow.operators.python import PythonOperator

ACCOUNTS = ["shop-a", "shop-b", "shop-c"]
# The command lines each account runs, in order; "{account}" and "{ds}" (the run's day) are filled in.
COMMANDS = {
    "links_sync": ["linesync", "--account", "{account}", "links", "sync"],
    "backfill": ["linesync", "--account", "{account}", "backfill", "/srv/line-exports/{account}/line-actions-{ds}.jsonl.gz",
                 "--rejects", "/var/log/linesync/{account}/rejects-{ds}.jsonl", "--format", "json"],
    "doctor": ["linesync", "--account", "{account}", "doctor", "--ci", "--skip", "line-token"],
}

# linesync's exit codes (README, "Output and exit codes") -> what the task does.
#   success: done.  fail: a person must look (retrying gives the same answer).  retry: try again later.
OUTCOME = {
    0: "success",
    1: "fail",  # a check failed, or some records were rejected/failed: see the rejects file
    2: "fail",  # usage or configuration (missing key, wrong account's state): fix the config
    3: "fail",  # Klaviyo refused the key
    4: "retry",  # Klaviyo unavailable after linesync's own retries: later, the run resumes
    130: "retry",  # interrupted (worker shut down): the run resumes where it stopped
}


def run_linesync(argv: list[str]) -> None:
    done = subprocess.run(argv, check=False)  # stdout/stderr go to the task log; no key is ever printed
    outcome = OUTCOME.get(done.returncode, "fail")
    if outcome == "retry":
        raise AirflowException(f"linesync exited {done.returncode}: retrying resumes the run")
    if outcome == "fail":
        raise AirflowFailException(f"linesync exited {done.returncode}: see the log above; a retry would not help")


with DAG(
    dag_id="linesync_nightly",
    schedule="30 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 3, "retry_delay": timedelta(minutes=10), "retry_exponential_backoff": True},
    tags=["linesync"],
) as dag:
    for account in ACCOUNTS:
        previous = None
        for step, template in COMMANDS.items():
            task = PythonOperator(
                task_id=f"{account}.{step}",
                python_callable=run_linesync,
                op_args=[[part.replace("{account}", account).replace("{ds}", "{{ ds }}") for part in template]],
                max_active_tis_per_dag=1,
            )
            if previous is not None:
                previous >> task
            previous = task
