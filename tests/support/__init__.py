"""Test support shared by every test module.

- `spec`: requests checked against the official Klaviyo and LINE specs (`requires_specs`,
  `validate_request`, `assert_all_valid`).
- `standins`: the Klaviyo and LINE stand-ins of `linesync_cli.sandbox` (`KlaviyoStandIn`,
  `LineStandIn`) with every request checked against the specs.
- `standin_cli`: `run_cli`, `clean_env`, `line_env` and the recognisable test secrets.
Fixtures (`klaviyo_standin`, `line_standin`, `cli_env`, `fast_retries`) are in tests/conftest.py.
"""
