"""Reads of labs, samples and ctDNA results, with lab and site scoping applied once here."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from trial.exceptions import NotFound
from trial.selectors.access import User, scope_by_site
from trial.selectors.patients import patient_get

from .exceptions import LabNotConfigured
from .models import CtdnaResult, CtdnaVariant, Lab, Sample


def lab_for_user(user: User | None) -> Lab:
    """The laboratory whose service account ``user`` is (403 ``lab_not_configured`` if none)."""
    cached = getattr(user, "_lab_cache", None)
    if cached is not None:
        return cached
    # With its service user: ingestion attributes every row it writes to that account.
    lab = (
        Lab.objects.filter(service_user_id=getattr(user, "pk", None))
        .select_related("service_user")
        .first()
    )
    if lab is None:
        raise LabNotConfigured()
    user._lab_cache = lab  # type: ignore[union-attr]
    return lab


def _newer_version() -> Exists:
    return Exists(
        CtdnaResult.objects.filter(
            lab=OuterRef("lab"), sample=OuterRef("sample"), version__gt=OuterRef("version")
        )
    )


def current_versions(qs: QuerySet[CtdnaResult]) -> QuerySet[CtdnaResult]:
    """Only the latest version of each (lab, sample) result: amended versions drop out."""
    return qs.filter(~_newer_version())


def _with_details(qs: QuerySet[CtdnaResult]) -> QuerySet[CtdnaResult]:
    """Everything the result serializer reads, in two queries whatever the number of rows."""
    return (
        qs.select_related("lab", "sample", "patient", "submission")
        .defer("submission__body")
        .annotate(is_current=~_newer_version())
        .prefetch_related(Prefetch("variants", queryset=CtdnaVariant.objects.order_by("position")))
    )


def result_list_for_lab(
    *, lab: Lab, sample_id: str | None = None, patient_id: str | None = None
) -> QuerySet[CtdnaResult]:
    """The results ``lab`` posted (every version), newest first; filters by the lab's ids."""
    qs = CtdnaResult.objects.filter(lab=lab)
    if sample_id:
        qs = qs.filter(sample__sample_id=sample_id)
    if patient_id:
        qs = qs.filter(patient__trial_number=patient_id)
    return _with_details(qs).order_by("-created_at", "-pk")


def result_get_for_lab(*, lab: Lab, result_id: int) -> CtdnaResult:
    """One of ``lab``'s results; another lab's result is reported as not found."""
    result = result_list_for_lab(lab=lab).filter(pk=result_id).first()
    if result is None:
        raise NotFound()
    return result


def result_list_for_patient(*, user: User | None, patient_id: int) -> QuerySet[CtdnaResult]:
    """A patient's results for staff who may see the patient, oldest draw first."""
    patient = patient_get(user=user, patient_id=patient_id)
    return _with_details(CtdnaResult.objects.filter(patient=patient)).order_by(
        "collected_on", "sample_id", "lab_id", "version"
    )


def sample_list_for_patient(*, user: User | None, patient_id: int) -> QuerySet[Sample]:
    patient = patient_get(user=user, patient_id=patient_id)
    return Sample.objects.filter(patient=patient).select_related("patient").order_by("drawn_on")


def sample_list(*, user: User | None) -> QuerySet[Sample]:
    return scope_by_site(Sample.objects.all(), user, "patient__site")
