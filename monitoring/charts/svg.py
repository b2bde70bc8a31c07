"""Deterministic, dependency-free SVG charts for the monitoring dashboards.

Each builder returns one ``<svg>`` element as a string, rendered on the server and inlined in the
page (htmx swaps it as any other fragment). No matplotlib: the markup is small, identical for
identical input (no timestamps, random ids or float noise: numbers are printed with fixed
precision), and testable in the DOM.

Every chart:

- is sized by ``viewBox`` only (it scales with its container), carries ``role="img"`` and
  ``aria-labelledby`` pointing at its ``<title>`` and ``<desc>``;
- carries the plotted numbers in ``data-*`` attributes (``data-series``, ``data-times``,
  ``data-values``, ``data-count``, ...) so browser tests and the "numbers as a table" view can
  read them; every mark also has a ``<title>`` (a tooltip, read by screen readers);
- uses the Okabe-Ito colour-blind-safe palette (Okabe M, Ito K, "Color Universal Design", 2008;
  the yellow is left out, too pale on white) and, for lines, a dash pattern per series, so no
  series is told apart by colour alone;
- escapes every caller-provided text (``html.escape`` after removing characters XML 1.0 cannot
  carry), so a label such as ``<script>`` is shown, never executed.

Fixed wording ("Number at risk", "n = ") is a keyword parameter with an English default: the
views pass their gettext translation, since this module stays free of Django.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from monitoring.analysis.incidence import IncidenceCurve
from monitoring.analysis.survival import AtRiskTable, KaplanMeierEstimate

__all__ = [
    "DASH_PATTERNS",
    "PALETTE",
    "BarSeries",
    "ChartInputError",
    "FlowArm",
    "FlowCount",
    "FlowStage",
    "LinePoint",
    "LineSeries",
    "StepSeries",
    "bar_chart",
    "consort_diagram",
    "km_chart",
    "line_chart",
    "nice_ticks",
]

PALETTE = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
)
DASH_PATTERNS = ("", "7 4", "2 3", "9 3 2 3", "14 4", "5 2 1 2", "1 3")
INK = "#222222"
GRID = "#d9d9d9"
MUTED = "#595959"  # 7:1 contrast on white
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
FONT_SIZE = 12
CHAR_WIDTH = 6.6  # average advance of the font at 12 px, for layout estimates
SVG_NS = "http://www.w3.org/2000/svg"

_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class ChartInputError(ValueError):
    """Invalid chart input. ``code`` is stable: ``invalid_series``, ``invalid_value``,
    ``invalid_chart_id``, ``invalid_parameter``."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.code = code


# --- inputs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepSeries:
    """A right-continuous step function: ``values[i]`` holds from ``times[i]`` on.
    ``lower``/``upper`` draw a confidence band; ``censor_times`` get tick marks. ``key``
    matches the series to a row of the numbers-at-risk table (default: ``label``)."""

    label: str
    times: Sequence[float]
    values: Sequence[float]
    lower: Sequence[float] | None = None
    upper: Sequence[float] | None = None
    censor_times: Sequence[float] = ()
    key: str | None = None

    @classmethod
    def from_kaplan_meier(cls, curve: KaplanMeierEstimate, label: str | None = None):
        table = curve.table
        return cls(
            label=curve.group if label is None else label,
            times=tuple(row.time_months for row in table),
            values=tuple(row.survival for row in table),
            lower=tuple(row.ci_lower for row in table),
            upper=tuple(row.ci_upper for row in table),
            censor_times=tuple(row.time_months for row in table if row.censored),
            key=curve.group,
        )

    @classmethod
    def from_incidence(cls, curve: IncidenceCurve, label: str | None = None):
        table = curve.table
        return cls(
            label=curve.group if label is None else label,
            times=tuple(row.time_months for row in table),
            values=tuple(row.incidence for row in table),
            lower=tuple(row.ci_lower for row in table),
            upper=tuple(row.ci_upper for row in table),
            key=curve.group,
        )


@dataclass(frozen=True)
class LinePoint:
    x: float
    y: float
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class LineSeries:
    label: str
    points: Sequence[LinePoint]


@dataclass(frozen=True)
class BarSeries:
    label: str
    values: Sequence[float]


@dataclass(frozen=True)
class FlowCount:
    label: str
    count: int


@dataclass(frozen=True)
class FlowStage:
    """A box of the main column; ``left`` lists why patients did not go on to the next box."""

    label: str
    count: int
    left: Sequence[FlowCount] = field(default_factory=tuple)


@dataclass(frozen=True)
class FlowArm:
    """A box of the bottom row (e.g. randomised arms), with detail lines (crossed over, ...)."""

    label: str
    count: int
    details: Sequence[FlowCount] = field(default_factory=tuple)


# --- text and numbers ------------------------------------------------------------------------


def _text(value: object) -> str:
    return _XML_INVALID.sub("", str(value))


def _esc(value: object) -> str:
    return html.escape(_text(value), quote=True)


def _num(value: float, decimals: int = 6) -> str:
    """Fixed-precision decimal without trailing zeros (never exponent notation or -0)."""
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in {"-0", ""} else text


def _c(value: float) -> str:
    """A coordinate."""
    return _num(value, 2)


def _nums(values: Sequence[float]) -> str:
    return " ".join(_num(v) for v in values)


def _label_number(value: float) -> str:
    """A tick or value label: integers without decimals, else up to 2 decimals."""
    return _num(value, 2)


def _finite(values: Sequence[object], what: str) -> tuple[float, ...]:
    checked = []
    for value in values:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ChartInputError(f"{what} must be finite numbers", code="invalid_value")
        checked.append(float(value))
    return tuple(checked)


def _wrap(text: str, max_chars: int) -> list[str]:
    """Greedy word wrap; words longer than a line are cut."""
    lines: list[str] = []
    current = ""
    for word in _text(text).split():
        while len(word) > max_chars:
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:max_chars])
            word = word[max_chars:]
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= max_chars:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current or not lines:
        lines.append(current)
    return lines


def _truncate(text: str, max_chars: int) -> str:
    text = _text(text)
    return text if len(text) <= max_chars else text[: max_chars - 1] + "\u2026"


def nice_ticks(
    low: float, high: float, target: int = 5, *, integer: bool = False
) -> tuple[float, ...]:
    """Round tick values (1, 2, 2.5 or 5 x 10^k apart; whole numbers only when ``integer``)
    covering [low, high]."""
    if not high > low:
        high = low + 1
    raw = (high - low) / target
    if integer:
        raw = max(raw, 1.0)
    magnitude = 10 ** math.floor(math.log10(raw))
    multipliers = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(m * magnitude for m in multipliers if m * magnitude >= raw * (1 - 1e-9))
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    return tuple(round(index * step, 10) for index in range(first, last + 1))


# --- frame -----------------------------------------------------------------------------------


def _chart_id(kind: str, title: str, description: str, chart_id: str | None) -> str:
    if chart_id is None:
        digest = hashlib.sha256(f"{kind}\0{title}\0{description}".encode()).hexdigest()
        return f"{kind}-{digest[:10]}"
    if not isinstance(chart_id, str) or not _ID.fullmatch(chart_id):
        raise ChartInputError(
            "chart_id must start with a letter and hold letters, digits, - or _ (<= 64)",
            code="invalid_chart_id",
        )
    return chart_id


def _document(
    kind: str,
    chart_id: str,
    width: float,
    height: float,
    title: str,
    description: str,
    body: list[str],
    extra: str = "",
) -> str:
    head = (
        f'<svg xmlns="{SVG_NS}" viewBox="0 0 {_c(width)} {_c(height)}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" id="{chart_id}" '
        f'class="chart chart-{kind}" data-chart="{kind}"{extra} '
        f'font-family="{_esc(FONT)}" font-size="{FONT_SIZE}" fill="{INK}">'
    )
    parts = [
        head,
        f'<title id="{chart_id}-title">{_esc(title)}</title>',
        f'<desc id="{chart_id}-desc">{_esc(description)}</desc>',
        f'<rect class="background" x="0" y="0" width="{_c(width)}" height="{_c(height)}" '
        'fill="#ffffff"/>',
        *body,
        "</svg>",
    ]
    return "\n".join(parts)


@dataclass(frozen=True)
class _Scale:
    domain_low: float
    domain_high: float
    range_low: float
    range_high: float

    def __call__(self, value: float) -> float:
        span = self.domain_high - self.domain_low
        fraction = (value - self.domain_low) / span if span else 0.0
        return self.range_low + fraction * (self.range_high - self.range_low)


def _legend(labels: Sequence[str], x: float, y: float, width: float, *, lines: bool) -> list[str]:
    """Swatches (with the series' dash pattern when ``lines``) wrapped over rows."""
    parts = ['<g class="legend">']
    cursor_x, cursor_y = x, y
    for index, label in enumerate(labels):
        text = _truncate(label, 40)
        item_width = 34 + len(text) * CHAR_WIDTH + 18
        if cursor_x > x and cursor_x + item_width > x + width:
            cursor_x, cursor_y = x, cursor_y + 18
        colour = PALETTE[index % len(PALETTE)]
        if lines:
            dash = DASH_PATTERNS[index % len(DASH_PATTERNS)]
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            swatch = (
                f'<line x1="{_c(cursor_x)}" y1="{_c(cursor_y)}" x2="{_c(cursor_x + 26)}" '
                f'y2="{_c(cursor_y)}" stroke="{colour}" stroke-width="2.5"{dash_attr}/>'
            )
        else:
            swatch = (
                f'<rect x="{_c(cursor_x)}" y="{_c(cursor_y - 6)}" width="26" height="12" '
                f'fill="{colour}"/>'
            )
        parts.append(
            f'<g class="legend-item" data-series="{_esc(label)}">{swatch}'
            f'<text x="{_c(cursor_x + 32)}" y="{_c(cursor_y + 4)}">{_esc(text)}</text></g>'
        )
        cursor_x += item_width
    parts.append("</g>")
    return parts


def _legend_height(labels: Sequence[str], width: float) -> float:
    rows, cursor = 1, 0.0
    for label in labels:
        item_width = 34 + len(_truncate(label, 40)) * CHAR_WIDTH + 18
        if cursor > 0 and cursor + item_width > width:
            rows, cursor = rows + 1, 0.0
        cursor += item_width
    return rows * 18


def _x_axis(
    ticks: Sequence[float],
    x: _Scale,
    y_position: float,
    label: str,
    tick_labels: Sequence[str] | None = None,
) -> list[str]:
    parts = [
        f'<g class="axis axis-x"><line x1="{_c(x.range_low)}" y1="{_c(y_position)}" '
        f'x2="{_c(x.range_high)}" y2="{_c(y_position)}" stroke="{INK}"/>'
    ]
    for index, tick in enumerate(ticks):
        text = tick_labels[index] if tick_labels is not None else _label_number(tick)
        px = x(tick)
        parts.append(
            f'<line x1="{_c(px)}" y1="{_c(y_position)}" x2="{_c(px)}" '
            f'y2="{_c(y_position + 5)}" stroke="{INK}"/>'
            f'<text x="{_c(px)}" y="{_c(y_position + 18)}" text-anchor="middle" '
            f'data-tick="{_num(tick)}">{_esc(text)}</text>'
        )
    middle = (x.range_low + x.range_high) / 2
    parts.append(
        f'<text class="axis-label" x="{_c(middle)}" y="{_c(y_position + 38)}" '
        f'text-anchor="middle">{_esc(label)}</text></g>'
    )
    return parts


def _y_axis(
    ticks: Sequence[float], y: _Scale, x_low: float, x_high: float, label: str, factor: float
) -> list[str]:
    parts = ['<g class="axis axis-y">']
    for tick in ticks:
        py = y(tick)
        parts.append(
            f'<line class="grid" x1="{_c(x_low)}" y1="{_c(py)}" x2="{_c(x_high)}" '
            f'y2="{_c(py)}" stroke="{GRID}"/>'
            f'<text x="{_c(x_low - 8)}" y="{_c(py + 4)}" text-anchor="end" '
            f'data-tick="{_num(tick)}">{_esc(_label_number(tick * factor))}</text>'
        )
    parts.append(
        f'<line x1="{_c(x_low)}" y1="{_c(y.range_low)}" x2="{_c(x_low)}" '
        f'y2="{_c(y.range_high)}" stroke="{INK}"/>'
    )
    middle = (y.range_low + y.range_high) / 2
    parts.append(
        f'<text class="axis-label" x="16" y="{_c(middle)}" text-anchor="middle" '
        f'transform="rotate(-90 16 {_c(middle)})">{_esc(label)}</text></g>'
    )
    return parts


def _style(index: int) -> tuple[str, str]:
    colour = PALETTE[index % len(PALETTE)]
    dash = DASH_PATTERNS[index % len(DASH_PATTERNS)]
    return colour, (f' stroke-dasharray="{dash}"' if dash else "")


def _check_labels(labels: Sequence[str], what: str) -> None:
    if not labels:
        raise ChartInputError(f"at least one {what} is needed", code="invalid_series")
    if any(not isinstance(label, str) for label in labels):
        raise ChartInputError(f"{what} labels must be strings", code="invalid_series")


# --- Kaplan-Meier ------------------------------------------------------------------------------


def _check_step_series(series: StepSeries) -> StepSeries:
    times = _finite(series.times, "times")
    values = _finite(series.values, "values")
    if len(times) != len(values):
        raise ChartInputError("a step series needs one value per time", code="invalid_series")
    if any(b < a for a, b in zip(times, times[1:], strict=False)) or any(t < 0 for t in times):
        raise ChartInputError("times must be >= 0 and non-decreasing", code="invalid_value")
    bands = []
    for band in (series.lower, series.upper):
        if band is not None:
            band = _finite(band, "confidence limits")
            if len(band) != len(times):
                raise ChartInputError(
                    "confidence limits need one value per time", code="invalid_series"
                )
        bands.append(band)
    return StepSeries(
        series.label,
        times,
        values,
        bands[0],
        bands[1],
        _finite(series.censor_times, "censor times"),
        series.key,
    )


def _step_path(times: Sequence[float], values: Sequence[float], x: _Scale, y: _Scale) -> str:
    commands = [f"M{_c(x(times[0]))},{_c(y(values[0]))}"]
    for time, value in zip(times[1:], values[1:], strict=True):
        commands.append(f"H{_c(x(time))}V{_c(y(value))}")
    return "".join(commands)


def _band_path(series: StepSeries, x: _Scale, y: _Scale) -> str:
    upper = _step_path(series.times, series.upper, x, y)  # type: ignore[arg-type]
    lower_points = list(zip(series.times, series.lower, strict=True))  # type: ignore[arg-type]
    back = []
    for index in range(len(lower_points) - 1, -1, -1):
        time, value = lower_points[index]
        back.append(f"V{_c(y(value))}H{_c(x(time))}")
    return upper + "".join(back) + "Z"


def _step_value(series: StepSeries, time: float) -> float:
    value = series.values[0]
    for t, v in zip(series.times, series.values, strict=True):
        if t > time:
            break
        value = v
    return value


def _km_series(series: StepSeries, index: int, x: _Scale, y: _Scale, show_ci: bool) -> list[str]:
    colour, dash = _style(index)
    label = _esc(series.label)
    parts = [
        f'<g class="series" data-series="{label}" data-key="{_esc(series.key or series.label)}">'
    ]
    if not series.times:  # a group without records keeps its legend entry, draws nothing
        parts.append('<path class="curve" d="" data-times="" data-values=""/></g>')
        return parts
    if show_ci and series.lower is not None and series.upper is not None:
        parts.append(
            f'<path class="ci" d="{_band_path(series, x, y)}" fill="{colour}" '
            f'fill-opacity="0.15" stroke="none" data-times="{_nums(series.times)}" '
            f'data-lower="{_nums(series.lower)}" data-upper="{_nums(series.upper)}"/>'
        )
    parts.append(
        f'<path class="curve" d="{_step_path(series.times, series.values, x, y)}" fill="none" '
        f'stroke="{colour}" stroke-width="2.5"{dash} data-times="{_nums(series.times)}" '
        f'data-values="{_nums(series.values)}"><title>{label}</title></path>'
    )
    if series.censor_times:
        marks = "".join(
            f"M{_c(x(t))},{_c(y(_step_value(series, t)) - 4)}v8" for t in series.censor_times
        )
        parts.append(
            f'<path class="censor" d="{marks}" stroke="{colour}" stroke-width="1.5" '
            f'data-times="{_nums(series.censor_times)}"/>'
        )
    parts.append("</g>")
    return parts


def _at_risk_rows(
    at_risk: AtRiskTable,
    series: Sequence[StepSeries],
    x: _Scale,
    top: float,
    title: str,
) -> list[str]:
    colour_of = {}
    label_of = {}
    for index, s in enumerate(series):
        colour_of[s.key or s.label] = PALETTE[index % len(PALETTE)]
        label_of[s.key or s.label] = s.label
    parts = [
        f'<g class="at-risk"><text class="at-risk-title" x="8" y="{_c(top)}" '
        f'font-weight="bold">{_esc(title)}</text>'
    ]
    for row_index, row in enumerate(at_risk.rows):
        row_y = top + 18 * (row_index + 1)
        colour = colour_of.get(row.group, INK)
        name = label_of.get(row.group, row.group)
        # The row is named by its key (the group, e.g. "A"): the legend carries the long label.
        short = _truncate(row.group, max(3, int((x.range_low - 24) / CHAR_WIDTH)))
        parts.append(
            f'<g class="at-risk-row" data-series="{_esc(name)}" data-key="{_esc(row.group)}">'
            f'<text x="{_c(x.range_low - 16)}" y="{_c(row_y)}" text-anchor="end" '
            f'fill="{colour}" font-weight="bold">{_esc(short)}<title>{_esc(name)}</title></text>'
        )
        for time, count in zip(at_risk.times_months, row.counts, strict=True):
            if x.domain_low <= time <= x.domain_high:
                parts.append(
                    f'<text x="{_c(x(time))}" y="{_c(row_y)}" text-anchor="middle" '
                    f'data-time="{_num(time)}" data-count="{count}">{count}</text>'
                )
        parts.append("</g>")
    parts.append("</g>")
    return parts


def km_chart(
    series: Sequence[StepSeries],
    *,
    title: str,
    description: str,
    at_risk: AtRiskTable | None = None,
    show_ci: bool = False,
    x_label: str = "Months",
    y_label: str = "Probability (%)",
    at_risk_title: str = "Number at risk",
    x_max: float | None = None,
    x_ticks: Sequence[float] | None = None,
    chart_id: str | None = None,
    width: float = 720,
) -> str:
    """Step chart of survival or cumulative incidence curves (values 0-1, shown in %), with
    optional confidence bands and a numbers-at-risk table below aligned with the x ticks
    (default ticks: the at-risk times). A series without points (an arm with no patient yet)
    keeps its legend entry. Errors: :class:`ChartInputError`."""
    series = [_check_step_series(s) for s in series]
    _check_labels([s.label for s in series], "series")
    chart_id = _chart_id("km", title, description, chart_id)
    if x_ticks is None:
        x_ticks = at_risk.times_months if at_risk is not None else None
    last_time = max((s.times[-1] for s in series if s.times), default=0.0)
    if x_max is None:
        x_max = max(last_time, max(x_ticks) if x_ticks else 0.0)
    x_max = _finite([x_max], "x_max")[0]
    ticks = tuple(x_ticks) if x_ticks else nice_ticks(0, x_max if x_max > 0 else 1)
    x_high = max(x_max, ticks[-1], 1e-9)
    left, right = 76, width - 24
    legend_h = _legend_height([s.label for s in series], right - left)
    top = 20 + legend_h + 8
    plot_h = 300
    x = _Scale(0, x_high, left, right)
    y = _Scale(0, 1, top + plot_h, top)
    body = _legend([s.label for s in series], left, 20, right - left, lines=True)
    body += _y_axis((0, 0.25, 0.5, 0.75, 1), y, left, right, y_label, 100)
    body += _x_axis(ticks, x, top + plot_h, x_label)
    body.append(f'<g class="plot" clip-path="url(#{chart_id}-clip)">')
    for index, s in enumerate(series):
        body += _km_series(s, index, x, y, show_ci)
    body.append("</g>")
    clip = (
        f'<defs><clipPath id="{chart_id}-clip"><rect x="{_c(left)}" y="{_c(top - 6)}" '
        f'width="{_c(right - left + 6)}" height="{_c(plot_h + 12)}"/></clipPath></defs>'
    )
    height = top + plot_h + 52
    if at_risk is not None:
        body += _at_risk_rows(at_risk, series, x, height + 4, at_risk_title)
        height += 4 + 18 * (len(at_risk.rows) + 1) + 8
    return _document("km", chart_id, width, height, title, description, [clip, *body])


# --- line chart ----------------------------------------------------------------------------


def _check_line_series(series: LineSeries) -> LineSeries:
    if not series.points:
        raise ChartInputError("a line series needs at least one point", code="invalid_series")
    points = []
    for point in series.points:
        if not isinstance(point, LinePoint):
            raise ChartInputError("points must be LinePoint values", code="invalid_series")
        x_value, y_value = _finite([point.x, point.y], "point coordinates")
        limits = [point.lower, point.upper]
        if (limits[0] is None) != (limits[1] is None):
            raise ChartInputError("give both error-bar limits or none", code="invalid_series")
        if limits[0] is not None:
            limits = list(_finite(limits, "error-bar limits"))
        points.append(LinePoint(x_value, y_value, limits[0], limits[1]))
    return LineSeries(series.label, tuple(sorted(points, key=lambda p: p.x)))


def _line_series(series: LineSeries, index: int, x: _Scale, y: _Scale) -> list[str]:
    colour, dash = _style(index)
    label = _esc(series.label)
    path = "".join(
        f"{'M' if i == 0 else 'L'}{_c(x(p.x))},{_c(y(p.y))}" for i, p in enumerate(series.points)
    )
    parts = [
        f'<g class="series" data-series="{label}">',
        f'<path class="line" d="{path}" fill="none" stroke="{colour}" stroke-width="2.5"{dash} '
        f'data-x="{_nums([p.x for p in series.points])}" '
        f'data-y="{_nums([p.y for p in series.points])}"/>',
    ]
    for point in series.points:
        px, py = x(point.x), y(point.y)
        bounds = ""
        tooltip = f"{series.label}, {_label_number(point.x)}: {_label_number(point.y)}"
        if point.lower is not None and point.upper is not None:
            bounds = f' data-lower="{_num(point.lower)}" data-upper="{_num(point.upper)}"'
            tooltip += f" ({_label_number(point.lower)} - {_label_number(point.upper)})"
            parts.append(
                f'<path class="error-bar" d="M{_c(px)},{_c(y(point.lower))}V{_c(y(point.upper))}'
                f'M{_c(px - 4)},{_c(y(point.lower))}h8M{_c(px - 4)},{_c(y(point.upper))}h8" '
                f'stroke="{colour}" stroke-width="1.5"/>'
            )
        parts.append(
            f'<circle class="point" cx="{_c(px)}" cy="{_c(py)}" r="4" fill="{colour}" '
            f'data-series="{label}" data-x="{_num(point.x)}" data-y="{_num(point.y)}"{bounds}>'
            f"<title>{_esc(tooltip)}</title></circle>"
        )
    parts.append("</g>")
    return parts


def _value_range(series: Sequence[LineSeries], y_min, y_max) -> tuple[float, ...]:
    values = [v for s in series for p in s.points for v in (p.y, p.lower, p.upper) if v is not None]
    low = min(values) if y_min is None else _finite([y_min], "y_min")[0]
    high = max(values) if y_max is None else _finite([y_max], "y_max")[0]
    if y_min is None and low > 0:
        low = 0.0
    return nice_ticks(low, high if high > low else low + 1)


def line_chart(
    series: Sequence[LineSeries],
    *,
    title: str,
    description: str,
    x_label: str,
    y_label: str,
    x_ticks: Sequence[float] | None = None,
    x_tick_labels: Sequence[str] | None = None,
    y_min: float | None = None,
    y_max: float | None = None,
    chart_id: str | None = None,
    width: float = 720,
) -> str:
    """Lines with markers and optional error bars (e.g. QoL means by arm with 95 % CIs,
    cumulative enrolment against the target). The y axis starts at 0 unless data or ``y_min``
    go below. ``x_tick_labels`` names the ``x_ticks`` (e.g. cycle labels)."""
    series = [_check_line_series(s) for s in series]
    _check_labels([s.label for s in series], "series")
    chart_id = _chart_id("line", title, description, chart_id)
    xs = [p.x for s in series for p in s.points]
    ticks = tuple(_finite(x_ticks, "x_ticks")) if x_ticks else nice_ticks(min(xs), max(xs))
    if x_tick_labels is not None and len(x_tick_labels) != len(ticks):
        raise ChartInputError("one label per x tick", code="invalid_parameter")
    y_ticks = _value_range(series, y_min, y_max)
    left, right = 76, width - 24
    legend_h = _legend_height([s.label for s in series], right - left)
    top = 20 + legend_h + 8
    plot_h = 280
    x = _Scale(min(ticks[0], min(xs)), max(ticks[-1], max(xs)), left + 12, right - 12)
    y = _Scale(y_ticks[0], y_ticks[-1], top + plot_h, top)
    body = _legend([s.label for s in series], left, 20, right - left, lines=True)
    body += _y_axis(y_ticks, y, left, right, y_label, 1)
    body += _x_axis(ticks, x, top + plot_h, x_label, x_tick_labels)
    for index, s in enumerate(series):
        body += _line_series(s, index, x, y)
    return _document("line", chart_id, width, top + plot_h + 52, title, description, body)


# --- bar chart -----------------------------------------------------------------------------


def _check_bars(categories: Sequence[str], series: Sequence[BarSeries]):
    _check_labels(list(categories), "category")
    _check_labels([s.label for s in series], "series")
    checked = []
    for s in series:
        values = _finite(s.values, "bar values")
        if len(values) != len(categories):
            raise ChartInputError("one value per category in every series", code="invalid_series")
        if any(v < 0 for v in values):
            raise ChartInputError("bar values must be >= 0", code="invalid_value")
        checked.append(BarSeries(s.label, values))
    return checked


def _bar_rect(
    category: str, s: BarSeries, index: int, value: float, box: tuple[float, float, float, float]
) -> str:
    bx, by, bw, bh = box
    tooltip = f"{category}, {s.label}: {_label_number(value)}"
    return (
        f'<rect class="bar" x="{_c(bx)}" y="{_c(by)}" width="{_c(bw)}" height="{_c(bh)}" '
        f'fill="{PALETTE[index % len(PALETTE)]}" data-category="{_esc(category)}" '
        f'data-series="{_esc(s.label)}" data-value="{_num(value)}">'
        f"<title>{_esc(tooltip)}</title></rect>"
    )


def bar_chart(
    categories: Sequence[str],
    series: Sequence[BarSeries],
    *,
    title: str,
    description: str,
    value_label: str,
    stacked: bool = False,
    integer_axis: bool = True,
    chart_id: str | None = None,
    width: float = 720,
) -> str:
    """Horizontal bars, one row per category (long labels such as eligibility criteria or site
    names stay readable), series grouped side by side or ``stacked`` (e.g. compliance per site:
    in window / out of window / overdue / missed). Values >= 0; the total is printed at the end
    of each row when stacked, each value otherwise. ``integer_axis`` keeps ticks on whole
    numbers (counts); pass False for rates."""
    series = _check_bars(categories, series)
    chart_id = _chart_id("bar", title, description, chart_id)
    label_chars = min(32, max(len(_text(c)) for c in categories))
    left = 16 + label_chars * CHAR_WIDTH + 8
    right = width - 56
    legend_h = _legend_height([s.label for s in series], right - left) if len(series) > 1 else 0
    top = 20 + legend_h + (8 if legend_h else 0)
    bar_h = 16 if stacked else 12
    row_h = bar_h + 10 if stacked else bar_h * len(series) + 10
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    high = max(totals) if stacked else max(v for s in series for v in s.values)
    ticks = nice_ticks(0, high if high > 0 else 1, integer=integer_axis)
    x = _Scale(0, ticks[-1], left, right)
    plot_bottom = top + row_h * len(categories)
    body = (
        _legend([s.label for s in series], left, 20, right - left, lines=False)
        if len(series) > 1
        else []
    )
    body += _grid_and_axis(ticks, x, top, plot_bottom, value_label)
    for row, category in enumerate(categories):
        row_top = top + row * row_h + 5
        body.append(
            f'<g class="category" data-category="{_esc(category)}" '
            f'data-total="{_num(totals[row])}"><text x="{_c(left - 8)}" '
            f'y="{_c(row_top + (row_h - 10) / 2 + 4)}" text-anchor="end">'
            f"<title>{_esc(category)}</title>{_esc(_truncate(category, 32))}</text>"
        )
        cursor = left
        for index, s in enumerate(series):
            value = s.values[row]
            if stacked:
                box = (cursor, row_top, x(value) - left, bar_h)
                cursor += x(value) - left
            else:
                box = (left, row_top + index * bar_h, x(value) - left, bar_h - 2)
                body.append(_value_text(x(value) + 4, box[1] + bar_h / 2 + 2, value))
            body.append(_bar_rect(category, s, index, value, box))
        if stacked:
            body.append(_value_text(cursor + 4, row_top + bar_h / 2 + 4, totals[row]))
        body.append("</g>")
    return _document("bar", chart_id, width, plot_bottom + 48, title, description, body)


def _value_text(px: float, py: float, value: float) -> str:
    return f'<text class="value" x="{_c(px)}" y="{_c(py)}">{_esc(_label_number(value))}</text>'


def _grid_and_axis(
    ticks: Sequence[float], x: _Scale, top: float, bottom: float, label: str
) -> list[str]:
    parts = [
        f'<line class="grid" x1="{_c(x(t))}" y1="{_c(top)}" x2="{_c(x(t))}" y2="{_c(bottom)}" '
        f'stroke="{GRID}"/>'
        for t in ticks
    ]
    return parts + _x_axis(ticks, x, bottom, label)


# --- CONSORT flow ------------------------------------------------------------------------------

_BOX_W = 300
_SIDE_W = 290
_LINE_H = 16
_PAD = 10


def _box_lines(label: str, count: int, prefix: str, chars: int) -> list[str]:
    return [*_wrap(label, chars), f"{prefix}{count}"]


def _box(
    kind: str,
    x: float,
    y: float,
    width: float,
    lines: Sequence[str],
    attributes: str,
    bold_line: int,
) -> tuple[str, float]:
    """A rounded box of centred lines (line ``bold_line`` in bold); returns (markup, height)."""
    height = _PAD * 2 + _LINE_H * len(lines)
    texts = []
    for index, line in enumerate(lines):
        weight = ' font-weight="bold"' if index == bold_line else ""
        texts.append(
            f'<text x="{_c(x + width / 2)}" y="{_c(y + _PAD + _LINE_H * (index + 1) - 4)}" '
            f'text-anchor="middle"{weight}>{_esc(line)}</text>'
        )
    return (
        f'<g class="{kind}" {attributes}><rect x="{_c(x)}" y="{_c(y)}" width="{_c(width)}" '
        f'height="{_c(height)}" rx="4" fill="#ffffff" stroke="{INK}"/>{"".join(texts)}</g>',
        height,
    )


def _check_counts(items: Sequence[object]) -> None:
    for item in items:
        count = getattr(item, "count", None)
        label = getattr(item, "label", None)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ChartInputError("flow counts must be integers >= 0", code="invalid_value")
        if not isinstance(label, str):
            raise ChartInputError("flow labels must be strings", code="invalid_series")


def _side_box(stage: FlowStage, x: float, y: float, heading: str, prefix: str):
    lines = _wrap(heading, 40) if heading else []
    for reason in stage.left:
        lines += _wrap(f"{reason.label}: {reason.count}", 40)
    total = sum(reason.count for reason in stage.left)
    lines.append(f"{prefix}{total}")
    box, height = _box(
        "exclusion",
        x,
        y,
        _SIDE_W,
        lines,
        f'data-stage="{_esc(stage.label)}" data-count="{total}"',
        len(lines) - 1,
    )
    reasons = "".join(
        f'<g class="reason" data-reason="{_esc(r.label)}" data-count="{r.count}"></g>'
        for r in stage.left
    )
    return _append_inside(box, reasons), height


def _append_inside(group: str, inner: str) -> str:
    """Insert ``inner`` before the closing tag of ``group`` (which ends with ``</g>``)."""
    return group[: -len("</g>")] + inner + "</g>"


def consort_diagram(
    stages: Sequence[FlowStage],
    *,
    title: str,
    description: str,
    arms: Sequence[FlowArm] = (),
    count_prefix: str = "n = ",
    left_heading: str = "",
    chart_id: str | None = None,
) -> str:
    """CONSORT-style flow: the main column of ``stages`` top-down (screened, included, monitored,
    rising ESR1, imaged in window, randomised, ...), a side box after each stage listing why
    patients left (``FlowStage.left``) and a bottom row of ``arms`` (Arm A, Arm B with "crossed
    over" as a detail). ``left_heading`` titles the side boxes (e.g. "Did not continue")."""
    if not stages:
        raise ChartInputError("at least one stage is needed", code="invalid_series")
    _check_counts(stages)
    _check_counts(arms)
    for stage in stages:
        _check_counts(stage.left)
    for arm in arms:
        _check_counts(arm.details)
    chart_id = _chart_id("consort", title, description, chart_id)
    width = 40 + _BOX_W + 60 + _SIDE_W + 20
    centre = 40 + _BOX_W / 2
    marker = f"url(#{chart_id}-arrow)"
    body = [
        f'<defs><marker id="{chart_id}-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        f'<path d="M0,0L10,5L0,10Z" fill="{INK}"/></marker></defs>'
    ]
    y = 20.0
    for index, stage in enumerate(stages):
        lines = _box_lines(stage.label, stage.count, count_prefix, 42)
        box, height = _box(
            "stage",
            40,
            y,
            _BOX_W,
            lines,
            f'data-stage="{_esc(stage.label)}" data-count="{stage.count}" data-index="{index}"',
            len(lines) - 1,
        )
        body.append(box)
        y += height
        is_last = index == len(stages) - 1
        side_height = 0.0
        if stage.left:
            side, side_height = _side_box(
                stage, 40 + _BOX_W + 60, y + 16, left_heading, count_prefix
            )
            middle = y + 16 + side_height / 2
            body.append(
                f'<line class="connector" x1="{_c(centre)}" y1="{_c(middle)}" '
                f'x2="{_c(40 + _BOX_W + 58)}" y2="{_c(middle)}" stroke="{INK}" marker-end="{marker}"/>'
            )
            body.append(side)
        if not is_last or arms:
            gap = max(40.0, side_height + 32)
            if not is_last:
                body.append(
                    f'<line class="connector" x1="{_c(centre)}" y1="{_c(y)}" x2="{_c(centre)}" '
                    f'y2="{_c(y + gap - 2)}" stroke="{INK}" marker-end="{marker}"/>'
                )
                y += gap
            else:
                body.append(
                    f'<line class="connector" x1="{_c(centre)}" y1="{_c(y)}" x2="{_c(centre)}" '
                    f'y2="{_c(y + gap / 2)}" stroke="{INK}"/>'
                )
                y += gap / 2
    if arms:
        arm_parts, y = _arm_row(arms, y, width, centre, marker, count_prefix)
        body += arm_parts
    return _document("consort", chart_id, width, y + 20, title, description, body)


def _arm_row(arms, y, width, centre, marker, prefix) -> tuple[list[str], float]:
    slot = (width - 40) / len(arms)
    arm_w = min(_BOX_W, slot - 20)
    centres = [20 + slot * (i + 0.5) for i in range(len(arms))]
    parts = []
    if len(arms) > 1:
        parts.append(
            f'<line class="connector" x1="{_c(min(centres[0], centre))}" y1="{_c(y)}" '
            f'x2="{_c(max(centres[-1], centre))}" y2="{_c(y)}" stroke="{INK}"/>'
        )
    top = y + 24
    bottom = top
    chars = max(12, int((arm_w - 2 * _PAD) / CHAR_WIDTH))
    for index, (arm, arm_centre) in enumerate(zip(arms, centres, strict=True)):
        parts.append(
            f'<line class="connector" x1="{_c(arm_centre)}" y1="{_c(y)}" x2="{_c(arm_centre)}" '
            f'y2="{_c(top - 2)}" stroke="{INK}" marker-end="{marker}"/>'
        )
        lines = _box_lines(arm.label, arm.count, prefix, chars)
        count_line = len(lines) - 1
        details = []
        for detail in arm.details:
            lines += _wrap(f"{detail.label}: {detail.count}", chars)
            details.append(
                f'<g class="detail" data-detail="{_esc(detail.label)}" '
                f'data-count="{detail.count}"></g>'
            )
        box, height = _box(
            "arm",
            arm_centre - arm_w / 2,
            top,
            arm_w,
            lines,
            f'data-arm="{_esc(arm.label)}" data-count="{arm.count}" data-index="{index}"',
            count_line,
        )
        parts.append(_append_inside(box, "".join(details)))
        bottom = max(bottom, top + height)
    return parts, bottom
