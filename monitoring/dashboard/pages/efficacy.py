"""Efficacy: PFS from randomization (PADA-1) pooled or by arm, overall survival at 24 months
(PALATINE). The by-arm page is for the data-monitoring roles only (``access.BY_ARM_ROLES``);
the pooled page shows no comparison between arms."""

from __future__ import annotations

from django.utils.translation import gettext as _

from monitoring.analysis.survival import compare_arms, kaplan_meier, numbers_at_risk
from monitoring.charts.svg import StepSeries, km_chart

from ..selectors import protocol_document
from ..selectors.efficacy import POOLED, os_rows, pfs_rows
from .panel import Figure, Panel, Table, curve_table, interval_text, p_text, pct, rnd

AT_RISK_STEP_MONTHS = 3
OS_LANDMARK_MONTHS = 24.0


def _at_risk_times(records, minimum: float = 12.0) -> list[float]:
    last = max((r.time_months for r in records), default=0.0)
    top = max(minimum, last)
    count = int(top // AT_RISK_STEP_MONTHS) + 1
    return [float(i * AT_RISK_STEP_MONTHS) for i in range(count)]


def _has_randomization(document: dict) -> bool:
    return any(step.get("randomized") for step in document.get("steps", ()))


def _arm_titles(document: dict) -> dict[str, str]:
    for step in document.get("steps", ()):
        if step.get("randomized"):
            return {arm["code"]: arm.get("title", arm["code"]) for arm in step.get("arms", ())}
    return {}


def _curve_rows(curves, labels) -> list[list]:
    return [
        [
            labels.get(c.group, c.group),
            c.n,
            c.events,
            c.censored,
            rnd(c.median.months),
            rnd(c.median.ci_lower_months),
            rnd(c.median.ci_upper_months),
        ]
        for c in curves
    ]


def _curve_headers() -> list[str]:
    return [
        _("Group"),
        _("Patients"),
        _("Events"),
        _("Censored"),
        _("Median (months)"),
        _("95 % CI lower (months)"),
        _("95 % CI upper (months)"),
    ]


def _at_risk_table(key, at_risk, labels) -> Table:
    return Table(
        key,
        _("Numbers at risk"),
        [_("Group"), *(f"{t:g}" for t in at_risk.times_months)],
        [[labels.get(row.group, row.group), *row.counts] for row in at_risk.rows],
    )


def _pooled_curve(records, label: str, *, minimum_months: float, **chart):
    """One Kaplan-Meier curve over all ``records``, its numbers at risk and its chart."""
    curve = kaplan_meier(records, groups=[POOLED])[0]
    times = _at_risk_times(records, minimum=minimum_months)
    at_risk = numbers_at_risk(records, times, groups=[POOLED])
    svg = km_chart(
        [StepSeries.from_kaplan_meier(curve, label=label)],
        at_risk=at_risk,
        show_ci=True,
        at_risk_title=_("Number at risk"),
        **chart,
    )
    return curve, at_risk, svg


def _pfs_pooled_panel(user, filters) -> Panel:
    records = [row.record(by_arm=False) for row in pfs_rows(user=user, filters=filters)]
    labels = {POOLED: _("All randomized patients")}
    curve, at_risk, svg = _pooled_curve(
        records,
        labels[POOLED],
        minimum_months=12.0,
        title=_("Progression-free survival from randomization, all arms pooled"),
        description=_("Kaplan-Meier estimate with numbers at risk; censoring marked by ticks."),
        x_label=_("Months since randomization"),
        y_label=_("Progression-free (%)"),
        chart_id="chart-pfs-pooled",
    )
    median = curve.median
    return Panel(
        "pfs_pooled",
        _("PFS from randomization (pooled)"),
        svg=svg,
        figures=[
            Figure(_("Randomized patients"), str(curve.n), "patients"),
            Figure(_("Progressions or deaths"), str(curve.events), "events"),
            Figure(
                _("Median PFS (months)"),
                interval_text(median.months, median.ci_lower_months, median.ci_upper_months),
                "median",
            ),
        ],
        notes=[_("Pooled over the arms: comparisons between arms are restricted.")],
        tables=[
            Table(
                "pfs_pooled",
                _("PFS, all arms pooled"),
                _curve_headers(),
                _curve_rows([curve], labels),
            ),
            _at_risk_table("pfs_pooled_at_risk", at_risk, labels),
            curve_table("pfs_pooled_curve", [curve], labels),
        ],
    )


def _os_panel(user, filters) -> Panel:
    records = [row.record() for row in os_rows(user=user, filters=filters)]
    labels = {POOLED: _("All patients")}
    curve, at_risk, svg = _pooled_curve(
        records,
        labels[POOLED],
        minimum_months=OS_LANDMARK_MONTHS,
        title=_("Overall survival"),
        description=_("Kaplan-Meier estimate from the start of treatment, numbers at risk."),
        x_label=_("Months since the start of treatment"),
        y_label=_("Alive (%)"),
        chart_id="chart-os",
    )
    landmark = curve.at(OS_LANDMARK_MONTHS)
    landmark_text = (
        interval_text(
            pct(landmark.survival), pct(landmark.ci_lower), pct(landmark.ci_upper), unit=" %"
        )
        if landmark.survival is not None
        else _("not estimable yet (%(why)s)") % {"why": landmark.reason or landmark.status}
    )
    return Panel(
        "os",
        _("Overall survival at 24 months"),
        svg=svg,
        figures=[
            Figure(_("Patients"), str(curve.n), "patients"),
            Figure(_("Deaths"), str(curve.events), "deaths"),
            Figure(_("Overall survival at 24 months"), landmark_text, "os_24"),
        ],
        tables=[
            Table(
                "os",
                _("Overall survival at 24 months"),
                [
                    _("Patients"),
                    _("Deaths"),
                    _("At risk at 24 months"),
                    _("OS at 24 months (%)"),
                    _("95 % CI lower (%)"),
                    _("95 % CI upper (%)"),
                ],
                [
                    [
                        curve.n,
                        curve.events,
                        landmark.at_risk,
                        pct(landmark.survival),
                        pct(landmark.ci_lower),
                        pct(landmark.ci_upper),
                    ]
                ],
            ),
            _at_risk_table("os_at_risk", at_risk, labels),
            curve_table("os_curve", [curve], labels),
        ],
    )


def build(*, user, filters, today, now) -> list[Panel]:  # noqa: ARG001
    document = protocol_document(filters)
    if _has_randomization(document):
        return [_pfs_pooled_panel(user, filters)]
    return [_os_panel(user, filters)]


def build_by_arm(*, user, filters, today, now) -> list[Panel]:  # noqa: ARG001
    """PFS by arm: Kaplan-Meier with numbers at risk, medians with CIs, stratified Cox HR of B
    vs A with its CI, stratified log-rank p (``monitoring.analysis.survival.compare_arms``)."""
    document = protocol_document(filters)
    titles = _arm_titles(document)
    if not titles:
        return [
            Panel(
                "pfs_by_arm",
                _("PFS by arm"),
                notes=[_("This protocol has no randomized step.")],
            )
        ]
    reference, experimental = sorted(titles)[:2]
    records = [row.record(by_arm=True) for row in pfs_rows(user=user, filters=filters)]
    times = _at_risk_times(records)
    result = compare_arms(
        records, reference=reference, experimental=experimental, at_risk_times=times
    )
    labels = {code: _("Arm %(code)s") % {"code": code} for code in titles}
    svg = km_chart(
        [StepSeries.from_kaplan_meier(c, label=labels[c.group]) for c in result.curves],
        title=_("Progression-free survival from randomization by arm"),
        description=_("Kaplan-Meier estimates by arm with numbers at risk."),
        at_risk=result.at_risk,
        x_label=_("Months since randomization"),
        y_label=_("Progression-free (%)"),
        at_risk_title=_("Number at risk"),
        chart_id="chart-pfs-by-arm",
    )
    hr, logrank = result.hazard_ratio, result.logrank
    hr_text = (
        interval_text(hr.hazard_ratio, hr.ci_lower, hr.ci_upper, decimals=2)
        if hr.hazard_ratio is not None
        else _("not estimable (%(why)s)") % {"why": hr.reason or hr.status}
    )
    figures = [
        Figure(
            _("Median PFS, %(arm)s (months)") % {"arm": labels[c.group]},
            interval_text(c.median.months, c.median.ci_lower_months, c.median.ci_upper_months),
            f"median_{c.group}",
        )
        for c in result.curves
    ]
    figures += [
        Figure(
            _("Hazard ratio %(b)s vs %(a)s (%(method)s)")
            % {
                "b": labels[experimental],
                "a": labels[reference],
                "method": _("stratified") if hr.stratified else _("unstratified"),
            },
            hr_text,
            "hazard_ratio",
        ),
        Figure(_("Log-rank p (%(m)s)") % {"m": logrank.method}, p_text(logrank.p_value), "logrank"),
    ]
    return [
        Panel(
            "pfs_by_arm",
            _("PFS from randomization by arm"),
            svg=svg,
            figures=figures,
            notes=[_("Restricted to the statistician and the data-monitoring roles.")],
            tables=[
                Table(
                    "pfs_by_arm",
                    _("PFS by arm"),
                    _curve_headers(),
                    _curve_rows(result.curves, labels),
                ),
                Table(
                    "pfs_comparison",
                    _("Comparison of the arms"),
                    [
                        _("Hazard ratio"),
                        _("95 % CI lower"),
                        _("95 % CI upper"),
                        _("Wald p"),
                        _("Stratified"),
                        _("Strata"),
                        _("Log-rank chi-square"),
                        _("Log-rank p"),
                    ],
                    [
                        [
                            rnd(hr.hazard_ratio, 3),
                            rnd(hr.ci_lower, 3),
                            rnd(hr.ci_upper, 3),
                            rnd(hr.p_value, 4),
                            "yes" if hr.stratified else "no",
                            hr.strata,
                            rnd(logrank.statistic, 3),
                            rnd(logrank.p_value, 4),
                        ]
                    ],
                ),
                _at_risk_table("pfs_by_arm_at_risk", result.at_risk, labels),
                curve_table("pfs_by_arm_curve", result.curves, labels),
            ],
        )
    ]
