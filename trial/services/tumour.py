"""RECIST 1.1 tumour assessments and what progression sets in motion.

The response is computed by ``trial.rules.recist`` (Eisenhauer 2009; DOMAIN.md 1.6 and section
7 rules 23-24): the reference is the line's baseline (the line's first assessment, or for a
later line the patient's last assessment before it) and the nadir is the smallest complete
sum recorded since that baseline, baseline included.

Progression (DOMAIN.md 1.3): ends the current treatment line, stops its ctDNA, imaging and QoL
schedule, closes the Step 2 gate on Step 1 (synchronous progression), and moves the patient as
the design says: Step 1, Step 2 Arm B and Step 3 go to follow-up; Step 2 Arm A waits for the
investigator's optional crossover to fulvestrant + palbociclib (Step 3, recorded with
``trial.services.treatment.treatment_line_switch``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from trial.exceptions import InvalidInput
from trial.models import (
    ItemKind,
    Modality,
    NonTarget,
    OverallResponse,
    Patient,
    Step,
    TargetLesion,
    TreatmentLine,
    TumourAssessment,
)
from trial.rules import recist
from trial.selectors import clinical_history  # noqa: F401  (registers the audit trail)
from trial.selectors.access import require_site_writer

from . import step2
from .audit import audit_event_record, tracked_save
from .errors import (
    AssessmentBeforeEnrolment,
    AssessmentOutOfOrder,
    TargetLesionsMismatch,
    rule_input_error,
)
from .lines import check_clinical_date, open_line, require_enrolled
from .notifications import notify_after_commit, site_staff_emails
from .schedule import schedule_item_mark_done, schedule_rebuild

_ONE_DECIMAL = Decimal("0.1")
_TWO_DECIMALS = Decimal("0.01")


def _reference(patient: Patient, line: TreatmentLine) -> TumourAssessment | None:
    """The baseline this line's responses are measured against (None: this is the baseline)."""
    own = TumourAssessment.objects.filter(line=line, is_baseline=True).first()
    if own is not None:
        return own
    return (
        TumourAssessment.objects.filter(patient=patient)
        .exclude(line=line)
        .order_by("-assessed_on", "-pk")
        .first()
    )


def _nadir(reference: TumourAssessment, line: TreatmentLine) -> Decimal:
    sums = [reference.sum_mm or Decimal(0)]
    sums += [
        a.sum_mm
        for a in TumourAssessment.objects.filter(line=line, assessed_on__gt=reference.assessed_on)
        .exclude(target_response=OverallResponse.NE)
        .exclude(sum_mm=None)
    ]
    return min(sums)


def _lesions(
    entries: Sequence[Mapping[str, Any]], reference: TumourAssessment | None
) -> list[TargetLesion]:
    numbers = [int(e["lesion_number"]) for e in entries]
    if len(set(numbers)) != len(numbers):
        raise TargetLesionsMismatch(details={"lesion_numbers": numbers})
    known = {}
    if reference is not None:
        known = {lesion.lesion_number: lesion for lesion in reference.target_lesions.all()}
        if set(numbers) != set(known):
            raise TargetLesionsMismatch(
                details={"expected": sorted(known), "received": sorted(numbers)}
            )
    lesions = []
    for entry in entries:
        number = int(entry["lesion_number"])
        base = known.get(number)
        diameter = entry.get("diameter_mm")
        if reference is None and diameter is None:
            raise InvalidInput(
                _("Every target lesion is measured at baseline."),
                {"lesion_number": number},
                code="recist_invalid_measurement",
            )
        lesions.append(
            TargetLesion(
                lesion_number=number,
                location=base.location if base else str(entry.get("location", "")).strip(),
                is_lymph_node=base.is_lymph_node if base else bool(entry.get("is_lymph_node")),
                diameter_mm=None if diameter is None else _mm(diameter),
            )
        )
    return lesions


def _mm(value: Any) -> Decimal:
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except ArithmeticError:
            value = Decimal("NaN")  # refused below with the rule's code
    try:
        return recist.to_mm(value).quantize(_ONE_DECIMAL)
    except recist.RecistInputError as exc:
        raise rule_input_error(exc) from exc


def _assess(
    assessment: TumourAssessment,
    lesions: list[TargetLesion],
    reference: TumourAssessment,
    line: TreatmentLine,
) -> None:
    try:
        result = recist.assess_overall_response(
            target_lesions=[
                recist.TargetLesion(
                    diameter_mm=lesion.diameter_mm, is_lymph_node=lesion.is_lymph_node
                )
                for lesion in lesions
            ],
            baseline_sum_mm=reference.sum_mm or Decimal(0),
            nadir_sum_mm=_nadir(reference, line),
            new_lesions=assessment.new_lesions,
            non_target=recist.NonTargetStatus(assessment.non_target),
        )
    except recist.RecistInputError as exc:
        raise rule_input_error(exc) from exc
    assessment.sum_mm = result.sum_mm
    assessment.baseline_sum_mm = reference.sum_mm or Decimal(0)
    assessment.nadir_sum_mm = _nadir(reference, line)
    assessment.target_response = result.target_response or ""
    assessment.overall_response = result.overall_response
    assessment.reason_code = result.reason_code
    assessment.reason = result.reason
    for name in ("change_from_baseline_pct", "change_from_nadir_pct"):
        value = getattr(result, name)
        setattr(assessment, name, None if value is None else value.quantize(_TWO_DECIMALS))


def tumour_assessment_record(
    *,
    patient: Patient,
    by: Any,
    assessed_on: dt.date,
    modality: str,
    target_lesions: Sequence[Mapping[str, Any]],
    new_lesions: bool,
    non_target: str,
    today: dt.date,
) -> TumourAssessment:
    """Record an investigator RECIST 1.1 assessment of the ongoing line and compute its response.

    ``target_lesions``: ``{"lesion_number", "location", "is_lymph_node", "diameter_mm"}``; after
    the baseline, exactly the baseline's lesion numbers (``diameter_mm`` None: not assessed).
    Errors: assessment_before_enrolment, date_in_future, assessment_out_of_order,
    target_lesions_mismatch, recist_invalid_measurement, recist_no_lesions, invalid_input,
    no_open_line, not_enrolled; not_found / role_not_allowed.
    """
    require_site_writer(by, patient.site)
    require_enrolled(patient)
    check_clinical_date(
        patient,
        assessed_on,
        today=today,
        field="assessed_on",
        before_enrolment=AssessmentBeforeEnrolment,
    )
    if modality not in Modality.values or non_target not in NonTarget.values:
        raise InvalidInput(
            _("Unknown modality or non-target status."),
            {"modality": modality, "non_target": non_target},
        )
    with transaction.atomic(durable=True):
        # Lock the patient, then the line, in the order enrolment, treatment switches and
        # randomization take them (patient, trigger, line): a progression ends the line and
        # moves the patient's step, and the opposite order could deadlock with a
        # randomization of the same patient. The nadir and the line's end are read and
        # written by one assessment at a time.
        Patient.objects.select_for_update(of=("self",)).filter(pk=patient.pk).exists()
        line = open_line(patient, lock=True)
        latest = TumourAssessment.objects.filter(patient=patient).order_by("-assessed_on").first()
        if latest is not None and assessed_on <= latest.assessed_on:
            raise AssessmentOutOfOrder(details={"latest": str(latest.assessed_on)})
        reference = _reference(patient, line)
        lesions = _lesions(target_lesions, reference)
        assessment = TumourAssessment(
            patient=patient,
            line=line,
            assessed_on=assessed_on,
            modality=modality,
            new_lesions=new_lesions,
            non_target=non_target,
        )
        if reference is None:
            _baseline(assessment, lesions)
        else:
            _assess(assessment, lesions, reference, line)
        tracked_save(assessment, by=by)
        for lesion in lesions:
            lesion.assessment = assessment
            tracked_save(lesion, by=by)
        _after(assessment, patient, line, by=by, today=today)
    return assessment


def _baseline(assessment: TumourAssessment, lesions: list[TargetLesion]) -> None:
    if not lesions and assessment.non_target == NonTarget.ABSENT:
        raise InvalidInput(
            _("A baseline needs target or non-target lesions."), code="recist_no_lesions"
        )
    assessment.is_baseline = True
    if lesions:
        assessment.sum_mm = sum((lesion.diameter_mm for lesion in lesions), Decimal(0))  # type: ignore[misc]


def _after(
    assessment: TumourAssessment, patient: Patient, line: TreatmentLine, *, by: Any, today
) -> None:
    if not assessment.is_baseline:
        schedule_item_mark_done(
            patient=patient,
            kind=ItemKind.IMAGING,
            on=assessment.assessed_on,
            ref=f"tumour_assessment:{assessment.pk}",
            by=by,
        )
    if patient.step == Step.STEP1:
        step2.step2_imaging_recorded(
            patient=patient,
            assessed_on=assessment.assessed_on,
            progression=assessment.progression,
            by=by,
        )
    if assessment.progression:
        _progression(patient, line, assessment, by=by, today=today)


def _progression(
    patient: Patient, line: TreatmentLine, assessment: TumourAssessment, *, by: Any, today
) -> None:
    on = assessment.assessed_on
    # Lock the patient: the step moves with the end of the line.
    patient = (
        Patient.objects.select_for_update(of=("self",)).select_related("site").get(pk=patient.pk)
    )
    step_before = patient.step
    line.ended_on = on
    line.end_reason = "progression"
    tracked_save(
        line, by=by, reason="RECIST 1.1 progression", update_fields=["ended_on", "end_reason"]
    )
    if step_before == Step.STEP1:
        step2.step2_close_for_progression(patient=patient, on=on, by=by)
    if step_before in (Step.STEP1, Step.STEP2_ARM_B, Step.STEP3):
        patient.step = Step.FOLLOW_UP
        tracked_save(patient, by=by, reason=f"progression on {step_before}", update_fields=["step"])
    schedule_rebuild(line=line, by=by, reason=f"RECIST 1.1 progression on {on}", today=today)
    audit_event_record(
        action="progression_recorded",
        actor=by,
        patient=patient,
        obj=assessment,
        details={"step": step_before, "line": line.pk, "on": str(on)},
    )
    if step_before == Step.STEP2_ARM_A:
        notify_after_commit(
            recipients=site_staff_emails(patient.site),
            subject=_("Progression on Arm A: crossover may be offered to %(p)s") % {"p": patient},
            body=_(
                "RECIST 1.1 progression was recorded for %(p)s on %(d)s. The Arm A treatment line "
                "has ended; the investigator may offer the crossover to fulvestrant + "
                "palbociclib (Step 3)."
            )
            % {"p": patient, "d": on},
        )
