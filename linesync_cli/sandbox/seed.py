"""What a sandbox starts with: the demo account, nothing, or a seed file.

The demo account is built from a fixed random seed, so its profiles, LINE user IDs
and event counts are the same on every start; event times are placed relative to
the day of the start (the last four weeks), so "recent events" checks and 30-day
reports see all of them.

A seed file is JSON Lines, one object per line with one key naming its kind:

    {"profile": {"email": "taro@example.jp", "properties": {"LINE User ID": "U4af4980629..."}}}
    {"line_user": {"userId": "U4af4980629...", "displayName": "Taro"}}
    {"metric": {"name": "Sent LINE Message"}}
    {"event": {"metric": "Sent LINE Message", "profile": {"email": "taro@example.jp"},
               "time": "2026-11-02T10:00:00+09:00", "properties": {"Broadcast ID": "b1"}}}
    {"flow": {"name": "Welcome", "trigger_metric": "Followed LINE Account"}}
    {"segment": {"name": "Clickers", "members": [{"email": "taro@example.jp"}], "is_processing": true}}

Events and segments refer to profiles by `email`, `external_id` or `line_user_id`
(the `LINE User ID` property) given on an earlier line. The whole file is checked
before anything is served; a problem stops with the file and line.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from linesync_cli.catalogue import EMAIL_METRICS, METRIC_NAMES
from linesync_cli.errors import InputFileError
from linesync_cli.sandbox.klaviyo import KlaviyoStandIn, parse_time
from linesync_cli.sandbox.line import USER_ID, LineStandIn

DEMO_RANDOM_SEED = 17  # the demo account is the same on every start
LINK_PROPERTY = "LINE User ID"  # the default link key, property:LINE User ID
DEMO_PROFILES = 300
DEMO_WEEKS = 4
# Days before the start on which Event Sync "was down": LINE counted the messages
# and follows, Klaviyo has no events for them (for `reconcile` to find). They are JST
# days, as LINE counts them, and hold the latest broadcast (4 days ago), so the gap has a size
# and `doctor` (which looks back 7 days) finds it.
DEMO_GAP_DAYS = (4, 5)
JST = timezone(timedelta(hours=9), "JST")
# LINE's totals before the demo's four weeks (blocks at least LINE's privacy threshold of 20,
# or LINE would withhold them).
DEMO_BLOCKS_BEFORE = 24

FIRST_NAMES = ("Taro", "Hanako", "Yui", "Haruto", "Sota", "Aoi", "Ren", "Mei", "Riku", "Sakura", "Yuto", "Hina",
               "Kaito", "Mio", "Sora", "Rin", "Daiki", "Emi", "Kenta", "Nana")
LAST_NAMES = ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura", "Kobayashi", "Kato")


@dataclass
class SeedSummary:
    """What a seed put in the sandbox: counts, and sample IDs to try commands on."""

    name: str
    profiles: int = 0
    line_users: int = 0
    metrics: int = 0
    events: int = 0
    samples: dict[str, str] = field(default_factory=dict)  # linked/unlinked/ambiguous/malformed -> LINE user ID
    # The LINE side's own daily counts (LINE Insight), by JST day and metric name; on
    # DEMO_GAP_DAYS Klaviyo holds none of them.
    line_daily: dict[date, Counter[str]] = field(default_factory=dict)
    # LINE's delivered per JST day and LINE send type (apiBroadcast, apiPush).
    line_delivered_by_type: dict[date, Counter[str]] = field(default_factory=dict)
    gap_days: tuple[date, ...] = ()
    processing_segment: str | None = None  # a segment Klaviyo never finishes recalculating
    request_id: str | None = None  # a broadcast's X-Line-Request-Id, for `reconcile --request-id`
    # An actions CSV for `backfill` dated to this seed's days (not in to_json: the sandbox writes it).
    actions_csv: str | None = None


    def to_json(self) -> dict[str, Any]:
        return {"seed": self.name, "profiles": self.profiles, "line_users": self.line_users, "metrics": self.metrics,
                "events": self.events, "samples": dict(self.samples),
                "gap_days": [d.isoformat() for d in self.gap_days], "processing_segment": self.processing_segment,
                "request_id": self.request_id}


# A seed is a function that fills both stand-ins (not yet started) and says what it put there.
Seed = Callable[[KlaviyoStandIn, LineStandIn, datetime], SeedSummary]


def resolve_seed(value: str) -> Seed:
    """`demo`, `empty`, or a seed file (read and checked now, applied later)."""
    if value == "demo":
        return seed_demo
    if value == "empty":
        return seed_empty
    path = Path(value)
    if not path.is_file():
        raise InputFileError(f"seed file {value} does not exist", hint="give --seed demo, --seed empty or a .jsonl file")
    records = read_seed_file(path)
    return lambda klaviyo, line, now: _apply_records(records, klaviyo, line, path.name)


# -- shared set-up -------------------------------------------------------------------------

def _account(klaviyo: KlaviyoStandIn, line: LineStandIn) -> None:
    klaviyo.set_account(test_account=True, contact_information={
        "default_sender_name": "Sandbox Shop", "default_sender_email": "shop@example.com",
        "website_url": "https://shop.example.com", "organization_name": "linesync sandbox",
        "street_address": {"address1": "1-1", "address2": "", "city": "Tokyo", "region": "Tokyo", "country": "JP",
                           "zip": "100-0001"}})
    line.bot.update(displayName="Sandbox Shop", basicId="@sandbox")


def seed_empty(klaviyo: KlaviyoStandIn, line: LineStandIn, now: datetime) -> SeedSummary:
    _account(klaviyo, line)
    return SeedSummary("empty")


# -- the demo account ----------------------------------------------------------------------

def _line_id(rng: random.Random) -> str:
    return "U" + "".join(rng.choice("0123456789abcdef") for _ in range(32))


class _Demo:
    def __init__(self, klaviyo: KlaviyoStandIn, line: LineStandIn, now: datetime) -> None:
        self.k, self.line, self.rng = klaviyo, line, random.Random(DEMO_RANDOM_SEED)
        self.now = now.astimezone(UTC).replace(microsecond=0)
        # Anchored on today's midnight (UTC), so the counts are the same at any hour of the day.
        today = self.now.replace(hour=0, minute=0, second=0)
        self.start = today - timedelta(weeks=DEMO_WEEKS)
        self.gap = {(today - timedelta(days=d)).date() for d in DEMO_GAP_DAYS}
        self.summary = SeedSummary("demo", gap_days=tuple(sorted(self.gap)))
        self.metric_ids: dict[str, str] = {}
        self.serial = 0
        self.request_sent_at = self.now  # when the broadcast with a request ID went out

    def metric(self, name: str, klaviyo_own: bool = False) -> str:
        if name not in self.metric_ids:
            integration, category = ("Klaviyo", "Internal") if klaviyo_own else ("API", "API")
            self.metric_ids[name] = self.k.add_metric(name, integration, category,
                                                      created=self.start - timedelta(days=200))
        return self.metric_ids[name]

    def event(self, name: str, profile_id: str, when: datetime, properties: dict[str, Any],
              line_user_id: str | None = None) -> None:
        when = min(when, self.now - timedelta(minutes=5))
        if line_user_id is not None:
            line_day = when.astimezone(JST).date()  # LINE counts its days in JST
            self.summary.line_daily.setdefault(line_day, Counter())[name] += 1
            if name == "Delivered LINE Message":
                send_type = "apiBroadcast" if properties.get("Send Type") == "broadcast" else "apiPush"
                self.summary.line_delivered_by_type.setdefault(line_day, Counter())[send_type] += 1
            if line_day in self.gap:
                return  # Event Sync was down: LINE counted it, Klaviyo never got it
            properties = {"LINE User ID": line_user_id, "Channel": "LINE", **properties}
        self.serial += 1
        unique_id = f"demo-{self.serial:06d}"
        self.k.add_event(self.metric(name, klaviyo_own=name in EMAIL_METRICS), profile_id, when,
                         {**properties, "$event_id": unique_id}, unique_id=unique_id)
        self.summary.events += 1

    def moment(self, day_offset: float) -> datetime:
        return self.start + timedelta(days=day_offset, minutes=self.rng.randrange(0, 600))

    def build(self) -> SeedSummary:
        rng, k = self.rng, self.k
        _account(k, self.line)
        for name in METRIC_NAMES:  # all nine exist: Event Sync has been on for months
            self.metric(name)
        for name in EMAIL_METRICS:
            self.metric(name, klaviyo_own=True)

        # Profiles: most carry a LINE User ID; one ID is on two profiles (ambiguous),
        # one value is not a LINE user ID (malformed); the rest are email-only customers.
        linked: list[tuple[str, str]] = []  # (profile id, LINE user ID)
        emails: list[str] = []
        for i in range(DEMO_PROFILES):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = f"{first.lower()}.{last.lower()}.{i:03d}@example.jp"
            created = self.start - timedelta(days=rng.randrange(30, 400))
            properties: dict[str, Any] = {}
            uid = None
            if i < 240:
                uid = _line_id(rng)
                # What the messaging platform writes beside the ID (values are the sandbox's choice).
                properties.update({LINK_PROPERTY: uid, "LINE Display Name": f"{first} {last[0]}.",
                                   "LINE Follow Status": "following", "LINE Consent": "granted",
                                   "LINE Consent Updated At": (created + timedelta(days=1)).isoformat(),
                                   "LINE Consent Source": "LINE Login"})
            elif i == 240:
                properties[LINK_PROPERTY] = linked[7][1]  # the same person signed up twice
                self.summary.samples["ambiguous"] = linked[7][1]
            elif i == 241:
                properties[LINK_PROPERTY] = "U" + _line_id(rng)[1:].upper()
                self.summary.samples["malformed"] = properties[LINK_PROPERTY]
            pid = k.add_profile(email=email, first_name=first, last_name=last, properties=properties,
                                created=created, updated=created + timedelta(days=rng.randrange(0, 30)))
            emails.append(pid)
            if uid:
                linked.append((pid, uid))
                self.line.add_user(uid, f"{first} {last[0]}.", language="ja")
        # LINE friends who never linked: LINE knows them, no profile carries their ID.
        unlinked = [_line_id(rng) for _ in range(30)]
        for uid in unlinked:
            self.line.add_user(uid, rng.choice(FIRST_NAMES), language="ja")
        ambiguous = self.summary.samples["ambiguous"]
        self.summary.samples = {"linked": linked[-2][1], "unlinked": unlinked[0], "ambiguous": ambiguous,
                                "malformed": self.summary.samples["malformed"]}

        # Follows, linkings, QR scans and blocks over the weeks (on linked profiles only:
        # Event Sync records nothing for the others).
        recent = linked[180:]  # followed (and linked) within the window
        followed_at: dict[str, datetime] = {}
        for n, (pid, uid) in enumerate(recent):
            today = n >= len(recent) - 4  # the last few followed today: every metric has an event in the last 24 h
            when = self.now - timedelta(hours=4 + 4 * (len(recent) - n)) if today else \
                self.moment(rng.uniform(0, DEMO_WEEKS * 7 - 1))
            followed_at[uid] = when
            self.event("Followed LINE Account", pid, when, {"Unblocked": False}, uid)
            self.event("Linked LINE Identity", pid, when + timedelta(minutes=rng.randrange(2, 90)), {}, uid)
            if today or rng.random() < 0.5:
                self.event("Scanned LINE QR Code", pid, when - timedelta(minutes=1),
                           {"QR Code ID": rng.choice(["qr-shibuya-store", "qr-flyer-autumn"])}, uid)
            self._message(pid, uid, when + timedelta(minutes=1),
                          {"Flow ID": "flow-welcome", "Workflow ID": "wf-welcome-1", "Message ID": "msg-welcome-1",
                           "Send Type": "flow"}, open_rate=1.0 if today else 0.6, click_rate=1.0 if today else 0.35,
                          fail=today and n == len(recent) - 1)
        blocked_at: dict[str, datetime] = {}
        for n, (pid, uid) in enumerate(rng.sample(linked[:180], 8)):
            blocked_at[uid] = self.now - timedelta(hours=3) if n == 0 else self.moment(rng.uniform(0, 20))
            self.event("Blocked LINE Account", pid, blocked_at[uid], {}, uid)
            k.profiles[pid]["properties"]["LINE Follow Status"] = "blocked"

        # A broadcast a week to every linked friend who had followed and not blocked by then.
        for week in range(DEMO_WEEKS):
            sent_at = self.start + timedelta(days=week * 7 + 3, hours=3)  # 12:00 in Tokyo
            broadcast, message = f"bc-{sent_at:%Y%m%d}", f"msg-{sent_at:%Y%m%d}-1"
            ids: dict[str, Any] = {"Broadcast ID": broadcast, "Message ID": message, "Send Type": "broadcast"}
            if week == DEMO_WEEKS - 2:
                # The last broadcast before the gap carries LINE's X-Line-Request-Id, which LINE's per-send
                # Insight figures are keyed by (the same on every start and every day, so docs can name it).
                self.summary.request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"linesync-sandbox/broadcast-{week}"))
                ids["LINE Request ID"] = self.summary.request_id
                self.request_sent_at = sent_at
            for pid, uid in linked:
                if uid == ambiguous or blocked_at.get(uid, self.now) < sent_at or followed_at.get(uid, self.start) > sent_at:
                    continue
                self._message(pid, uid, sent_at, dict(ids), open_rate=0.45, click_rate=0.3)

        # Email beside it: a weekly newsletter to everyone.
        for week in range(DEMO_WEEKS):
            sent_at = self.start + timedelta(days=week * 7 + 1, hours=1)
            for pid in emails:
                self.event("Received Email", pid, sent_at, {"Campaign Name": f"Newsletter week {week + 1}"})
                if rng.random() < 0.35:
                    self.event("Opened Email", pid, sent_at + timedelta(hours=rng.randrange(1, 30)), {})
                    if rng.random() < 0.2:
                        self.event("Clicked Email", pid, sent_at + timedelta(hours=30), {"URL": "https://shop.example.com/sale"})

        # A daily "back in stock" flow message to a few dozen friends: LINE counts at least 20
        # deliveries every day, so its daily figures are not withheld and reconcile compares them.
        for day in range(DEMO_WEEKS * 7 + 1):  # today too (times capped at now)
            day_start = self.start + timedelta(days=day)
            reachable = [(pid, uid) for pid, uid in linked if uid != ambiguous
                         and followed_at.get(uid, self.start) <= day_start and blocked_at.get(uid, self.now) > day_start]
            for pid, uid in rng.sample(reachable, min(len(reachable), rng.randrange(24, 34))):
                self._message(pid, uid, self.moment(day), {"Flow ID": "flow-restock", "Workflow ID": "wf-restock-1",
                                                           "Message ID": "msg-restock-1", "Send Type": "flow"},
                              open_rate=0.4, click_rate=0.25)

        # A live Flow triggered by a LINE metric, and a segment Klaviyo is still building.
        k.add_flow("Welcome new LINE friends (email)", status="live",
                   trigger_metric_id=self.metric_ids["Followed LINE Account"])
        k.add_flow("Win back blocked LINE friends", status="draft",
                   trigger_metric_id=self.metric_ids["Blocked LINE Account"])
        k.add_segment("LINE friends", members=[pid for pid, _ in linked])
        clickers = sorted({e["profile_id"] for e in k.events_for("Clicked LINE Message")})
        self.summary.processing_segment = k.add_segment("Clicked a LINE message (30 days)", is_processing=True,
                                                        members=clickers)

        self._orders(emails)
        seed_line_insight(self.line, self.summary, self.start.date(), self.now)
        self._seed_request_figures()
        self.summary.actions_csv = demo_actions_csv(self.request_sent_at, linked[1:4], self.summary.samples)
        self.summary.profiles = len(k.profiles)
        self.summary.line_users = len(self.line.users)
        self.summary.metrics = len(k.metrics)
        return self.summary

    def _orders(self, profiles: list[str]) -> None:
        """Shopify's Placed Order (for `report revenue`): some people order within days of a LINE
        click, everyone now and then. A generator of its own, so the LINE events above stay the
        same; mostly JPY, a few USD orders and two without a $value."""
        rng, k = random.Random(DEMO_RANDOM_SEED + 1), self.k
        metric = k.add_metric("Placed Order", "Shopify", "Shopify", created=self.start - timedelta(days=400))
        orders: list[tuple[str, datetime]] = []
        for click in k.events_for("Clicked LINE Message"):
            if rng.random() < 0.3:
                orders.append((click["profile_id"], click["datetime"] + timedelta(hours=rng.uniform(0.2, 160))))
        for pid in profiles:
            if rng.random() < 0.3:
                orders.append((pid, self.moment(rng.uniform(0, DEMO_WEEKS * 7))))
        for n, (pid, when) in enumerate(sorted(orders, key=lambda o: o[1])):
            when = min(when, self.now - timedelta(minutes=5))
            usd = rng.random() < 0.05
            value: float | None = round(rng.uniform(12, 90), 2) if usd else float(rng.randrange(18, 120) * 100)
            if n in (7, 40):
                value = None  # an order whose value the shop did not send
            unique_id = f"demo-order-{n:05d}"
            k.add_event(metric, pid, when, {"$event_id": unique_id, "$currency_code": "USD" if usd else "JPY",
                                            "Item Count": rng.randrange(1, 4)}, unique_id=unique_id, value=value)
            self.summary.events += 1

    def _seed_request_figures(self) -> None:
        """LINE's figures for the broadcast with a request ID: what Klaviyo holds of it, as LINE counted it."""
        request_id = self.summary.request_id
        assert request_id is not None

        def people(metric: str) -> int:
            return len({e["profile_id"] for e in self.k.events_for(metric)
                        if e["properties"].get("LINE Request ID") == request_id})

        self.line.insight.add_message_event(request_id, self.request_sent_at, people("Delivered LINE Message"),
                                            people("Opened LINE Message"), people("Clicked LINE Message"))

    def _message(self, pid: str, uid: str, sent_at: datetime, ids: dict[str, Any], *, open_rate: float,
                 click_rate: float, fail: bool = False) -> None:
        rng = self.rng
        self.event("Sent LINE Message", pid, sent_at, dict(ids), uid)
        if rng.random() < 0.03 or fail:
            self.event("Failed LINE Message", pid, sent_at + timedelta(seconds=5),
                       {**ids, "Failure Reason": "user blocked the account or left LINE"}, uid)
            return
        self.event("Delivered LINE Message", pid, sent_at + timedelta(seconds=5), dict(ids), uid)
        if rng.random() < open_rate:
            opened = sent_at + timedelta(minutes=rng.randrange(1, 600 if open_rate < 1 else 60))
            self.event("Opened LINE Message", pid, opened, dict(ids), uid)
            if rng.random() < click_rate:
                self.event("Clicked LINE Message", pid, opened + timedelta(minutes=1),
                           {**ids, "URL": "https://shop.example.com/new-arrivals"}, uid)


def seed_demo(klaviyo: KlaviyoStandIn, line: LineStandIn, now: datetime) -> SeedSummary:
    return _Demo(klaviyo, line, now).build()


DEMO_ACTIONS_HEADER = ("action", "line_user_id", "occurred_at", "event_id", "message_id", "broadcast_id", "send_type",
                       "url", "failure_reason", "qr_code_id")


def demo_actions_csv(broadcast_at: datetime, users: list[tuple[str, str]], samples: dict[str, str]) -> str:
    """History to backfill into the demo: actions of three linked users around the broadcast
    sent at BROADCAST_AT (its IDs), the unlinked and ambiguous samples, and one impossible date.

    Dated from the demo's own broadcast, so the rows fall inside every default window on any
    day the sandbox starts; examples/sandbox-actions.csv is this file for a start on 2026-12-01.
    """
    local = broadcast_at.astimezone(JST)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    ids = {"message_id": f"msg-{broadcast_at:%Y%m%d}-1", "broadcast_id": f"bc-{broadcast_at:%Y%m%d}",
           "send_type": "broadcast"}
    (_, first), (_, second), (_, third) = users

    def at(hours: int, minutes: int, seconds: int, days: int = 0) -> str:
        return (day + timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)).isoformat()

    rows: list[dict[str, str]] = [
        {"action": "sent", "line_user_id": first, "occurred_at": at(12, 0, 5), **ids},
        {"action": "delivered", "line_user_id": first, "occurred_at": at(12, 0, 7), **ids},
        {"action": "opened", "line_user_id": first, "occurred_at": at(18, 42, 10), **ids},
        {"action": "clicked", "line_user_id": first, "occurred_at": at(18, 42, 31), **ids,
         "url": "https://shop.example.com/new-arrivals"},
        {"action": "sent", "line_user_id": second, "occurred_at": at(12, 0, 5), **ids},
        {"action": "delivered", "line_user_id": second, "occurred_at": at(12, 0, 7), **ids},
        {"action": "qr_scanned", "line_user_id": third, "occurred_at": at(10, 15, 0, days=1),
         "qr_code_id": "qr-shibuya-store"},
        {"action": "sent", "line_user_id": samples["unlinked"], "occurred_at": at(12, 0, 5), **ids},
        {"action": "sent", "line_user_id": samples["ambiguous"], "occurred_at": at(12, 0, 5), **ids},
        # A day no month has: the one record backfill rejects (the run exits 1, the rest goes on).
        {"action": "opened", "line_user_id": first, "occurred_at": f"{local:%Y-%m}-32T18:42:10+09:00", **ids},
    ]
    lines = [",".join(DEMO_ACTIONS_HEADER)]
    lines += [",".join(row.get(column, "") for column in DEMO_ACTIONS_HEADER) for row in rows]
    return "\n".join(lines) + "\n"


def seed_line_insight(line: LineStandIn, summary: SeedSummary, first_day: date, now: datetime) -> None:
    """LINE Insight figures per JST day, from `summary.line_daily` (LINE's own counts of the
    demo's events, gap days included) from `first_day` to today (JST).

    Delivered per send type; followers and blocks are LINE's running totals, built from the
    day's Followed and Blocked counts on top of the friends LINE had before the demo's weeks.
    Today (JST) is `unready`, as LINE's last day is until it finishes counting.
    """
    today = now.astimezone(JST).date()
    followed = sum(c["Followed LINE Account"] for c in summary.line_daily.values())
    figures = line.insight
    followers, blocks = len(line.users) - followed, DEMO_BLOCKS_BEFORE
    with line.lock:
        figures.account_first_day = first_day - timedelta(days=400)  # the account is older than the demo
        day = first_day - timedelta(days=1)
        while day <= today:
            counts = summary.line_daily.get(day, Counter())
            figures.set_delivery(day, **dict(summary.line_delivered_by_type.get(day, Counter())))
            followers += counts["Followed LINE Account"]
            blocks += counts["Blocked LINE Account"]
            figures.set_followers(day, followers, blocks)
            day += timedelta(days=1)
        figures.unready_days.add(today)


# -- seed files ----------------------------------------------------------------------------

KINDS = ("profile", "line_user", "metric", "event", "flow", "segment")


@dataclass
class _Record:
    line: int
    kind: str
    body: dict[str, Any]


def read_seed_file(path: Path) -> list[_Record]:
    """Parse and check every line; the first problem stops with `FILE:LINE: reason`."""
    records: list[_Record] = []
    known: set[tuple[str, str]] = set()  # (reference key, value) of profiles seen so far
    metrics: set[str] = set()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read seed file {path}: {exc}") from None
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue

        def bad(reason: str, line: int = number) -> InputFileError:
            return InputFileError(f"{path}:{line}: {reason}",
                                  hint="each line is one JSON object such as {\"profile\": {...}}; "
                                  "see `linesync sandbox start --help`")

        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise bad(f"not JSON ({getattr(exc, 'msg', exc)}, column {getattr(exc, 'colno', '?')})") from None
        if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in KINDS:
            raise bad(f"expected one key, one of {', '.join(KINDS)}")
        kind, body = next(iter(value.items()))
        if not isinstance(body, dict):
            raise bad(f"{kind} must be an object")
        problem = _check(kind, body, known, metrics)
        if problem:
            raise bad(f"{kind}: {problem}")
        records.append(_Record(number, kind, body))
    return records


def _refs(profile: dict[str, Any]) -> list[tuple[str, str]]:
    refs = [(key, str(profile[key])) for key in ("email", "external_id") if profile.get(key)]
    line_id = (profile.get("properties") or {}).get(LINK_PROPERTY)
    if line_id:
        refs.append(("line_user_id", str(line_id)))
    return refs


def _ref_problem(ref: Any, known: set[tuple[str, str]]) -> str | None:
    if not isinstance(ref, dict) or len(ref) != 1 or next(iter(ref)) not in ("email", "external_id", "line_user_id"):
        return 'a profile reference is {"email": ...}, {"external_id": ...} or {"line_user_id": ...}'
    key, value = next(iter(ref.items()))
    if (key, str(value)) not in known:
        return f"no profile with {key} {value} on an earlier line"
    return None


def _check(kind: str, body: dict[str, Any], known: set[tuple[str, str]], metrics: set[str]) -> str | None:
    if kind == "profile":
        if not any(body.get(k) for k in ("email", "phone_number", "external_id")) and not body.get("properties"):
            return "needs email, phone_number, external_id or properties"
        if body.get("properties") is not None and not isinstance(body["properties"], dict):
            return "properties must be an object"
        known.update(_refs(body))
    elif kind == "line_user":
        if not isinstance(body.get("userId"), str) or not USER_ID.fullmatch(body["userId"]):
            return "userId must be U followed by 32 lowercase hex digits"
    elif kind == "metric":
        if not isinstance(body.get("name"), str) or not body["name"]:
            return "name is required"
        metrics.add(body["name"])
    elif kind == "event":
        if not isinstance(body.get("metric"), str) or not body["metric"]:
            return "metric (its name) is required"
        metrics.add(body["metric"])
        problem = _ref_problem(body.get("profile"), known)
        if problem:
            return problem
        try:
            parse_time(str(body.get("time")))
        except ValueError:
            return f"time {body.get('time')!r} is not an ISO 8601 datetime"
        if body.get("properties") is not None and not isinstance(body["properties"], dict):
            return "properties must be an object"
    elif kind == "flow":
        if not body.get("name"):
            return "name is required"
        if body.get("trigger_metric") is not None and body["trigger_metric"] not in metrics:
            return f"trigger_metric {body['trigger_metric']!r} is not a metric named on an earlier line"
        if body.get("status", "live") not in ("live", "draft", "manual"):
            return "status must be live, draft or manual"
    elif kind == "segment":
        if not body.get("name"):
            return "name is required"
        for ref in body.get("members") or []:
            problem = _ref_problem(ref, known)
            if problem:
                return problem
    return None


def _apply_records(records: list[_Record], klaviyo: KlaviyoStandIn, line: LineStandIn, name: str) -> SeedSummary:
    _account(klaviyo, line)
    summary = SeedSummary(name)
    by_ref: dict[tuple[str, str], str] = {}
    metric_ids: dict[str, str] = {}

    def metric_id(metric_name: str, integration: str = "API") -> str:
        if metric_name not in metric_ids:
            own = integration.casefold() == "klaviyo"
            metric_ids[metric_name] = klaviyo.add_metric(metric_name, *(("Klaviyo", "Internal") if own else ("API", "API")))
        return metric_ids[metric_name]

    for record in records:
        body = record.body
        if record.kind == "profile":
            pid = klaviyo.add_profile(email=body.get("email"), phone_number=body.get("phone_number"),
                                      external_id=body.get("external_id"), properties=body.get("properties"),
                                      first_name=body.get("first_name"), last_name=body.get("last_name"))
            for ref in _refs(body):
                by_ref.setdefault(ref, pid)
        elif record.kind == "line_user":
            line.add_user(body["userId"], body.get("displayName", "LINE user"),
                          **{k: v for k, v in body.items() if k not in ("userId", "displayName")})
        elif record.kind == "metric":
            metric_id(body["name"], body.get("integration", "API"))
        elif record.kind == "event":
            (key, value), = body["profile"].items()
            klaviyo.add_event(metric_id(body["metric"]), by_ref[(key, str(value))], parse_time(str(body["time"])),
                              body.get("properties"), unique_id=body.get("unique_id"), value=body.get("value"))
            summary.events += 1
        elif record.kind == "flow":
            trigger = body.get("trigger_metric")
            klaviyo.add_flow(body["name"], status=body.get("status", "live"),
                             trigger_metric_id=metric_id(trigger) if trigger else None)
        elif record.kind == "segment":
            members = [by_ref[next(iter(ref.items()))[0], str(next(iter(ref.values())))]
                       for ref in body.get("members") or []]
            klaviyo.add_segment(body["name"], is_processing=bool(body.get("is_processing")), members=members)
    summary.profiles, summary.line_users, summary.metrics = len(klaviyo.profiles), len(line.users), len(klaviyo.metrics)
    return summary
