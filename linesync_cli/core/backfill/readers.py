"""Streaming readers for actions files (CSV, JSON Lines) and LINE webhook archives.

Every reader yields `Action`, `Reject` or `Skip` items one record at a time, so
memory does not grow with the input. Input is read as bytes and decoded line by
line: a line that is not valid in the chosen encoding rejects that record only.
gzip is recognised by its magic bytes (so `.gz` on standard input works too); a
truncated or corrupt gzip stream becomes one rejected record naming the file, and
the run goes on with the next file.

One exception to streaming: a webhook archive stored as a single JSON document
(one body, or an array of bodies) must be parsed whole; JSON Lines archives stream.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import os
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from linesync_cli.core.backfill.records import Action, Reject, Skip
from linesync_cli.core.backfill.validate import LINE_USER_ID, ActionValidator, Invalid, iso_utc, stable_unique_id
from linesync_cli.errors import InputFileError, UsageError

FORMATS = ("csv", "jsonl", "line-webhook")
REQUIRED_FIELDS = ("action", "line_user_id", "occurred_at")
_GZIP_MAGIC = b"\x1f\x8b"
# Webhook event type -> catalogue action key (line-api.md section 3).
WEBHOOK_ACTIONS = {"follow": "followed", "unfollow": "blocked", "accountLink": "linked"}
_WEBHOOK_METRICS = {"followed": "Followed LINE Account", "blocked": "Blocked LINE Account",
                    "linked": "Linked LINE Identity"}
# Large enough for any field Klaviyo could take (100 KB) plus slack, so an
# over-long field is rejected by validation with a clear reason, not by csv.
csv.field_size_limit(max(csv.field_size_limit(), 16 * 1024 * 1024))


def check_encoding(name: str) -> str:
    """Encodings whose line ends are plain `\\n` bytes (not UTF-16/32)."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise UsageError(f"--encoding {name!r} is not an encoding Python knows",
                         hint="e.g. --encoding utf-8 or --encoding cp932") from None
    if info.name.startswith(("utf-16", "utf-32")):
        raise UsageError(f"--encoding {name} is not supported (lines are split on bytes)",
                         hint="convert the file to UTF-8 first, e.g. with iconv")
    return info.name


def normalise_key(key: Any) -> str:
    return str(key).strip().lower().replace(" ", "_").replace("-", "_").lstrip("\ufeff")


@dataclass
class Source:
    """One input (a file or standard input), as decoded lines with their numbers."""

    name: str  # as given on the command line ("-" for standard input)
    raw: BinaryIO
    encoding: str
    size: int | None  # bytes on disk, None for standard input
    stream: BinaryIO = field(init=False)
    compressed: bool = field(init=False)
    error: str | None = None  # set when the stream broke off (truncated gzip)
    bad_lines: set[int] = field(default_factory=set)  # lines that did not decode
    lines_read: int = 0

    def __post_init__(self) -> None:
        buffered = self.raw if hasattr(self.raw, "peek") else io.BufferedReader(self.raw)  # type: ignore[arg-type]
        self.raw = buffered
        self.compressed = buffered.peek(2)[:2] == _GZIP_MAGIC  # type: ignore[attr-defined]
        self.stream = io.BufferedReader(gzip.GzipFile(fileobj=buffered), 1 << 20) if self.compressed else buffered  # type: ignore[arg-type]

    @property
    def display(self) -> str:
        return "<stdin>" if self.name == "-" else self.name

    def position(self) -> int:
        """Bytes of the (possibly compressed) input consumed so far, for progress."""
        try:
            return self.raw.tell()
        except (OSError, ValueError):
            return 0

    def lines(self) -> Iterator[str]:
        """Decoded lines (line ends kept). Undecodable lines are replaced and noted."""
        encoding = self.encoding
        first = True
        try:
            for number, data in enumerate(self.stream, 1):
                self.lines_read = number
                try:
                    text = data.decode(encoding)
                except UnicodeDecodeError:
                    self.bad_lines.add(number)
                    text = data.decode(encoding, "replace")
                if first:
                    text = text.lstrip("\ufeff")
                    first = False
                yield text
        except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
            what = "gzip data ends early" if isinstance(exc, EOFError) else f"cannot read further ({exc})"
            self.error = f"{what} after line {self.lines_read}; the rest of the file could not be read"

    def close(self) -> None:
        if self.name != "-":
            self.raw.close()


def open_source(name: str, encoding: str) -> Source:
    if name == "-":
        return Source(name, sys.stdin.buffer, encoding, None)
    try:
        fh = open(name, "rb", buffering=1 << 20)  # noqa: SIM115 - closed by Source.close
    except FileNotFoundError:
        raise InputFileError(f"input file {name} does not exist", hint="check the path") from None
    except IsADirectoryError:
        raise InputFileError(f"{name} is a directory, not an input file") from None
    except OSError as exc:
        raise InputFileError(f"cannot open {name}: {exc.strerror or exc}") from None
    try:
        size = os.fstat(fh.fileno()).st_size
        return Source(name, fh, encoding, size)
    except OSError as exc:
        fh.close()
        raise InputFileError(f"cannot read {name}: {exc.strerror or exc}") from None


def _peek_text(lines: Iterator[str]) -> tuple[list[str], str]:
    """Consume lines up to the first non-blank one; return them and that line stripped."""
    taken: list[str] = []
    for text in lines:
        taken.append(text)
        if text.strip():
            return taken, text.strip()
    return taken, ""


def detect_format(first_line: str) -> str:
    """csv, jsonl or line-webhook, from the first non-blank line."""
    if first_line.startswith("["):
        return "line-webhook"
    if first_line.startswith("{"):
        try:
            obj = json.loads(first_line)
        except ValueError:
            return "line-webhook"  # a pretty-printed JSON document: webhook bodies
        if isinstance(obj, dict) and ("events" in obj or "destination" in obj):
            return "line-webhook"
        return "jsonl"
    return "csv"


def _chain(head: list[str], rest: Iterator[str]) -> Iterator[str]:
    yield from head
    yield from rest


def read_source(source: Source, validator: ActionValidator, fmt: str | None = None) -> Iterator[Action | Reject | Skip]:
    """Every record of one source; the format is detected unless given."""
    lines = source.lines()
    head, first = _peek_text(lines)
    if first or source.error:
        kind = fmt or detect_format(first)
        stream = _chain(head, lines)
        if kind == "csv":
            yield from _read_csv(source, stream, validator)
        elif kind == "jsonl":
            yield from _read_jsonl(source, stream, validator)
        else:
            yield from _read_webhooks(source, stream, validator, first)
    if source.error:
        yield Reject(source.display, source.lines_read + 1, None, source.error)


def _decode_reason(source: Source) -> str:
    return (f"not valid {source.encoding} text"
            + (" (spreadsheet exports from Japan are often cp932: try --encoding cp932)" if source.encoding == "utf-8" else ""))


def _read_csv(source: Source, lines: Iterator[str], validator: ActionValidator) -> Iterator[Action | Reject | Skip]:
    reader = csv.reader(lines)
    name = source.display
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise InputFileError(f"{name}: cannot read the CSV header ({exc})") from None
    keys = [normalise_key(h) for h in header]
    missing = [f for f in REQUIRED_FIELDS if f not in keys]
    if missing:
        raise InputFileError(
            f"{name}: the CSV header has no {', '.join(missing)} column",
            hint="an actions CSV needs a header row with action, line_user_id and occurred_at "
                 "(or pass --format if the format was misdetected)",
        )
    width = len(keys)
    bad_lines = source.bad_lines
    wanted = [(i, k) for i, k in enumerate(keys) if k]
    line_end = reader.line_num
    while True:
        start = line_end + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line_end = reader.line_num
            yield Reject(name, start, None, f"malformed CSV ({exc})")
            continue
        line_end = reader.line_num
        if not row:
            continue
        record = dict(zip(header, row, strict=False))
        if bad_lines and any(n in bad_lines for n in range(start, line_end + 1)):
            yield Reject(name, start, record, _decode_reason(source))
            continue
        if len(row) != width:
            if len(row) == 1 and not row[0].strip():
                continue
            yield Reject(name, start, record, f"has {len(row)} fields, the header has {width}")
            continue
        fields = {k: row[i] for i, k in wanted}
        try:
            yield validator.action(fields, name, start, record)
        except Invalid as exc:
            yield Reject(name, start, record, str(exc))


def _read_jsonl(source: Source, lines: Iterator[str], validator: ActionValidator) -> Iterator[Action | Reject | Skip]:
    name = source.display
    bad_lines = source.bad_lines
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        if bad_lines and number in bad_lines:
            yield Reject(name, number, text.rstrip("\r\n"), _decode_reason(source))
            continue
        try:
            obj = json.loads(text)
        except ValueError as exc:
            yield Reject(name, number, text.rstrip("\r\n"), f"not valid JSON ({exc.args[0] if exc.args else exc})")
            continue
        if not isinstance(obj, dict):
            yield Reject(name, number, obj, "not a JSON object")
            continue
        fields = obj
        if not ("action" in obj and "line_user_id" in obj and "occurred_at" in obj):
            fields = {normalise_key(k): v for k, v in obj.items()}
        try:
            yield validator.action(fields, name, number, obj)
        except Invalid as exc:
            yield Reject(name, number, obj, str(exc))


def _read_webhooks(source: Source, lines: Iterator[str], validator: ActionValidator,
                   first: str) -> Iterator[Action | Reject | Skip]:
    name = source.display
    one_per_line = first.startswith("{")
    if one_per_line:
        try:
            json.loads(first)
        except ValueError:
            one_per_line = False
    if one_per_line:
        for number, text in enumerate(lines, 1):
            if not text.strip():
                continue
            if number in source.bad_lines:
                yield Reject(name, number, text.rstrip("\r\n"), _decode_reason(source))
                continue
            try:
                body = json.loads(text)
            except ValueError as exc:
                yield Reject(name, number, text.rstrip("\r\n"), f"not valid JSON ({exc.args[0] if exc.args else exc})")
                continue
            yield from _webhook_body(body, name, number, validator)
        return
    # One JSON document: a body or an array of bodies (read whole).
    text = "".join(lines)
    if source.bad_lines:
        yield Reject(name, min(source.bad_lines), None, _decode_reason(source))
        return
    try:
        doc = json.loads(text)
    except ValueError as exc:
        yield Reject(name, 1, None, f"not valid JSON ({exc.args[0] if exc.args else exc})")
        return
    for body in doc if isinstance(doc, list) else [doc]:
        yield from _webhook_body(body, name, 1, validator)


def _webhook_body(body: Any, name: str, line: int, validator: ActionValidator) -> Iterator[Action | Reject | Skip]:
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        yield Reject(name, line, body, 'not a LINE webhook body (expected {"destination": ..., "events": [...]})')
        return
    destination = str(body.get("destination") or "")
    for event in body["events"]:
        yield _webhook_event(event, destination, name, line, validator)


def _webhook_event(event: Any, destination: str, name: str, line: int,
                   validator: ActionValidator) -> Action | Reject | Skip:
    if not isinstance(event, dict):
        return Reject(name, line, event, "webhook event is not a JSON object")
    kind = event.get("type")
    if not isinstance(kind, str) or not kind:
        return Skip("webhook event without a type")
    action = WEBHOOK_ACTIONS.get(kind)
    if action is None:
        return Skip(f"webhook {kind}"[:80])
    if kind == "accountLink":
        link = event.get("link")
        if not isinstance(link, dict) or link.get("result") != "ok":
            return Skip("webhook accountLink not ok")
    source = event.get("source")
    user = source.get("userId") if isinstance(source, dict) else None
    if not user:
        return Skip(f"webhook {kind} without a user ID")
    if not isinstance(user, str) or not LINE_USER_ID.fullmatch(user):
        return Reject(name, line, event, "source.userId must be U followed by 32 lowercase hex characters")
    timestamp = event.get("timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        return Reject(name, line, event, "timestamp must be epoch milliseconds")
    try:
        epoch = validator.parse_time(timestamp)
    except Invalid as exc:
        return Reject(name, line, event, str(exc).replace("occurred_at", "timestamp"))
    event_id = event.get("webhookEventId")
    if not isinstance(event_id, str) or not event_id.strip():
        # Archives before 2022-04 have no webhookEventId (line-api.md section 4).
        event_id = stable_unique_id("webhook", destination, kind, user, str(timestamp))
    properties: dict[str, Any] = {"LINE User ID": user, "Channel": "LINE"}
    follow = event.get("follow")
    if kind == "follow" and isinstance(follow, dict) and isinstance(follow.get("isUnblocked"), bool):
        properties["Unblocked"] = follow["isUnblocked"]
    return Action(action, _WEBHOOK_METRICS[action], user, epoch, iso_utc(epoch), event_id.strip(),
                  properties, name, line, event)
