"""Set-up checks: configuration, the Klaviyo key and its scopes, the LINE token."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from linesync_cli.api.klaviyo import Listing
from linesync_cli.api.klaviyo_records import Account
from linesync_cli.core.doctor.model import CheckResult, failed, passed, skipped, warned
from linesync_cli.core.doctor.runner import DoctorContext
from linesync_cli.errors import (
    ApiError,
    AuthError,
    BadRequest,
    ChallengeBlocked,
    ExitCode,
    LinesyncError,
    MissingScope,
    Unavailable,
)

if TYPE_CHECKING:
    from linesync_cli.config import Settings

KEY_HINT = "set LINESYNC_KLAVIYO_API_KEY=pk_... (environment, .env or the config file); `linesync config show` shows what is in effect"


def settings_or_skip(ctx: DoctorContext) -> Settings:
    """The settings; when they cannot be loaded the caller is skipped (the config check reports why)."""
    try:
        return ctx.settings
    except LinesyncError:
        ctx.need("config")
        raise


# -- config --------------------------------------------------------------------

def _state_dir_problem(path: Path) -> str | None:
    """Why the state directory is unusable, without creating anything; None when fine."""
    if path.exists():
        if not path.is_dir():
            return "is not a directory"
        try:
            with tempfile.NamedTemporaryFile(dir=path, prefix=".linesync-doctor-"):
                pass
        except OSError as exc:
            return f"is not writable ({exc.strerror or exc})"
        return None
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return f"does not exist and cannot be created ({parent} is not writable)"
    return None


def check_config(ctx: DoctorContext) -> CheckResult:
    from linesync_cli.accounts import exposure_warnings, key_shown
    from linesync_cli.config import masked

    try:
        loaded = ctx.loaded
    except LinesyncError as exc:
        return failed(exc.message, exc.hint, exit_code=ExitCode.USAGE)
    s, src = loaded.settings, loaded.sources
    details = [
        *([f"account: {loaded.account} (from {loaded.account_source})"] if loaded.account else []),
        f"Klaviyo API key: {key_shown(s)} (from {src['klaviyo_api_key']})",
        f"Klaviyo API: {s.klaviyo_base_url}, revision {s.klaviyo_revision}",
        f"LINE channel access token: {masked(s.line_channel_access_token)}"
        + ("" if s.line_channel_access_token else " (LINE checks are skipped)"),
        f"LINE API: {s.line_base_url}",
        f"link key: {s.link_key} (from {src['link_key']})",
        f"state directory: {s.state_dir} (from {src['state_dir']})",
        f"config file: {loaded.config_file}" + ("" if loaded.config_file.is_file() else " (not present)"),
    ]
    for name, url in (("Klaviyo", s.klaviyo_base_url), ("LINE", s.line_base_url)):
        if url.startswith("http://"):
            details.append(f"{name} base URL is plain http:// on a loopback host (a test server?)")
    if not s.has_klaviyo_key:
        return failed("no Klaviyo API key is configured", KEY_HINT, details, exit_code=ExitCode.USAGE)
    problem = _state_dir_problem(Path(s.state_dir))
    if problem:
        return failed(f"the state directory {s.state_dir} {problem}",
                      "set LINESYNC_STATE_DIR (or --state-dir) to a writable directory", details,
                      exit_code=ExitCode.USAGE)
    exposed = exposure_warnings(loaded.settings.state_dir, loaded.config_file, loaded.config_holds_secret)
    if exposed:
        return warned(exposed[0] + (f" (and {len(exposed) - 1} more)" if len(exposed) > 1 else ""),
                      "anyone with an account on this machine can read which LINE user is which profile "
                      "(or the key); the chmod makes it yours only", details + exposed)
    return passed(
        f"Klaviyo key set (from {src['klaviyo_api_key']}), link key {s.link_key}, state directory writable",
        "`linesync config show` shows every setting and where it came from", details,
    )


# -- klaviyo-auth --------------------------------------------------------------

def _account_summary(account: Account) -> tuple[str, list[str], dict[str, Any]]:
    name = account.organization_name or "(no name)"
    test = account.test_account
    text = f'key accepted for account "{name}" ({account.id or "?"})' + (", a test account" if test else "")
    details = [f"account time zone: {account.timezone or 'unknown'}"]
    return text, details, {"account_id": account.id, "organization_name": name, "test_account": test,
                           "timezone": account.timezone}


def check_klaviyo_auth(ctx: DoctorContext) -> CheckResult:
    # Needs the key, not a perfect configuration: an unwritable state directory
    # (a config failure too) must not hide what Klaviyo says.
    if not settings_or_skip(ctx).has_klaviyo_key:
        ctx.need("config")
    try:
        account = ctx.account()
    except ChallengeBlocked as exc:
        return failed(exc.message, exc.hint, exit_code=ExitCode.AUTH)
    except MissingScope:
        # 403 with a JSON body: the key authenticated (a bad key gets 401) but lacks accounts:read.
        return warned("the key is valid but lacks the accounts:read scope, so the account cannot be named",
                      "grant accounts:read to the key in Klaviyo > Settings > API keys; "
                      "`linesync doctor --only klaviyo-scopes` lists every scope")
    except AuthError as exc:
        return failed(exc.message, exc.hint, exit_code=ExitCode.AUTH)
    except Unavailable as exc:
        return failed(exc.message, exc.hint, exit_code=ExitCode.UNAVAILABLE)
    except ApiError as exc:
        return failed(exc.message, exc.hint or "check LINESYNC_KLAVIYO_REVISION and LINESYNC_KLAVIYO_BASE_URL")
    text, details, data = _account_summary(account)
    return passed(text, None, details, **data)


# -- klaviyo-scopes ------------------------------------------------------------

# What each scope the tool uses is needed for (the README's scope table).
SCOPE_USERS: dict[str, str] = {
    "accounts:read": "doctor (naming the account)",
    "metrics:read": "metrics, report, segments create, backfill (flow warnings), doctor",
    "events:read": "inspect-profile, check-link (last events), metrics show, doctor recent-events",
    "profiles:read": "links sync, check-link, inspect-profile, backfill with external_id or --link-map",
    "segments:read": "links sync --segment, segments, doctor segment-processing",
    "flows:read": "backfill --trigger-flows (listing the Flows a metric triggers)",
    "events:write": "backfill (sending events)",
    "segments:write": "segments create",
}
WRITE_SCOPES = ("events:write", "segments:write")


def _read_probes(ctx: DoctorContext) -> dict[str, Callable[[], object]]:
    """One cheap read per scope (accounts and metrics are shared with other checks)."""
    def read(listing: Listing) -> Callable[[], None]:
        return lambda: ctx.klaviyo().check_read(listing)

    return {
        "accounts:read": ctx.account,
        "metrics:read": ctx.api_metrics,
        "events:read": read(Listing.EVENTS),
        "profiles:read": read(Listing.PROFILES),
        "segments:read": read(Listing.SEGMENTS),
        "flows:read": read(Listing.FLOWS),
    }


def check_klaviyo_scopes(ctx: DoctorContext) -> CheckResult:
    ctx.need("klaviyo-auth")
    granted, missing, unknown = [], [], {}
    for scope, probe in _read_probes(ctx).items():
        try:
            probe()
        except ChallengeBlocked as exc:
            unknown[scope] = exc.message
        except MissingScope:
            missing.append(scope)
        except LinesyncError as exc:
            unknown[scope] = exc.message
        else:
            granted.append(scope)
    writes = " and ".join(WRITE_SCOPES)
    not_checked = f"{writes} not checked (only a write would tell, and doctor writes nothing)"
    details = [f"granted: {s}" for s in granted]
    details += [f"MISSING: {s}: blocks {SCOPE_USERS[s]}" for s in missing]
    details += [f"not checked: {s}: {why}" for s, why in unknown.items()]
    details += [f"not checked: {s}: needed by {SCOPE_USERS[s]}" for s in WRITE_SCOPES]
    data: dict[str, Any] = {"granted": granted, "missing": missing, "unknown": unknown, "not_checked": list(WRITE_SCOPES),
            "blocks": {s: SCOPE_USERS[s] for s in missing}}
    total = len(granted) + len(missing) + len(unknown)
    if missing:
        blocked = "; ".join(f"{s} blocks {SCOPE_USERS[s]}" for s in missing)
        return failed(
            f"{len(missing)} of {total} read scopes missing: {blocked}; {not_checked}",
            f"edit the key in Klaviyo > Settings > API keys and grant {', '.join(missing)} "
            f"(and {writes} for backfill and segments)",
            details, **data,
        )
    if unknown:
        return warned(f"could not check {', '.join(unknown)}; the other {len(granted)} read scopes are granted; "
                      f"{not_checked}", "re-run `linesync doctor --only klaviyo-scopes` later", details, **data)
    return passed(f"all {len(granted)} read scopes granted ({', '.join(s.split(':')[0] for s in granted)}); "
                  f"{not_checked}", None, details, **data)


# -- line-token ----------------------------------------------------------------

# Long-lived tokens report expires_in of decades (e.g. 3138007490 s).
LONG_LIVED_AFTER = timedelta(days=5 * 365)
EXPIRY_WARNING = timedelta(days=7)


def check_line_token(ctx: DoctorContext) -> CheckResult:
    settings_or_skip(ctx)
    line = ctx.line()
    if line is None:
        return skipped("no LINE channel access token is configured: LINE checks skipped",
                       "set LINESYNC_LINE_CHANNEL_ACCESS_TOKEN to check the token and its bot")
    try:
        bot = line.get_bot_info()
    except AuthError as exc:
        return failed(exc.message, exc.hint)
    name = bot.display_name or "(no name)"
    basic = bot.basic_id or "?"
    details = [f"bot userId: {bot.user_id or '?'} (webhook `destination`)",
               f"chat mode: {bot.chat_mode or '?'}, mark-as-read mode: {bot.mark_as_read_mode or '?'}"]
    if bot.premium_id:
        details.append(f"premium ID: {bot.premium_id}")
    data: dict[str, Any] = {"bot": {"displayName": bot.display_name, "basicId": bot.basic_id, "userId": bot.user_id,
                                    "chatMode": bot.chat_mode}}
    text = f'token works for bot "{name}" ({basic}, {bot.user_id or "?"})'
    try:
        verified = line.verify_token()
    except BadRequest as exc:
        details.append(f"expiry unknown: {exc.message}")
        return passed(text + "; expiry unknown", None, details, **data)
    expires_in = verified.expires_in
    details.append(f"channel ID: {verified.client_id or '?'}")
    if expires_in is None:
        return passed(text + "; expiry unknown", None, details, **data)
    left = timedelta(seconds=expires_in)
    data["expires_in"] = expires_in
    if left >= LONG_LIVED_AFTER:
        data["expires_at"] = None
        return passed(text + "; long-lived token (no practical expiry)", None, details, **data)
    expires_at = ctx.now() + left
    data["expires_at"] = expires_at.isoformat()
    when = f"expires {expires_at:%Y-%m-%d %H:%M} UTC (in {left.days} days)" if left.days else \
        f"expires {expires_at:%Y-%m-%d %H:%M} UTC (in {int(left.total_seconds() // 3600)} hours)"
    if left < EXPIRY_WARNING:
        return warned(f"{text}; the token {when}",
                      "issue a new channel access token in the LINE Developers Console before it expires, "
                      "and update LINESYNC_LINE_CHANNEL_ACCESS_TOKEN", details, **data)
    return passed(f"{text}; {when}", None, details, **data)
