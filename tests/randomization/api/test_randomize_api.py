"""POST /api/v1/patients/{id}/randomize/ and GET .../allocation/: every code and persona."""

from __future__ import annotations

import datetime as dt

import pytest

from randomization.models import Allocation
from tests.conftest import PASSWORD, make_user
from tests.randomization import factories as rf
from tests.trial import factories as f
from trial.models import Role

pytestmark = pytest.mark.django_db


def post(client, patient, key="key-1", password=PASSWORD):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    body = {} if password is None else {"password": password}
    return client.post(f"/api/v1/patients/{patient.pk}/randomize/", body, **headers)


def assert_concealed(response):
    text = response.content.decode()
    assert "block_size" not in text and "block_number" not in text


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    assert set(body) == {"code", "message", "details"}
    assert_concealed(response)


def test_randomize_replies_with_what_re_derives_the_allocation(
    api, investigator_a, patient, design
):
    response = post(api(investigator_a), patient)
    assert response.status_code == 200, response.content
    body = response.json()
    allocation = Allocation.objects.get(patient=patient)
    assert body["arm"] == allocation.arm and body["patient"] == patient.pk
    assert body["design"] == {
        "id": design.pk,
        "design_version": design.number,
        "protocol": "PADA1",
        "protocol_version": design.protocol_version.number,
        "method": "permuted_blocks",
        "algorithm_version": design.algorithm_version,
    }
    assert body["stratum"] == "visceral_metastases=yes|time_on_step1=ge_12_months"
    assert body["sequence_number"] == 1
    assert body["allocated_by"] == investigator_a.username
    assert body["arm_title"].startswith(f"Arm {allocation.arm}")
    assert body["minimization"] is None
    assert_concealed(response)


def test_the_same_key_replays_the_same_reply(api, investigator_a, patient):
    client = api(investigator_a)
    first = post(client, patient, key="retry-me")
    second = post(client, patient, key="retry-me")
    assert second.status_code == 200
    assert second.json() == first.json()
    assert Allocation.objects.count() == 1


def test_the_same_key_for_another_patient_is_409(
    api, investigator_a, site_a, pada1, today, patient
):
    other = rf.randomizable(by=investigator_a, site=site_a, version=pada1, today=today, number="Z")
    client = api(investigator_a)
    post(client, patient, key="shared")
    assert_error(post(client, other, key="shared"), 409, "idempotency_key_reused")


def test_a_second_randomization_is_409(api, investigator_a, patient):
    client = api(investigator_a)
    post(client, patient, key="one")
    assert_error(post(client, patient, key="two"), 409, "already_randomized")


@pytest.mark.parametrize(
    ("persona", "status", "code"),
    [
        ("coordinator_a", 403, "role_not_allowed"),
        ("investigator_b", 404, "not_found"),
        ("coordinator_b", 404, "not_found"),
        ("sponsor", 403, "role_not_allowed"),
        ("statistician", 403, "role_not_allowed"),
        ("data_manager", 403, "role_not_allowed"),
    ],
)
def test_personas_other_than_the_site_investigator_are_refused(
    api, request, patient, persona, status, code
):
    response = post(api(request.getfixturevalue(persona)), patient)
    assert_error(response, status, code)
    assert Allocation.objects.count() == 0


def test_anonymous_is_refused(api, patient):
    assert_error(post(api(), patient), 401, "not_authenticated")


def test_wrong_password_is_403(api, investigator_a, patient):
    assert_error(post(api(investigator_a), patient, password="guess"), 403, "wrong_password")


def test_missing_password_is_a_validation_error(api, investigator_a, patient):
    assert_error(post(api(investigator_a), patient, password=None), 400, "validation_error")


@pytest.mark.parametrize("key", [None, "", "spaces are not allowed"])
def test_the_idempotency_key_header_is_required(api, investigator_a, patient, key):
    assert_error(post(api(investigator_a), patient, key=key), 400, "idempotency_key_required")


def test_not_eligible_is_422(api, investigator_a, site_a, pada1, today, design):
    patient = f.enrolled(by=investigator_a, site=site_a, version=pada1, today=today, number="N")
    assert_error(post(api(investigator_a), patient), 422, "not_eligible")


def test_a_closed_window_is_not_eligible(api, investigator_a, site_a, pada1, today, design):
    patient = rf.randomizable(
        by=investigator_a,
        site=site_a,
        version=pada1,
        today=today,
        imaging_on=today - dt.timedelta(days=22),
    )
    assert_error(post(api(investigator_a), patient), 422, "not_eligible")


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({"visceral_metastases": "yes"}, "stratum_incomplete"),
        ({"visceral_metastases": "yes", "time_on_step1": "forever"}, "stratum_invalid_level"),
    ],
)
def test_stratification_errors_are_422(
    api, investigator_a, site_a, pada1, today, design, values, code
):
    patient = rf.randomizable(
        by=investigator_a, site=site_a, version=pada1, today=today, stratification=values
    )
    assert_error(post(api(investigator_a), patient), 422, code)


def test_no_active_design_is_422(api, investigator_a, site_a, pada1, today):
    patient = rf.randomizable(by=investigator_a, site=site_a, version=pada1, today=today)
    assert_error(post(api(investigator_a), patient), 422, "no_active_design")


def test_an_exhausted_list_is_422(api, investigator_a, site_a, pada1, today, statistician):
    rf.active_design(statistician=statistician, version=pada1, length=1)
    first = rf.randomizable(by=investigator_a, site=site_a, version=pada1, today=today, number="1")
    second = rf.randomizable(by=investigator_a, site=site_a, version=pada1, today=today, number="2")
    client = api(investigator_a)
    assert post(client, first, key="a").status_code == 200
    assert_error(post(client, second, key="b"), 422, "randomization_list_exhausted")


def test_allocation_is_shown_to_the_site_only_once_made(
    api, investigator_a, coordinator_a, investigator_b, sponsor, patient
):
    url = f"/api/v1/patients/{patient.pk}/allocation/"
    assert_error(api(coordinator_a).get(url), 404, "not_found")
    reply = post(api(investigator_a), patient).json()
    assert api(coordinator_a).get(url).json() == reply
    assert_error(api(sponsor).get(url), 403, "role_not_allowed")
    assert_error(api(investigator_b).get(url), 404, "not_found")


def test_errors_speak_the_user_language(api, site_a, pada1, today, design):
    french = make_user("inv_fr", Role.INVESTIGATOR, [site_a], language="fr")
    patient = f.enrolled(by=french, site=site_a, version=pada1, today=today, number="FR1")
    body = post(api(french), patient).json()
    assert body["code"] == "not_eligible"
    assert body["message"] == "La patiente n'est pas éligible à la randomisation."


def test_the_patient_audit_trail_shows_the_allocation_but_not_its_list_slot(
    api, investigator_a, coordinator_a, patient
):
    post(api(investigator_a), patient)
    trail = api(coordinator_a).get(f"/api/v1/patients/{patient.pk}/audit/").json()
    (created,) = [e for e in trail if e["record"] == "randomization.Allocation"]
    assert created["action"] == "created" and created["user"] == investigator_a.username
    assert created["changes"]["arm"][1] in {"A", "B"}
    assert "list_entry" not in created["changes"] and "list_entry_id" not in created["changes"]
