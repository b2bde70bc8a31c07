"""The CONSORT-style flow of PADA-1 (DOMAIN.md 1.3-1.5): screened, included, monitored by
ctDNA, rising bESR1mut, imaged in the window, randomized to A and B, crossed over, with the
reasons patients left at each step. One aggregate query.

Each patient is counted once per stage, and the reasons for leaving a stage are mutually
exclusive (checked in the order listed), so every side box adds up to the difference between
two consecutive stages. Enrolment dates do not filter the flow (screened patients are never
enrolled); the protocol and site filters do.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q

from monitoring.models import CtdnaResult, PatientCtdnaStatus, Sample
from randomization.models import Allocation, Crossover
from trial.models import (
    EligibilityAssessment,
    OverallResponse,
    PatientStatus,
    Step2Trigger,
    TriggerStatus,
    TumourAssessment,
)
from trial.selectors.access import User

from ..filters import DashboardFilters
from . import patients

STAGES = ("screened", "included", "monitored", "rising", "imaged", "randomized")


@dataclass(frozen=True)
class Flow:
    counts: dict[str, int]  # stage or reason code -> patients

    def __getitem__(self, key: str) -> int:
        return self.counts[key]


def _among(qs) -> Q:
    """The patient is among those of ``qs``. Written ``pk IN (uncorrelated subquery)`` rather
    than a correlated EXISTS: PostgreSQL runs each subquery once into a hash table instead of
    once per patient and condition (seconds at 50k patients)."""
    return Q(pk__in=qs.values("patient_id"))


def flow_counts(*, user: User | None, filters: DashboardFilters) -> Flow:
    assessed = _among(EligibilityAssessment.objects.all())
    enrolled = Q(enrolled_on__isnull=False)
    withdrawn = Q(status=PatientStatus.WITHDRAWN)
    sampled = _among(Sample.objects.all())
    newer = CtdnaResult.objects.filter(
        lab=OuterRef("lab"), sample=OuterRef("sample"), version__gt=OuterRef("version")
    )
    rising = _among(
        CtdnaResult.objects.filter(patient_status=PatientCtdnaStatus.RISING).exclude(Exists(newer))
    )
    progressed_step1 = _among(
        TumourAssessment.objects.filter(line__step="step1", overall_response=OverallResponse.PD)
    )
    triggers = Step2Trigger.objects.all()
    imaged = _among(triggers.filter(imaging_on__isnull=False))
    missed_imaging = _among(
        triggers.filter(status=TriggerStatus.WINDOW_MISSED, imaging_on__isnull=True)
    )
    awaiting_imaging = _among(triggers.filter(status=TriggerStatus.IMAGING_REQUIRED))
    synchronous = _among(
        triggers.filter(status=TriggerStatus.PROGRESSION, imaging_on__isnull=False)
    )
    missed_randomization = _among(
        triggers.filter(status=TriggerStatus.WINDOW_MISSED, imaging_on__isnull=False)
    )
    awaiting_randomization = _among(triggers.filter(status=TriggerStatus.ELIGIBLE))
    allocated = _among(Allocation.objects.all())
    arm_a = _among(Allocation.objects.filter(arm="A"))
    arm_b = _among(Allocation.objects.filter(arm="B"))
    crossed = _among(Crossover.objects.all())

    monitored = enrolled & sampled
    rising_stage = monitored & rising
    imaged_stage = rising_stage & imaged
    randomized = imaged_stage & allocated
    not_imaged = rising_stage & ~imaged
    not_randomized = imaged_stage & ~allocated
    conditions = {
        "screened": assessed,
        "screen_failed": assessed & Q(status=PatientStatus.SCREEN_FAILED),
        "in_screening": assessed & Q(status=PatientStatus.SCREENING),
        "withdrawn_before_inclusion": assessed & ~enrolled & withdrawn,
        "included": enrolled,
        "no_sample_withdrawn": enrolled & ~sampled & withdrawn,
        "no_sample_yet": enrolled & ~sampled & ~withdrawn,
        "monitored": monitored,
        "progression_without_rising": monitored & ~rising & progressed_step1,
        "withdrawn_without_rising": monitored & ~rising & ~progressed_step1 & withdrawn,
        "monitoring_ongoing": monitored & ~rising & ~progressed_step1 & ~withdrawn,
        "rising": rising_stage,
        "imaging_window_missed": not_imaged & missed_imaging,
        "awaiting_imaging": not_imaged & ~missed_imaging & awaiting_imaging,
        "no_trigger": not_imaged & ~missed_imaging & ~awaiting_imaging,
        "imaged": imaged_stage,
        "synchronous_progression": not_randomized & synchronous,
        "randomization_window_missed": not_randomized & ~synchronous & missed_randomization,
        "awaiting_randomization": not_randomized
        & ~synchronous
        & ~missed_randomization
        & awaiting_randomization,
        "not_randomized_other": not_randomized
        & ~synchronous
        & ~missed_randomization
        & ~awaiting_randomization,
        "randomized": randomized,
        "arm_a": randomized & arm_a,
        "arm_b": randomized & arm_b,
        "arm_a_crossed_over": randomized & arm_a & crossed,
    }
    counts = patients(user, filters, dates=False).aggregate(
        **{name: Count("pk", filter=condition) for name, condition in conditions.items()}
    )
    return Flow(counts)


#: Reasons for leaving after each stage, in the order they are checked.
LEFT_AFTER = {
    "screened": ("screen_failed", "in_screening", "withdrawn_before_inclusion"),
    "included": ("no_sample_withdrawn", "no_sample_yet"),
    "monitored": ("progression_without_rising", "withdrawn_without_rising", "monitoring_ongoing"),
    "rising": ("imaging_window_missed", "awaiting_imaging", "no_trigger"),
    "imaged": (
        "synchronous_progression",
        "randomization_window_missed",
        "awaiting_randomization",
        "not_randomized_other",
    ),
    "randomized": (),
}
