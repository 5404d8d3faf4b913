"""The one progress helper: plain lines paced off a terminal, a transient bar on one."""

from __future__ import annotations

import io

from rich.console import Console

from linesync_cli.progress import ProgressLine


def test_plain_lines_are_paced_and_labelled_off_a_terminal():
    out = io.StringIO()
    now = [0.0]
    with ProgressLine(Console(file=out, force_terminal=False, width=40), "links sync", plain_every=10.0,
                      clock=lambda: now[0]) as line:
        for t, text in ((1.0, "early"), (10.0, "first"), (15.0, "too soon"), (21.0, "second")):
            now[0] = t
            line.update(text)
    # Not wrapped at 40 columns either: the whole line stays copyable.
    long = "x" * 60
    with ProgressLine(Console(file=out, force_terminal=False, width=40), "backfill", plain_every=0.0) as line:
        line.update(long)
    assert out.getvalue().splitlines() == ["links sync: first", "links sync: second", f"backfill: {long}"]


def test_a_terminal_gets_a_bar_that_leaves_no_line_behind():
    out = io.StringIO()
    with ProgressLine(Console(file=out, force_terminal=True, width=80), "backfill", with_bar=True) as line:
        line.update("12 records read", completed=5, total=10)
    text = out.getvalue()
    assert "\r" in text or "\x1b" in text  # redrawn in place
    assert "backfill: " not in text  # no plain lines on a terminal
