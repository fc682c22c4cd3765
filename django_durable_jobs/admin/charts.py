"""Charts drawn on the server as inline SVG: series in, an ``<svg>`` string out.

Pure functions, no Django and no JavaScript: the dashboard embeds the strings
as they are (``mark_safe``), so every piece of text that reaches them (queue
and job names, worker ids, labels) is escaped here. Each series is drawn as
``<polyline>`` segments inside ``<g class="djj-series" data-name=…>`` whose
``data-values`` hold the plotted numbers, so a test (or a curious user) can read
back what a chart shows. A gap in a series (``None``: nothing was measured)
breaks its line instead of drawing a zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

#: Line colours, in series order (enough for the queues of most projects; they repeat after).
PALETTE = ("#2e7d32", "#c62828", "#1565c0", "#d35400", "#6a1b9a", "#00838f", "#5d4037", "#546e7a")
#: The size of a line chart's drawing (the page scales it to its column).
WIDTH, HEIGHT = 640, 220
#: Room around the plot for the axis labels and the legend.
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 44, 24
#: Where a bar chart's first bar starts (it has no legend).
BARS_TOP = 26
#: How many time labels the x axis shows at most.
X_TICKS = 6
#: How many horizontal grid lines (with their values) the y axis shows.
Y_TICKS = 4

NO_DATA = "No data in this window"


@dataclass(frozen=True)
class Series:
    """One line: a name for the legend and one value per x position (``None``: no value)."""

    name: str
    values: Sequence[float | None]
    color: str = ""


@dataclass(frozen=True)
class Bar:
    """One bar of a bar chart: ``value`` out of ``capacity`` (the bar's full length)."""

    label: str
    value: float
    capacity: float


def text(value: object) -> str:
    """``value`` as XML character data or attribute content (quotes escaped too)."""
    return escape(str(value), quote=True)


def number(value: float) -> str:
    """A coordinate or value short and exact enough for an attribute: ``12``, ``3.5``, ``0.25``."""
    rounded = round(float(value), 2)
    return str(int(rounded)) if rounded.is_integer() else f"{rounded:g}"


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least ``value`` (1 for 0)."""
    if value <= 0 or math.isnan(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10 * power  # pragma: no cover - the loop's last step always fits


def scale(values: Sequence[float | None], top: float) -> list[tuple[float, float] | None]:
    """Each value as an (x, y) point of the plot area (``None`` stays a gap).

    ``top`` is the value drawn at the top edge. x spreads the positions evenly
    from the left edge to the right one (a single value sits in the middle).
    """
    width, height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = len(values)
    points: list[tuple[float, float] | None] = []
    for index, value in enumerate(values):
        if value is None:
            points.append(None)
            continue
        x = LEFT + (width / 2 if count == 1 else width * index / (count - 1))
        y = TOP + height * (1 - min(max(value, 0.0), top) / top)
        points.append((x, y))
    return points


def segments(points: Sequence[tuple[float, float] | None]) -> list[list[tuple[float, float]]]:
    """The runs of consecutive points between gaps."""
    runs: list[list[tuple[float, float]]] = [[]]
    for point in points:
        if point is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(point)
    return [run for run in runs if run]


def element(name: str, content: str = "", **attributes: object) -> str:
    """``<name a="…">content</name>``: attribute values escaped, ``_`` in names written ``-``.

    ``content`` is inserted as it is: pass it through :func:`text` first unless
    it is markup built here.
    """
    attrs = "".join(
        f' {key.rstrip("_").replace("_", "-")}="{text(number(v) if isinstance(v, float) else v)}"'
        for key, v in attributes.items()
    )
    return f"<{name}{attrs}>{content}</{name}>" if content else f"<{name}{attrs}/>"


def svg(title: str, height: int, content: list[str], class_: str = "djj-chart", **attributes: object) -> str:
    """The ``<svg>`` root (``WIDTH`` wide, ``height`` high) with ``title`` at its top left."""
    heading = element("text", text(title), class_="djj-title", x=LEFT, y=16)
    return element(
        "svg",
        heading + "".join(content),
        xmlns="http://www.w3.org/2000/svg",
        class_=class_,
        viewBox=f"0 0 {WIDTH} {height}",
        role="img",
        aria_label=title,
        **attributes,
    )


def empty_chart(title: str, message: str = NO_DATA, height: int = HEIGHT) -> str:
    """The "nothing to draw" state: the title and a message where the plot would be."""
    note = element(
        "text", text(message), class_="djj-no-data", x=WIDTH / 2, y=height / 2, text_anchor="middle"
    )
    return svg(title, height, [note], class_="djj-chart djj-empty", data_empty=message)


def _tick_indexes(count: int, ticks: int = X_TICKS) -> list[int]:
    if count <= ticks:
        return list(range(count))
    return sorted({round(i * (count - 1) / (ticks - 1)) for i in range(ticks)})


def _axes(top: float, unit: str, x_labels: Sequence[str]) -> list[str]:
    parts = []
    for i in range(Y_TICKS + 1):
        y = TOP + (HEIGHT - TOP - BOTTOM) * (1 - i / Y_TICKS)
        parts.append(element("line", class_="djj-grid", x1=LEFT, x2=WIDTH - RIGHT, y1=float(y), y2=float(y)))
        label = f"{number(top * i / Y_TICKS)}{unit}"
        parts.append(
            element("text", text(label), class_="djj-axis", x=LEFT - 4, y=y + 4.0, text_anchor="end")
        )
    xs = scale([0.0] * len(x_labels), 1.0)
    last = len(x_labels) - 1
    for index in _tick_indexes(len(x_labels)):
        point = xs[index]
        assert point is not None
        anchor = "start" if index == 0 else "end" if index == last else "middle"
        label = text(x_labels[index])
        parts.append(element("text", label, class_="djj-axis", x=point[0], y=HEIGHT - 6, text_anchor=anchor))
    return parts


def _series(one: Series, color: str, top: float) -> str:
    lines = [element("title", text(one.name))]
    for run in segments(scale(one.values, top)):
        if len(run) == 1:
            lines.append(element("circle", cx=run[0][0], cy=run[0][1], r=2, fill=color))
        else:
            points = " ".join(f"{number(x)},{number(y)}" for x, y in run)
            lines.append(element("polyline", fill="none", stroke_width="1.5", points=points))
    values = ",".join("" if v is None else number(v) for v in one.values)
    return element(
        "g", "".join(lines), class_="djj-series", data_name=one.name, data_values=values, stroke=color
    )


def line_chart(title: str, series: Sequence[Series], x_labels: Sequence[str], unit: str = "") -> str:
    """A line chart of ``series`` over the positions ``x_labels`` names (one label per value).

    The y axis starts at 0 and ends at a round number at or above the largest
    value. A chart without a single value is the :func:`empty_chart`.
    """
    for one in series:
        if len(one.values) != len(x_labels):
            raise ValueError(
                f"series {one.name!r} has {len(one.values)} values for {len(x_labels)} x positions"
            )
    present = [v for one in series for v in one.values if v is not None]
    if not present:
        return empty_chart(title)
    top = nice_ceiling(max(present))
    parts = _axes(top, unit, x_labels)
    legend_x = LEFT
    for index, one in enumerate(series):
        color = one.color or PALETTE[index % len(PALETTE)]
        parts.append(_series(one, color, top))
        legend = text(one.name)
        parts.append(element("text", legend, class_="djj-legend", x=legend_x, y=34, fill=color))
        legend_x += 16 + 7 * len(one.name)
    return svg(title, HEIGHT, parts, data_top=top)


def bar_chart(title: str, bars: Sequence[Bar], empty: str = NO_DATA) -> str:
    """Horizontal bars, one per row: ``value`` filled out of ``capacity``, labelled "value/capacity"."""
    if not bars:
        return empty_chart(title, empty, height=80)
    row, label_width = 22, 200
    full = WIDTH - RIGHT - label_width - 70
    parts = []
    for index, bar in enumerate(bars):
        y = BARS_TOP + row * index
        share = 0.0 if bar.capacity <= 0 else min(max(bar.value / bar.capacity, 0.0), 1.0)
        label = bar.label if len(bar.label) <= 30 else bar.label[:29] + "…"
        used = f"{number(bar.value)}/{number(bar.capacity)}"
        shapes = [
            element("title", text(f"{bar.label}: {used}")),
            element("text", text(label), class_="djj-axis", x=label_width - 6, y=y + 14, text_anchor="end"),
            element("rect", class_="djj-slot", x=label_width, y=y + 3, width=full, height=row - 6),
            element("rect", class_="djj-busy", x=label_width, y=y + 3, width=full * share, height=row - 6),
            element("text", used, class_="djj-axis", x=label_width + full + 6, y=y + 14),
        ]
        parts.append(
            element(
                "g",
                "".join(shapes),
                class_="djj-bar",
                data_name=bar.label,
                data_value=number(bar.value),
                data_capacity=number(bar.capacity),
            )
        )
    return svg(title, BARS_TOP + row * len(bars) + 8, parts, class_="djj-chart djj-bars")
