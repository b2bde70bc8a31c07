"""Reads of Step 1 follow-up records, site-scoped through ``trial.selectors.access``."""

from __future__ import annotations

import datetime as dt

from django.db.models import Min, Q, QuerySet

from trial.exceptions import NotFound
from trial.models import (
    AdverseEvent,
    BloodCount,
    Cycle,
    DoseDecision,
    LocoregionalTreatment,
    OverallResponse,
    Patient,
    QolQuestionnaire,
    SurvivalContact,
    TumourAssessment,
)

from .access import User, scope_by_site


def cycle_list(*, patient: Patient) -> QuerySet[Cycle]:
    return (
        Cycle.objects.filter(line__patient=patient)
        .select_related("line")
        .order_by("line__created_at", "number")
    )


def blood_count_list(*, patient: Patient) -> QuerySet[BloodCount]:
    return BloodCount.objects.filter(patient=patient).order_by("-drawn_on", "-pk")


def dose_decision_list(*, patient: Patient) -> QuerySet[DoseDecision]:
    return (
        DoseDecision.objects.filter(line__patient=patient)
        .select_related("signed_by", "blood_count")
        .order_by("-created_at", "-pk")
    )


def dose_decision_get(*, user: User | None, decision_id: int) -> DoseDecision:
    decision = (
        scope_by_site(DoseDecision.objects.all(), user, "line__patient__site")
        .select_related("line__patient__site", "blood_count")
        .filter(pk=decision_id)
        .first()
    )
    if decision is None:
        raise NotFound()
    return decision


def adverse_event_list(*, patient: Patient) -> QuerySet[AdverseEvent]:
    return AdverseEvent.objects.filter(patient=patient).order_by("-onset_on", "-pk")


def adverse_event_get(*, user: User | None, event_id: int) -> AdverseEvent:
    event = (
        scope_by_site(AdverseEvent.objects.all(), user, "patient__site")
        .select_related("patient__site")
        .filter(pk=event_id)
        .first()
    )
    if event is None:
        raise NotFound()
    return event


def tumour_assessment_list(*, patient: Patient) -> QuerySet[TumourAssessment]:
    return (
        TumourAssessment.objects.filter(patient=patient)
        .prefetch_related("target_lesions")
        .order_by("-assessed_on", "-pk")
    )


def qol_list(*, patient: Patient) -> QuerySet[QolQuestionnaire]:
    return QolQuestionnaire.objects.filter(patient=patient).order_by("-completed_on", "-pk")


def locoregional_treatment_list(*, patient: Patient) -> QuerySet[LocoregionalTreatment]:
    return LocoregionalTreatment.objects.filter(patient=patient).order_by("-created_at")


def survival_contact_list(*, patient: Patient) -> QuerySet[SurvivalContact]:
    return SurvivalContact.objects.filter(patient=patient).order_by("-contacted_on", "-pk")


def progression_on(*, patient: Patient) -> dt.date | None:
    """Date of the patient's first RECIST 1.1 progression on their latest line (None if none):
    what the Step 3 crossover requires (DOMAIN.md section 7 rule 23)."""
    line = patient.lines.order_by("-created_at", "-pk").first()
    if line is None:
        return None
    return (
        TumourAssessment.objects.filter(line=line, overall_response=OverallResponse.PD)
        .aggregate(first=Min("assessed_on"))
        .get("first")
    )


def haematological_toxicities(
    *, user: User | None, step: str | None = "step1", min_grade: int = 3
) -> QuerySet[BloodCount]:
    """Blood counts with a haematological grade >= ``min_grade`` (PADA-1 co-primary endpoint:
    grade >= 3 haematological toxicity in Step 1, DOMAIN.md 1.6), scoped to the user's sites."""
    qs = scope_by_site(BloodCount.objects.all(), user, "patient__site").filter(
        Q(haem_max_grade__gte=min_grade)
    )
    if step:
        qs = qs.filter(line__step=step)
    return qs.select_related("patient__site", "line").order_by("-drawn_on", "-pk")
