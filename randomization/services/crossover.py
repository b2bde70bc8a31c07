"""Step 3: the optional crossover of an Arm A patient to fulvestrant + palbociclib after
recorded RECIST 1.1 progression (DOMAIN.md 1.3; section 7 rule 23).

Progression on Arm A ends the Arm A line and leaves the patient on ``step2_arm_a`` without an
open line (``trial.services.tumour``); the investigator then decides. The crossover starts a
line of the protocol's Step 3 regimen on the decision date and the schedule follows
(``trial.services.treatment.treatment_line_switch`` rebuilds it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction

from randomization.exceptions import AlreadyCrossedOver, CrossoverNotAllowed
from randomization.models import Allocation, Crossover
from trial.models import OverallResponse, Patient, Step, TumourAssessment
from trial.selectors.access import INVESTIGATOR_ONLY, require_site_writer
from trial.services.audit import audit_event_record, tracked_save
from trial.services.signatures import signature_verify
from trial.services.treatment import treatment_line_switch

from .allocation import endocrine_partner

CROSSOVER_STEP = "step3"


def crossover_step(document: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The protocol's crossover step: ``from_arm`` and ``regimen``."""
    return next((s for s in document.get("steps", []) if s.get("code") == CROSSOVER_STEP), None)


def patient_crossover(*, patient: Patient, by: Any, password: str, today: dt.date) -> Crossover:
    """Cross an Arm A patient over to the Step 3 regimen from ``today``.

    Errors: not_found (another site), role_not_allowed (not an investigator), wrong_password,
    already_crossed_over, crossover_not_allowed (``details.reason``: not_randomized,
    not_crossover_arm, not_on_arm, no_progression, not_in_protocol), invalid_state.
    """
    require_site_writer(by, patient.site, roles=INVESTIGATOR_ONLY)
    signature_verify(user=by, password=password)
    try:
        with transaction.atomic(durable=True):
            return _cross_over(patient.pk, by=by, today=today)
    except IntegrityError as exc:  # crossover_one_per_patient: a concurrent decision won
        raise AlreadyCrossedOver() from exc


def _cross_over(patient_id: int, *, by: Any, today: dt.date) -> Crossover:
    # Lock the patient: one crossover decision at a time, and the step moves with the line.
    patient = (
        Patient.objects.select_for_update(of=("self",))
        .select_related("site", "protocol_version")
        .get(pk=patient_id)
    )
    if Crossover.objects.filter(patient=patient).exists():
        raise AlreadyCrossedOver()
    step = crossover_step(patient.protocol_version.document)
    allocation = Allocation.objects.filter(patient=patient).first()
    if step is None:
        raise CrossoverNotAllowed(details={"reason": "not_in_protocol"})
    if allocation is None:
        raise CrossoverNotAllowed(details={"reason": "not_randomized"})
    if allocation.arm != step["from_arm"]:
        raise CrossoverNotAllowed(details={"reason": "not_crossover_arm", "arm": allocation.arm})
    if patient.step != f"step2_arm_{allocation.arm.lower()}":
        raise CrossoverNotAllowed(details={"reason": "not_on_arm", "step": patient.step})
    progression = (
        TumourAssessment.objects.filter(
            patient=patient,
            overall_response=OverallResponse.PD,
            assessed_on__gte=allocation.allocated_on,
        )
        .order_by("assessed_on", "pk")
        .first()
    )
    if progression is None:
        raise CrossoverNotAllowed(details={"reason": "no_progression"})
    reason = f"crossover to Step 3 after progression on {progression.assessed_on}"
    line = treatment_line_switch(
        patient=patient,
        step=CROSSOVER_STEP,
        patient_step=Step.STEP3,
        regimen=step["regimen"],
        endocrine_drug=endocrine_partner(patient.protocol_version.document, step["regimen"], None),
        on=today,
        by=by,
        reason=reason,
        end_reason="crossover",
    )
    crossover = Crossover(
        patient=patient,
        allocation=allocation,
        progression=progression,
        line=line,
        decided_on=today,
    )
    tracked_save(crossover, by=by)
    audit_event_record(
        action="patient_crossed_over",
        actor=by,
        patient=patient,
        obj=crossover,
        details={
            "arm": allocation.arm,
            "progression_on": str(progression.assessed_on),
            "regimen": step["regimen"],
            "line": line.pk,
            "decided_on": str(today),
        },
    )
    return crossover
