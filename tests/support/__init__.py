"""Test support: the test doubles, and when to use which.

Pick the smallest double that can show the bug the test is about.

The stand-in family (real HTTP on 127.0.0.1, a server thread per test):
- `standins.KlaviyoStandIn`: the product's stand-in (`linesync_cli.sandbox.klaviyo`, on
  `sandbox.base.StandInServer`) with the spec check plugged in. A stateful Klaviyo with
  profiles, metrics, events, segments and bulk jobs, both rate-limit windows, 429s the way
  Klaviyo sends them, and scripted faults (5xx, dropped connections, delays). Use it for
  end-to-end runs of a command (`cli_env` + `run_cli`), retries and pacing, crash/resume, and
  anything whose outcome depends on what an earlier request changed.
- `standins.LineStandIn` (`linesync_cli.sandbox.line`): LINE bot info, profiles and token
  verification, with LINE's 401/404/400 answers. Add it to a CLI run with `cli_env | line_env(line_standin)`.
- `standin_cli`: `run_cli` (CliRunner, stdout and stderr apart), `clean_env`, `line_env`, and
  the recognisable test secrets that the secret sweep greps for.
Every request a stand-in receives is recorded (`requests`, `requests_for(op)`) and, when
../shared/specs exists, validated; the `klaviyo_standin` / `line_standin` fixtures in
tests/conftest.py fail the test on a violation. Without the specs they serve and record all
the same, and only the validation is skipped (counted in the session summary).

The smaller fakes (pytest-httpx, no sockets: faster, and a test states each answer):
- `httpx_mock` on its own: one client method or one request's shape (query, headers, body),
  error translation of one status code. Validate what was sent with
  `spec.check_contract(httpx_mock.get_requests())`.
- `klaviyo_metrics_model`: a model of metrics, events and aggregates answering through
  httpx_mock, for `metrics` and `metrics show` (paging, zero-filling, zones).
- `report_fakes`: fixed metric listings and aggregate tables for `report funnel` and
  `segments`, when the figures matter and the server's state does not.
- `linkage_helpers`: Klaviyo JSON:API documents, a client that never sleeps, and link indexes
  seeded directly (no sync), for linkage, links, check-link and inspect-profile.

Data and checks, not doubles:
- `backfill_data`: generated actions files and link maps (tests and benchmarks).
- `cli_lines`: parses written `linesync ...` lines (help examples, cron, systemd) against the
  real command tree without running them.
- `spec`: the contract checks against the official specs: `check_contract` /
  `check_klaviyo_contract` (the contract step of a behaviour test: skipped alone without the
  specs), `requires_specs` (for a test that is only a spec check), `validate_request`,
  `assert_all_valid`.
"""
