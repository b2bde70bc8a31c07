"""Reads of patients and their records, always site-scoped."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from trial.exceptions import NotFound
from trial.models import Patient, Role

from .access import User, role_of, scope_by_site

# Roles that see pseudonymised data only: never the site-held screening number.
PSEUDONYMISED_ROLES = frozenset({Role.SPONSOR_MONITOR, Role.STATISTICIAN, Role.LAB})


def patient_list(
    *,
    user: User | None,
    site_code: str | None = None,
    status: str | None = None,
    search: str | None = None,
) -> QuerySet[Patient]:
    qs = scope_by_site(Patient.objects.all(), user).select_related(
        "site", "protocol", "protocol_version"
    )
    if site_code:
        qs = qs.filter(site__code=site_code)
    if status:
        qs = qs.filter(status=status)
    if search:
        condition = Q(trial_number__icontains=search)
        if role_of(user) not in PSEUDONYMISED_ROLES:
            # The screening number links the trial number to the site's identity file.
            condition |= Q(screening_number__icontains=search)
        qs = qs.filter(condition)
    return qs.order_by("site__code", "screening_number")


def patient_get(*, user: User | None, patient_id: int) -> Patient:
    """A patient the user may see; another site's patient is reported as not found."""
    patient = patient_list(user=user).filter(pk=patient_id).first()
    if patient is None:
        raise NotFound()
    return patient


def patient_get_by_trial_number(*, user: User | None, trial_number: str) -> Patient:
    patient = patient_list(user=user).filter(trial_number=trial_number).first()
    if patient is None:
        raise NotFound()
    return patient
