"""The dashboard pages: title, extra filters and panel builder of each."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from ..access import Page
from ..selectors.qol import SCALES
from ..selectors.safety import CHARACTERISTICS
from . import ctdna, efficacy, enrolment, flow, operations, qol, safety
from .panel import PageSpec

PAGES: dict[Page, PageSpec] = {
    Page.ENROLMENT: PageSpec(_("Enrolment and screening"), enrolment.build),
    Page.FLOW: PageSpec(_("Patient flow"), flow.build),
    Page.CTDNA: PageSpec(_("ctDNA monitoring"), ctdna.build),
    Page.OPERATIONS: PageSpec(_("Operations"), operations.build),
    Page.SAFETY: PageSpec(
        _("Safety"),
        safety.build,
        choices={"by": CHARACTERISTICS},
        choice_labels={"by": dict(safety.CHARACTERISTIC_LABELS)},
    ),
    Page.EFFICACY: PageSpec(_("Efficacy (pooled)"), efficacy.build),
    Page.EFFICACY_BY_ARM: PageSpec(_("Efficacy by arm"), efficacy.build_by_arm),
    Page.QOL: PageSpec(
        _("Quality of life"),
        qol.build,
        choices={"scale": SCALES},
        choice_labels={"scale": dict(qol.SCALE_LABELS)},
    ),
}

DESCRIPTIONS = {
    Page.ENROLMENT: _("Enrolment over time per site against the target; screen failures."),
    Page.FLOW: _("CONSORT flow from screening to randomization and crossover."),
    Page.CTDNA: _("Rising bESR1mut incidence, lab turnaround, failed samples."),
    Page.OPERATIONS: _("Assessment compliance per site; SAE reporting clocks."),
    Page.SAFETY: _("Grade >= 3 haematological toxicity on Step 1; dose modifications."),
    Page.EFFICACY: _("PFS from randomization pooled over the arms; PALATINE OS at 24 months."),
    Page.EFFICACY_BY_ARM: _("PFS by arm, hazard ratio and log-rank test (restricted)."),
    Page.QOL: _("QLQ-C30 scores over time, completion, time to deterioration."),
    Page.EXPORTS: _("CSV per domain and CDISC ODM 1.3.2 with audit records."),
}
