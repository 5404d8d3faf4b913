"""Test support shared by every test module.

- `spec`: requests checked against the official Klaviyo and LINE specs (`requires_specs`,
  `validate_request`, `assert_all_valid`).
- `standin`: the stateful Klaviyo stand-in on loopback (`KlaviyoStandIn`), built on
  `standin_base`; `standin_line`: the LINE stand-in (`LineStandIn`).
- `standin_cli`: `run_cli`, `clean_env`, `line_env` and the recognisable test secrets.
Fixtures (`klaviyo_standin`, `line_standin`, `cli_env`, `fast_retries`) are in tests/conftest.py.
"""
