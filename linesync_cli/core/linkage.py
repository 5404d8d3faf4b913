"""Resolving LINE user IDs to Klaviyo profile IDs (design.md section 4).

A LINE user ID is **linked** (exactly one profile), **unlinked** (none) or
**ambiguous** (several). Three ways, picked by `open_resolver`:

- `property:<name>`: the local link index built by `linesync links sync`;
- `external_id`: batched look-ups by external_id in Klaviyo;
- `--link-map FILE`: a CSV mapping each LINE user ID to a `profile_id`, `email`
  or `phone_number`. profile_id rows resolve offline; emails and phone numbers
  are looked up in Klaviyo only for the IDs asked about.

A value that is not `U` + 32 lowercase hex is unlinked without any look-up.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from linesync_cli.core.link_index import (
    LINE_USER_ID_RE,
    IndexStatus,
    LinkIndex,
    index_path,
    link_index_status,
)
from linesync_cli.errors import InputFileError, NoLinkIndex
from linesync_cli.timeutil import humanize_age

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo import KlaviyoClient
    from linesync_cli.config import Settings

__all__ = [
    "LINE_USER_ID_RE",
    "IndexStatus",
    "Link",
    "LinkStatus",
    "Resolver",
    "IdFormat",
    "classify_line_user_id",
    "link_index_status",
    "open_resolver",
]

class LinkStatus(str, Enum):
    LINKED = "linked"
    UNLINKED = "unlinked"
    AMBIGUOUS = "ambiguous"


@dataclass(frozen=True)
class Link:
    line_user_id: str
    status: LinkStatus
    profile_ids: tuple[str, ...]  # () unlinked, 1 linked, >1 ambiguous

    @classmethod
    def of(cls, line_user_id: str, profile_ids: Iterable[str]) -> Link:
        ids = tuple(sorted(set(profile_ids)))
        status = LinkStatus.UNLINKED if not ids else LinkStatus.LINKED if len(ids) == 1 else LinkStatus.AMBIGUOUS
        return cls(line_user_id, status, ids)

    @property
    def profile_id(self) -> str | None:
        """The profile when linked, else None."""
        return self.profile_ids[0] if self.status is LinkStatus.LINKED else None

    def to_json(self) -> dict[str, Any]:
        return {"line_user_id": self.line_user_id, "status": self.status.value, "profile_ids": list(self.profile_ids)}


class Resolver(Protocol):
    description: str  # for people, e.g. 'link index (property "LINE User ID"), synced 2h ago'
    identity: str  # stable (a backfill run's fingerprint), e.g. 'property:LINE User ID'

    def resolve(self, line_user_ids: Sequence[str]) -> dict[str, Link]:
        """One batch (callers pass up to ~1000 distinct IDs); every ID asked about is in the answer."""
        ...


@dataclass(frozen=True)
class IdFormat:
    """What a value offered as a LINE user ID looks like."""

    ok: bool
    kind: str  # user-id | uppercase-hex | wrong-length | group-or-room-id | searchable-line-id | display-name | malformed
    hint: str | None = None


_SEARCHABLE = re.compile(r"^@?[A-Za-z0-9._-]{1,20}$")


def classify_line_user_id(value: str) -> IdFormat:
    """Say what a value is when it is not a LINE user ID (people paste the wrong ID)."""
    if LINE_USER_ID_RE.fullmatch(value):
        return IdFormat(True, "user-id")
    if re.fullmatch(r"U[0-9a-fA-F]{32}", value):
        return IdFormat(False, "uppercase-hex",
                        f"LINE user IDs use lowercase hex; in lower case it would be U{value[1:].lower()}")
    if re.fullmatch(r"U[0-9a-fA-F]+", value):
        return IdFormat(False, "wrong-length",
                        f"U + {len(value) - 1} hex characters; a LINE user ID has exactly 32 (truncated or padded?)")
    if re.fullmatch(r"[CR][0-9a-f]{32}", value):
        return IdFormat(False, "group-or-room-id", "a LINE group or room ID, not a user ID")
    if _SEARCHABLE.fullmatch(value):
        return IdFormat(False, "searchable-line-id",
                        "looks like a searchable LINE ID (the @name people type to add a friend), not a user ID; "
                        "user IDs (U + 32 hex) come from webhooks or the profile's LINE User ID property")
    if any(c.isspace() for c in value) or not value.isascii():
        return IdFormat(False, "display-name",
                        "looks like a LINE display name, not a user ID; find the user ID in the profile's "
                        "LINE User ID property or in the webhook's source.userId")
    return IdFormat(False, "malformed", "not U + 32 lowercase hex")


def _valid_ids(ids: Sequence[str]) -> list[str]:
    return [i for i in dict.fromkeys(ids) if LINE_USER_ID_RE.fullmatch(i)]


# -- property:<name> ---------------------------------------------------------------

class IndexResolver:
    """Local look-ups in the link index; never calls Klaviyo."""

    def __init__(self, index: LinkIndex, status: IndexStatus) -> None:
        self._index = index
        self.status = status
        self.identity = f"property:{status.property_name}"  # the link key, as config spells it
        scope = "" if status.scope == "all" else f", {status.scope.replace(':', ' ')} only"
        self.description = (
            f'link index (property "{status.property_name}"{scope}), synced {humanize_age(status.synced_at)}'
        )

    def resolve(self, line_user_ids: Sequence[str]) -> dict[str, Link]:
        found = self._index.lookup(self.status.property_name, _valid_ids(line_user_ids))
        return {i: Link.of(i, found.get(i, ())) for i in line_user_ids}

    def close(self) -> None:
        self._index.close()


# -- external_id ---------------------------------------------------------------------

class ExternalIdResolver:
    """Batched external_id look-ups in Klaviyo (100 IDs per request)."""

    description = "external_id look-ups in Klaviyo"
    identity = "external_id"

    def __init__(self, klaviyo: Callable[[], KlaviyoClient]) -> None:
        self._klaviyo = klaviyo

    def resolve(self, line_user_ids: Sequence[str]) -> dict[str, Link]:
        ids = _valid_ids(line_user_ids)
        found: dict[str, list[str]] = {}
        if ids:
            for profile in self._klaviyo().profiles_in("external_id", ids, only_field=True):
                ext = profile.external_id
                if isinstance(ext, str) and profile.id:
                    found.setdefault(ext, []).append(profile.id)
        return {i: Link.of(i, found.get(i, ())) for i in line_user_ids}

    def close(self) -> None:
        pass


# -- --link-map FILE -----------------------------------------------------------------

IDENTIFIER_COLUMNS = ("profile_id", "email", "phone_number")
_PROFILE_ID = re.compile(r"^[0-9A-Za-z]{1,64}$")
_EMAIL = re.compile(r"^[^\s\"'@]+@[^\s\"'@]+$")
_PHONE = re.compile(r"^\+[1-9][0-9]{5,14}$")
_PHONE_PUNCTUATION = re.compile(r"[\s\-().]")


def normalise_phone(text: str) -> str:
    """`+81 90-1234-5678` -> `+819012345678` (Klaviyo keeps E.164)."""
    return _PHONE_PUNCTUATION.sub("", text)


@dataclass(frozen=True)
class MapEntry:
    kind: str  # profile_id | email | phone_number
    value: str  # as looked up: profile ID, lowercased email, E.164 phone


def read_link_map(path: Path) -> dict[str, list[MapEntry]]:
    """Parse the link map strictly: a bad row stops with its file and line.

    A wrong row would send someone's LINE actions to another customer's profile, so
    the map is never half-used.
    """
    try:
        fh = open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputFileError(f"cannot read link map {path}: {exc.strerror or exc}",
                             hint="check the --link-map path") from None
    entries: dict[str, list[MapEntry]] = {}
    with fh:
        try:
            reader = csv.DictReader(fh)
            header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
            if "line_user_id" not in header or not any(c in header for c in IDENTIFIER_COLUMNS):
                raise InputFileError(
                    f"{path}: the link map needs a line_user_id column and one of profile_id, email, phone_number "
                    f"(found: {', '.join(h for h in header if h) or 'no header'})",
                    hint="first row: line_user_id,profile_id (or email, or phone_number)",
                )
            reader.fieldnames = header
            for row in reader:
                where = f"{path}:{reader.line_num}"
                values = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)}
                if not any(values.values()):
                    continue
                line_id = values.get("line_user_id", "")
                if not LINE_USER_ID_RE.fullmatch(line_id):
                    raise InputFileError(
                        f"{where}: line_user_id {line_id!r} is not a LINE user ID (U + 32 lowercase hex)",
                        hint="fix or remove the row; `linesync check-link VALUE` explains what the value looks like",
                    )
                entry = _map_entry(values, where)
                known = entries.setdefault(line_id, [])
                if entry not in known:
                    known.append(entry)
        except UnicodeDecodeError:
            raise InputFileError(f"{path}: not UTF-8 text", hint="save the link map as UTF-8 CSV") from None
        except csv.Error as exc:
            raise InputFileError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    return entries


def _map_entry(values: dict[str, str], where: str) -> MapEntry:
    if values.get("profile_id"):
        pid = values["profile_id"]
        if not _PROFILE_ID.fullmatch(pid):
            raise InputFileError(f"{where}: profile_id {pid!r} is not a Klaviyo profile ID")
        return MapEntry("profile_id", pid)
    if values.get("email"):
        email = values["email"]
        if not _EMAIL.fullmatch(email):
            raise InputFileError(f"{where}: email {email!r} is not an email address")
        return MapEntry("email", email.lower())
    if values.get("phone_number"):
        phone = normalise_phone(values["phone_number"])
        if not _PHONE.fullmatch(phone):
            raise InputFileError(
                f"{where}: phone_number {values['phone_number']!r} is not an international number",
                hint="use E.164 with the country code, e.g. +819012345678",
            )
        return MapEntry("phone_number", phone)
    raise InputFileError(f"{where}: the row has no profile_id, email or phone_number")


class LinkMapResolver:
    """Resolves through a link map; calls Klaviyo only for email/phone rows of the IDs asked about."""

    def __init__(self, path: Path, klaviyo: Callable[[], KlaviyoClient]) -> None:
        self.path = path
        self.entries = read_link_map(path)
        self._klaviyo = klaviyo
        # (kind, value) -> profile IDs, for emails and phones already looked up.
        self._found: dict[tuple[str, str], tuple[str, ...]] = {}
        self.description = f"link map {path} ({len(self.entries):,} LINE user IDs)"
        self.identity = f"link map {path.resolve()}"

    def _look_up(self, wanted: set[MapEntry]) -> None:
        kinds: tuple[Literal["email", "phone_number"], ...] = ("email", "phone_number")
        for kind in kinds:
            values = sorted(e.value for e in wanted if e.kind == kind and (kind, e.value) not in self._found)
            if not values:
                continue
            hits: dict[str, list[str]] = {}
            for profile in self._klaviyo().profiles_in(kind, values, only_field=True):
                got = profile.email if kind == "email" else profile.phone_number
                if isinstance(got, str) and profile.id:
                    key = got.lower() if kind == "email" else normalise_phone(got)
                    hits.setdefault(key, []).append(profile.id)
            for value in values:
                self._found[(kind, value)] = tuple(hits.get(value, ()))

    def resolve(self, line_user_ids: Sequence[str]) -> dict[str, Link]:
        wanted = {e for i in dict.fromkeys(line_user_ids) for e in self.entries.get(i, ()) if e.kind != "profile_id"}
        if wanted:
            self._look_up(wanted)
        result = {}
        for i in line_user_ids:
            profiles: list[str] = []
            for e in self.entries.get(i, ()):
                profiles.extend((e.value,) if e.kind == "profile_id" else self._found.get((e.kind, e.value), ()))
            result[i] = Link.of(i, profiles)
        return result

    def close(self) -> None:
        pass


def open_resolver(settings: Settings, klaviyo: Callable[[], KlaviyoClient], *,
                  link_map: Path | None = None) -> Resolver:
    """The resolver for the configured link key, or for `--link-map FILE` when given.

    `klaviyo` is called only when a look-up needs Klaviyo, so offline resolution
    (the index, profile_id rows) works without an API key.
    Raises NoLinkIndex (exit 2) for a `property:` key whose index was never built,
    InputFileError (exit 2) for an unreadable or bad link map.
    """
    if link_map is not None:
        return LinkMapResolver(Path(link_map), klaviyo)
    link = settings.link
    if link.kind == "external_id":
        return ExternalIdResolver(klaviyo)
    name = link.property_name
    assert name is not None
    index = LinkIndex.open_existing(index_path(settings.state_dir))
    status = index.status(name) if index else None
    if index is None or status is None or not status.exists:
        interrupted = status is not None and status.run_in_progress
        if index is not None:
            index.close()
        raise NoLinkIndex(
            f'no link index for property "{name}" in {index_path(settings.state_dir)}'
            + (" (the first sync was interrupted)" if interrupted else ""),
            hint="run `linesync links sync`" + (" to finish it" if interrupted else "")
            + ", or give --link-map FILE",
        )
    return IndexResolver(index, status)


def read_line_user_ids(path: Path | None, stream: Any = None) -> list[str]:
    """Values to check from a file: one per line (blank lines and `#` comments skipped),
    or a CSV whose header has a `line_user_id` column. `stream` is used for `-`."""
    name = "standard input" if stream is not None else str(path)
    try:
        text = stream.read() if stream is not None else Path(path).read_text(encoding="utf-8-sig")  # type: ignore[arg-type]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read {name}: {getattr(exc, 'strerror', None) or exc}",
                             hint="give a UTF-8 text file with one LINE user ID per line") from None
    lines = [ln for ln in text.lstrip("\ufeff").splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if lines and "line_user_id" in [h.strip().lower() for h in lines[0].split(",")]:
        reader = csv.DictReader(lines)
        reader.fieldnames = [(h or "").strip().lower() for h in reader.fieldnames or []]
        return [v for row in reader if (v := (row.get("line_user_id") or "").strip())]
    return [ln.strip() for ln in lines]
