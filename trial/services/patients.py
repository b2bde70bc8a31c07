"""Patient registry: registration, screening data and eligibility, consent, enrolment."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from trial.exceptions import (
    AlreadyEnrolled,
    ConsentAfterScreening,
    ConsentMissing,
    DuplicateScreeningNumber,
    EligibilityMissing,
    InvalidInput,
    InvalidState,
    NotEligible,
    ScreeningDataInvalid,
)
from trial.models import (
    Consent,
    EligibilityAssessment,
    EnrolmentCounter,
    Patient,
    PatientStatus,
    ProtocolVersion,
    Site,
    Step,
    TreatmentLine,
)
from trial.rules import eligibility as elig
from trial.rules.text import contains_nul
from trial.rules.units import QUANTITIES, UnitError, convert
from trial.selectors.access import CORRECTION_ROLES, require_site_writer

from .audit import audit_event_record, tracked_save
from .schedule import schedule_rebuild

EDITABLE_PATIENT_FIELDS = ("year_of_birth", "sex", "menopausal_status", "stratification")


def patient_register(
    *,
    by: Any,
    site: Site,
    protocol_version: ProtocolVersion,
    screening_number: str,
    year_of_birth: int,
    sex: str,
    menopausal_status: str,
) -> Patient:
    """Register a patient for screening at ``site``. No direct identifiers are accepted."""
    require_site_writer(by, site)
    if not site.active:
        raise InvalidState("The site is not active.", {"site": site.code})
    patient = Patient(
        site=site,
        protocol=protocol_version.protocol,
        protocol_version=protocol_version,
        screening_number=screening_number.strip(),
        year_of_birth=year_of_birth,
        sex=sex,
        menopausal_status=menopausal_status,
    )
    try:
        with transaction.atomic(durable=True):
            tracked_save(patient, by=by)
    except IntegrityError as exc:
        raise DuplicateScreeningNumber(
            details={"screening_number": patient.screening_number}
        ) from exc
    return patient


def stratification_check(value: Any) -> None:
    """Stratification is a JSON object of factor name to level, both strings without NUL."""
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidInput(
            "Stratification maps each factor name to a level, both text.",
            {"fields": ["stratification"]},
        )
    if contains_nul(value):
        raise InvalidInput(
            "Stratification contains a NUL character.", {"fields": ["stratification"]}
        )


def patient_update(
    *, by: Any, patient: Patient, changes: Mapping[str, Any], reason: str
) -> Patient:
    """Correct demographic or stratification data; every change carries a reason."""
    require_site_writer(by, patient.site, CORRECTION_ROLES)
    unknown = set(changes) - set(EDITABLE_PATIENT_FIELDS)
    if unknown:
        raise InvalidInput("These fields cannot be changed.", {"fields": sorted(unknown)})
    if "stratification" in changes:
        stratification_check(changes["stratification"])
    with transaction.atomic(durable=True):
        # Lock: the patient row is read, changed and written back.
        locked = Patient.objects.select_for_update().get(pk=patient.pk)
        for field, value in changes.items():
            setattr(locked, field, value)
        tracked_save(locked, by=by, reason=reason, update_fields=list(changes))
    return locked


def consent_record(
    *,
    by: Any,
    patient: Patient,
    form_version: str,
    consented_on: dt.date,
    taken_by: Any,
    today: dt.date,
) -> Consent:
    require_site_writer(by, patient.site)
    require_site_writer(taken_by, patient.site)
    if consented_on > today:
        raise InvalidInput(
            "The consent date is in the future.", {"consented_on": str(consented_on)}
        )
    if patient.status in (PatientStatus.WITHDRAWN, PatientStatus.COMPLETED):
        raise InvalidState("The patient is no longer in the trial.", {"status": patient.status})
    consent = Consent(
        patient=patient,
        protocol_version=patient.protocol_version,
        form_version=form_version,
        consented_on=consented_on,
        taken_by=taken_by,
    )
    with transaction.atomic(durable=True):
        tracked_save(consent, by=by)
    return consent


def consent_withdraw(
    *, by: Any, consent: Consent, withdrawn_on: dt.date, reason: str, today: dt.date
) -> Consent:
    """Withdraw consent; an enrolled patient becomes withdrawn. Nothing is deleted."""
    require_site_writer(by, consent.patient.site)
    if not reason.strip():
        raise InvalidInput("A withdrawal reason is required.", code="reason_required")
    if withdrawn_on > today or withdrawn_on < consent.consented_on:
        raise InvalidInput(
            "The withdrawal date must be between the consent date and today.",
            {"withdrawn_on": str(withdrawn_on)},
        )
    with transaction.atomic(durable=True):
        # Lock both rows: consent and patient state change together.
        locked = Consent.objects.select_for_update().get(pk=consent.pk)
        if locked.withdrawn_on is not None:
            raise InvalidState("Consent is already withdrawn.")
        locked.withdrawn_on = withdrawn_on
        locked.withdrawal_reason = reason.strip()
        tracked_save(
            locked, by=by, reason=reason, update_fields=["withdrawn_on", "withdrawal_reason"]
        )
        patient = Patient.objects.select_for_update().get(pk=consent.patient_id)
        if patient.status in (PatientStatus.SCREENING, PatientStatus.ENROLLED):
            patient.status = PatientStatus.WITHDRAWN
            tracked_save(
                patient, by=by, reason=f"consent withdrawn: {reason}", update_fields=["status"]
            )
    return locked


def _active_consent(patient: Patient) -> Consent | None:
    return (
        patient.consents.filter(
            withdrawn_on__isnull=True, protocol_version=patient.protocol_version
        )
        .order_by("consented_on")
        .first()
    )


@dataclass(frozen=True)
class NormalisedScreening:
    values: dict[str, Any]  # canonical, for the rules
    stored: dict[str, Any]  # JSON-safe copy of ``values``


def _normalise_numeric(key: str, entry: Any, problems: dict[str, str]) -> Any:
    if not isinstance(entry, Mapping) or "value" not in entry:
        problems[key] = "expected {value, unit}"
        return None
    unit = entry.get("unit") or QUANTITIES[key].canonical_unit
    try:
        return convert(key, entry["value"], unit)
    except UnitError as exc:
        problems[key] = f"{exc.code}: {exc}"
        return None


def _normalise_value(criterion: elig.Criterion, entry: Any, problems: dict[str, str]) -> Any:
    key = criterion.input_key
    if criterion.kind is elig.Kind.NUMERIC:
        return _normalise_numeric(key, entry, problems)
    if criterion.kind is elig.Kind.ATTESTATION:
        if not isinstance(entry, bool):
            problems[key] = "expected true or false"
            return None
        return entry
    if criterion.kind is elig.Kind.DATE:
        try:
            return dt.date.fromisoformat(str(entry))
        except ValueError:
            problems[key] = "expected a date YYYY-MM-DD"
            return None
    return str(entry)


def normalise_screening(
    criteria: tuple[elig.Criterion, ...], submitted: Mapping[str, Any], *, screening_date: dt.date
) -> NormalisedScreening:
    """Convert submitted values to canonical units; refuse impossible values outright."""
    known = {c.input_key for c in criteria} | {c.reference for c in criteria if c.reference}
    unknown = set(submitted) - known
    problems: dict[str, str] = {k: "not a field of this protocol" for k in sorted(unknown)}
    values: dict[str, Any] = {"screening_date": screening_date}
    for criterion in criteria:
        key = criterion.input_key
        if key in values or submitted.get(key) is None:
            continue
        values[key] = _normalise_value(criterion, submitted[key], problems)
    for criterion in criteria:
        ref = criterion.reference
        if ref and ref != "screening_date" and submitted.get(ref) is not None and ref not in values:
            values[ref] = _normalise_value(
                elig.Criterion(ref, criterion.section, elig.Kind.DATE, "", field=ref),
                submitted[ref],
                problems,
            )
    for key, value in values.items():
        if isinstance(value, dt.date) and value > screening_date:
            problems[key] = "date after the screening date"
    if problems:
        codes = {p.split(":")[0] for p in problems.values()}
        code = "implausible_value" if codes == {"implausible_value"} else "screening_data_invalid"
        raise ScreeningDataInvalid(
            "Some screening values were refused.", {"fields": problems}, code=code
        )
    stored = {
        k: (str(v) if isinstance(v, (dt.date,)) or not isinstance(v, (bool, str)) else v)
        for k, v in values.items()
        if v is not None
    }
    return NormalisedScreening(values, stored)


def eligibility_submit(
    *,
    by: Any,
    patient: Patient,
    submitted: Mapping[str, Any],
    screening_date: dt.date,
    today: dt.date,
) -> EligibilityAssessment:
    """Evaluate the protocol's criteria against screening data, storing the full result.

    Preconditions: a valid consent dated on or before ``screening_date``.
    Errors: consent_missing, consent_after_screening, implausible_value, screening_data_invalid.
    """
    require_site_writer(by, patient.site)
    if patient.status != PatientStatus.SCREENING:
        raise InvalidState(
            "Screening data can only be submitted during screening.", {"status": patient.status}
        )
    if screening_date > today:
        raise InvalidInput(
            "The screening date is in the future.", {"screening_date": str(screening_date)}
        )
    consent = _active_consent(patient)
    if consent is None:
        raise ConsentMissing()
    if consent.consented_on > screening_date:
        raise ConsentAfterScreening(
            details={
                "consented_on": str(consent.consented_on),
                "screening_date": str(screening_date),
            }
        )
    criteria = elig.criteria_from_protocol(patient.protocol_version.document["eligibility"])
    screening = normalise_screening(criteria, submitted, screening_date=screening_date)
    age = screening.values.get("age")
    if age is not None and not elig.age_consistent(
        age_years=int(age), year_of_birth=patient.year_of_birth, on=screening_date
    ):
        raise ScreeningDataInvalid(
            "The age does not match the year of birth.",
            {"fields": {"age": f"inconsistent with year of birth {patient.year_of_birth}"}},
        )
    result = elig.evaluate(criteria, screening.values)
    assessment = EligibilityAssessment(
        patient=patient,
        protocol_version=patient.protocol_version,
        assessed_on=screening_date,
        submitted=dict(submitted),
        normalised=screening.stored,
        eligible=result.eligible,
        results=[_result_json(r) for r in result.results],
        failures=[_result_json(r) for r in result.failures],
    )
    with transaction.atomic(durable=True):
        tracked_save(assessment, by=by)
    return assessment


def _result_json(r: elig.CriterionResult) -> dict[str, str]:
    return {"id": r.id, "section": r.section.value, "outcome": r.outcome.value, "reason": r.reason}


def _latest_assessment(patient: Patient) -> EligibilityAssessment:
    assessment = (
        patient.assessments.filter(protocol_version=patient.protocol_version)
        .order_by("-created_at", "-pk")
        .first()
    )
    if assessment is None:
        raise EligibilityMissing()
    return assessment


def patient_screen_fail(*, by: Any, patient: Patient, reason: str) -> Patient:
    """Record a screen failure with the failing criteria of the latest assessment."""
    require_site_writer(by, patient.site)
    with transaction.atomic(durable=True):
        # Lock: status transition.
        locked = Patient.objects.select_for_update().get(pk=patient.pk)
        if locked.status != PatientStatus.SCREENING:
            raise InvalidState(
                "Only a patient in screening can fail screening.", {"status": locked.status}
            )
        assessment = _latest_assessment(locked)
        failing = [f["id"] for f in assessment.failures]
        locked.status = PatientStatus.SCREEN_FAILED
        tracked_save(locked, by=by, reason=reason or "screen failure", update_fields=["status"])
        audit_event_record(
            action="screen_failure",
            actor=by,
            patient=locked,
            obj=assessment,
            details={"failing_criteria": failing, "reason": reason},
        )
    return locked


def _regimen_choices(document: Mapping[str, Any], regimen: str) -> list[str]:
    for component in document["regimens"][regimen]["components"]:
        if "choice_of" in component:
            return list(component["choice_of"])
    return []


def _starting_dose_mg(document: Mapping[str, Any], regimen: str) -> int:
    for component in document["regimens"][regimen]["components"]:
        if component.get("drug") == "palbociclib":
            return int(component["dose_levels_mg"][0])
    raise InvalidState("The regimen has no palbociclib component.")


def _next_trial_number(patient: Patient) -> str:
    EnrolmentCounter.objects.bulk_create(
        [EnrolmentCounter(site=patient.site, protocol=patient.protocol)], ignore_conflicts=True
    )
    # Lock the per-site counter: concurrent enrolments at one site queue here, so numbers
    # are gapless and unique (SQLite serialises through its IMMEDIATE transaction instead).
    counter = EnrolmentCounter.objects.select_for_update().get(
        site=patient.site, protocol=patient.protocol
    )
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return f"{patient.protocol.code}-{patient.site.code}-{counter.last_number:04d}"


def patient_enrol(
    *,
    by: Any,
    patient: Patient,
    endocrine_drug: str,
    planned_c1d1: dt.date,
    today: dt.date,
) -> Patient:
    """Enrol an eligible, consented patient: assign the trial number and start Step 1.

    Errors: consent_missing, eligibility_missing, not_eligible, already_enrolled,
    invalid_state, invalid_input (AI not in the regimen, C1D1 in the past).
    """
    require_site_writer(by, patient.site)
    document = patient.protocol_version.document
    step1 = document["steps"][0]
    choices = _regimen_choices(document, step1["regimen"])
    if choices and endocrine_drug not in choices:
        raise InvalidInput(
            "This endocrine partner is not part of the regimen.",
            {"endocrine_drug": endocrine_drug, "allowed": choices},
        )
    if planned_c1d1 < today:
        raise InvalidInput("The planned C1D1 is in the past.", {"planned_c1d1": str(planned_c1d1)})
    with transaction.atomic(durable=True):
        # Lock the patient row: one enrolment per patient even under concurrent requests.
        locked = (
            Patient.objects.select_for_update(of=("self",))
            .select_related("site", "protocol")
            .get(pk=patient.pk)
        )
        if locked.status == PatientStatus.ENROLLED:
            raise AlreadyEnrolled(details={"trial_number": locked.trial_number})
        if locked.status != PatientStatus.SCREENING:
            raise InvalidState(
                "Only a patient in screening can be enrolled.", {"status": locked.status}
            )
        if _active_consent(locked) is None:
            raise ConsentMissing()
        assessment = _latest_assessment(locked)
        if not assessment.eligible:
            raise NotEligible(details={"failures": assessment.failures})
        locked.trial_number = _next_trial_number(locked)
        locked.status = PatientStatus.ENROLLED
        locked.step = Step.STEP1
        locked.enrolled_on = today
        tracked_save(
            locked,
            by=by,
            reason="enrolment",
            update_fields=["trial_number", "status", "step", "enrolled_on"],
        )
        line = TreatmentLine(
            patient=locked,
            step=step1["code"],
            regimen=step1["regimen"],
            endocrine_drug=endocrine_drug,
            palbociclib_dose_mg=_starting_dose_mg(document, step1["regimen"]),
            planned_c1d1=planned_c1d1,
        )
        tracked_save(line, by=by)
        schedule_rebuild(line=line, by=by, reason="enrolment", today=today)
    return locked
