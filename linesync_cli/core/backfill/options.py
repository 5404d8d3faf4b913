"""What a backfill run is asked to do, and what identifies it.

A run is recognised in the ledger by its fingerprint: the inputs (path, size, a hash
of their ends), the options that change what is sent, the linkage's identity and
the sink's (the Klaviyo account the events go to). Running the same command again
finds the same fingerprint and resumes.

The time window is one value, `TimeWindow`. Its identity is the window *as typed*
when there is text (`--since 30d` names the same run tomorrow, and a resumed run
keeps the times it started with, stored in the ledger), and the resolved times
otherwise: a library caller that passes only datetimes gets a run of its own for
each window, never an old run with another window.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from linesync_cli.core.backfill.readers import open_input, peeked_stdin
from linesync_cli.errors import InputFileError

# Bytes hashed at each end of an input for its fingerprint.
_END = 1 << 20


@dataclass(frozen=True)
class TimeWindow:
    """--since/--until: the resolved times decide what is sent; the text is how they were asked for."""

    since: datetime | None = None
    until: datetime | None = None
    since_text: str | None = None  # as typed ("30d" resolves to a new time on every run)
    until_text: str | None = None

    @classmethod
    def parse(cls, since: str | None, until: str | None, tz: tzinfo | None = None,
              now: datetime | None = None) -> TimeWindow:
        from linesync_cli.timeutil import parse_when

        return cls(parse_when(since, option="--since", tz=tz, now=now),
                   parse_when(until, option="--until", tz=tz, now=now), since or None, until or None)

    def identity(self) -> dict[str, str | None]:
        """Part of the run's fingerprint (the keys and text form are those of earlier versions)."""
        return {"since": _end_identity(self.since_text, self.since),
                "until": _end_identity(self.until_text, self.until)}

    def resolved(self) -> dict[str, str | None]:
        """The times themselves, stored with the run so that a resumed run keeps them."""
        return {"since_at": self.since.isoformat() if self.since else None,
                "until_at": self.until.isoformat() if self.until else None}

    def pinned(self, stored: dict[str, Any]) -> TimeWindow:
        """This window with the times a resumed run started with ("30d" does not move)."""
        since, until = stored.get("since_at"), stored.get("until_at")
        return replace(self, since=datetime.fromisoformat(since) if since else None,
                       until=datetime.fromisoformat(until) if until else None)

    def bounds(self) -> tuple[float | None, float | None]:
        """Epoch seconds, [since, until)."""
        return (self.since.timestamp() if self.since else None, self.until.timestamp() if self.until else None)


def _end_identity(text: str | None, at: datetime | None) -> str | None:
    if text is not None:
        return text
    return at.isoformat() if at is not None else None


def zone_name(tz: tzinfo | None) -> str | None:
    """The name a zone was given by (ZoneInfo keeps it; the UTC singleton is "UTC")."""
    if tz is None:
        return None
    return getattr(tz, "key", None) or str(tz)


@dataclass(frozen=True)
class BackfillOptions:
    """Everything but where events go (the sink) and how profiles are found (the resolver)."""

    inputs: tuple[str, ...]
    input_format: str | None = None  # csv | jsonl | line-webhook; None detects
    encoding: str = "utf-8"
    timezone: tzinfo | None = None  # for naive timestamps in the input
    window: TimeWindow = TimeWindow()
    only: tuple[str, ...] = ()  # catalogue keys
    limit: int | None = None
    rejects: Path | None = None
    unlinked: Path | None = None
    trigger_flows: bool = False
    restart: bool = False
    workers: int = 16  # the most in flight; the client sizes it below that from rate x latency

    def identity(self) -> dict[str, Any]:
        """The options that change what is sent (part of the run's fingerprint)."""
        return {"format": self.input_format, "encoding": self.encoding, "timezone": zone_name(self.timezone),
                **self.window.identity(), "only": sorted(self.only), "limit": self.limit,
                "trigger_flows": self.trigger_flows}


@dataclass(frozen=True)
class InputFile:
    """One input, checked: it opens, and this is its size and fingerprint (None for standard input)."""

    name: str
    size: int | None
    fingerprint: dict[str, Any]
    empty: bool = False  # holds nothing but white space (after gzip)


_SNIFF = 64 << 10
# What a file that is not text usually is, by its first bytes.
_MAGIC = ((b"\x7fELF", "an executable"), (b"MZ", "an executable"), (b"PK\x03\x04", "a zip archive"),
          (b"%PDF", "a PDF"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
          (b"SQLite format 3\x00", "an SQLite database"), (b"BZh", "a bzip2 file"), (b"\xfd7zXZ", "an xz file"))


def _decompressed_head(head: bytes) -> tuple[bytes, bool]:
    """Up to _SNIFF bytes of the content (gunzipped), and whether that is all of HEAD's content."""
    if head[:2] != b"\x1f\x8b":
        return head[:_SNIFF], len(head) <= _SNIFF
    import zlib

    unzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        sample = unzip.decompress(head, _SNIFF)
    except zlib.error:
        return head[:_SNIFF], False  # a damaged gzip file: the reader says so, with its line
    return sample, unzip.eof and not unzip.unconsumed_tail


def _utf16_or_32(sample: bytes) -> bool:
    if sample.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        return True
    even, odd = sample[0:2048:2], sample[1:2048:2]
    if len(odd) < 8:
        return False
    # ASCII text in UTF-16 has a NUL in every other byte; binary data has them anywhere.
    return (even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd)) or (
        odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even))


_CONTROL_BYTES = frozenset(range(32)) - {9, 10, 11, 12, 13, 27} | {127}


def _binary(sample: bytes) -> bool:
    """A known binary format, or NUL bytes among many other control bytes. One stray NUL in
    a text export is a bad record (the reader rejects it with its line), not a binary file."""
    if any(sample.startswith(magic) for magic, _ in _MAGIC):
        return True
    if b"\x00" not in sample:
        return False
    controls = sum(1 for byte in sample if byte in _CONTROL_BYTES)
    return controls > 0.05 * len(sample)


def check_content(name: str, head: bytes, *, in_pipe: bool = False) -> bool:
    """A text input, or a usage error saying what it is instead; True when it holds no text at all.

    Caught here, before a run exists or an API is called: UTF-16/32 text (the readers
    split lines on bytes) and binary data (a program, an archive, a mistyped name).
    """
    sample, whole = _decompressed_head(head)
    if _utf16_or_32(sample):
        raise InputFileError(f"{name} is UTF-16 (or UTF-32) text; backfill reads UTF-8 or another byte encoding",
                             hint="convert it in the pipe: ... | iconv -f UTF-16 -t UTF-8 | linesync backfill -"
                             if in_pipe else f"convert it first: iconv -f UTF-16 -t UTF-8 {name} > {name}.utf8")
    if _binary(sample):
        what = next((label for magic, label in _MAGIC if sample.startswith(magic)), "binary data")
        raise InputFileError(f"{name} is not text ({what}); backfill reads actions CSV, JSON Lines or "
                             "LINE webhook archives (.gz is decompressed)",
                             hint="check the file name; a zip, bzip2 or xz archive must be unpacked first")
    return whole and len(head) < _END and not sample.lstrip(b"\xef\xbb\xbf").strip()


def check_input(name: str) -> InputFile:
    """Open the input once: fail early (exit 2) if it cannot be read or is not text, else take its
    size and fingerprint.

    The fingerprint is the path, the size and a hash of the first and last MiB:
    cheap, and it catches edits and appends.
    """
    if name == "-":
        return _check_stdin()
    try:
        with open_input(name) as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(_END)
            empty = check_content(name, head)
            h = hashlib.blake2b(head, digest_size=16)
            if size > 2 * _END:
                fh.seek(-_END, os.SEEK_END)
                h.update(fh.read())
            elif size > _END:
                h.update(fh.read())
    except OSError as exc:
        raise InputFileError(f"cannot read {name}: {exc.strerror or exc}") from None
    return InputFile(name, size, {"path": str(Path(name).resolve()), "size": size, "hash": h.hexdigest()}, empty)


def _check_stdin() -> InputFile:
    """Standard input, sniffed like a file from its first bytes (kept for the reader): binary or
    UTF-16 data, a terminal or an empty pipe are known before a run exists."""
    import sys

    if sys.stdin.isatty():
        raise InputFileError("standard input is a terminal; backfill - reads records piped in",
                             hint="pipe the file in, e.g. zcat export.csv.gz | linesync backfill -")
    head = peeked_stdin().peek_head(_SNIFF + 1)  # one byte more than the sniff: is that all of it?
    empty = check_content("standard input", head, in_pipe=True)
    return InputFile("-", None, {"path": "-"}, empty)


def check_inputs(names: tuple[str, ...] | list[str]) -> tuple[InputFile, ...]:
    """Every input must be readable before anything is sent or recorded."""
    return tuple(check_input(name) for name in names)


def run_fingerprint(opts: BackfillOptions, inputs: tuple[InputFile, ...], linkage: str, destination: str) -> str:
    """The run's identity: inputs, options, the linkage's identity and the sink's.

    The document is the one earlier versions hashed, so a run they started resumes.
    Batches are recognised by the hash of their body, so even a run resumed after
    the linkage changed sends every event that was not accepted exactly as it is now.
    """
    doc = {"inputs": [i.fingerprint for i in inputs], "options": opts.identity() | {"linkage": linkage},
           "klaviyo": destination}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
