"""ctDNA monitoring: time to rising bESR1mut on Step 1, lab turnaround, failed samples.

Rising bESR1mut (DOMAIN.md 1.4, rule 18) is the first current result whose interpretation is
``rising``, dated by its blood draw. Time runs from the Step 1 start (actual C1D1, else the
planned C1D1). The competing event is progression on Step 1 (RECIST 1.1 PD) or death (a grade 5
adverse event), after which Step 1 monitoring stops (DOMAIN.md 1.3); patients without either
are censored at the end of their Step 1 line, or at ``today`` while it is ongoing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Exists, F, OuterRef, Subquery

from monitoring.analysis import days_to_months
from monitoring.analysis.incidence import IncidenceRecord, Outcome
from monitoring.analysis.rates import LabSample
from monitoring.models import CtdnaResult, Lab, PatientCtdnaStatus, Sample, SampleStatus
from trial.models import AdverseEvent, OverallResponse, TreatmentLine, TumourAssessment
from trial.selectors.access import User

from ..filters import DashboardFilters
from . import patients, scoped


def _newer_version() -> Exists:
    return Exists(
        CtdnaResult.objects.filter(
            lab=OuterRef("lab"), sample=OuterRef("sample"), version__gt=OuterRef("version")
        )
    )


@dataclass(frozen=True)
class RisingTimes:
    patient_id: int
    start: dt.date
    rising_on: dt.date | None
    progression_on: dt.date | None
    death_on: dt.date | None
    line_end: dt.date | None


def _first(qs, field: str):
    return Subquery(qs.order_by(field).values(field)[:1])


def rising_times(*, user: User | None, filters: DashboardFilters) -> list[RisingTimes]:
    """Per enrolled patient with a Step 1 line: the dates the incidence needs (one query)."""
    patient = OuterRef("pk")
    step1 = TreatmentLine.objects.filter(patient=patient, step="step1").order_by("created_at")
    rising = CtdnaResult.objects.filter(
        patient=patient, patient_status=PatientCtdnaStatus.RISING
    ).filter(~_newer_version())
    progression = TumourAssessment.objects.filter(
        patient=patient, line__step="step1", overall_response=OverallResponse.PD
    )
    death = AdverseEvent.objects.filter(patient=patient, grade=5)
    rows = (
        patients(user, filters)
        .filter(enrolled_on__isnull=False)
        .annotate(
            started=Subquery(step1.values("started_on")[:1]),
            planned=Subquery(step1.values("planned_c1d1")[:1]),
            ended=Subquery(step1.values("ended_on")[:1]),
            has_line=Exists(step1),
            rising_on=_first(rising, "collected_on"),
            progression_on=_first(progression, "assessed_on"),
            death_on=_first(death, "onset_on"),
        )
        .filter(has_line=True)
        .values_list("pk", "started", "planned", "rising_on", "progression_on", "death_on", "ended")
        .order_by("pk")
    )
    return [
        RisingTimes(pk, started or planned, rising_on, progression_on, death_on, ended)
        for pk, started, planned, rising_on, progression_on, death_on, ended in rows
    ]


def incidence_record(times: RisingTimes, today: dt.date) -> IncidenceRecord:
    """The patient's ending on Step 1: rising first, a competing event first, or censored.
    A rising mutation on the day of progression counts as rising (it was drawn on Step 1)."""
    competing = min((d for d in (times.progression_on, times.death_on) if d), default=None)
    if times.rising_on and (competing is None or times.rising_on <= competing):
        end, outcome = times.rising_on, Outcome.EVENT
    elif competing is not None:
        end, outcome = competing, Outcome.COMPETING
    else:
        end, outcome = min(times.line_end or today, today), Outcome.CENSORED
    days = max(0, (end - times.start).days)
    return IncidenceRecord(days_to_months(days), outcome)


def lab_samples(*, user: User | None, filters: DashboardFilters) -> list[LabSample]:
    """Every ctDNA sample with its lab (the lab of its first result, else the first lab
    serving the site), draw-to-result days and whether its current result failed (one query)."""
    results = CtdnaResult.objects.filter(sample=OuterRef("pk"))
    rows = (
        scoped(Sample.objects.all(), user, filters, "patient__")
        .annotate(
            result_lab=Subquery(results.order_by("created_at", "pk").values("lab__code")[:1]),
            serving_lab=Subquery(
                Lab.objects.filter(sites=OuterRef("patient__site"))
                .order_by("code")
                .values("code")[:1]
            ),
            failed=Exists(results.filter(status=SampleStatus.FAILED).filter(~_newer_version())),
        )
        .values_list("result_lab", "serving_lab", "turnaround_days", "failed")
        .order_by("pk")
    )
    return [
        LabSample(
            lab=result_lab or serving_lab or "-",
            turnaround_days=None if failed or days is None else float(days),
            failed=bool(failed),
        )
        for result_lab, serving_lab, days, failed in rows
    ]


@dataclass(frozen=True)
class FailureCount:
    lab: str
    reason: str
    samples: int


def failed_samples(*, user: User | None, filters: DashboardFilters) -> list[FailureCount]:
    """Current failed results by lab and failure reason (one query)."""
    rows = (
        scoped(CtdnaResult.objects.all(), user, filters, "patient__")
        .filter(status=SampleStatus.FAILED)
        .filter(~_newer_version())
        .values(lab_code=F("lab__code"), reason=F("failure_reason"))
        .annotate(n=Count("sample", distinct=True))
        .order_by("lab_code", "-n", "reason")
    )
    return [FailureCount(r["lab_code"], r["reason"], r["n"]) for r in rows]


__all__ = [
    "FailureCount",
    "RisingTimes",
    "failed_samples",
    "incidence_record",
    "lab_samples",
    "rising_times",
]
