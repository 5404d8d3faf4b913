"""The terminal chart helper: layout, zero rows, layering, fitting, colour and plain text."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console
from rich.text import Text

from linesync_cli.chart import PALETTE, Series, TimeChart, axis_steps, interval_label

DAYS = [datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=i) for i in range(5)]


def chart(**kw) -> TimeChart:
    return TimeChart(
        DAYS,
        [Series("Total", [4, 0, 10, 1, 0]), Series("Unique", [2, 0, 5, 1, 0])],
        interval="day",
        **kw,
    )


def bar_of(line: str) -> str:
    return line.split("│", 1)[1].rstrip().rstrip("0123456789, ").rstrip()


def test_one_row_per_interval_with_its_date_and_both_values():
    lines = chart().lines(80)
    rows = [ln for ln in lines if "│" in ln]
    assert [r[:14] for r in rows] == ["2026-11-01 Sun", "2026-11-02 Mon", "2026-11-03 Tue", "2026-11-04 Wed", "2026-11-05 Thu"]
    assert rows[2].split()[-2:] == ["10", "5"]
    assert "█ Total" in lines[0] and "▓ Unique" in lines[0]


def test_empty_intervals_are_zero_rows_not_gaps():
    rows = [ln for ln in chart().lines(80) if "│" in ln]
    assert len(rows) == len(DAYS)
    assert bar_of(rows[1]) == "" and rows[1].split()[-2:] == ["0", "0"]


def test_bars_are_proportional_and_smaller_series_is_drawn_on_top():
    rows = [ln for ln in chart().lines(80) if "│" in ln]
    top = bar_of(rows[2])  # 10 total, 5 unique: the axis maximum is 10
    assert set(top) == {"▓", "█"}
    assert top.count("▓") == pytest.approx(top.count("█"), abs=1)
    assert top.index("█") > top.rindex("▓")  # unique sits inside the total bar, from the axis
    # a count of 1 next to 1,000 still gets a cell, so it never reads as zero
    tiny = TimeChart(DAYS[:2], [Series("Total", [1000, 1])]).lines(80)
    assert len(bar_of(tiny[2])) == 1


def test_count_axis_is_labelled_from_zero_to_a_round_maximum():
    lines = chart().lines(80)
    axis, scale = lines[len(DAYS) + 1], lines[len(DAYS) + 2]
    assert axis.strip().startswith("└") and axis.endswith("┤")
    assert scale.split()[0] == "0" and scale.split()[-1] == "10"


@pytest.mark.parametrize("value,expected", [(0, (1.0, 1)), (3, (1.0, 3)), (10, (2.0, 5)), (42, (10.0, 5)), (1200, (200.0, 6))])
def test_axis_steps_are_round(value, expected):
    assert axis_steps(value) == expected


def test_totals_beside_when_wide_and_underneath_when_narrow():
    wide = chart(totals=[("Total", "15"), ("Unique", "7")]).lines(100)
    assert wide[0].endswith("Total   15") and wide[1].endswith("Unique  7")
    narrow = chart(totals=[("Total", "15"), ("Unique", "7")]).lines(50)
    assert narrow[-2:] == ["Total   15", "Unique  7"]
    for width, lines in ((100, wide), (50, narrow)):
        assert max(len(ln) for ln in lines) <= width


@pytest.mark.parametrize("interval,label", [("hour", "2026-11-01 00:00"), ("day", "2026-11-01 Sun"), ("week", "2026-11-01 wk"), ("month", "2026-11")])
def test_interval_labels(interval, label):
    assert interval_label(DAYS[0], interval) == label


def test_terminal_rendering_is_coloured_and_fits_the_console():
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=72, color_system="standard")
    console.print(chart(totals=[("Total", "15")]))
    out = buf.getvalue()
    assert "\x1b[36m█" in out  # Total in its palette colour
    assert PALETTE[0] == ("█", "cyan")
    assert max(len(Text.from_ansi(ln).plain) for ln in out.splitlines()) <= 72


def test_untrusted_labels_are_cleaned():
    c = TimeChart(DAYS[:1], [Series("Total\x1b[31m", [1])], labels=["evil\x1b]0;x\x07"])
    text = "\n".join(c.lines(60))
    assert "\x1b" not in text and "\x07" not in text


def test_mismatched_series_is_a_programming_error():
    with pytest.raises(ValueError):
        TimeChart(DAYS, [Series("Total", [1, 2])])
    with pytest.raises(ValueError):
        TimeChart(DAYS, [Series("Total", [0] * 5)], interval="year")
