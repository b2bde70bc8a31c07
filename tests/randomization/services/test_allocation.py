"""patient_randomize: the gate, list order, the arm move, replay and refusals."""

from __future__ import annotations

import datetime as dt

import pytest

from randomization import exceptions as svc_errors
from randomization.models import Allocation, ListEntry, StratumCursor
from randomization.services.allocation import patient_randomize
from tests.conftest import PASSWORD
from tests.randomization import factories as rf
from tests.trial import factories as f
from trial.exceptions import DomainError
from trial.models import AuditEvent, Step, Step2Trigger, TreatmentLine, TriggerStatus
from trial.services import step2

pytestmark = pytest.mark.django_db


def randomize(patient, by, today, key="k-1", password=PASSWORD):
    return patient_randomize(
        patient=patient, by=by, password=password, idempotency_key=key, today=today
    )


def test_allocation_takes_the_first_entry_of_the_stratum_and_moves_the_patient(
    patient, investigator_a, design, today
):
    outcome = randomize(patient, investigator_a, today)
    allocation = outcome.allocation
    first = ListEntry.objects.get(design=design, stratum=allocation.stratum, sequence_number=1)
    assert not outcome.replayed
    assert allocation.sequence_number == 1 and allocation.arm == first.arm
    assert allocation.stratum == "visceral_metastases=yes|time_on_step1=ge_12_months"
    assert StratumCursor.objects.get(design=design, stratum=allocation.stratum).allocated == 1
    patient.refresh_from_db()
    trigger = Step2Trigger.objects.get(patient=patient)
    assert trigger.status == TriggerStatus.RANDOMIZED and trigger.closed_on == today
    lines = list(TreatmentLine.objects.filter(patient=patient).order_by("created_at"))
    if allocation.arm == "B":
        assert patient.step == Step.STEP2_ARM_B
        assert [line.regimen for line in lines] == ["palbo_ai", "palbo_fulv"]
        assert lines[1].endocrine_drug == "fulvestrant" and lines[1].step == "step2"
        assert lines[0].ended_on == today
    else:
        assert patient.step == Step.STEP2_ARM_A
        assert [line.regimen for line in lines] == ["palbo_ai"] and lines[0].ended_on is None
    event = AuditEvent.objects.get(action="patient_randomized")
    assert event.patient == patient
    assert event.details["sequence_number"] == 1
    assert event.details["arm"] == allocation.arm
    assert event.details["design_version"] == design.number
    assert event.details["stratum"] == allocation.stratum


def _patients(n, *, by, site, version, today, prefix="P", stratification=None):
    return [
        rf.randomizable(
            by=by,
            site=site,
            version=version,
            today=today,
            number=f"{prefix}{i:03d}",
            stratification=stratification,
        )
        for i in range(n)
    ]


def test_consecutive_patients_follow_the_list_and_each_arm_moves_as_the_protocol_says(
    investigator_a, site_a, pada1, today, design
):
    patients = _patients(6, by=investigator_a, site=site_a, version=pada1, today=today)
    allocations = [
        randomize(p, investigator_a, today, key=f"k{i}").allocation for i, p in enumerate(patients)
    ]
    stratum = allocations[0].stratum
    expected = list(
        ListEntry.objects.filter(design=design, stratum=stratum)
        .order_by("sequence_number")
        .values_list("arm", flat=True)[:6]
    )
    assert [a.sequence_number for a in allocations] == [1, 2, 3, 4, 5, 6]
    assert [a.arm for a in allocations] == expected
    assert {"A", "B"} <= set(expected)
    for allocation in allocations:
        patient = allocation.patient
        patient.refresh_from_db()
        assert patient.step == f"step2_arm_{allocation.arm.lower()}"
        assert patient.lines.count() == (2 if allocation.arm == "B" else 1)


def test_other_strata_have_their_own_sequence(investigator_a, site_a, pada1, today, design):
    first = rf.randomizable(by=investigator_a, site=site_a, version=pada1, today=today, number="X1")
    other = rf.randomizable(
        by=investigator_a,
        site=site_a,
        version=pada1,
        today=today,
        number="X2",
        stratification={"visceral_metastases": "no", "time_on_step1": "lt_12_months"},
    )
    a = randomize(first, investigator_a, today, key="x1").allocation
    b = randomize(other, investigator_a, today, key="x2").allocation
    assert (a.sequence_number, b.sequence_number) == (1, 1)
    assert b.stratum == "visceral_metastases=no|time_on_step1=lt_12_months"


def test_same_key_same_patient_replays_without_writing(patient, investigator_a, today):
    first = randomize(patient, investigator_a, today, key="same").allocation
    events = AuditEvent.objects.count()
    again = randomize(patient, investigator_a, today, key="same")
    assert again.replayed and again.allocation.pk == first.pk
    assert AuditEvent.objects.count() == events
    assert Allocation.objects.count() == 1


def _nothing_written(before):
    assert Allocation.objects.count() == before["allocations"]
    assert AuditEvent.objects.filter(action="patient_randomized").count() == before["events"]


def _snapshot():
    return {
        "allocations": Allocation.objects.count(),
        "events": AuditEvent.objects.filter(action="patient_randomized").count(),
    }


def test_same_key_for_another_patient_is_a_conflict(patient, investigator_a, site_a, pada1, today):
    randomize(patient, investigator_a, today, key="shared")
    other = rf.randomizable(by=investigator_a, site=site_a, version=pada1, today=today, number="O1")
    before = _snapshot()
    with pytest.raises(svc_errors.IdempotencyKeyReused):
        randomize(other, investigator_a, today, key="shared")
    _nothing_written(before)
    assert Step2Trigger.objects.get(patient=other).status == TriggerStatus.ELIGIBLE


def test_a_second_randomization_is_refused(patient, investigator_a, today):
    randomize(patient, investigator_a, today, key="one")
    with pytest.raises(svc_errors.AlreadyRandomized):
        randomize(patient, investigator_a, today, key="two")


@pytest.mark.parametrize(
    ("persona", "error"),
    [
        ("coordinator_a", "role_not_allowed"),
        ("investigator_b", "not_found"),
        ("sponsor", "role_not_allowed"),
        ("statistician", "role_not_allowed"),
    ],
)
def test_only_an_investigator_of_the_site_randomizes(patient, request, today, persona, error):
    user = request.getfixturevalue(persona)
    before = _snapshot()
    with pytest.raises(DomainError) as caught:
        randomize(patient, user, today)
    assert caught.value.code == error
    _nothing_written(before)


def test_wrong_password_is_refused(patient, investigator_a, today):
    with pytest.raises(DomainError) as caught:
        randomize(patient, investigator_a, today, password="not-my-password")
    assert caught.value.code == "wrong_password" and caught.value.status_code == 403
    assert Allocation.objects.count() == 0


@pytest.mark.parametrize("key", ["", "has space", "x" * 101, None, "é"])
def test_the_idempotency_key_is_required_and_plain(patient, investigator_a, today, key):
    with pytest.raises(svc_errors.IdempotencyKeyRequired):
        randomize(patient, investigator_a, today, key=key)


def test_the_window_closes_after_randomize_by(patient, investigator_a, today):
    trigger = Step2Trigger.objects.get(patient=patient)
    randomize_by = trigger.randomize_by
    assert randomize_by == today + dt.timedelta(days=21)
    with pytest.raises(svc_errors.NotEligibleForRandomization) as caught:
        randomize(patient, investigator_a, randomize_by + dt.timedelta(days=1))
    assert caught.value.details["reason"] == "window_closed"
    assert randomize(patient, investigator_a, randomize_by).allocation.allocated_on == randomize_by


def test_a_patient_without_an_eligible_trigger_is_not_eligible(
    investigator_a, site_a, pada1, today, design
):
    patient = f.enrolled(by=investigator_a, site=site_a, version=pada1, today=today, number="N1")
    with pytest.raises(svc_errors.NotEligibleForRandomization) as caught:
        randomize(patient, investigator_a, today)
    assert caught.value.details == {"reason": "no_eligible_trigger"}
    step2.step2_trigger_open(patient=patient, source_ref="r", detected_on=today, by=None)
    with pytest.raises(svc_errors.NotEligibleForRandomization):
        randomize(patient, investigator_a, today)


def test_synchronous_progression_is_not_eligible(investigator_a, site_a, pada1, today, design):
    patient = f.enrolled(by=investigator_a, site=site_a, version=pada1, today=today, number="N2")
    step2.step2_trigger_open(
        patient=patient, source_ref="r", detected_on=today, by=None, recent_imaging=(today, True)
    )
    with pytest.raises(svc_errors.NotEligibleForRandomization):
        randomize(patient, investigator_a, today)


@pytest.mark.parametrize(
    ("values", "error", "detail"),
    [
        ({"visceral_metastases": "yes"}, "stratum_incomplete", {"missing": ["time_on_step1"]}),
        ({}, "stratum_incomplete", {"missing": ["visceral_metastases", "time_on_step1"]}),
        (
            {"visceral_metastases": "maybe", "time_on_step1": "ge_12_months"},
            "stratum_invalid_level",
            {"invalid": {"visceral_metastases": "maybe"}},
        ),
    ],
)
def test_stratification_values_must_be_complete_and_valid(
    investigator_a, site_a, pada1, today, design, values, error, detail
):
    patient = rf.randomizable(
        by=investigator_a, site=site_a, version=pada1, today=today, stratification=values
    )
    before = _snapshot()
    with pytest.raises(DomainError) as caught:
        randomize(patient, investigator_a, today)
    assert caught.value.code == error and caught.value.status_code == 422
    assert detail.items() <= caught.value.details.items()
    _nothing_written(before)
    assert Step2Trigger.objects.get(patient=patient).status == TriggerStatus.ELIGIBLE
    assert StratumCursor.objects.filter(allocated__gt=0).count() == 0


def test_without_an_active_design_nothing_is_allocated(investigator_a, site_a, pada1, today):
    patient = rf.randomizable(by=investigator_a, site=site_a, version=pada1, today=today)
    with pytest.raises(svc_errors.NoActiveDesign):
        randomize(patient, investigator_a, today)


def test_an_exhausted_stratum_list_refuses_without_revealing_it(
    investigator_a, site_a, pada1, today, statistician
):
    rf.active_design(statistician=statistician, version=pada1, length=1)
    first, second = _patients(2, by=investigator_a, site=site_a, version=pada1, today=today)
    randomize(first, investigator_a, today, key="e1")
    with pytest.raises(svc_errors.ListExhausted) as caught:
        randomize(second, investigator_a, today, key="e2")
    assert caught.value.details == {}
    assert "1" not in str(caught.value.message)
