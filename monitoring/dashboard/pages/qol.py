"""Quality of life: mean QLQ-C30 scale scores over time, completion, time to deterioration.

Groups are Step 1 and the randomized steps pooled; the data-monitoring roles see Step 2 by arm
(and Step 3) instead (``access.sees_arms``): a comparison between arms is efficacy."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from monitoring.analysis.qol import DEFAULT_MID_POINTS
from monitoring.analysis.survival import kaplan_meier
from monitoring.charts.svg import LinePoint, LineSeries, StepSeries, km_chart, line_chart

from ..access import sees_arms
from ..selectors.qol import SCALES, QolAnalysis, qol_analysis
from .panel import Figure, Panel, Table, curve_table, pct, rnd

SCALE_LABELS = {
    "ql2": gettext_lazy("Global health status / QoL"),
    "pf2": gettext_lazy("Physical functioning"),
    "rf2": gettext_lazy("Role functioning"),
    "ef": gettext_lazy("Emotional functioning"),
    "cf": gettext_lazy("Cognitive functioning"),
    "sf": gettext_lazy("Social functioning"),
    "fa": gettext_lazy("Fatigue"),
    "nv": gettext_lazy("Nausea and vomiting"),
    "pa": gettext_lazy("Pain"),
    "dy": gettext_lazy("Dyspnoea"),
    "sl": gettext_lazy("Insomnia"),
    "ap": gettext_lazy("Appetite loss"),
    "co": gettext_lazy("Constipation"),
    "di": gettext_lazy("Diarrhoea"),
    "fi": gettext_lazy("Financial difficulties"),
    "summary": gettext_lazy("Summary score"),
}


def _means_panel(summaries, scale) -> Panel:
    groups = sorted({s.group for s in summaries})
    series = []
    for group in groups:
        points = [
            LinePoint(s.timepoint, s.mean, s.ci_lower, s.ci_upper)
            for s in summaries
            if s.group == group and s.mean is not None
        ]
        if points:
            series.append(LineSeries(group, points))
    timepoints = sorted({s.timepoint for s in summaries})
    svg = ""
    if series:
        svg = line_chart(
            series,
            title=_("%(scale)s over time") % {"scale": SCALE_LABELS[scale]},
            description=_("Mean score (0-100) at each assessment with its 95 % CI."),
            x_label=_("Assessment (0 = baseline)"),
            y_label=_("Mean score"),
            x_ticks=timepoints,
            x_tick_labels=[_("Baseline") if t == 0 else str(t) for t in timepoints],
            y_min=0,
            y_max=100,
            chart_id="chart-qol-means",
        )
    expected = sum(s.expected for s in summaries)
    completed = sum(s.completed for s in summaries)
    return Panel(
        "qol_means",
        _("Mean scores over time"),
        svg=svg,
        figures=[
            Figure(_("Forms expected"), str(expected), "expected"),
            Figure(
                _("Forms completed"),
                f"{completed} ({pct(completed / expected) if expected else '–'} %)",
                "completed",
            ),
        ],
        tables=[
            Table(
                "qol_means",
                _("Mean scores and completion per assessment"),
                [
                    _("Group"),
                    _("Assessment"),
                    _("Expected"),
                    _("Completed"),
                    _("Completion (%)"),
                    _("Mean"),
                    _("SD"),
                    _("95 % CI lower"),
                    _("95 % CI upper"),
                ],
                [
                    [
                        s.group,
                        s.timepoint,
                        s.expected,
                        s.completed,
                        pct(s.completion.estimate),
                        rnd(s.mean),
                        rnd(s.sd),
                        rnd(s.ci_lower),
                        rnd(s.ci_upper),
                    ]
                    for s in summaries
                ],
            )
        ],
    )


def _deterioration_panel(analysis: QolAnalysis, scale) -> Panel:
    curves = kaplan_meier(analysis.deterioration)
    svg = ""
    if curves:
        svg = km_chart(
            [StepSeries.from_kaplan_meier(c) for c in curves],
            title=_("Time to deterioration of %(scale)s") % {"scale": SCALE_LABELS[scale]},
            description=_(
                "First worsening by at least %(mid)g points from baseline (Kaplan-Meier)."
            )
            % {"mid": DEFAULT_MID_POINTS},
            x_label=_("Months since the start of the line"),
            y_label=_("Without deterioration (%)"),
            chart_id="chart-qol-ttd",
        )
    return Panel(
        "qol_deterioration",
        _("Time to deterioration"),
        svg=svg,
        figures=[Figure(_("Without a baseline score"), str(analysis.no_baseline), "no_baseline")],
        notes=[
            _(
                "Minimal important difference %(mid)g points; patients without deterioration "
                "are censored at their last completed form."
            )
            % {"mid": DEFAULT_MID_POINTS}
        ],
        tables=[
            Table(
                "qol_deterioration",
                _("Time to deterioration by group"),
                [
                    _("Group"),
                    _("Patients"),
                    _("Deteriorations"),
                    _("Median (months)"),
                    _("95 % CI lower (months)"),
                    _("95 % CI upper (months)"),
                ],
                [
                    [
                        c.group,
                        c.n,
                        c.events,
                        rnd(c.median.months),
                        rnd(c.median.ci_lower_months),
                        rnd(c.median.ci_upper_months),
                    ]
                    for c in curves
                ],
            ),
            curve_table("qol_deterioration_curve", curves),
        ],
    )


def build(*, user, filters, today, now) -> list[Panel]:  # noqa: ARG001
    scale = filters.extra.get("scale", SCALES[0])
    analysis = qol_analysis(
        user=user, filters=filters, scale=scale, today=today, by_arm=sees_arms(user)
    )
    return [_means_panel(analysis.summaries, scale), _deterioration_panel(analysis, scale)]
