"""Reads of allocations. An allocation is shown to its site once made (open-label trial)."""

from __future__ import annotations

from randomization.models import Allocation
from trial.exceptions import NotFound
from trial.models import SITE_ROLES, Role
from trial.selectors.access import User, require_role
from trial.selectors.patients import patient_get

# Patient-level arms: the site (open-label, its own patients) and the data-monitoring roles.
# The sponsor monitor sees arm counts only (balance report), as on the dashboards.
ALLOCATION_READERS = SITE_ROLES | {Role.STATISTICIAN, Role.DATA_MANAGER}

REPLY_RELATED = ("patient", "design__protocol", "design__protocol_version", "created_by")


def allocation_for_patient(*, user: User | None, patient_id: int) -> Allocation:
    """The patient's allocation; not_found for another site's patient or before allocation,
    role_not_allowed for the sponsor monitor and laboratories."""
    patient = patient_get(user=user, patient_id=patient_id)
    require_role(user, ALLOCATION_READERS)
    allocation = Allocation.objects.select_related(*REPLY_RELATED).filter(patient=patient).first()
    if allocation is None:
        raise NotFound()
    return allocation
