"""Reads of allocations. An allocation is shown to its site once made (open-label trial)."""

from __future__ import annotations

from randomization.models import Allocation
from trial.exceptions import NotFound
from trial.selectors.access import User
from trial.selectors.patients import patient_get

REPLY_RELATED = ("patient", "design__protocol", "design__protocol_version", "created_by")


def allocation_for_patient(*, user: User | None, patient_id: int) -> Allocation:
    """The patient's allocation; not_found for another site's patient or before allocation."""
    patient = patient_get(user=user, patient_id=patient_id)
    allocation = Allocation.objects.select_related(*REPLY_RELATED).filter(patient=patient).first()
    if allocation is None:
        raise NotFound()
    return allocation
