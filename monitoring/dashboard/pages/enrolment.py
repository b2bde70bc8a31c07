"""Enrolment over time per site against the protocol's target; screen failures by criterion."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.utils.translation import gettext as _

from monitoring.analysis.rates import wilson_interval
from monitoring.charts.svg import BarSeries, LinePoint, LineSeries, bar_chart, line_chart

from ..selectors import protocol_document
from ..selectors.enrolment import criterion_texts, enrolment_by_month, screen_failures
from .panel import Figure, Panel, Table, pct, proportion_text

MAX_TICK_LABELS = 12


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    months, current = [], first
    while current <= last:
        months.append(current)
        current = dt.date(current.year + current.month // 12, current.month % 12 + 1, 1)
    return months


def _enrolment_panels(user, filters, target: int | None) -> list[Panel]:
    rows = enrolment_by_month(user=user, filters=filters)
    if not rows:
        return [Panel("enrolment", _("Enrolment over time"), notes=[_("No patient enrolled yet.")])]
    months = _months(rows[0].month, rows[-1].month)
    sites = sorted({r.site for r in rows})
    counts: dict[tuple[dt.date, str], int] = defaultdict(int)
    for r in rows:
        counts[r.month, r.site] += r.count
    cumulative = dict.fromkeys(sites, 0)
    total = 0
    points: dict[str, list[LinePoint]] = {site: [] for site in [*sites, "all"]}
    table_rows = []
    for index, month in enumerate(months):
        month_total = 0
        for site in sites:
            cumulative[site] += counts[month, site]
            month_total += counts[month, site]
            points[site].append(LinePoint(index, cumulative[site]))
        total += month_total
        points["all"].append(LinePoint(index, total))
        table_rows.append(
            [
                month.strftime("%Y-%m"),
                *(counts[month, site] for site in sites),
                month_total,
                total,
                pct(total / target) if target else None,
            ]
        )
    series = [LineSeries(site, points[site]) for site in sites]
    series.append(LineSeries(_("All sites"), points["all"]))
    if target:
        series.append(
            LineSeries(
                _("Target (%(n)d)") % {"n": target},
                [LinePoint(0, target), LinePoint(len(months) - 1, target)],
            )
        )
    step = max(1, -(-len(months) // MAX_TICK_LABELS))
    ticks = list(range(0, len(months), step))
    chart = line_chart(
        series,
        title=_("Cumulative enrolment per site"),
        description=_("Patients enrolled by the end of each month, per site and in total."),
        x_label=_("Month"),
        y_label=_("Patients enrolled"),
        x_ticks=ticks,
        x_tick_labels=[months[i].strftime("%Y-%m") for i in ticks],
        chart_id="chart-enrolment",
    )
    site_totals = [cumulative[site] for site in sites]
    bars = bar_chart(
        sites,
        [BarSeries(_("Enrolled"), site_totals)],
        title=_("Patients enrolled per site"),
        description=_("Total patients enrolled at each site."),
        value_label=_("Patients"),
        chart_id="chart-enrolment-sites",
    )
    figures = [Figure(_("Enrolled"), str(total), "enrolled")]
    if target:
        figures.append(Figure(_("Target"), f"{target} ({pct(total / target)} %)", "target"))
    return [
        Panel(
            "enrolment",
            _("Enrolment over time"),
            svg=chart,
            figures=figures,
            tables=[
                Table(
                    "enrolment_by_month",
                    _("Patients enrolled per month"),
                    [
                        _("Month"),
                        *sites,
                        _("All sites"),
                        _("Cumulative"),
                        _("Cumulative % of target"),
                    ],
                    table_rows,
                )
            ],
        ),
        Panel(
            "enrolment_sites",
            _("Enrolment per site"),
            svg=bars,
            tables=[
                Table(
                    "enrolment_by_site",
                    _("Patients enrolled per site"),
                    [_("Site"), _("Enrolled")],
                    [[site, n] for site, n in zip(sites, site_totals, strict=True)],
                )
            ],
        ),
    ]


def _screening_panel(user, filters, texts: dict[str, str]) -> Panel:
    result = screen_failures(user=user, filters=filters)
    rate = wilson_interval(result.failed, result.screened)
    figures = [
        Figure(_("Screened"), str(result.screened), "screened"),
        Figure(_("Screen failures"), proportion_text(rate), "screen_failures"),
        Figure(_("Still in screening"), str(result.in_screening), "in_screening"),
    ]
    notes = [_("Enrolment dates do not filter screening: screen failures are never enrolled.")]
    rows = [[cid, texts.get(cid, cid), n] for cid, n in result.by_criterion]
    svg = ""
    if rows:
        svg = bar_chart(
            [f"{cid}: {texts.get(cid, cid)}" for cid, _n in result.by_criterion],
            [BarSeries(_("Patients"), [n for _cid, n in result.by_criterion])],
            title=_("Screen failures by criterion"),
            description=_(
                "Patients whose latest eligibility assessment failed each criterion; a patient "
                "can fail several."
            ),
            value_label=_("Patients"),
            chart_id="chart-screen-failures",
        )
    return Panel(
        "screen_failures",
        _("Screen failures by criterion"),
        svg=svg,
        figures=figures,
        notes=notes,
        tables=[
            Table(
                "screen_failures_by_criterion",
                _("Screen failures by criterion"),
                [_("Criterion"), _("Wording"), _("Patients")],
                rows,
            )
        ],
    )


def build(*, user, filters, today, now) -> list[Panel]:  # noqa: ARG001
    document = protocol_document(filters)
    target = document.get("trial", {}).get("enrolment_target")
    return [
        *_enrolment_panels(user, filters, target),
        _screening_panel(user, filters, criterion_texts(document)),
    ]
