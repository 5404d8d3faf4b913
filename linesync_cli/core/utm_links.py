"""UTM parameters on the web links of LINE messages (doctor's `utm-links` check).

Klaviyo attributes no revenue to LINE events; web analytics can, but only for links
that carry `utm_source`, `utm_medium` and `utm_campaign`. This module says which of a
message's links lack them and, given the values, writes the fixed URL.

The rewrite only appends: the URL up to its fragment is kept byte for byte (nothing
is re-encoded or reordered), the missing `key=value` pairs follow it (after `?`, or
`&` unless the query already ends in `?` or `&`), then the fragment as it was. Keys
are compared after percent-decoding, as analytics tools read them. A key that is
present but empty, or present in other letter case (`UTM_Source`), is named and
never added a second time: fixing it means editing what is there, which is the
author's call.

Which links are checked: http/https links (the trackable ones). `line://`, `tel:`,
`mailto:` and the other schemes are not web pages, and neither are LINE's own
https app links (`line.me/R/...`, `line.me/ti/...`, `lin.ee/...`): they open the LINE
app, where no web analytics runs. LIFF and LINE MINI App links (`liff.line.me`,
`miniapp.line.me`) are checked like web links: LINE passes their query on to the
app's endpoint URL, where analytics sees it once `liff.init()` has finished.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, unquote_plus, urlsplit

from linesync_cli.core.message_walker import MAX_URI_LENGTH, extract_messages, readable_place, scan_message
from linesync_cli.errors import UsageError

REQUIRED = ("utm_source", "utm_medium", "utm_campaign")
OPTIONAL = ("utm_content", "utm_term")
DEFAULT_SOURCE = "line"
_OPTION_KEYS = ("source", "medium", "campaign", "content", "term")
_EXAMPLE = "--suggest-utm source=line,medium=social,campaign=spring-sale"

Kind = Literal["web", "liff", "line-app", "not-web"]
_LINE_APP_HOSTS = frozenset({"lin.ee"})
_LINE_APP_PATHS = re.compile(r"^/(R|ti|S)/", re.IGNORECASE)
_LIFF_HOSTS = frozenset({"liff.line.me", "miniapp.line.me"})


@dataclass(frozen=True)
class UtmTags:
    """The values `--suggest-utm` gives, in the order they are appended."""

    source: str
    medium: str
    campaign: str
    content: str | None = None
    term: str | None = None

    def params(self) -> list[tuple[str, str]]:
        pairs = [("utm_source", self.source), ("utm_medium", self.medium), ("utm_campaign", self.campaign),
                 ("utm_content", self.content), ("utm_term", self.term)]
        return [(k, v) for k, v in pairs if v is not None]


def parse_suggest_utm(text: str) -> UtmTags:
    """`source=line,medium=social,campaign=spring` to tags; UsageError (exit 2) says what is wrong."""

    def bad(message: str) -> UsageError:
        return UsageError(f"--suggest-utm: {message}",
                          hint=f"give KEY=VALUE pairs separated by commas (keys: {', '.join(_OPTION_KEYS)}), "
                          f"e.g. {_EXAMPLE}")

    values: dict[str, str] = {}
    for pair in text.split(","):
        if not pair.strip():
            raise bad(f"empty pair in {text!r}")
        key, eq, value = pair.partition("=")
        key = key.strip().lower()
        if key.startswith("utm_"):
            key = key[4:]  # utm_source=line reads as source=line
        if not eq:
            raise bad(f"{pair.strip()!r} is not KEY=VALUE")
        if key not in _OPTION_KEYS:
            raise bad(f"unknown key {key!r}")
        if key in values:
            raise bad(f"{key} is given twice")
        if not value.strip():
            raise bad(f"{key} has an empty value")
        values[key] = value.strip()
    missing = [k for k in ("source", "medium", "campaign") if k not in values]
    if missing:
        raise bad(f"{', '.join(missing)} missing: source, medium and campaign are all needed")
    return UtmTags(**values)


def link_kind(url: str) -> Kind:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return "not-web"
    host = (parts.hostname or "").lower()
    if host in _LINE_APP_HOSTS or (host in ("line.me", "www.line.me") and _LINE_APP_PATHS.match(parts.path)):
        return "line-app"
    if host in _LIFF_HOSTS:
        return "liff"
    return "web"


def _split(url: str) -> tuple[str, bool, str, str]:
    """(part before `?`, whether `?` is there, query, `#fragment` or "") exactly as written."""
    before, hashmark, fragment = url.partition("#")
    base, qmark, query = before.partition("?")
    return base, bool(qmark), query, hashmark + fragment


def query_params(url: str) -> list[tuple[str, str]]:
    """The query's (key, value) pairs before any fragment, percent-decoded as analytics reads them."""
    _, _, query, _ = _split(url)
    pairs = []
    for part in query.split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((unquote_plus(key), unquote_plus(value)))
    return pairs


@dataclass(frozen=True)
class UtmState:
    """What one URL carries: missing keys, empty ones, mis-cased ones, and its utm_source."""

    missing: tuple[str, ...]
    empty: tuple[str, ...]
    miscased: tuple[str, ...]  # as written, e.g. "UTM_Source"
    source: str | None
    in_fragment: tuple[str, ...]  # utm_* written after `#`, where analytics does not read them


def utm_state(url: str, keys: tuple[str, ...] = REQUIRED) -> UtmState:
    pairs = query_params(url)
    present = {k: v for k, v in reversed(pairs)}  # the first occurrence wins, as in most analytics
    lowered = {k.lower(): k for k, _ in pairs if k != k.lower()}
    missing = tuple(k for k in keys if k not in present and k not in lowered)
    empty = tuple(k for k in keys if k in present and not present[k].strip())
    miscased = tuple(lowered[k] for k in keys if k not in present and k in lowered)
    fragment = _split(url)[3]
    in_fragment = tuple(k for k in missing if re.search(rf"[?&#/]{k}=", fragment))
    return UtmState(missing, empty, miscased, present.get("utm_source"), in_fragment)


def add_utm(url: str, tags: UtmTags) -> str:
    """The URL with the tags it lacks appended; everything already there is kept byte for byte."""
    state = utm_state(url, REQUIRED + OPTIONAL)
    adding = [f"{k}={quote(v, safe='-._~')}" for k, v in tags.params() if k in state.missing]
    if not adding:
        return url
    base, has_q, query, fragment = _split(url)
    joined = "&".join(adding)
    if not has_q:
        return f"{base}?{joined}{fragment}"
    sep = "" if query == "" or query.endswith("&") else "&"
    return f"{base}?{query}{sep}{joined}{fragment}"


@dataclass
class LinkAudit:
    """One link of a message: where it is, what it carries, and the fixed URL."""

    message: str  # the message's JSON path
    path: str  # the link's JSON path
    place: str  # "bubble 2 › footer › button 1"
    url: str
    kind: Kind
    missing: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    miscased: list[str] = field(default_factory=list)
    utm_source: str | None = None
    other_source: bool = False
    suggested_url: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def checked(self) -> bool:
        return self.kind in ("web", "liff")

    @property
    def tagged(self) -> bool:
        return self.checked and not self.missing and not self.empty and not self.miscased

    def to_json(self) -> dict[str, Any]:
        return {
            "message": self.message, "path": self.path, "place": self.place, "url": self.url, "kind": self.kind,
            "checked": self.checked, "tagged": self.tagged, "missing": self.missing, "empty": self.empty,
            "miscased": self.miscased, "utm_source": self.utm_source, "other_source": self.other_source,
            "suggested_url": self.suggested_url, "notes": self.notes,
        }


_KIND_NOTES = {
    "not-web": "not a web link (LINE or phone/mail scheme): no web analytics, not checked",
    "line-app": "opens the LINE app, not a web page: no web analytics, not checked",
    "liff": "LIFF app: LINE passes the query to the endpoint URL; analytics sees it after liff.init()",
}


def audit_document(doc: Any, tags: UtmTags | None = None) -> list[LinkAudit]:
    """Every link in the messages of `doc` (a message, an array, a request body), in message order."""
    expected = tags.source if tags else DEFAULT_SOURCE
    messages = extract_messages(doc)
    audits: list[LinkAudit] = []
    for number, (msg_path, message) in enumerate(messages, 1):
        links = [f for f in scan_message(message, msg_path).links]
        repeats = Counter(f.path for f in links)
        seen: Counter[str] = Counter()
        for found in links:
            place = readable_place(message, found.path[len(msg_path):])
            if repeats[found.path] > 1:
                seen[found.path] += 1
                place += f" (URL {seen[found.path]})"
            if len(messages) > 1:
                place = f"message {number} › {place}"
            audits.append(_audit(msg_path, found.path, place, found.url, expected, tags))
    return audits


def _audit(msg_path: str, path: str, place: str, url: str, expected: str, tags: UtmTags | None) -> LinkAudit:
    kind = link_kind(url)
    audit = LinkAudit(msg_path, path, place, url, kind)
    if kind in _KIND_NOTES:
        audit.notes.append(_KIND_NOTES[kind])
    if not audit.checked:
        return audit
    state = utm_state(url)
    audit.missing, audit.empty, audit.miscased = list(state.missing), list(state.empty), list(state.miscased)
    audit.utm_source = state.source
    audit.other_source = bool(state.source and state.source.strip() and state.source != expected)
    if audit.other_source:
        audit.notes.append(f"utm_source={state.source}, not {expected}: web analytics counts it under another channel")
    for key in state.empty:
        audit.notes.append(f"{key} is present but empty: fill it in by hand (not added twice)")
    for key in state.miscased:
        audit.notes.append(f"{key} is not lowercase: analytics tools read {key.lower()} (fix it by hand)")
    for key in state.in_fragment:
        audit.notes.append(f"{key} is after # (in the fragment), where web analytics does not read it")
    if tags is not None:
        fixed = add_utm(url, tags)
        if fixed != url:
            audit.suggested_url = fixed
            if len(fixed) > MAX_URI_LENGTH:
                audit.notes.append(f"the fixed URL is {len(fixed)} characters: over LINE's {MAX_URI_LENGTH} limit")
    return audit
