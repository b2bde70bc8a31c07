"""ctDNA: cumulative incidence of rising bESR1mut on Step 1, turnaround by lab, failures."""

from __future__ import annotations

from django.utils.translation import gettext as _

from monitoring.analysis.incidence import Outcome, cumulative_incidence, one_minus_kaplan_meier
from monitoring.analysis.rates import turnaround_by_lab, wilson_interval
from monitoring.charts.svg import BarSeries, StepSeries, bar_chart, km_chart

from ..selectors.ctdna import failed_samples, lab_samples, rising_incidence_records
from .panel import Figure, Panel, Table, incidence_table, pct, proportion_text, rnd

LANDMARKS_MONTHS = (0, 3, 6, 9, 12, 18, 24)


def _incidence_panel(user, filters, today) -> Panel:
    records = rising_incidence_records(user=user, filters=filters, today=today)
    curve = cumulative_incidence(records, groups=["all"])[0]
    naive = one_minus_kaplan_meier(records, groups=["all"])[0]
    last = max((r.time_months for r in records), default=0.0)
    ticks = [t for t in LANDMARKS_MONTHS if t <= max(last, 6)] or [0]
    svg = km_chart(
        [StepSeries.from_incidence(curve, label=_("Rising bESR1mut (Aalen-Johansen)"))],
        title=_("Cumulative incidence of rising bESR1mut on Step 1"),
        description=_(
            "Progression or death before a rising mutation is a competing event; patients "
            "still on Step 1 are censored."
        ),
        show_ci=True,
        x_label=_("Months since the start of Step 1"),
        y_label=_("Cumulative incidence (%)"),
        x_ticks=ticks,
        chart_id="chart-rising-incidence",
    )
    rows = []
    for t in ticks:
        point, plain = curve.at(t), naive.at(t)
        rows.append(
            [
                t,
                pct(point.incidence),
                pct(point.ci_lower),
                pct(point.ci_upper),
                pct(plain.incidence),
            ]
        )
    counts = {o: sum(r.outcome is o for r in records) for o in Outcome}
    return Panel(
        "rising_incidence",
        _("Rising bESR1mut on Step 1"),
        svg=svg if records else "",
        figures=[
            Figure(_("Patients on Step 1"), str(len(records)), "patients"),
            Figure(_("Rising bESR1mut"), str(counts[Outcome.EVENT]), "rising"),
            Figure(_("Progression or death first"), str(counts[Outcome.COMPETING]), "competing"),
            Figure(_("Censored"), str(counts[Outcome.CENSORED]), "censored"),
        ],
        notes=[
            _(
                "1 - Kaplan-Meier treats progression as censoring and over-states the incidence; "
                "it is shown for comparison only."
            )
        ],
        tables=[
            Table(
                "rising_incidence",
                _("Cumulative incidence at landmark times"),
                [
                    _("Months"),
                    _("Incidence (%)"),
                    _("95 % CI lower (%)"),
                    _("95 % CI upper (%)"),
                    _("1 - Kaplan-Meier (%)"),
                ],
                rows,
            ),
            incidence_table("rising_incidence_curve", curve),
        ],
    )


def _turnaround_panels(user, filters) -> list[Panel]:
    report = turnaround_by_lab(lab_samples(user=user, filters=filters))
    labs = [lab for lab in report.labs if lab.lab]
    rows = [
        [
            lab.lab or _("All labs"),
            lab.samples,
            lab.resulted,
            lab.failed,
            lab.pending,
            rnd(lab.median_days),
            rnd(lab.q1_days),
            rnd(lab.q3_days),
            rnd(lab.min_days),
            rnd(lab.max_days),
            pct(lab.failure_rate.estimate),
        ]
        for lab in [*labs, report.overall]
    ]
    with_days = [lab for lab in labs if lab.median_days is not None]
    svg = ""
    if with_days:
        svg = bar_chart(
            [lab.lab for lab in with_days],
            [
                BarSeries(_("Q1"), [lab.q1_days for lab in with_days]),
                BarSeries(_("Median"), [lab.median_days for lab in with_days]),
                BarSeries(_("Q3"), [lab.q3_days for lab in with_days]),
            ],
            title=_("Turnaround by lab (draw to result)"),
            description=_("Days from blood draw to result: quartiles per laboratory."),
            value_label=_("Days"),
            integer_axis=False,
            chart_id="chart-turnaround",
        )
    overall = report.overall
    turnaround = Panel(
        "turnaround",
        _("Turnaround by lab"),
        svg=svg,
        figures=[
            Figure(_("Samples"), str(overall.samples), "samples"),
            Figure(
                _("Median turnaround (days)"),
                "–" if overall.median_days is None else f"{overall.median_days:g}",
                "median_days",
            ),
            Figure(_("Awaiting a result"), str(overall.pending), "pending"),
        ],
        tables=[
            Table(
                "turnaround",
                _("Turnaround per laboratory"),
                [
                    _("Lab"),
                    _("Samples"),
                    _("Resulted"),
                    _("Failed"),
                    _("Pending"),
                    _("Median (days)"),
                    _("Q1 (days)"),
                    _("Q3 (days)"),
                    _("Min (days)"),
                    _("Max (days)"),
                    _("Failure rate (%)"),
                ],
                rows,
            )
        ],
    )
    failures = failed_samples(user=user, filters=filters)
    rate = wilson_interval(overall.failed, overall.failed + overall.resulted)
    failed = Panel(
        "failed_samples",
        _("Failed samples"),
        svg=bar_chart(
            [f"{f.lab}: {f.reason}" for f in failures],
            [BarSeries(_("Samples"), [f.samples for f in failures])],
            title=_("Failed samples by lab and reason"),
            description=_("Samples whose current result is a technical failure."),
            value_label=_("Samples"),
            chart_id="chart-failed-samples",
        )
        if failures
        else "",
        figures=[Figure(_("Failed samples"), proportion_text(rate), "failure_rate")],
        tables=[
            Table(
                "failed_samples",
                _("Failed samples by lab and reason"),
                [_("Lab"), _("Reason"), _("Samples")],
                [[f.lab, f.reason, f.samples] for f in failures],
            )
        ],
    )
    return [turnaround, failed]


def build(*, user, filters, today, now) -> list[Panel]:  # noqa: ARG001
    return [_incidence_panel(user, filters, today), *_turnaround_panels(user, filters)]
