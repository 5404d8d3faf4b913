"""Streaming readers for actions files (CSV, JSON Lines) and LINE webhook archives.

Every reader yields `Action`, `Reject` or `Skip` items one record at a time, so
memory does not grow with the input. gzip is recognised by its magic bytes (so
`.gz` on standard input works too); a truncated or corrupt gzip stream becomes one
rejected record naming the file and the line where it broke, and the run goes on.

Text is decoded by io.TextIOWrapper (fast, in C). Bytes that are not valid in the
chosen encoding are kept as lone surrogates by an error handler that also notes
that it was called; only then are records checked for them, and such a record is
rejected on its own rather than stopping the file.

One exception to streaming: a webhook archive stored as a single JSON document
(one body, or an array of bodies) must be parsed whole; JSON Lines archives stream.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
import json
import os
import re
import sys
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from linesync_cli.core.backfill.records import (
    OPTIONAL_PROPERTIES,
    Action,
    CsvRecord,
    Reject,
    Skip,
    new_csv_record,
    properties_json,
)
from linesync_cli.core.backfill.validate import LINE_USER_ID, ActionValidator, Invalid, stable_unique_id
from linesync_cli.errors import InputFileError, UsageError

REQUIRED_FIELDS = ("action", "line_user_id", "occurred_at")
_GZIP_MAGIC = b"\x1f\x8b"
# Webhook event type -> (catalogue action key, Klaviyo event name) (line-api.md section 3).
WEBHOOK_ACTIONS = {
    "follow": ("followed", "Followed LINE Account"),
    "unfollow": ("blocked", "Blocked LINE Account"),
    "accountLink": ("linked", "Linked LINE Identity"),
}
_SURROGATE = re.compile("[\udc80-\udcff]")
_READ_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile, OSError, UnicodeError)
# Large enough for any field Klaviyo could take (100 KB) plus slack, so an
# over-long field is rejected by validation with a clear reason, not by csv.
csv.field_size_limit(max(csv.field_size_limit(), 16 * 1024 * 1024))

_decode_errors = [0]  # how often the handler below ran; readers compare before/after


def _note_and_escape(exc: UnicodeError) -> tuple[str, int]:
    _decode_errors[0] += 1
    # Only ever called while decoding, where surrogateescape returns text.
    return codecs.lookup_error("surrogateescape")(exc)  # type: ignore[return-value]


codecs.register_error("linesync-note", _note_and_escape)


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
    return str(key).strip().lstrip("\ufeff").strip().lower().replace(" ", "_").replace("-", "_")


class Source:
    """One input (a file or standard input), as decoded lines."""

    def __init__(self, name: str, raw: BinaryIO, encoding: str, size: int | None) -> None:
        self.name = name  # as given on the command line ("-" for standard input)
        self.encoding = encoding
        self.size = size  # bytes on disk, None for standard input
        self.raw: Any = raw if hasattr(raw, "peek") else io.BufferedReader(raw)
        self.compressed = self.raw.peek(2)[:2] == _GZIP_MAGIC
        binary = io.BufferedReader(gzip.GzipFile(fileobj=self.raw), 1 << 20) if self.compressed else self.raw
        # utf-8-sig drops a byte order mark; newline="" keeps CRLF for csv to handle.
        self.text = io.TextIOWrapper(binary, encoding="utf-8-sig" if encoding == "utf-8" else encoding,
                                     errors="linesync-note", newline="")
        self.error: str | None = None  # set when the stream broke off (truncated gzip)
        self.lines_read = 0
        self.errors_before = _decode_errors[0]
        self.closed = False

    @property
    def display(self) -> str:
        return "<stdin>" if self.name == "-" else self.name

    @property
    def had_bad_bytes(self) -> bool:
        return _decode_errors[0] != self.errors_before

    def position(self) -> int:
        """Bytes of the (possibly compressed) input consumed so far, for progress."""
        try:
            return self.raw.tell()
        except (OSError, ValueError):
            return 0

    def broke(self, exc: BaseException, line: int) -> None:
        """The stream could not be read past `line` (truncated gzip, disk error, bad codec state)."""
        what = "the gzip data ends early" if isinstance(exc, EOFError) else f"cannot read further ({exc})"
        self.error = f"{what} after line {line}; the rest of the file could not be read"
        self.lines_read = line

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.name != "-":
            self.text.close()
            return
        # Standard input stays open for whoever comes next; a gzip layer over it is ours.
        binary = self.text.detach()
        if self.compressed:
            binary.close()


def open_input(name: str, buffering: int = -1) -> BinaryIO:
    """An input file opened for reading bytes; an unreadable one is a usage error (exit 2)."""
    try:
        return open(name, "rb", buffering=buffering)  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        raise InputFileError(f"input file {name} does not exist", hint="check the path") from None
    except IsADirectoryError:
        shown = name.rstrip("/")
        raise InputFileError(f"{name} is a directory, not an input file",
                             hint=f"give the files in it, e.g. {shown}/*.csv or {shown}/*.jsonl") from None
    except OSError as exc:
        raise InputFileError(f"cannot open {name}: {exc.strerror or exc}") from None


class _PeekedStdin(io.RawIOBase):
    """Standard input whose first bytes were read ahead (to sniff them) and are read again first.

    A pipe cannot seek back and BufferedReader.peek returns at most one read's worth, so
    the sniffed head is kept here: a bounded amount, never all of standard input.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.head = b""
        self._pos = 0
        self._eof = False

    def peek_head(self, size: int) -> bytes:
        """The first SIZE bytes (fewer at the end of input), without consuming them."""
        read = getattr(self.stream, "read1", self.stream.read)
        while len(self.head) < size and not self._eof:
            chunk = read(size - len(self.head))
            self._eof = not chunk
            self.head += chunk
        return self.head[:size]

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """Kept open: standard input is not ours to close, and a second `-` reads on from here."""

    def readinto(self, buffer: Any) -> int:
        if self._pos < len(self.head):
            data = self.head[self._pos:self._pos + len(buffer)]
            self._pos += len(data)
        else:
            data = getattr(self.stream, "read1", self.stream.read)(len(buffer))
        buffer[:len(data)] = data
        return len(data)


_peeked_stdin: list[_PeekedStdin] = []  # the one for the current sys.stdin (tests swap it per run)


def peeked_stdin() -> _PeekedStdin:
    """Standard input as bytes, peekable; the same object for every caller while sys.stdin is the same."""
    stream = sys.stdin.buffer
    if not _peeked_stdin or _peeked_stdin[0].stream is not stream:
        _peeked_stdin[:] = [_PeekedStdin(stream)]
    return _peeked_stdin[0]


def open_source(name: str, encoding: str) -> Source:
    if name == "-":
        return Source(name, io.BufferedReader(peeked_stdin(), 1 << 20), encoding, None)
    fh = open_input(name, 1 << 20)
    try:
        return Source(name, fh, encoding, os.fstat(fh.fileno()).st_size)
    except OSError as exc:
        fh.close()
        raise InputFileError(f"cannot read {name}: {exc.strerror or exc}") from None


def detect_format(first_line: str) -> str:
    """csv, jsonl or line-webhook, from the first non-blank line."""
    if first_line.startswith("["):
        return "line-webhook"
    if first_line.startswith("{"):
        try:
            obj = json.loads(first_line)
        except (ValueError, RecursionError):
            return "line-webhook"  # a pretty-printed JSON document: webhook bodies
        if isinstance(obj, dict) and ("events" in obj or "destination" in obj):
            return "line-webhook"
        return "jsonl"
    return "csv"


def read_source(source: Source, validator: ActionValidator, fmt: str | None = None) -> Iterator[Action | Reject | Skip]:
    """Every record of one source; the format is detected unless given."""
    for items, _ in read_chunks(source, validator, fmt):
        yield from items


# Records per chunk from read_chunks: the pipeline's safe points (a requested stop, progress) come
# between chunks, so this bounds how long they wait. The pipeline gathers 4 chunks to de-duplicate.
CHUNK = 250


def read_chunks(source: Source, validator: ActionValidator, fmt: str | None = None,
                size: int = CHUNK) -> Iterator[tuple[list[Action | Reject | Skip], bool]]:
    """The records of one source in order, as (up to `size` items, whether all are actions).

    Chunks, not single records, so the pipeline's per-record work runs in tight loops
    over lists rather than through a generator step and a type test per record.
    """
    head: list[str] = []
    first = ""
    try:
        for text in source.text:
            head.append(text)
            if text.strip():
                first = text.strip()
                break
    except _READ_ERRORS as exc:
        source.broke(exc, len(head))
    if first and source.error is None:
        kind = fmt or detect_format(first)
        # itertools.chain, not a generator: this is iterated once per line.
        stream = itertools.chain(head, source.text)
        if kind == "csv":
            yield from _read_csv(source, stream, validator, size)
        else:
            items = (_read_jsonl(source, stream, validator) if kind == "jsonl"
                     else _read_webhooks(source, stream, validator, first))
            yield from _chunked(items, size)
    if source.error:
        yield [Reject(source.display, source.lines_read + 1, None, source.error)], False


def _chunked(items: Iterator[Action | Reject | Skip], size: int) -> Iterator[tuple[list[Action | Reject | Skip], bool]]:
    while True:
        chunk = list(itertools.islice(items, size))
        if not chunk:
            return
        yield chunk, all(type(i) is Action for i in chunk)


def _decode_reason(source: Source) -> str:
    return (f"not valid {source.encoding} text"
            + (" (spreadsheet exports from Japan are often cp932: try --encoding cp932)" if source.encoding == "utf-8" else ""))


def _read_csv(source: Source, lines: Iterator[str], validator: ActionValidator,
              size: int) -> Iterator[tuple[list[Action | Reject | Skip], bool]]:
    reader = csv.reader(lines)
    name = source.display
    try:
        header = next(reader)
        # Blank lines before the header (a spreadsheet's empty first rows) are skipped like
        # blank lines between records; line numbers stay the file's own.
        while not any(field.strip() for field in header):
            header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise InputFileError(f"{name}: cannot read the CSV header ({exc})") from None
    except _READ_ERRORS as exc:
        source.broke(exc, 0)
        return
    keys = [normalise_key(h) for h in header]
    missing = [f for f in REQUIRED_FIELDS if f not in keys]
    if missing:
        raise InputFileError(
            f"{name}: the CSV header has no {', '.join(missing)} column",
            hint="an actions CSV needs a header row with action, line_user_id and occurred_at "
                 "(or pass --input-format if the format was misdetected)",
        )
    width = len(keys)
    i_action, i_user, i_time = (keys.index(f) for f in REQUIRED_FIELDS)
    i_event = keys.index("event_id") if "event_id" in keys else None
    present = [(keys.index(field), field, prop) for field, prop in OPTIONAL_PROPERTIES if field in keys]
    build = validator.build
    new_record = new_csv_record
    decode_errors, errors_before = _decode_errors, source.errors_before
    line_end = reader.line_num
    out: list[Action | Reject | Skip] = []
    append = out.append
    pure = True  # out holds only actions
    while True:  # restarted after a malformed row; a for loop is the fast path
        try:
            for row in reader:
                start, line_end = line_end + 1, reader.line_num
                if len(row) != width:
                    if not row or (len(row) == 1 and not row[0].strip()):
                        continue  # a blank line
                    append(Reject(name, start, CsvRecord(header, row), f"has {len(row)} fields, the header has {width}"))
                    pure = False
                else:
                    record = new_record(CsvRecord, (header, row))
                    if decode_errors[0] != errors_before and any(_SURROGATE.search(f) for f in row):
                        append(Reject(name, start, record, _decode_reason(source)))
                        pure = False
                    else:
                        try:
                            append(build(row[i_action], row[i_user], row[i_time], row, present,
                                         row[i_event] if i_event is not None else None, name, start, record))
                        except Invalid as exc:
                            append(Reject(name, start, record, str(exc)))
                            pure = False
                if len(out) >= size:
                    yield out, pure
                    out, pure = [], True
                    append = out.append
            if out:
                yield out, pure
            return
        except csv.Error as exc:
            start, line_end = line_end + 1, reader.line_num
            append(Reject(name, start, None, f"malformed CSV ({exc})"))
            pure = False
        except _READ_ERRORS as exc:
            source.broke(exc, line_end)
            if out:
                yield out, pure
            return


def _json_line(source: Source, number: int, text: str) -> tuple[Any, Reject | None]:
    if source.had_bad_bytes and _SURROGATE.search(text):
        return None, Reject(source.display, number, text.rstrip("\r\n").encode("utf-8", "backslashreplace").decode(),
                            _decode_reason(source))
    try:
        obj = json.loads(text)
    except ValueError as exc:
        return None, Reject(source.display, number, text.rstrip("\r\n"),
                            f"not valid JSON ({exc.args[0] if exc.args else exc})")
    except RecursionError:
        return None, Reject(source.display, number, text.rstrip("\r\n")[:1000], "JSON nested too deeply")
    # A \ud800-\udfff escape without its pair decodes to a lone surrogate, which no
    # request body can carry (UTF-8 has no encoding for it): this record, not the run.
    if ("\\ud" in text or "\\uD" in text) and _has_lone_surrogate(obj):
        return None, Reject(source.display, number, text.rstrip("\r\n"),
                            "holds a \\ud800-\\udfff escape without its pair (not valid Unicode text)")
    return obj, None


def _has_lone_surrogate(obj: Any) -> bool:
    try:
        json.dumps(obj, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    except (ValueError, RecursionError):
        return False  # nested too deeply to check here: validation has its own limits
    return False


def _numbered(source: Source, lines: Iterator[str]) -> Iterator[tuple[int, str]]:
    """(line number, text), noting where the stream broke off."""
    number = 0
    try:
        for number, text in enumerate(lines, 1):  # noqa: B007 - number is used after the loop
            yield number, text
    except _READ_ERRORS as exc:
        source.broke(exc, number)


def _read_jsonl(source: Source, lines: Iterator[str], validator: ActionValidator) -> Iterator[Action | Reject | Skip]:
    name = source.display
    for number, text in _numbered(source, lines):
        if not text.strip():
            continue
        obj, reject = _json_line(source, number, text)
        if reject is not None:
            yield reject
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
    try:
        json.loads(first)
        one_per_line = first.startswith("{")
    except (ValueError, RecursionError):
        one_per_line = False
    if one_per_line:
        for number, text in _numbered(source, lines):
            if not text.strip():
                continue
            body, reject = _json_line(source, number, text)
            if reject is not None:
                yield reject
                continue
            yield from _webhook_body(body, name, number, validator)
        return
    # One JSON document: a body or an array of bodies (read whole).
    text = "".join(t for _, t in _numbered(source, lines))
    if source.error:
        return
    doc, reject = _json_line(source, 1, text)
    if reject is not None:
        yield Reject(name, 1, None, reject.reason)
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
    mapped = WEBHOOK_ACTIONS.get(kind)
    if mapped is None:
        return Skip(f"webhook {kind[:60]}")
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
    extra: list[tuple[str, Any]] = []
    follow = event.get("follow")
    if kind == "follow" and isinstance(follow, dict) and isinstance(follow.get("isUnblocked"), bool):
        extra.append(("Unblocked", follow["isUnblocked"]))
    key, metric = mapped
    return Action(key, metric, user, epoch, event_id.strip(), properties_json(user, extra), name, line, event)
