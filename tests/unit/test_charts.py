"""The dashboard's SVG charts (``admin.charts``): well-formed, scaled, escaped, and honest about gaps."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from django_durable_jobs.admin import charts
from django_durable_jobs.admin.charts import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, Bar, Series

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert('x')</script> & \"quoted\""


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def series_groups(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("data-name"): g for g in root.iter(f"{SVG}g") if g.get("class") == "djj-series"}


def points(polyline: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, pair.split(","))) for pair in polyline.get("points").split()]


def test_points_span_the_plot_from_zero_to_a_round_top() -> None:
    root = parse(charts.line_chart("Jobs", [Series("completed", [0, 4, 8])], ["a", "b", "c"]))
    assert root.get("data-top") == "10"  # 8 rounds up to 10
    (line,) = series_groups(root)["completed"].iter(f"{SVG}polyline")
    bottom, plot_height = HEIGHT - BOTTOM, HEIGHT - TOP - BOTTOM
    assert points(line) == [
        (LEFT, bottom),
        (pytest.approx((LEFT + WIDTH - RIGHT) / 2), pytest.approx(bottom - 0.4 * plot_height)),
        (WIDTH - RIGHT, pytest.approx(bottom - 0.8 * plot_height)),
    ]


def test_data_values_carry_the_numbers_and_gaps_break_the_line() -> None:
    root = parse(charts.line_chart("Wait", [Series("p95", [1.5, None, 2, 3, None])], list("abcde")))
    group = series_groups(root)["p95"]
    assert group.get("data-values") == "1.5,,2,3,"
    assert len(list(group.iter(f"{SVG}circle"))) == 1  # 1.5 stands alone between the edge and a gap
    (line,) = group.iter(f"{SVG}polyline")
    assert len(points(line)) == 2


def test_each_series_has_a_line_and_a_legend_in_its_own_colour() -> None:
    root = parse(
        charts.line_chart("Jobs", [Series("completed", [1, 2]), Series("failed", [0, 1])], ["a", "b"])
    )
    groups = series_groups(root)
    assert list(groups) == ["completed", "failed"]
    assert groups["completed"].get("stroke") != groups["failed"].get("stroke")
    legends = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "djj-legend"]
    assert legends == ["completed", "failed"]


@pytest.mark.parametrize(
    "series",
    [[], [Series("completed", [None, None])], [Series("a", [None, None]), Series("b", [None, None])]],
)
def test_nothing_to_draw_is_said_in_words(series: list[Series]) -> None:
    root = parse(charts.line_chart("Jobs finished", series, ["a", "b"]))
    assert "djj-empty" in root.get("class")
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts == ["Jobs finished", charts.NO_DATA]
    assert not list(root.iter(f"{SVG}polyline"))


def test_a_zero_series_is_drawn_not_reported_empty() -> None:
    root = parse(charts.line_chart("Jobs", [Series("failed", [0, 0, 0])], ["a", "b", "c"]))
    assert "djj-empty" not in root.get("class")
    (line,) = root.iter(f"{SVG}polyline")
    assert {y for _, y in points(line)} == {HEIGHT - BOTTOM}


def test_every_text_is_escaped() -> None:
    svg = charts.line_chart(HOSTILE, [Series(HOSTILE, [1, 2])], [HOSTILE, HOSTILE], unit="<u>")
    assert "<script>" not in svg and "<u>" not in svg
    root = parse(svg)
    assert root.get("aria-label") == HOSTILE
    assert list(series_groups(root)) == [HOSTILE]
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts.count(HOSTILE) == 4  # the title, the legend and both x labels
    assert "2<u>" in texts
    bars = charts.bar_chart(HOSTILE, [Bar(HOSTILE, 1, 2)], empty=HOSTILE)
    assert "<script>" not in bars
    assert parse(bars).find(f"{SVG}g").get("data-name") == HOSTILE
    assert "<script>" not in charts.bar_chart("Busy", [], empty=HOSTILE)


def test_values_and_labels_must_line_up() -> None:
    with pytest.raises(ValueError, match="series 'completed' has 3 values for 2 x positions"):
        charts.line_chart("Jobs", [Series("completed", [1, 2, 3])], ["a", "b"])


def test_a_single_value_sits_in_the_middle() -> None:
    root = parse(charts.line_chart("Jobs", [Series("completed", [5])], ["now"]))
    (dot,) = root.iter(f"{SVG}circle")
    assert float(dot.get("cx")) == pytest.approx((LEFT + WIDTH - RIGHT) / 2)
    assert float(dot.get("cy")) == pytest.approx(TOP)


def test_x_labels_are_a_few_evenly_spread_ones_including_both_ends() -> None:
    labels = [f"{i:02d}:00" for i in range(60)]
    root = parse(charts.line_chart("Jobs", [Series("completed", [1] * 60)], labels))
    axis = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "djj-axis" and ":" in t.text]
    assert axis[0] == "00:00" and axis[-1] == "59:00"
    assert len(axis) == charts.X_TICKS


@pytest.mark.parametrize(
    ("peak", "top"), [(0, 1), (0.3, 0.5), (1, 1), (7, 10), (11, 20), (21, 25), (240, 250), (1001, 2000)]
)
def test_the_y_axis_ends_at_a_round_number(peak: float, top: float) -> None:
    assert charts.nice_ceiling(peak) == pytest.approx(top)


def test_bars_fill_their_share_of_the_capacity() -> None:
    root = parse(charts.bar_chart("Busy slots", [Bar("w1", 1, 4), Bar("w2", 4, 4), Bar("w3", 9, 0)]))
    bars = {g.get("data-name"): g for g in root.iter(f"{SVG}g")}
    assert [(g.get("data-value"), g.get("data-capacity")) for g in bars.values()] == [
        ("1", "4"),
        ("4", "4"),
        ("9", "0"),
    ]

    def busy(name: str) -> float:
        slot, fill = bars[name].iter(f"{SVG}rect")
        return float(fill.get("width")) / float(slot.get("width"))

    assert (busy("w1"), busy("w2"), busy("w3")) == (0.25, 1.0, 0.0)


def test_no_bars_is_said_in_words() -> None:
    root = parse(charts.bar_chart("Busy slots", [], empty="No alive worker"))
    assert [t.text for t in root.iter(f"{SVG}text")] == ["Busy slots", "No alive worker"]
