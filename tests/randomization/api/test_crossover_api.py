"""POST /api/v1/patients/{id}/crossover/: every code and persona."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import PASSWORD
from tests.randomization import factories as rf

pytestmark = pytest.mark.django_db


@pytest.fixture
def progressed_arm_a(investigator_a, site_a, pada1, today, design):
    patient, _, randomized_on = rf.randomized_on_arm(
        "A", by=investigator_a, site=site_a, version=pada1, today=today
    )
    rf.assess(
        patient,
        by=investigator_a,
        on=randomized_on + dt.timedelta(days=28),
        today=today,
        new_lesions=True,
    )
    return patient


def post(client, patient, password=PASSWORD):
    return client.post(f"/api/v1/patients/{patient.pk}/crossover/", {"password": password})


def code_of(response):
    return response.status_code, response.json()["code"]


def test_crossover_then_a_second_one_is_409(api, investigator_a, progressed_arm_a, today):
    response = post(api(investigator_a), progressed_arm_a)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["arm"] == "A" and body["decided_on"] == str(today)
    assert body["treatment_line"]["regimen"] == "palbo_fulv"
    assert body["treatment_line"]["endocrine_drug"] == "fulvestrant"
    assert body["decided_by"] == investigator_a.username
    assert code_of(post(api(investigator_a), progressed_arm_a)) == (409, "already_crossed_over")


def test_without_progression_it_is_422(api, investigator_a, site_a, pada1, today, design):
    patient, _, _ = rf.randomized_on_arm(
        "A", by=investigator_a, site=site_a, version=pada1, today=today
    )
    assert code_of(post(api(investigator_a), patient)) == (422, "crossover_not_allowed")


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("coordinator_a", (403, "role_not_allowed")),
        ("investigator_b", (404, "not_found")),
        ("sponsor", (403, "role_not_allowed")),
    ],
)
def test_personas(api, request, progressed_arm_a, persona, expected):
    assert code_of(post(api(request.getfixturevalue(persona)), progressed_arm_a)) == expected


def test_wrong_password_is_403(api, investigator_a, progressed_arm_a):
    assert code_of(post(api(investigator_a), progressed_arm_a, "x")) == (403, "wrong_password")
