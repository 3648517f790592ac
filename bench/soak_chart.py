"""The soak test's chart: each process's RSS over time, as a hand-written SVG line chart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

WIDTH, HEIGHT = 900, 420
LEFT, RIGHT, TOP, BOTTOM = 60, 230, 44, 50  # margins: the legend sits on the right
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")

Points = Sequence[tuple[float, float]]  # (seconds since the start, MB)


def rss_chart(series: Mapping[str, Points], *, warmup_s: float, limit_mb: float) -> str:
    """An SVG with one line per process, the end of warm-up and the web workers' limit dashed."""
    points = [point for line in series.values() for point in line]
    last_s = max((seconds for seconds, _ in points), default=1.0) or 1.0
    top_mb = max([limit_mb, *(mb for _, mb in points)]) * 1.1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(seconds: float) -> float:
        return LEFT + plot_w * seconds / last_s

    def y(mb: float) -> float:
        return TOP + plot_h * (1 - mb / top_mb)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{LEFT}" y="18" font-size="14">RSS per process (MB) over the run (s)</text>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" '
        'stroke="black"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="black"/>',
    ]
    for tick in range(5):
        mb, seconds = top_mb * tick / 4, last_s * tick / 4
        parts.append(f'<text x="{LEFT - 6}" y="{y(mb) + 4:.1f}" text-anchor="end">{mb:.0f}</text>')
        parts.append(
            f'<text x="{x(seconds):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">'
            f"{seconds:.0f}</text>"
        )
    parts.append(_dashed(x(warmup_s), TOP, x(warmup_s), TOP + plot_h, "end of warm-up"))
    parts.append(
        _dashed(LEFT, y(limit_mb), LEFT + plot_w, y(limit_mb), f"web worker limit {limit_mb:.0f}")
    )
    for index, (name, line) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        path = " ".join(f"{x(seconds):.1f},{y(mb):.1f}" for seconds, mb in line)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}"/>'
        )
        legend_y = TOP + 16 * index
        parts.append(
            f'<rect x="{LEFT + plot_w + 16}" y="{legend_y}" width="12" height="3" '
            f'fill="{colour}"/><text x="{LEFT + plot_w + 34}" y="{legend_y + 5}">'
            f"{escape(name)}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _dashed(x1: float, y1: float, x2: float, y2: float, label: str) -> str:
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="grey" '
        f'stroke-dasharray="4 3"/><text x="{x1 + 4:.1f}" y="{y1 - 4:.1f}" fill="grey">'
        f"{escape(label)}</text>"
    )
