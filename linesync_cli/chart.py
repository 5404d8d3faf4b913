"""Counts over time as a horizontal bar chart for a terminal, with totals beside it.

One row per interval (the interval's date on the left), one bar per series drawn in
layers (the smaller value on top, so a Unique bar sits inside its Total bar, and a
funnel's Clicked inside its Opened), the values in columns on the right and a
labelled count axis underneath. Horizontal rows keep every date readable however
many intervals there are, and stay legible without colour (each series has its own
glyph). Built on Rich only: no plotting dependency.

Use:

    chart = TimeChart(starts, [Series("Total", counts), Series("Unique", uniques)],
                      interval="day", totals=[("Total", "1,234"), ("Unique", "56")])
    console.print(chart)          # styled, fits the console width
    chart.lines(width=80)         # the same chart as plain text lines

`starts` are the intervals' start times, already in the zone to show. Only the
output layer (commands, render) should import this module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from linesync_cli.render import clean

INTERVALS = ("hour", "day", "week", "month")

# (glyph, Rich style) per series, in order; the glyph alone tells series apart
# when there is no colour.
PALETTE: tuple[tuple[str, str], ...] = (
    ("█", "cyan"),
    ("▓", "magenta"),
    ("▒", "green"),
    ("░", "yellow"),
    ("■", "blue"),
    ("▪", "red"),
)
AXIS_STYLE = "dim"
_GAP = "   "  # between the chart and the totals beside it
_BESIDE_MIN_BAR = 24


@dataclass(frozen=True)
class Series:
    """One measurement over time: a name for the legend and one value per interval."""

    name: str
    values: Sequence[float]


def interval_label(start: datetime, interval: str) -> str:
    """How an interval is named on the chart's date axis."""
    if interval == "hour":
        return start.strftime("%Y-%m-%d %H:00")
    if interval == "week":
        return start.strftime("%Y-%m-%d wk")
    if interval == "month":
        return start.strftime("%Y-%m")
    return start.strftime("%Y-%m-%d %a")


def number(value: float) -> str:
    """Counts with thousands separators; fractions (sums) with up to two decimals."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def axis_steps(value: float, max_ticks: int = 6) -> tuple[float, int]:
    """A round tick step (1, 2, 2.5 or 5 times a power of ten, at least 1) and how many
    steps reach `value`: the count axis runs from 0 to step * n, with n <= max_ticks."""
    if value <= 0:
        return 1.0, 1
    best: tuple[float, int] | None = None
    exp = max(0, math.floor(math.log10(value / max_ticks)) - 1)
    for power in range(exp, exp + 3):
        for base in (1, 2, 2.5, 5):
            step = base * 10**power
            if step < 1 or (base == 2.5 and power == 0):
                continue  # counts are whole numbers
            n = math.ceil(value / step)
            if n <= max_ticks and (best is None or step * n < best[0] * best[1]):
                best = (float(step), n)
    assert best is not None
    return best


Segment = tuple[str, str | None]  # text and Rich style


class TimeChart:
    """A horizontal bar chart of one or more series over the same intervals."""

    def __init__(
        self,
        starts: Sequence[datetime],
        series: Sequence[Series],
        *,
        interval: str = "day",
        totals: Sequence[tuple[str, str]] = (),
        labels: Sequence[str] | None = None,
        min_bar: int = 10,
    ) -> None:
        if interval not in INTERVALS:
            raise ValueError(f"interval must be one of {', '.join(INTERVALS)}")
        if not series:
            raise ValueError("a chart needs at least one series")
        if len(series) > len(PALETTE):
            raise ValueError(f"at most {len(PALETTE)} series")
        for s in series:
            if len(s.values) != len(starts):
                raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(starts)} intervals")
        if labels is not None and len(labels) != len(starts):
            raise ValueError("one label per interval")
        self.starts = list(starts)
        self.series = list(series)
        self.interval = interval
        self.totals = [(clean(k), clean(v)) for k, v in totals]
        self.labels = [clean(x) for x in labels] if labels is not None else [interval_label(s, interval) for s in starts]
        self.min_bar = min_bar

    # -- layout --------------------------------------------------------------
    def _value_widths(self) -> list[int]:
        # Wide enough for the legend's "glyph name" above the column.
        return [max([len(clean(s.name)) + 2] + [len(number(v)) for v in s.values]) for s in self.series]

    def _totals_width(self) -> int:
        if not self.totals:
            return 0
        key_w = max(len(k) for k, _ in self.totals)
        val_w = max(len(v) for _, v in self.totals)
        return key_w + 2 + val_w

    def _bar_width(self, width: int, beside: bool) -> int:
        label_w = max([len(x) for x in self.labels] + [0])
        values_w = sum(w + 2 for w in self._value_widths())
        used = label_w + 2 + values_w  # "label │bar  values"
        if beside:
            used += len(_GAP) + self._totals_width()
        return width - used

    def segments(self, width: int = 80) -> list[list[Segment]]:
        """The chart as lines of styled segments, fitted to `width` columns."""
        # Totals go beside the chart when that leaves the bars room, else underneath.
        beside = bool(self.totals) and self._bar_width(width, True) >= max(self.min_bar, _BESIDE_MIN_BAR)
        bar_w = max(self._bar_width(width, beside), self.min_bar)
        label_w = max([len(x) for x in self.labels] + [0])
        value_ws = self._value_widths()
        step, n_steps = axis_steps(max([v for s in self.series for v in s.values] + [0]))
        top = step * n_steps

        def cells(value: float) -> int:
            if value <= 0:
                return 0
            # Any non-zero value gets at least one cell, so it never looks like a zero.
            return max(1, min(bar_w, round(value / top * bar_w)))

        lines: list[list[Segment]] = []
        legend: list[Segment] = [(" " * (label_w + 2 + bar_w), None)]
        for i, s in enumerate(self.series):
            glyph, style = PALETTE[i]
            name = clean(s.name)
            legend += [("  " + " " * (value_ws[i] - len(name) - 2), None), (glyph + " ", style), (name, "bold")]
        lines.append(legend)

        for row, label in enumerate(self.labels):
            # Paint largest first so each cell shows the smallest series covering it.
            painted: list[int | None] = [None] * bar_w
            order = sorted(range(len(self.series)), key=lambda i: -self.series[i].values[row])
            for i in order:
                for c in range(cells(self.series[i].values[row])):
                    painted[c] = i
            line: list[Segment] = [(label.ljust(label_w) + " ", None), ("│", AXIS_STYLE)]
            run_start = 0
            for c in range(1, bar_w + 1):
                if c == bar_w or painted[c] != painted[run_start]:
                    owner = painted[run_start]
                    text = (PALETTE[owner][0] if owner is not None else " ") * (c - run_start)
                    line.append((text, PALETTE[owner][1] if owner is not None else None))
                    run_start = c
            for i, s in enumerate(self.series):
                line.append(("  " + number(s.values[row]).rjust(value_ws[i]), None))
            lines.append(line)

        # Count axis: a tick per step, labels centred under them when there is room.
        ticks = [round(bar_w * k / n_steps) for k in range(n_steps + 1)]
        rule = ["─"] * (bar_w + 1)
        rule[0] = "└"
        for t in ticks[1:]:
            rule[t] = "┬"
        rule[-1] = "┤"
        lines.append([(" " * label_w + " ", None), ("".join(rule), AXIS_STYLE)])
        scale = [" "] * (bar_w + 12)
        for k, t in enumerate(ticks):
            text = number(step * k)
            pos = max(0, min(t - len(text) // 2, len(scale) - len(text)))
            if any(ch != " " for ch in scale[max(0, pos - 1):pos + len(text) + 1]):
                continue  # would run into its neighbour
            scale[pos:pos + len(text)] = list(text)
        lines.append([(" " * label_w + " ", None), ("".join(scale).rstrip(), AXIS_STYLE)])

        if self.totals:
            key_w = max(len(k) for k, _ in self.totals)
            total_lines = [[(k.ljust(key_w) + "  ", "bold"), (v, None)] for k, v in self.totals]
            if beside:
                chart_w = label_w + 2 + bar_w + sum(w + 2 for w in value_ws)
                for n, extra in enumerate(total_lines):
                    while len(lines) <= n:
                        lines.append([(" " * chart_w, None)])
                    pad = chart_w - sum(len(t) for t, _ in lines[n])
                    lines[n] = lines[n] + [(" " * pad + _GAP, None)] + extra
            else:
                lines.append([("", None)])
                lines.extend(total_lines)
        return lines

    def lines(self, width: int = 80) -> list[str]:
        """Plain text: exactly the terminal chart without colour, trailing spaces trimmed."""
        return ["".join(text for text, _ in line).rstrip() for line in self.segments(width)]

    # -- Rich ----------------------------------------------------------------
    def __rich_console__(self, console, options):
        from rich.text import Text

        for line in self.segments(options.max_width):
            text = Text(no_wrap=True, overflow="crop")
            for part, style in line:
                text.append(part, style=style or "")
            text.rstrip()
            yield text
