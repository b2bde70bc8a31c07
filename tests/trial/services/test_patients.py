"""Registry services: consent before screening, eligibility stored, enrolment numbering,
reasons on edits, no hard deletes."""

import datetime as dt

import pytest

from tests.trial import factories as f
from trial.exceptions import (
    AlreadyEnrolled,
    ConsentAfterScreening,
    ConsentMissing,
    InvalidInput,
    NotEligible,
    ReasonRequired,
    RoleNotAllowed,
    ScreeningDataInvalid,
    SiteNotAllowed,
)
from trial.models import HardDeleteForbidden, Patient, PatientStatus, Step
from trial.services import patients as svc

pytestmark = pytest.mark.django_db


def test_enrolment_assigns_the_trial_number_and_starts_step1(investigator_a, site_a, pada1, today):
    patient = f.enrolled(by=investigator_a, site=site_a, version=pada1, today=today)
    assert patient.trial_number == "PADA1-FR01-0001"
    assert patient.status == PatientStatus.ENROLLED and patient.step == Step.STEP1
    line = patient.lines.get()
    assert (line.regimen, line.endocrine_drug, line.palbociclib_dose_mg) == (
        "palbo_ai",
        "letrozole",
        125,
    )
    second = f.enrolled(by=investigator_a, site=site_a, version=pada1, today=today, number="S002")
    assert second.trial_number == "PADA1-FR01-0002"


def test_screening_requires_consent_dated_on_or_before(investigator_a, site_a, pada1, today):
    patient = f.registered(by=investigator_a, site=site_a, version=pada1, today=today)
    with pytest.raises(ConsentMissing):
        f.screened(by=investigator_a, patient=patient, today=today)
    f.consented(by=investigator_a, patient=patient, today=today)
    with pytest.raises(ConsentAfterScreening):
        svc.eligibility_submit(
            by=investigator_a,
            patient=patient,
            submitted=f.ELIGIBLE_PADA1,
            screening_date=today - dt.timedelta(days=1),
            today=today,
        )


def test_eligibility_is_stored_with_every_failure_and_the_protocol_version(
    investigator_a, site_a, pada1, today
):
    patient = f.registered(by=investigator_a, site=site_a, version=pada1, today=today)
    f.consented(by=investigator_a, patient=patient, today=today)
    assessment = f.screened(
        by=investigator_a,
        patient=patient,
        today=today,
        er_positive_cells={"value": 9.9, "unit": "%"},
        haemoglobin={"value": 8.9, "unit": "g/dL"},
        prior_cdk46=True,
    )
    assert not assessment.eligible
    assert {x["id"] for x in assessment.failures} == {"er", "hb", "prior_cdk46"}
    assert assessment.protocol_version == pada1
    assert assessment.normalised["haemoglobin"] == "89.0"
    with pytest.raises(NotEligible) as info:
        svc.patient_enrol(
            by=investigator_a,
            patient=patient,
            endocrine_drug="letrozole",
            planned_c1d1=today,
            today=today,
        )
    assert len(info.value.details["failures"]) == 3
    failed = svc.patient_screen_fail(by=investigator_a, patient=patient, reason="ER too low")
    assert failed.status == PatientStatus.SCREEN_FAILED
    event = failed.audit_events.get(action="screen_failure")
    assert set(event.details["failing_criteria"]) == {"er", "hb", "prior_cdk46"}


def test_impossible_values_are_refused_and_nothing_is_written(investigator_a, site_a, pada1, today):
    patient = f.registered(by=investigator_a, site=site_a, version=pada1, today=today)
    f.consented(by=investigator_a, patient=patient, today=today)
    with pytest.raises(ScreeningDataInvalid) as info:
        f.screened(
            by=investigator_a,
            patient=patient,
            today=today,
            haemoglobin={"value": 2000, "unit": "g/L"},
        )
    assert info.value.code == "implausible_value"
    assert "haemoglobin" in info.value.details["fields"]
    assert not patient.assessments.exists()


def test_enrolling_twice_is_refused(investigator_a, site_a, pada1, today):
    patient = f.enrolled(by=investigator_a, site=site_a, version=pada1, today=today)
    with pytest.raises(AlreadyEnrolled):
        svc.patient_enrol(
            by=investigator_a,
            patient=patient,
            endocrine_drug="letrozole",
            planned_c1d1=today,
            today=today,
        )


def test_other_site_staff_cannot_write(investigator_a, investigator_b, site_a, pada1, today):
    patient = f.registered(by=investigator_a, site=site_a, version=pada1, today=today)
    with pytest.raises(SiteNotAllowed):
        f.consented(by=investigator_b, patient=patient, today=today)


def test_sponsor_cannot_write(sponsor, site_a, pada1, today):
    with pytest.raises(RoleNotAllowed):
        f.registered(by=sponsor, site=site_a, version=pada1, today=today)


def test_edits_require_a_reason_and_are_in_the_history(investigator_a, site_a, pada1, today):
    patient = f.registered(by=investigator_a, site=site_a, version=pada1, today=today)
    with pytest.raises(ReasonRequired):
        svc.patient_update(
            by=investigator_a, patient=patient, changes={"year_of_birth": 1960}, reason=" "
        )
    svc.patient_update(
        by=investigator_a,
        patient=patient,
        changes={"year_of_birth": 1960},
        reason="transcription error",
    )
    latest = patient.history.latest()
    assert latest.history_change_reason == "transcription error"
    assert latest.history_user == investigator_a
    assert patient.history.earliest().history_user == investigator_a


@pytest.mark.parametrize(
    "value",
    [
        {"visceral_metastases\x00": "yes"},
        {"visceral_metastases": "y\x00es"},
        ["yes"],
        {"visceral_metastases": 1},
        None,
    ],
)
def test_stratification_must_be_text_factor_to_text_level_without_nul(
    investigator_a, site_a, pada1, today, value
):
    patient = f.registered(by=investigator_a, site=site_a, version=pada1, today=today)
    with pytest.raises(InvalidInput) as caught:
        svc.patient_update(
            by=investigator_a,
            patient=patient,
            changes={"stratification": value},
            reason="correction",
        )
    assert caught.value.code == "invalid_input"
    assert caught.value.details == {"fields": ["stratification"]}
    patient.refresh_from_db()
    assert patient.stratification == {}
    assert patient.history.count() == 1


def test_records_are_never_hard_deleted(investigator_a, site_a, pada1, today):
    patient = f.registered(by=investigator_a, site=site_a, version=pada1, today=today)
    with pytest.raises(HardDeleteForbidden):
        patient.delete()
    with pytest.raises(HardDeleteForbidden):
        Patient.objects.all().delete()


def test_withdrawal_keeps_the_record(investigator_a, site_a, pada1, today):
    patient = f.enrolled(by=investigator_a, site=site_a, version=pada1, today=today)
    consent = patient.consents.get()
    svc.consent_withdraw(
        by=investigator_a,
        consent=consent,
        withdrawn_on=today,
        reason="patient decision",
        today=today,
    )
    patient.refresh_from_db()
    assert patient.status == PatientStatus.WITHDRAWN
    assert patient.trial_number == "PADA1-FR01-0001"


def test_patients_stay_on_their_consented_version_after_an_amendment(
    investigator_a, site_a, pada1, today
):
    from trial.services.protocols import PROTOCOL_DIR, protocol_load

    patient = f.enrolled(by=investigator_a, site=site_a, version=pada1, today=today)
    text = (
        (PROTOCOL_DIR / "pada1.yaml")
        .read_text()
        .replace('document_version: "1.0"', 'document_version: "2.0"')
    )
    amended = protocol_load(text=text, source_name="pada1.yaml").version
    patient.refresh_from_db()
    assert patient.protocol_version == pada1 != amended
