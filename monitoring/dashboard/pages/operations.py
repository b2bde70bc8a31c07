"""Operations: visit, blood count, ctDNA, imaging and QoL compliance per site; SAE clocks."""

from __future__ import annotations

from django.utils.translation import gettext as _

from monitoring.charts.svg import BarSeries, bar_chart
from trial.models import ItemKind

from ..selectors.operations import compliance, open_saes, sae_clock_counts
from .panel import Figure, Panel, Table, iso, pct

#: The kinds the brief's compliance table lists first; other scheduled kinds follow.
KIND_ORDER = [
    ItemKind.CYCLE_VISIT,
    ItemKind.BLOOD_COUNT,
    ItemKind.CTDNA,
    ItemKind.IMAGING,
    ItemKind.QOL,
    ItemKind.FULVESTRANT_INJECTION,
    ItemKind.LOCOREGIONAL_TREATMENT,
    ItemKind.SURVIVAL_CONTACT,
]


def _kind_label(kind: str) -> str:
    try:
        return str(ItemKind(kind).label)
    except ValueError:
        return kind


def _compliance_panel(user, filters, today) -> Panel:
    rows = compliance(user=user, filters=filters, today=today)
    order = {kind.value: index for index, kind in enumerate(KIND_ORDER)}
    rows.sort(key=lambda r: (r.site is None, r.site or "", order.get(r.kind, 99), r.kind))
    charted = [r for r in rows if r.site is not None and r.expected]
    svg = ""
    if charted:
        categories = [f"{r.site} · {_kind_label(r.kind)}" for r in charted]
        svg = bar_chart(
            categories,
            [
                BarSeries(_("Done in window"), [r.done_in_window for r in charted]),
                BarSeries(_("Done out of window"), [r.done_out_of_window for r in charted]),
                BarSeries(_("Overdue"), [r.overdue for r in charted]),
                BarSeries(_("Missed"), [r.missed for r in charted]),
            ],
            title=_("Assessments expected per site"),
            description=_(
                "Assessments whose window has closed, by outcome: done in window, done out of "
                "window, overdue (grace period running) and missed."
            ),
            value_label=_("Assessments"),
            stacked=True,
            chart_id="chart-compliance",
        )
    table_rows = [
        [
            r.site or _("All sites"),
            _kind_label(r.kind),
            r.expected,
            r.done_in_window,
            r.done_out_of_window,
            r.overdue,
            r.missed,
            r.open,
            pct(r.compliance.estimate),
            pct(r.compliance.ci_lower),
            pct(r.compliance.ci_upper),
        ]
        for r in rows
    ]
    totals = [r for r in rows if r.site is None]
    expected = sum(r.expected for r in totals)
    in_window = sum(r.done_in_window for r in totals)
    return Panel(
        "compliance",
        _("Compliance per site"),
        svg=svg,
        figures=[
            Figure(_("Assessments expected"), str(expected), "expected"),
            Figure(
                _("Done in window"),
                f"{in_window} ({pct(in_window / expected) if expected else '–'} %)",
                "done_in_window",
            ),
            Figure(_("Overdue"), str(sum(r.overdue for r in totals)), "overdue"),
            Figure(_("Missed"), str(sum(r.missed for r in totals)), "missed"),
        ],
        tables=[
            Table(
                "compliance",
                _("Compliance per site and assessment"),
                [
                    _("Site"),
                    _("Assessment"),
                    _("Expected"),
                    _("Done in window"),
                    _("Done out of window"),
                    _("Overdue"),
                    _("Missed"),
                    _("Not yet due"),
                    _("Compliance (%)"),
                    _("95 % CI lower (%)"),
                    _("95 % CI upper (%)"),
                ],
                table_rows,
            )
        ],
    )


def _sae_panel(user, filters, now) -> Panel:
    counts = sae_clock_counts(user=user, filters=filters, now=now)
    pending = open_saes(user=user, filters=filters)
    svg = ""
    if counts:
        svg = bar_chart(
            [c.site for c in counts],
            [
                BarSeries(_("Reported on time"), [c.reported_on_time for c in counts]),
                BarSeries(_("Reported late"), [c.reported_late for c in counts]),
                BarSeries(_("Open, clock running"), [c.open_within_clock for c in counts]),
                BarSeries(_("Open, overdue"), [c.open_overdue for c in counts]),
            ],
            title=_("SAE reporting clocks per site"),
            description=_("Serious adverse events by reporting status against the clock."),
            value_label=_("SAEs"),
            stacked=True,
            chart_id="chart-sae-clocks",
        )
    return Panel(
        "sae_clocks",
        _("SAE reporting clocks"),
        svg=svg,
        figures=[
            Figure(
                _("Open SAEs"),
                str(sum(c.open_within_clock + c.open_overdue for c in counts)),
                "open",
            ),
            Figure(_("Open, overdue"), str(sum(c.open_overdue for c in counts)), "overdue"),
            Figure(_("Reported late"), str(sum(c.reported_late for c in counts)), "late"),
        ],
        tables=[
            Table(
                "sae_clocks",
                _("SAE reporting per site"),
                [
                    _("Site"),
                    _("Reported on time"),
                    _("Reported late"),
                    _("Open, clock running"),
                    _("Open, overdue"),
                ],
                [
                    [
                        c.site,
                        c.reported_on_time,
                        c.reported_late,
                        c.open_within_clock,
                        c.open_overdue,
                    ]
                    for c in counts
                ],
            ),
            Table(
                "open_saes",
                _("SAEs not yet reported to the sponsor"),
                [
                    _("Trial number"),
                    _("Site"),
                    _("Term"),
                    _("Grade"),
                    _("Clock started"),
                    _("Report due"),
                    _("Hours left"),
                ],
                [
                    [
                        s.trial_number,
                        s.site,
                        s.term,
                        s.grade,
                        iso(s.clock_started_at),
                        iso(s.due_at),
                        round((s.due_at - now).total_seconds() / 3600, 1),
                    ]
                    for s in pending
                ],
            ),
        ],
    )


def build(*, user, filters, today, now) -> list[Panel]:
    return [_compliance_panel(user, filters, today), _sae_panel(user, filters, now)]
