"""What a dashboard page is made of: panels with a server-rendered SVG chart, key figures and
the chart's numbers as tables (each also downloadable as CSV)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from monitoring.analysis.rates import Proportion

Cell = str | int | float | None


@dataclass(frozen=True)
class Table:
    """Rows of plain values (numbers stay numbers, so the CSV is machine-readable)."""

    key: str
    caption: str
    headers: Sequence[str]
    rows: Sequence[Sequence[Cell]]


@dataclass(frozen=True)
class Figure:
    label: str
    value: str
    key: str = ""


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    svg: str = ""
    figures: Sequence[Figure] = ()
    tables: Sequence[Table] = ()
    notes: Sequence[str] = ()


@dataclass(frozen=True)
class PageSpec:
    """A page: its title, the extra filter choices it takes, and its panel builder."""

    title: Any
    build: Callable[..., list[Panel]]
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    choice_labels: dict[str, dict[str, str]] = field(default_factory=dict)


def pct(value: float | None, decimals: int = 1) -> float | None:
    return None if value is None else round(100 * value, decimals)


def rnd(value: float | None, decimals: int = 1) -> float | None:
    return None if value is None else round(value, decimals)


def show(value: float | None, decimals: int = 1, unit: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:.{decimals}f}{unit}"


def proportion_text(p: Proportion) -> str:
    """ "12/40 = 30.0 % (95 % CI 18.1–45.4)"."""
    if p.n == 0:
        return _("no patient evaluable")
    return _("%(x)d/%(n)d = %(p)s %% (95 %% CI %(lo)s–%(hi)s)") % {
        "x": p.successes,
        "n": p.n,
        "p": show(pct(p.estimate)),
        "lo": show(pct(p.ci_lower)),
        "hi": show(pct(p.ci_upper)),
    }


def interval_text(
    value: float | None, lower: float | None, upper: float | None, unit: str = "", decimals=1
) -> str:
    """ "11.9 (95 % CI 9.1–13.6)"; a missing limit is "not reached"."""
    if value is None:
        return _("not reached")

    def limit(v: float | None) -> str:
        return _("NR") if v is None else show(v, decimals)

    return _("%(v)s%(u)s (95 %% CI %(lo)s–%(hi)s)") % {
        "v": show(value, decimals),
        "u": unit,
        "lo": limit(lower),
        "hi": limit(upper),
    }


def p_text(p: float | None) -> str:
    if p is None:
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def iso(value: dt.date | dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def curve_table(key: str, curves, labels: dict[str, str] | None = None) -> Table:
    """Every step of Kaplan-Meier curves (the chart's numbers): time, at risk, events,
    censored, estimate and pointwise 95 % CI, in percent."""
    labels = labels or {}
    return Table(
        key,
        _("Kaplan-Meier estimates (the plotted steps)"),
        [
            _("Group"),
            _("Months"),
            _("At risk"),
            _("Events"),
            _("Censored"),
            _("Estimate (%)"),
            _("95 % CI lower (%)"),
            _("95 % CI upper (%)"),
        ],
        [
            [
                labels.get(curve.group, curve.group),
                rnd(row.time_months, 2),
                row.at_risk,
                row.events,
                row.censored,
                pct(row.survival),
                pct(row.ci_lower),
                pct(row.ci_upper),
            ]
            for curve in curves
            for row in curve.table
        ],
    )


def incidence_table(key: str, curve) -> Table:
    """Every step of a cumulative incidence curve (the chart's numbers)."""
    return Table(
        key,
        _("Cumulative incidence estimates (the plotted steps)"),
        [
            _("Months"),
            _("At risk"),
            _("Events"),
            _("Competing events"),
            _("Censored"),
            _("Incidence (%)"),
            _("95 % CI lower (%)"),
            _("95 % CI upper (%)"),
        ],
        [
            [
                rnd(row.time_months, 2),
                row.at_risk,
                row.events,
                row.competing,
                row.censored,
                pct(row.incidence),
                pct(row.ci_lower),
                pct(row.ci_upper),
            ]
            for row in curve.table
        ],
    )
