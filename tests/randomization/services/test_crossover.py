"""Step 3 crossover: only Arm A, only after recorded RECIST progression, once."""

from __future__ import annotations

import datetime as dt

import pytest

from randomization import exceptions as errors
from randomization.models import Crossover
from randomization.services.crossover import patient_crossover
from tests.conftest import PASSWORD
from tests.randomization import factories as rf
from trial.exceptions import DomainError
from trial.models import AuditEvent, Step, TreatmentLine

pytestmark = pytest.mark.django_db


@pytest.fixture
def arm_a(investigator_a, site_a, pada1, today, design):
    return rf.randomized_on_arm("A", by=investigator_a, site=site_a, version=pada1, today=today)


def cross(patient, by, today, password=PASSWORD):
    return patient_crossover(patient=patient, by=by, password=password, today=today)


def test_arm_a_crosses_over_after_progression(arm_a, investigator_a, today):
    patient, allocation, randomized_on = arm_a
    progression_on = randomized_on + dt.timedelta(days=28)
    rf.assess(patient, by=investigator_a, on=progression_on, today=today, new_lesions=True)
    patient.refresh_from_db()
    assert patient.step == Step.STEP2_ARM_A
    assert not TreatmentLine.objects.filter(patient=patient, ended_on=None).exists()
    crossover = cross(patient, investigator_a, today)
    patient.refresh_from_db()
    assert patient.step == Step.STEP3
    assert crossover.progression.assessed_on == progression_on
    line = crossover.line
    assert (line.step, line.regimen, line.endocrine_drug) == ("step3", "palbo_fulv", "fulvestrant")
    assert line.planned_c1d1 == today and line.ended_on is None
    event = AuditEvent.objects.get(action="patient_crossed_over")
    assert event.details["progression_on"] == str(progression_on) and event.patient == patient
    with pytest.raises(errors.AlreadyCrossedOver):
        cross(patient, investigator_a, today)


def test_no_crossover_without_progression(arm_a, investigator_a, today):
    patient, _, randomized_on = arm_a
    rf.assess(patient, by=investigator_a, on=randomized_on + dt.timedelta(days=28), today=today)
    with pytest.raises(errors.CrossoverNotAllowed) as caught:
        cross(patient, investigator_a, today)
    assert caught.value.details == {"reason": "no_progression"}
    assert Crossover.objects.count() == 0


def test_arm_b_never_crosses_over(investigator_a, site_a, pada1, today, design):
    patient, _, randomized_on = rf.randomized_on_arm(
        "B", by=investigator_a, site=site_a, version=pada1, today=today
    )
    rf.assess(
        patient,
        by=investigator_a,
        on=randomized_on + dt.timedelta(days=28),
        today=today,
        new_lesions=True,
    )
    patient.refresh_from_db()
    assert patient.step == Step.FOLLOW_UP
    with pytest.raises(errors.CrossoverNotAllowed) as caught:
        cross(patient, investigator_a, today)
    assert caught.value.details["reason"] == "not_crossover_arm"


def test_a_patient_never_randomized_cannot_cross_over(investigator_a, site_a, pada1, today, design):
    patient = rf.randomizable(by=investigator_a, site=site_a, version=pada1, today=today)
    with pytest.raises(errors.CrossoverNotAllowed) as caught:
        cross(patient, investigator_a, today)
    assert caught.value.details == {"reason": "not_randomized"}


@pytest.mark.parametrize(
    ("persona", "code"),
    [
        ("coordinator_a", "role_not_allowed"),
        ("investigator_b", "not_found"),
        ("sponsor", "role_not_allowed"),
    ],
)
def test_only_the_site_investigator_decides(arm_a, request, today, persona, code):
    patient, _, _ = arm_a
    with pytest.raises(DomainError) as caught:
        cross(patient, request.getfixturevalue(persona), today)
    assert caught.value.code == code


def test_wrong_password(arm_a, investigator_a, today):
    with pytest.raises(DomainError) as caught:
        cross(arm_a[0], investigator_a, today, password="nope")
    assert caught.value.code == "wrong_password"
