"""The product's stand-ins (`linesync_cli.sandbox`) as the tests use them: every request
they receive is checked against the official specs in ../shared/specs (when present).

The sandbox serves the same classes without the check: the specs are not shipped.
"""

from __future__ import annotations

from typing import Any

from linesync_cli.sandbox import klaviyo, line
from linesync_cli.sandbox.klaviyo import DEFAULT_RATE_LIMITS, JSONAPI, RateLimit, throttled_body
from tests.support.spec import SPECS_PRESENT, validate_klaviyo_request, validate_line_request

__all__ = ["KlaviyoStandIn", "LineStandIn", "DEFAULT_RATE_LIMITS", "JSONAPI", "RateLimit", "throttled_body"]


class KlaviyoStandIn(klaviyo.KlaviyoStandIn):
    """`validate=False` skips the spec check (throughput benchmarks)."""

    def __init__(self, api_key: str = "pk_test_standin_0000000000", *, validate: bool = True, **options: Any) -> None:
        super().__init__(api_key, validator=validate_klaviyo_request if validate and SPECS_PRESENT else None, **options)


class LineStandIn(line.LineStandIn):
    def __init__(self, token: str = "line-standin-token-SECRET-0000", *, validate: bool = True) -> None:
        super().__init__(token, validator=validate_line_request if validate and SPECS_PRESENT else None)
