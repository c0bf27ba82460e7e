"""Filters of the data-quality pages (scores, metrics, durations) and the trend chart, drawn on the server as an
inline SVG: one polyline per series (quality, trust) over days, scores 0-100 on the vertical axis. No script, no
external asset; a table of the same numbers sits next to it for screen readers and copying.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django import template

register = template.Library()

UNKNOWN = "unknown"
WIDTH = 720
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 44, 16, 16, 40
Y_TICKS = (0, 25, 50, 75, 100)
MIN_LABEL_GAP = 100  # SVG units between day labels: at most 7 on the 660-wide plot
SERIES = (("quality", "Quality score", "quality_score"), ("trust", "Trust score", "trust_score"))


@register.filter
def score(value: Any) -> str:
    """A 0-100 score with at most one decimal, or "unknown"."""
    if value is None or isinstance(value, bool):
        return UNKNOWN
    try:
        number = float(value)
    except (TypeError, ValueError):
        return UNKNOWN
    text = f"{number:.1f}"
    return text[:-2] if text.endswith(".0") else text


@register.filter
def metric(value: Any) -> str:
    """A rule's metric: large numbers grouped, small ones with six significant digits; "—" when missing."""
    if value is None:
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if abs(number) >= 1_000_000 or (number.is_integer() and abs(number) >= 1000):
        return f"{number:,.0f}"
    return f"{number:.6g}"


@register.filter
def fraction(value: Any) -> str:
    """A fraction of rows as a percentage ("1.25 %"); "—" when missing."""
    if value is None:
        return "—"
    try:
        percent = 100 * float(value)
    except (TypeError, ValueError):
        return "—"
    return f"{percent:.3g} %"


@register.filter
def seconds(value: Any) -> str:
    """A duration in seconds, readable ("42.1 s", "3 min 05 s", "1 h 02 min"); "—" when missing."""
    if value is None:
        return "—"
    total = float(value)
    if total < 60:
        return f"{total:.1f} s"
    minutes, secs = divmod(round(total), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def outcome_count(outcomes: Any, key: str) -> int:
    """The count of one outcome in a scan's ``outcomes`` ({"PASS": n, …}); 0 when absent."""
    if not isinstance(outcomes, dict):
        return 0
    value = outcomes.get(key, 0)
    return value if isinstance(value, int) else 0


@register.filter
def get_item(mapping: Any, key: str) -> Any:
    """``mapping[key]`` (a sample row's value of a column), None when absent."""
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def svgnum(value: Any) -> str:
    """A coordinate for an SVG attribute: one decimal, a dot, never localised or grouped."""
    return f"{float(value):.1f}"


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    day: date
    value: float


@dataclass(frozen=True)
class ChartSeries:
    """One line of the chart: the days where the score is known."""

    key: str
    label: str
    points: list[ChartPoint]

    @property
    def polyline(self) -> str:
        """The ``points`` attribute of the series' ``<polyline>``."""
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass(frozen=True)
class ChartTick:
    position: float
    label: str


@dataclass(frozen=True)
class TrendChart:
    """Geometry of the trend chart, in the SVG's own units (``viewBox``)."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    series: list[ChartSeries]
    y_ticks: list[ChartTick]
    x_ticks: list[ChartTick]
    title: str
    description: str

    @property
    def empty(self) -> bool:
        return not any(s.points for s in self.series)


def _x_positions(days: Sequence[date]) -> list[float]:
    """Days placed by date (a day without a scan leaves a gap), the whole width used; one day sits in the middle."""
    left, right = LEFT, WIDTH - RIGHT
    if not days:
        return []
    span = (days[-1] - days[0]).days
    if span <= 0:
        return [(left + right) / 2] * len(days)
    return [left + (right - left) * (d - days[0]).days / span for d in days]


def _y(value: float) -> float:
    top, bottom = TOP, HEIGHT - BOTTOM
    clamped = min(100.0, max(0.0, value))
    return bottom - (bottom - top) * clamped / 100


def _label_indexes(xs: Sequence[float]) -> list[int]:
    """The rows whose day is labelled: left to right, each at least ``MIN_LABEL_GAP`` from the previous one, and the
    newest day always (it replaces a label too close to it)."""
    chosen: list[int] = []
    for index, x in enumerate(xs):
        if not chosen or x - xs[chosen[-1]] >= MIN_LABEL_GAP:
            chosen.append(index)
    last = len(xs) - 1
    if chosen and chosen[-1] != last:
        if xs[last] - xs[chosen[-1]] < MIN_LABEL_GAP and len(chosen) > 1:
            chosen.pop()
        chosen.append(last)
    return chosen


def trend_chart(rows: Sequence[Any], *, name: str) -> TrendChart:
    """The chart of daily rows (``DatasetQualityDaily``, oldest first) of the dataset called ``name``."""
    days = [row.day for row in rows]
    xs = _x_positions(days)
    series = []
    for key, label, attribute in SERIES:
        points = []
        for row, x in zip(rows, xs, strict=True):
            value = getattr(row, attribute)
            if value is not None:
                points.append(ChartPoint(x=x, y=_y(float(value)), day=row.day, value=float(value)))
        series.append(ChartSeries(key=key, label=label, points=points))
    y_ticks = [ChartTick(position=_y(v), label=str(v)) for v in Y_TICKS]
    x_ticks = [ChartTick(position=xs[i], label=days[i].strftime("%d %b")) for i in _label_indexes(xs)]
    title = f"Daily quality and trust scores of {name}"
    if not rows:
        description = "No scored scan yet: the chart is empty."
    else:
        latest = rows[-1]
        description = (
            f"{len(rows)} day{'s' if len(rows) != 1 else ''} with a scan, from {days[0].isoformat()} to "
            f"{days[-1].isoformat()}, on a scale of 0 to 100. On {days[-1].isoformat()} the quality score was "
            f"{score(latest.quality_score)} and the trust score {score(latest.trust_score)}."
        )
    return TrendChart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=WIDTH - RIGHT,
        top=TOP,
        bottom=HEIGHT - BOTTOM,
        series=series,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        title=title,
        description=description,
    )


@register.inclusion_tag("quality/_trend_chart.html")
def quality_trend_chart(rows: Sequence[Any], name: str) -> dict[str, Any]:
    """Render the trend chart of ``rows`` (the daily quality rows of the dataset ``name``)."""
    return {"chart": trend_chart(rows, name=name), "rows": rows}
