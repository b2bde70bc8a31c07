"""Progression per step, line switches with fulvestrant, the Step 2 gate, PALATINE follow-up,
the audit trail, and the remaining service refusals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from trial.exceptions import DomainError
from trial.models import (
    DecisionStatus,
    ItemStatus,
    Patient,
    ScheduleItem,
    Step,
    Step2Trigger,
    TreatmentLine,
    TriggerStatus,
)
from trial.selectors.audit import patient_audit_trail
from trial.selectors.clinical import progression_on
from trial.services import blood_counts, cycles, step2, treatment, tumour
from trial.services.audit import tracked_save

from .conftest import PASSWORD, T0, cbc, enrol_palatine, start

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)
C1D1 = T0 + 7 * DAY


def assess(patient, by, on, diameters, **extra):
    return tumour.tumour_assessment_record(
        patient=patient,
        by=by,
        assessed_on=on,
        modality="CT",
        target_lesions=[
            {"lesion_number": n, "location": f"lung {n}", "diameter_mm": Decimal(d)}
            for n, d in enumerate(diameters, start=1)
        ],
        new_lesions=extra.pop("new_lesions", False),
        non_target=extra.pop("non_target", "non_cr_non_pd"),
        today=on,
    )


def switch(patient, by, on, *, step, patient_step, regimen="palbo_fulv"):
    return treatment.treatment_line_switch(
        patient=Patient.objects.get(pk=patient.pk),
        step=step,
        patient_step=patient_step,
        regimen=regimen,
        endocrine_drug="fulvestrant" if regimen == "palbo_fulv" else "letrozole",
        on=on,
        by=by,
        reason=f"{patient_step} on {on}",
        end_reason="randomized",
    )


@pytest.fixture
def on_treatment(clock, clocked_patient, investigator_a):
    clock.to(C1D1)
    assess(clocked_patient, investigator_a, C1D1, ["30", "20"])
    start(clocked_patient, investigator_a, C1D1)
    return clocked_patient


def test_arm_b_switch_plans_fulvestrant_and_keeps_the_dose(on_treatment, clock, investigator_a):
    patient = on_treatment
    on = C1D1 + 20 * DAY
    clock.to(on)
    new_line = switch(patient, investigator_a, on, step="step2", patient_step=Step.STEP2_ARM_B)
    old_line = TreatmentLine.objects.get(patient=patient, step="step1")
    assert old_line.ended_on == on and new_line.palbociclib_dose_mg == 125
    keys = set(new_line.schedule_items.values_list("key", flat=True))
    assert {"fulvestrant_injection:C1D1", "fulvestrant_injection:C1D15"} <= keys
    assert "fulvestrant_injection:C2D1" in keys and "fulvestrant_injection:C2D15" not in keys
    later_old = old_line.schedule_items.filter(planned_on__gt=on)
    assert set(later_old.values_list("status", flat=True)) == {ItemStatus.CANCELLED}
    # The injection service marks the planned injection done.
    start(patient, investigator_a, on)
    done = cycles.fulvestrant_injection_record(patient=patient, on=on, by=investigator_a, today=on)
    assert done.key == "fulvestrant_injection:C1D1" and done.status == ItemStatus.DONE


def test_progression_on_step1_closes_the_gate_and_moves_to_follow_up(
    on_treatment, clock, investigator_a
):
    patient = on_treatment
    clock.to(C1D1 + 40 * DAY)
    step2.step2_trigger_open(patient=patient, source_ref="r1", detected_on=C1D1 + 40 * DAY, by=None)
    on = C1D1 + 56 * DAY
    clock.to(on)
    pd = assess(patient, investigator_a, on, ["30", "20"], new_lesions=True)
    assert pd.overall_response == "pd" and pd.reason_code == "new_lesion"
    patient.refresh_from_db()
    assert patient.step == Step.FOLLOW_UP
    trigger = Step2Trigger.objects.get(patient=patient)
    assert trigger.status == TriggerStatus.PROGRESSION and trigger.imaging_on == on
    assert progression_on(patient=patient) == on
    for kind in ("ctdna", "qol", "imaging", "cycle_visit"):
        later = ScheduleItem.objects.filter(patient=patient, kind=kind, planned_on__gt=on)
        assert set(later.values_list("status", flat=True)) <= {ItemStatus.CANCELLED}


def test_arm_a_progression_awaits_the_crossover(
    on_treatment, clock, investigator_a, django_capture_on_commit_callbacks
):
    patient = on_treatment
    clock.to(C1D1 + 20 * DAY)
    switch(
        patient, investigator_a, C1D1 + 20 * DAY, step="step2", patient_step=Step.STEP2_ARM_A,
        regimen="palbo_ai",
    )  # fmt: skip
    on = C1D1 + 70 * DAY
    clock.to(on)
    with django_capture_on_commit_callbacks(execute=True):
        pd = assess(patient, investigator_a, on, ["40", "25"])
    assert pd.overall_response == "pd" and pd.nadir_sum_mm == Decimal("50.0")
    patient.refresh_from_db()
    assert patient.step == Step.STEP2_ARM_A
    arm_a = TreatmentLine.objects.get(patient=patient, step="step2")
    assert arm_a.ended_on == on and arm_a.end_reason == "progression"
    assert any("crossover" in message.subject for message in mail.outbox)
    with pytest.raises(DomainError) as caught:  # not before the Arm A line ended
        switch(patient, investigator_a, on - DAY, step="step3", patient_step=Step.STEP3)
    assert caught.value.code == "invalid_state"
    clock.to(on + 3 * DAY)
    crossover = switch(patient, investigator_a, on + 3 * DAY, step="step3", patient_step=Step.STEP3)
    assert crossover.planned_c1d1 == on + 3 * DAY
    assert crossover.schedule_items.filter(kind="fulvestrant_injection").exists()
    # The new line's baseline is the progression scan: its nadir restarts from there.
    clock.to(on + 60 * DAY)
    later = assess(patient, investigator_a, on + 60 * DAY, ["40", "25"])
    assert later.overall_response == "sd" and later.baseline_sum_mm == Decimal("65.0")


def test_arm_b_progression_goes_to_follow_up(on_treatment, clock, investigator_a):
    patient = on_treatment
    clock.to(C1D1 + 20 * DAY)
    switch(patient, investigator_a, C1D1 + 20 * DAY, step="step2", patient_step=Step.STEP2_ARM_B)
    clock.to(C1D1 + 90 * DAY)
    assess(patient, investigator_a, C1D1 + 90 * DAY, ["40", "25"])
    patient.refresh_from_db()
    assert patient.step == Step.FOLLOW_UP


def test_step2_gate_reads_the_latest_tumour_assessment(on_treatment, clock):
    patient = on_treatment
    detected = C1D1 + 10 * DAY  # the C1D1 scan (no progression) is 10 days before
    trigger = step2.step2_trigger_open(
        patient=patient, source_ref="r9", detected_on=detected, by=None
    )
    assert trigger.status == TriggerStatus.ELIGIBLE and trigger.imaging_on == C1D1


def test_palatine_survival_contacts_follow_progression(
    clock, investigator_a, site_a, palatine, staff_emails
):
    patient = enrol_palatine(by=investigator_a, site=site_a, version=palatine, today=T0)
    clock.to(C1D1)
    assess(patient, investigator_a, C1D1, ["30"])
    start(patient, investigator_a, C1D1)
    on = C1D1 + 84 * DAY
    clock.to(on)
    assess(patient, investigator_a, on, ["45"])
    contacts = ScheduleItem.objects.filter(patient=patient, kind="survival_contact").order_by(
        "planned_on"
    )
    assert contacts[0].key == "survival_contact:F1"
    assert contacts[0].planned_on == on + 12 * 7 * DAY
    assert contacts.last().key == "survival_contact:M24"
    assert contacts.last().planned_on == dt.date(2029, 1, 11)  # 24 months after C1D1
    lrt = ScheduleItem.objects.get(patient=patient, kind="locoregional_treatment")
    assert lrt.status == ItemStatus.CANCELLED  # planned after progression


def test_lln_is_required_when_the_protocol_has_none(on_treatment, investigator_a, monkeypatch):
    patient = on_treatment
    document = dict(patient.protocol_version.document)
    document.pop("lab_reference")
    monkeypatch.setattr(patient.protocol_version, "document", document)
    with pytest.raises(DomainError) as caught:
        cbc(patient, investigator_a, cycle=1, day=1, on=C1D1)
    assert caught.value.code == "lln_missing"
    result = cbc(
        patient,
        investigator_a,
        cycle=1,
        day=1,
        on=C1D1,
        lln={
            "anc": {"value": 2.0, "unit": "G/L"},
            "platelets": {"value": 150, "unit": "G/L"},
            "haemoglobin": {"value": 12, "unit": "g/dL"},
        },
        anc=1.9,
    )
    assert result.blood_count.anc_grade == 1 and result.blood_count.lln["haemoglobin"] == "120"


def test_grading_boundaries_reach_the_record(on_treatment, investigator_a):
    patient = on_treatment
    cases = [(1.0, 2), (0.999, 3), (0.5, 3), (0.499, 4)]
    for anc, grade in cases:
        result = cbc(patient, investigator_a, cycle=1, day=1, on=C1D1, anc=anc)
        assert result.blood_count.anc_grade == grade, anc
    platelets = cbc(patient, investigator_a, cycle=1, day=1, on=C1D1, platelets=74.9)
    assert platelets.blood_count.platelets_grade == 2
    hb = cbc(patient, investigator_a, cycle=1, day=1, on=C1D1, hb=79)
    assert hb.blood_count.haemoglobin_grade == 3 and hb.blood_count.ctcae_version == "4.03"


def test_lymphopenia_alone_proposes_nothing(on_treatment, investigator_a):
    result = cbc(
        on_treatment,
        investigator_a,
        cycle=1,
        day=1,
        on=C1D1,
        values={"lymphocytes": {"value": 150, "unit": "/mm3"}},
    )
    assert result.blood_count.lymphocytes_grade == 4 and result.blood_count.haem_max_grade == 4
    assert result.decision is None and result.proposal.action == "continue"


def test_a_stale_decision_cannot_be_signed(on_treatment, investigator_a, clock):
    patient = on_treatment
    clock.to(C1D1 + 14 * DAY)
    result = cbc(patient, investigator_a, cycle=1, day=15, on=C1D1 + 14 * DAY, anc=0.3)
    line = result.blood_count.line
    line.palbociclib_dose_mg = 75
    tracked_save(
        line,
        by=investigator_a,
        reason="strong CYP3A inhibitor",
        update_fields=["palbociclib_dose_mg"],
    )
    with pytest.raises(DomainError) as caught:
        cycles.dose_decision_confirm(
            decision=result.decision, by=investigator_a, password=PASSWORD, today=C1D1 + 14 * DAY
        )
    assert caught.value.code == "decision_stale"
    result.decision.refresh_from_db()
    assert result.decision.status == DecisionStatus.PROPOSED


def test_discontinuation_below_75_mg(on_treatment, investigator_a, clock):
    patient = on_treatment
    line = patient.lines.get()
    line.palbociclib_dose_mg = 75
    tracked_save(
        line, by=investigator_a, reason="two reductions", update_fields=["palbociclib_dose_mg"]
    )
    clock.to(C1D1 + 14 * DAY)
    result = cbc(patient, investigator_a, cycle=1, day=15, on=C1D1 + 14 * DAY, anc=0.3)
    assert result.decision.action == "discontinue" and result.decision.proposed_next_dose_mg is None
    signed = cycles.dose_decision_confirm(
        decision=result.decision, by=investigator_a, password=PASSWORD, today=C1D1 + 14 * DAY
    )
    assert signed.confirmed_dose_mg == 0
    line.refresh_from_db()
    assert line.palbociclib_dose_mg == 0
    later = cbc(
        patient, investigator_a, cycle=1, day=22, on=C1D1 + 21 * DAY, anc=0.3, today=C1D1 + 21 * DAY
    )
    assert later.proposal is None and later.decision is None


def test_everything_lands_in_the_patients_audit_trail(on_treatment, investigator_a, clock):
    patient = on_treatment
    clock.to(C1D1 + 14 * DAY)
    cbc(patient, investigator_a, cycle=1, day=15, on=C1D1 + 14 * DAY, anc=0.3)
    records = {entry.record for entry in patient_audit_trail(patient=patient)}
    assert {
        "trial.Cycle",
        "trial.BloodCount",
        "trial.DoseDecision",
        "trial.TumourAssessment",
        "trial.TargetLesion",
        "trial.ScheduleItem",
    } <= records


def test_blood_count_for_a_patient_not_enrolled(investigator_a, site_a, pada1, clock):
    from tests.trial import factories as f

    screening = f.registered(by=investigator_a, site=site_a, version=pada1, today=T0)
    with pytest.raises(DomainError) as caught:
        blood_counts.blood_count_record(
            patient=screening,
            by=investigator_a,
            drawn_on=T0,
            cycle_number=1,
            cycle_day=1,
            values={"anc": {"value": 2, "unit": "G/L"}},
            today=T0,
        )
    assert caught.value.code == "not_enrolled"


def test_an_assessment_locks_the_patient_before_the_line(on_treatment, clock, investigator_a):
    """Randomization locks patient, trigger, line, cursor in that order; an assessment that
    locked the line first could deadlock with a randomization of the same patient."""
    clock.to(C1D1 + 56 * DAY)
    with CaptureQueriesContext(connection) as queries:
        assess(on_treatment, investigator_a, C1D1 + 56 * DAY, ["30", "20"], new_lesions=True)
    locks = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
    tables = [sql.split(" FROM ", 1)[1].split()[0].strip('"') for sql in locks]
    assert tables[:2] == ["trial_patient", "trial_treatmentline"], tables
