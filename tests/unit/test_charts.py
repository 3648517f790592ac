"""The SVG charts: proportional bars, escaped text, accessible titles."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from bot.web.charts import BAR_WIDTH, Series, bar_chart, bar_length, funnel_chart, percent, plain

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(
    ("value", "largest", "length"),
    [
        (10, 10, BAR_WIDTH),
        (5, 10, BAR_WIDTH / 2),
        (1, 3, round(BAR_WIDTH / 3, 2)),
        (0, 10, 0.0),
        (0, 0, 0.0),
        (-4, 10, 0.0),
        (20, 10, BAR_WIDTH),  # never longer than the chart
    ],
)
def test_bar_length_is_proportional(value: float, largest: float, length: float) -> None:
    assert bar_length(value, largest) == length


@pytest.mark.parametrize(
    ("fmt", "value", "text"),
    [(percent, 0.1234, "12.3%"), (percent, 0, "0.0%"), (plain, 3.0, "3"), (plain, 2.5, "2.5")],
)
def test_value_formats(fmt: object, value: float, text: str) -> None:
    assert fmt(value) == text  # type: ignore[operator]


def widths(svg: str) -> list[float]:
    root = ET.fromstring(svg)
    return [
        float(rect.get("width", 0))
        for rect in root.iter(f"{SVG}g")
        for rect in rect.iter(f"{SVG}rect")
    ]


def test_bar_chart_draws_one_bar_per_value_sized_to_the_largest() -> None:
    svg = bar_chart(
        "Rates",
        ["a", "b"],
        [Series("conversion", [0.2, 0.1]), Series("click", [0.4, 0.0], "#000")],
        fmt=percent,
    )
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag == f"{SVG}svg"
    assert root.find(f"{SVG}title").text == "Rates"  # type: ignore[union-attr]
    assert widths(svg) == [BAR_WIDTH / 2, BAR_WIDTH, BAR_WIDTH / 4, 0.0]
    titles = [title.text for title in root.iter(f"{SVG}title")]
    assert titles[1:] == [
        "a, conversion: 20.0%",
        "a, click: 40.0%",
        "b, conversion: 10.0%",
        "b, click: 0.0%",
    ]
    assert "style" not in svg and "<script" not in svg  # nothing the inbox's CSP would block


def test_a_fixed_maximum_scales_the_bars() -> None:
    svg = bar_chart("Rates", ["a"], [Series("x", [0.25])], fmt=percent, maximum=1.0)
    assert widths(svg) == [BAR_WIDTH / 4]


def test_an_empty_chart_is_still_valid_svg() -> None:
    assert ET.fromstring(bar_chart("Nothing", [], [Series("x", [])])).tag == f"{SVG}svg"
    assert ET.fromstring(funnel_chart("Nothing", [], [], [])).tag == f"{SVG}svg"


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="has 1 values for 2"):
        bar_chart("x", ["a", "b"], [Series("s", [1])])
    with pytest.raises(ValueError, match="one value each"):
        funnel_chart("x", ["a"], [1, 2], [0])


@pytest.mark.parametrize(
    "chart",
    [
        lambda name: bar_chart(name, [name], [Series(name, [1.0], '"/><script>')]),
        lambda name: funnel_chart(name, [name], [1], [0]),
    ],
)
def test_all_text_is_escaped(chart: object) -> None:
    svg = str(chart("<b>bold</b> & co"))  # type: ignore[operator]
    assert "<b>" not in svg and "<script>" not in svg
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in svg
    ET.fromstring(svg)


def test_funnel_splits_each_bar_into_stayed_and_dropped_out() -> None:
    svg = funnel_chart("Funnel", ["ask", "thanks"], [4, 2], [1, 0])
    assert widths(svg) == [BAR_WIDTH * 3 / 4, BAR_WIDTH / 4, BAR_WIDTH / 2, 0.0]
    assert re.findall(r"<title>([^<]*)</title>", svg) == [
        "Funnel",
        "ask: 4 reached, 1 dropped out",
        "thanks: 2 reached, 0 dropped out",
    ]
