"""Small server-side charts: labels and numbers in, inline SVG out (no script, no style)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

ROW_HEIGHT = 22  # one bar's row
LABEL_WIDTH = 160  # the column of labels left of the bars, at least
LABEL_CHAR_WIDTH = 7  # about what one character of a 12px sans-serif label takes
BAR_WIDTH = 360  # the longest bar
VALUE_WIDTH = 90  # the column of values right of the bars
GAP = 6  # between two bars of one group, and between label, bars and value
COLORS = ("#2563eb", "#16a34a", "#d97706", "#9333ea")


@dataclass(frozen=True)
class Series:
    """One set of numbers to draw: one bar per label."""

    name: str
    values: Sequence[float]
    color: str = COLORS[0]


def percent(value: float) -> str:
    """A rate as a percentage with one decimal: 0.1234 -> "12.3%"."""
    return f"{value * 100:.1f}%"


def plain(value: float) -> str:
    """A count as it is, without a trailing ".0"."""
    return f"{value:g}" if value != int(value) else str(int(value))


def label_width(labels: Sequence[str]) -> int:
    """The column of labels: wide enough for the longest, so none is cut off at the left."""
    return max([LABEL_WIDTH, *(LABEL_CHAR_WIDTH * len(label) + GAP for label in labels)])


def bar_length(value: float, largest: float, width: float = BAR_WIDTH) -> float:
    """A bar's length, proportional to the largest value (0 for nothing, never negative)."""
    if largest <= 0 or value <= 0:
        return 0.0
    return round(min(value, largest) / largest * width, 2)


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    fmt: Callable[[float], str] = plain,
    maximum: float | None = None,
) -> Markup:
    """Horizontal grouped bars: per label, one bar for each series, with its value beside it."""
    for one in series:
        if len(one.values) != len(labels):
            raise ValueError(f"series {one.name!r} has {len(one.values)} values for {len(labels)}")
    largest = (
        maximum
        if maximum is not None
        else max((value for one in series for value in one.values), default=0.0)
    )
    group = len(series) * ROW_HEIGHT + GAP
    legend = ROW_HEIGHT if len(series) > 1 else 0
    height = legend + len(labels) * group + GAP
    label_x = label_width(labels)
    width = label_x + BAR_WIDTH + VALUE_WIDTH + 2 * GAP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
    ]
    if legend:
        x = label_x + GAP
        for one in series:
            parts.append(
                f'<rect x="{x}" y="4" width="12" height="12" fill="{escape(one.color)}"/>'
                f'<text x="{x + 16}" y="14">{escape(one.name)}</text>'
            )
            x += 16 + 8 * len(one.name) + 16
    for index, label in enumerate(labels):
        top = legend + GAP + index * group
        parts.append(
            f'<text x="{label_x}" y="{top + len(series) * ROW_HEIGHT / 2 + 4}" '
            f'text-anchor="end">{escape(label)}</text>'
        )
        for row, one in enumerate(series):
            value = one.values[index]
            y = top + row * ROW_HEIGHT
            length = bar_length(value, largest)
            parts.append(
                f"<g><title>{escape(label)}, {escape(one.name)}: {escape(fmt(value))}</title>"
                f'<rect x="{label_x + GAP}" y="{y + 2}" width="{length}" '
                f'height="{ROW_HEIGHT - 4}" fill="{escape(one.color)}"/>'
                f'<text x="{label_x + 2 * GAP + length}" y="{y + ROW_HEIGHT / 2 + 4}">'
                f"{escape(fmt(value))}</text></g>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def funnel_chart(
    title: str, steps: Sequence[str], reached: Sequence[int], dropped: Sequence[int]
) -> Markup:
    """A funnel: per step, one bar of the people who reached it, the part who left there shaded."""
    if not len(steps) == len(reached) == len(dropped):
        raise ValueError("steps, reached and dropped need one value each per step")
    largest = max(reached, default=0)
    label_x = label_width(steps)
    width = label_x + BAR_WIDTH + VALUE_WIDTH * 2 + 2 * GAP
    height = ROW_HEIGHT + len(steps) * ROW_HEIGHT + GAP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{label_x + GAP}" y="4" width="12" height="12" fill="{COLORS[0]}"/>'
        f'<text x="{label_x + GAP + 16}" y="14">reached</text>'
        f'<rect x="{label_x + GAP + 90}" y="4" width="12" height="12" fill="{COLORS[2]}"/>'
        f'<text x="{label_x + GAP + 106}" y="14">dropped out</text>',
    ]
    for index, step in enumerate(steps):
        y = ROW_HEIGHT + index * ROW_HEIGHT
        came, left = max(reached[index], 0), max(dropped[index], 0)
        full = bar_length(came, largest)
        part = bar_length(min(left, came), largest)
        stayed = round(full - part, 2)
        parts.append(
            f"<g><title>{escape(step)}: {came} reached, {left} dropped out</title>"
            f'<text x="{label_x}" y="{y + ROW_HEIGHT / 2 + 4}" text-anchor="end">'
            f"{escape(step)}</text>"
            f'<rect x="{label_x + GAP}" y="{y + 2}" width="{stayed}" '
            f'height="{ROW_HEIGHT - 4}" fill="{COLORS[0]}"/>'
            f'<rect x="{label_x + GAP + stayed}" y="{y + 2}" width="{part}" '
            f'height="{ROW_HEIGHT - 4}" fill="{COLORS[2]}"/>'
            f'<text x="{label_x + 2 * GAP + full}" y="{y + ROW_HEIGHT / 2 + 4}">'
            f"{came} reached, {left} left</text></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
