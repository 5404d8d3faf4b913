"""Local stand-ins for Klaviyo and LINE on loopback: `linesync sandbox` and the tests serve them.

`klaviyo`: the stateful Klaviyo API (rate limits, filters, bulk create, aggregates);
`line`: the LINE Messaging API endpoints linesync uses (`line_insight`: its Insight figures); `base`: the HTTP server, recording,
the optional request validator hook and fault injection under both.
"""

# A sandbox's credentials say what they are (real Klaviyo refuses the key anyway); commands
# note on stderr when they use them. Here, so that noticing needs no server code.
KEY_PREFIX = "pk_sandbox_"
TOKEN_PREFIX = "sandbox_line_"
