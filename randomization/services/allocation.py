"""Allocation at Step 2: one durable transaction, list order preserved, double allocation
impossible (DOMAIN.md 1.3, 1.5; section 7 rules 19-22).

Order of work for ``patient_randomize``:

1. outside any transaction: the actor is an investigator at the patient's site
   (``not_found`` for another site, ``role_not_allowed``), the password is theirs
   (``wrong_password``; hashing is slow, so no lock is held meanwhile), an earlier
   allocation under the same idempotency key is replayed (or refused for another patient),
   and an already randomized patient is refused (allocations are sealed, so these answers
   are final without a lock; the transaction checks again under the lock);
2. in one durable transaction, taking row locks always in the order patient -> Step 2
   trigger -> treatment line -> stratum cursor (so two allocations can never deadlock):
   the gate (Step 1, an eligible trigger whose window has not closed), the active design,
   the stratum, the trigger closed as randomized, the patient's current line locked; only
   then the stratum's cursor, which every allocation in the stratum waits for, so that it is
   held for the arm-dependent work alone: the next list entry in list order (or
   minimization with the design's next stored draw), the allocation row, the patient moved
   to the arm, and an audit event that carries what re-derives the allocation.

A unique violation (a concurrent request reusing the key for another patient) rolls the whole
transaction back and is reported as ``idempotency_key_reused``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Subquery

from randomization.exceptions import (
    AlreadyRandomized,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    ListExhausted,
    NoActiveDesign,
    NotEligibleForRandomization,
    from_rule_error,
)
from randomization.models import (
    Allocation,
    Design,
    DesignStatus,
    ListEntry,
    Method,
    MinimizationDraw,
    StratumCursor,
)
from randomization.rules.blocks import UNSTRATIFIED_KEY, RandomizationRuleError, stratum_key
from randomization.rules.minimization import MinimizationResult, minimize
from randomization.selectors.allocations import REPLY_RELATED
from trial.exceptions import InvalidState
from trial.models import Patient, PatientStatus, Step, Step2Trigger, TreatmentLine, TriggerStatus
from trial.selectors.access import INVESTIGATOR_ONLY, require_site_writer
from trial.services.audit import audit_event_record, tracked_save
from trial.services.signatures import signature_verify
from trial.services.step2 import step2_mark_randomized
from trial.services.treatment import treatment_line_current, treatment_line_switch

from .designs import randomized_arms

IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
RANDOMIZED_STEP = "step2"


@dataclass(frozen=True, slots=True)
class RandomizationOutcome:
    """The allocation, and whether this call replayed an earlier one (same key, same patient)."""

    allocation: Allocation
    replayed: bool


def patient_randomize(
    *, patient: Patient, by: Any, password: str, idempotency_key: str, today: dt.date
) -> RandomizationOutcome:
    """Randomize ``patient`` (see the module docstring for the order of checks).

    Errors: not_found, role_not_allowed, wrong_password, idempotency_key_required,
    idempotency_key_reused, already_randomized, not_eligible, no_active_design,
    stratum_incomplete, stratum_invalid_level, randomization_list_exhausted, invalid_state.
    Nothing is written when any of them is raised.
    """
    require_site_writer(by, patient.site, roles=INVESTIGATOR_ONLY)
    signature_verify(user=by, password=password)
    if not isinstance(idempotency_key, str) or not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise IdempotencyKeyRequired()
    # Fast paths without locks: allocations are sealed, so one that exists is final.
    earlier = _earlier_allocation(patient.pk, idempotency_key)
    if earlier is not None:
        return earlier
    try:
        with transaction.atomic(durable=True):
            return _allocate(patient.pk, by=by, key=idempotency_key, today=today)
    except IntegrityError as exc:
        violated = _violated_constraint(exc)
        if violated == "allocation_unique_idempotency_key":
            raise IdempotencyKeyReused() from exc
        if violated == "allocation_one_per_patient":
            raise AlreadyRandomized() from exc
        raise


_SQLITE_COLUMNS = {
    "randomization_allocation.idempotency_key": "allocation_unique_idempotency_key",
    "randomization_allocation.patient_id": "allocation_one_per_patient",
}


def _violated_constraint(exc: IntegrityError) -> str | None:
    """The unique constraint behind ``exc``: PostgreSQL names it; SQLite names its columns."""
    name = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
    if name:
        return name
    message = str(exc)
    return next((c for column, c in _SQLITE_COLUMNS.items() if message.endswith(column)), None)


def _earlier_allocation(patient_id: int, key: str) -> RandomizationOutcome | None:
    """Without a lock (allocations are sealed, so one that exists is final), in one query:
    the replay of an allocation made under ``key`` for this patient; None when there is no
    earlier allocation. Errors: idempotency_key_reused (the key of another patient's
    allocation), already_randomized."""
    found = list(
        Allocation.objects.select_related(*REPLY_RELATED).filter(
            Q(idempotency_key=key) | Q(patient_id=patient_id)
        )
    )
    earlier = next((a for a in found if a.idempotency_key == key), None)
    if earlier is not None:
        if earlier.patient_id != patient_id:
            raise IdempotencyKeyReused()
        return RandomizationOutcome(allocation=earlier, replayed=True)
    if found:
        raise AlreadyRandomized()
    return None


def _allocate(patient_id: int, *, by: Any, key: str, today: dt.date) -> RandomizationOutcome:
    """The allocation's transaction. Locks, always in this order (so two allocations never
    deadlock): patient, Step 2 trigger, the patient's treatment line, stratum cursor. Every
    check and every write that does not depend on the arm comes before the cursor lock, which
    every allocation in the stratum waits for: it is held for the allocation row, the move to
    the arm and the audit event only.

    Under the patient lock, an allocation of this patient made meanwhile is replayed or
    refused; the key used meanwhile for another patient is refused by the unique constraint
    on the key (``idempotency_key_reused``).
    """
    # Lock the patient: serialises every attempt for this patient, replays included.
    patient = (
        Patient.objects.select_for_update(of=("self",))
        .select_related("site", "protocol_version")
        .get(pk=patient_id)
    )
    existing = Allocation.objects.select_related(*REPLY_RELATED).filter(patient=patient).first()
    if existing is not None:
        if existing.idempotency_key == key:
            return RandomizationOutcome(allocation=existing, replayed=True)
        raise AlreadyRandomized()
    trigger = _eligible_trigger(patient, today)
    design = _active_design(patient)
    levels, stratum = _stratum_of(design, patient.stratification)
    step2_mark_randomized(trigger=trigger, on=today, by=by)
    # Lock the patient's current line: an Arm B switch ends it (see _move_to_arm).
    line = treatment_line_current(patient)
    if design.method == Method.MINIMIZATION:
        allocation = _by_minimization(design, levels, stratum)
    else:
        allocation = _by_list(design, stratum)
    allocation.patient = patient
    allocation.levels = levels
    allocation.allocated_on = today
    allocation.idempotency_key = key
    tracked_save(allocation, by=by)
    _move_to_arm(patient, line, allocation.arm, on=today, by=by)
    audit_event_record(
        action="patient_randomized",
        actor=by,
        patient=patient,
        obj=allocation,
        details=allocation_record(allocation),
    )
    return RandomizationOutcome(allocation=allocation, replayed=False)


def _eligible_trigger(patient: Patient, today: dt.date) -> Step2Trigger:
    """DOMAIN.md section 7 rule 19: Step 1 active, rising bESR1mut, imaging without
    progression inside the window (the trigger's ``randomize_by``), not randomized."""
    if patient.status != PatientStatus.ENROLLED or patient.step != Step.STEP1:
        raise NotEligibleForRandomization(details={"reason": "not_on_step1"})
    # Lock the trigger: the window-expiry task must not close it under this allocation.
    trigger = (
        Step2Trigger.objects.select_for_update()
        .filter(patient=patient, status=TriggerStatus.ELIGIBLE)
        .first()
    )
    if trigger is None:
        raise NotEligibleForRandomization(details={"reason": "no_eligible_trigger"})
    if trigger.randomize_by is None or today > trigger.randomize_by:
        raise NotEligibleForRandomization(
            details={"reason": "window_closed", "randomize_by": str(trigger.randomize_by)}
        )
    return trigger


def _active_design(patient: Patient) -> Design:
    design = (
        Design.objects.select_related("protocol", "protocol_version")
        .filter(protocol_id=patient.protocol_id, status=DesignStatus.ACTIVE)
        .first()
    )
    if design is None:
        raise NoActiveDesign()
    return design


def _stratum_of(design: Design, values: Mapping[str, Any]) -> tuple[dict[str, str], str]:
    codes = design.factor_codes()
    try:
        key = stratum_key(codes, values or {}, levels=design.factor_levels())
    except RandomizationRuleError as exc:
        raise from_rule_error(exc) from exc
    return {code: values[code] for code in codes}, key


def _advance_cursor(design: Design, scope: str) -> Subquery:
    """Advance the stratum's cursor by one; the new position, as a subquery for the entry."""
    cursors = StratumCursor.objects.filter(design=design, stratum=scope)
    # Lock the stratum's cursor by advancing it: allocations in a stratum take list entries
    # strictly in order (a concurrent allocation waits here until this one commits).
    advanced = cursors.filter(allocated__lt=F("length")).update(allocated=F("allocated") + 1)
    if not advanced:
        raise ListExhausted()
    return Subquery(cursors.values("allocated")[:1])


def _by_list(design: Design, stratum: str) -> Allocation:
    position = _advance_cursor(design, stratum)
    entry = ListEntry.objects.get(design=design, stratum=stratum, sequence_number=position)
    return Allocation(
        design=design,
        stratum=stratum,
        sequence_scope=stratum,
        sequence_number=entry.sequence_number,
        arm=entry.arm,
        list_entry=entry,
    )


def _by_minimization(design: Design, levels: dict[str, str], stratum: str) -> Allocation:
    position = _advance_cursor(design, UNSTRATIFIED_KEY)
    draw = MinimizationDraw.objects.get(design=design, sequence_number=position)
    counts = minimization_counts(design)
    try:
        result = minimize(
            arms=tuple(design.arms),
            ratio=design.ratio_in_arm_order(),
            factor_weights=design.weights,
            patient_levels=levels,
            counts=counts,
            p_preferred=design.p_preferred,
            measure=design.measure,
            uniform_draw=draw.draw,
        )
    except RandomizationRuleError as exc:
        raise from_rule_error(exc) from exc
    return Allocation(
        design=design,
        stratum=stratum,
        sequence_scope=UNSTRATIFIED_KEY,
        sequence_number=draw.sequence_number,
        arm=result.chosen,
        minimization=_minimization_record(result, draw, counts, levels),
    )


def minimization_counts(design: Design) -> dict[str, dict[str, dict[str, int]]]:
    """counts[factor][level][arm] over the design's allocations so far (one query; the caller
    holds the design's cursor lock, so no allocation can be added meanwhile)."""
    counts: dict[str, dict[str, dict[str, int]]] = {factor: {} for factor in design.weights}
    for levels, arm in Allocation.objects.filter(design=design).values_list("levels", "arm"):
        for factor in counts:
            cell = counts[factor].setdefault(levels[factor], {})
            cell[arm] = cell.get(arm, 0) + 1
    return counts


def _minimization_record(
    result: MinimizationResult,
    draw: MinimizationDraw,
    counts: Mapping[str, Mapping[str, Mapping[str, int]]],
    levels: Mapping[str, str],
) -> dict[str, Any]:
    return {
        "scores": {s.arm: s.score for s in result.scores},
        "factor_imbalances": {s.arm: dict(s.factor_imbalances) for s in result.scores},
        "preferred": list(result.preferred),
        "tie": result.tie,
        "draw": result.draw,
        "draw_53bit": draw.draw_53bit,
        "p_preferred": result.p_preferred,
        "measure": result.measure.value,
        "chose_preferred": result.chose_preferred,
        "probabilities": dict(result.probabilities),
        "counts_before": {f: dict(counts[f].get(levels[f], {})) for f in counts},
    }


def allocation_record(allocation: Allocation) -> dict[str, Any]:
    """What re-derives the allocation: design version, stratum, sequence number, arm and, for
    minimization, the scores and the draw. Shown to the site once the allocation is made."""
    design = allocation.design
    return {
        "design": design.pk,
        "design_version": design.number,
        "protocol_version": design.protocol_version.number,
        "method": design.method,
        "algorithm_version": design.algorithm_version,
        "stratum": allocation.stratum,
        "sequence_scope": allocation.sequence_scope,
        "sequence_number": allocation.sequence_number,
        "arm": allocation.arm,
        "allocated_on": str(allocation.allocated_on),
        "idempotency_key": allocation.idempotency_key,
        "minimization": allocation.minimization,
    }


def _move_to_arm(
    patient: Patient, line: TreatmentLine | None, arm: str, *, on: dt.date, by: Any
) -> None:
    """Arm with the current regimen (Arm A): the line continues, the step changes. Arm with
    another regimen (Arm B): the line switches (DOMAIN.md section 7 rule 22: fulvestrant
    500 mg D1 and D15 of the first cycle then D1; palbociclib at the current dose level).
    ``line`` is the patient's current line, locked by the caller (None without any line)."""
    document = patient.protocol_version.document
    arm_spec = next((a for a in randomized_arms(document) if a["code"] == arm), None)
    patient_step = f"{RANDOMIZED_STEP}_arm_{arm.lower()}"
    if arm_spec is None or patient_step not in Step.values:
        raise InvalidState("The protocol does not define this arm.", {"arm": arm})
    reason = f"randomized to arm {arm}"
    current = line if line is not None and line.ended_on is None else None
    if current is not None and current.regimen == arm_spec["regimen"]:
        patient.step = patient_step
        tracked_save(patient, by=by, reason=reason, update_fields=["step"])
        return
    treatment_line_switch(
        patient=patient,
        step=RANDOMIZED_STEP,
        patient_step=patient_step,
        regimen=arm_spec["regimen"],
        endocrine_drug=endocrine_partner(document, arm_spec["regimen"], current),
        on=on,
        by=by,
        reason=reason,
        end_reason=f"randomized_arm_{arm.lower()}",
        current=line,
    )


def endocrine_partner(
    document: Mapping[str, Any], regimen: str, current: TreatmentLine | None
) -> str:
    """The regimen's endocrine drug: its fixed partner of palbociclib (fulvestrant), or the
    current line's choice when the regimen offers one (an aromatase inhibitor)."""
    for component in document["regimens"].get(regimen, {}).get("components", []):
        drug = component.get("drug")
        if drug and drug != "palbociclib":
            return drug
    if current is not None:
        return current.endocrine_drug
    raise InvalidState("The regimen has no endocrine partner.", {"regimen": regimen})
