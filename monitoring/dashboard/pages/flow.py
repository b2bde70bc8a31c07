"""The CONSORT-style flow diagram of the adaptive design."""

from __future__ import annotations

from django.utils.translation import gettext as _

from monitoring.charts.svg import FlowArm, FlowCount, FlowStage, consort_diagram

from ..selectors import protocol_document
from ..selectors.flow import LEFT_AFTER, STAGES, flow_counts
from .panel import Panel, Table


def labels() -> dict[str, str]:
    return {
        "screened": _("Screened (eligibility assessed)"),
        "included": _("Included in Step 1"),
        "monitored": _("Monitored by ctDNA (at least one sample)"),
        "rising": _("Rising bESR1mut"),
        "imaged": _("Imaged within the window"),
        "randomized": _("Randomized"),
        "screen_failed": _("Screen failure"),
        "in_screening": _("Still in screening"),
        "withdrawn_before_inclusion": _("Withdrawn before inclusion"),
        "no_sample_withdrawn": _("Withdrawn before a ctDNA sample"),
        "no_sample_yet": _("No ctDNA sample yet"),
        "progression_without_rising": _("Progression on Step 1 without rising bESR1mut"),
        "withdrawn_without_rising": _("Withdrawn"),
        "monitoring_ongoing": _("Monitoring ongoing"),
        "imaging_window_missed": _("Imaging window missed"),
        "awaiting_imaging": _("Awaiting imaging"),
        "no_trigger": _("Step 2 trigger not opened (not on Step 1)"),
        "synchronous_progression": _("Synchronous progression"),
        "randomization_window_missed": _("Randomization window missed"),
        "awaiting_randomization": _("Awaiting randomization"),
        "not_randomized_other": _("Not randomized, other"),
        "arm_a": _("Arm A"),
        "arm_b": _("Arm B"),
        "arm_a_crossed_over": _("Crossed over (Step 3)"),
    }


def _arm_titles(document: dict) -> dict[str, str]:
    for step in document.get("steps", ()):
        if step.get("randomized"):
            return {arm["code"]: arm.get("title", arm["code"]) for arm in step.get("arms", ())}
    return {}


def build(*, user, filters, today, now) -> list[Panel]:  # noqa: ARG001
    document = protocol_document(filters)
    flow = flow_counts(user=user, filters=filters)
    names = labels()
    randomized_design = bool(_arm_titles(document))
    stages_shown = STAGES if randomized_design else STAGES[:2]
    # Without a randomized step (PALATINE) the flow ends at inclusion: nothing follows it.
    left_after = {stage: LEFT_AFTER[stage] for stage in stages_shown[:-1]}
    left_after[stages_shown[-1]] = LEFT_AFTER[stages_shown[-1]] if randomized_design else ()
    stages = [
        FlowStage(
            names[stage],
            flow[stage],
            [FlowCount(names[r], flow[r]) for r in left_after[stage] if flow[r]],
        )
        for stage in stages_shown
    ]
    arms = []
    if randomized_design:
        titles = _arm_titles(document)
        arms = [
            FlowArm(
                titles.get("A", names["arm_a"]),
                flow["arm_a"],
                [FlowCount(names["arm_a_crossed_over"], flow["arm_a_crossed_over"])],
            ),
            FlowArm(titles.get("B", names["arm_b"]), flow["arm_b"]),
        ]
    svg = consort_diagram(
        stages,
        arms=arms,
        title=_("Patient flow"),
        description=_(
            "Patients at each step of the design and why they did not continue to the next."
        ),
        count_prefix=_("n = "),
        left_heading=_("Did not continue"),
        chart_id="chart-consort",
    )
    rows = []
    for stage in stages_shown:
        rows.append([names[stage], "", flow[stage]])
        for reason in left_after[stage]:
            rows.append([names[stage], names[reason], flow[reason]])
    if randomized_design:
        for key in ("arm_a", "arm_b", "arm_a_crossed_over"):
            rows.append([names["randomized"], names[key], flow[key]])
    return [
        Panel(
            "flow",
            _("Patient flow (CONSORT)"),
            svg=svg,
            notes=[
                _(
                    "Reasons are mutually exclusive and add up to the patients who did not "
                    "reach the next step. Enrolment dates do not filter the flow."
                )
            ],
            tables=[
                Table(
                    "flow",
                    _("Patients at each step"),
                    [_("Step"), _("Did not continue / detail"), _("Patients")],
                    rows,
                )
            ],
        )
    ]
