"""Local stand-ins for Klaviyo and LINE on loopback: `linesync sandbox` and the tests serve them.

`klaviyo`: the stateful Klaviyo API (rate limits, filters, bulk create, aggregates);
`line`: the LINE Messaging API endpoints linesync uses; `base`: the HTTP server, recording,
the optional request validator hook and fault injection under both.
"""
