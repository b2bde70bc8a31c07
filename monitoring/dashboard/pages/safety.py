"""Step 1 safety: grade >= 3 haematological toxicity overall and by a baseline
characteristic (PADA-1 co-primary endpoint, DOMAIN.md 1.6); dose reductions and
discontinuations."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from monitoring.analysis.rates import haem_toxicity_rates
from monitoring.charts.svg import BarSeries, bar_chart

from ..selectors.safety import (
    CHARACTERISTICS,
    dose_modifications,
    haem_toxicity_records,
    step1_line_endings,
)
from .panel import Figure, Panel, Table, p_text, pct, proportion_text

CHARACTERISTIC_LABELS = {
    "age_group": gettext_lazy("Age at enrolment"),
    "menopausal_status": gettext_lazy("Menopausal status"),
    "endocrine_drug": gettext_lazy("Aromatase inhibitor"),
    "site": gettext_lazy("Site"),
}


def _toxicity_panel(user, filters, characteristic: str) -> Panel:
    records = haem_toxicity_records(user=user, filters=filters)
    rates = haem_toxicity_rates(records, characteristic=characteristic)
    rows = [
        [
            s.level,
            s.rate.n,
            s.rate.successes,
            pct(s.rate.estimate),
            pct(s.rate.ci_lower),
            pct(s.rate.ci_upper),
        ]
        for s in rates.subgroups
    ]
    overall = rates.overall
    rows.append(
        [
            _("All patients"),
            overall.n,
            overall.successes,
            pct(overall.estimate),
            pct(overall.ci_lower),
            pct(overall.ci_upper),
        ]
    )
    evaluable = [s for s in rates.subgroups if s.rate.n]
    svg = ""
    if evaluable:
        svg = bar_chart(
            [s.level for s in evaluable],
            [BarSeries(_("Grade >= 3 (%)"), [pct(s.rate.estimate) or 0.0 for s in evaluable])],
            title=_("Grade >= 3 haematological toxicity on Step 1"),
            description=_("Percentage of evaluable patients by %(c)s.")
            % {"c": CHARACTERISTIC_LABELS[characteristic]},
            value_label=_("Patients with grade >= 3 (%)"),
            integer_axis=False,
            chart_id="chart-haem-toxicity",
        )
    test = rates.association
    figures = [
        Figure(_("Grade >= 3 haematological toxicity"), proportion_text(overall), "overall"),
        Figure(
            _("Not evaluable (no graded blood count)"), str(rates.not_evaluable), "not_evaluable"
        ),
    ]
    if test is not None:
        figures.append(
            Figure(
                _("Association with %(c)s") % {"c": CHARACTERISTIC_LABELS[characteristic]},
                f"p = {p_text(test.p_value)} ({test.method or test.reason})",
                "association",
            )
        )
    return Panel(
        "haem_toxicity",
        _("Grade >= 3 haematological toxicity (Step 1)"),
        svg=svg,
        figures=figures,
        notes=[
            _(
                "Worst grade over all haematological terms of the Step 1 blood counts, as graded "
                "with the protocol's CTCAE version. Tests are descriptive monitoring aids."
            )
        ],
        tables=[
            Table(
                "haem_toxicity",
                _("Grade >= 3 haematological toxicity by %(c)s")
                % {"c": CHARACTERISTIC_LABELS[characteristic]},
                [
                    CHARACTERISTIC_LABELS[characteristic],
                    _("Evaluable"),
                    _("Grade >= 3"),
                    _("Rate (%)"),
                    _("95 % CI lower (%)"),
                    _("95 % CI upper (%)"),
                ],
                rows,
            )
        ],
    )


def _dose_panel(user, filters) -> Panel:
    mods = dose_modifications(user=user, filters=filters)
    endings = step1_line_endings(user=user, filters=filters)
    svg = ""
    if mods.by_reason:
        svg = bar_chart(
            [reason for reason, _r, _d in mods.by_reason],
            [
                BarSeries(_("Reductions"), [r for _c, r, _d in mods.by_reason]),
                BarSeries(_("Discontinuations"), [d for _c, _r, d in mods.by_reason]),
            ],
            title=_("Palbociclib dose reductions and discontinuations"),
            description=_("Signed dose decisions on Step 1, by the rule that proposed them."),
            value_label=_("Decisions"),
            chart_id="chart-dose-modifications",
        )
    return Panel(
        "dose_modifications",
        _("Dose reductions and discontinuations (Step 1)"),
        svg=svg,
        figures=[
            Figure(_("Patients on Step 1"), str(mods.patients_on_step1), "on_step1"),
            Figure(
                _("Patients with a dose reduction"),
                f"{mods.patients_reduced} ({mods.reductions} {_('reductions')})",
                "reduced",
            ),
            Figure(
                _("Patients who stopped palbociclib"),
                str(mods.patients_discontinued_palbociclib),
                "discontinued",
            ),
        ],
        tables=[
            Table(
                "dose_modifications",
                _("Signed palbociclib decisions by reason"),
                [_("Reason code"), _("Reductions"), _("Discontinuations")],
                [list(row) for row in mods.by_reason],
            ),
            Table(
                "step1_endings",
                _("Step 1 treatment lines ended, by reason"),
                [_("End reason"), _("Lines")],
                [list(row) for row in endings],
            ),
        ],
    )


def build(*, user, filters, today, now) -> list[Panel]:  # noqa: ARG001
    characteristic = filters.extra.get("by", CHARACTERISTICS[0])
    return [_toxicity_panel(user, filters, characteristic), _dose_panel(user, filters)]
