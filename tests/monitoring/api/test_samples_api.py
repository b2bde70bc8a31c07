"""Site staff record ctDNA draws; staff read a patient's draws and interpreted results."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.models import Sample
from tests.monitoring.conftest import ENROLLED_ON, TODAY, assert_error, day, draw, payload, variant
from tests.trial import factories as f
from trial.models import ScheduleItem

pytestmark = pytest.mark.django_db


def samples_url(patient):
    return f"/api/v1/patients/{patient.pk}/samples/"


def results_url(patient):
    return f"/api/v1/patients/{patient.pk}/ctdna-results/"


def record(client, patient, sample_id="S-000", drawn_on=None):
    body = {"sample_id": sample_id, "drawn_on": str(drawn_on or day(0))}
    return client.post(samples_url(patient), body, format="json")


@pytest.mark.parametrize("persona", ["investigator_a", "coordinator_a"])
def test_site_staff_record_a_draw_and_the_baseline_item_is_done(api, patient_a, persona, request):
    user = request.getfixturevalue(persona)
    r = record(api(user), patient_a)
    assert r.status_code == 201, r.json()
    data = r.json()
    assert data["sample_id"] == "S-000"
    assert data["patient_id"] == patient_a.trial_number
    assert data["drawn_on"] == str(day(0))
    assert data["turnaround_days"] is None
    sample = Sample.objects.get()
    assert sample.created_by == user
    assert sample.history.get().history_user == user
    item = ScheduleItem.objects.get(patient=patient_a, kind="ctdna", done_ref="S-000")
    assert (item.status, item.done_on) == ("done", day(0))


def test_a_draw_near_c2d1_completes_that_item(api, investigator_a, patient_a):
    record(api(investigator_a), patient_a, "S-000", day(0))
    record(api(investigator_a), patient_a, "S-001", day(40))
    done = ScheduleItem.objects.filter(patient=patient_a, kind="ctdna", status="done")
    assert sorted(done.values_list("done_ref", flat=True)) == ["S-000", "S-001"]
    assert done.get(done_ref="S-001").cycle == 2


def test_sample_ids_are_unique_trial_wide(
    api, investigator_a, investigator_b, patient_a, patient_b
):
    assert record(api(investigator_a), patient_a, "TUBE-1").status_code == 201
    r = record(api(investigator_b), patient_b, "TUBE-1")
    assert assert_error(r, 409, "duplicate_sample_id")["details"]["field"] == "sample_id"
    assert Sample.objects.count() == 1


def test_a_malformed_sample_id_is_refused(api, investigator_a, patient_a):
    assert_error(record(api(investigator_a), patient_a, "tube 1/a"), 400, "invalid_sample_id")
    r = api(investigator_a).post(samples_url(patient_a), {"drawn_on": str(day(0))}, format="json")
    assert_error(r, 400, "validation_error")


@pytest.mark.parametrize(
    "drawn_on", [TODAY.replace(day=2), ENROLLED_ON.replace(day=3)], ids=["future", "pre-enrolment"]
)
def test_the_draw_date_lies_between_enrolment_and_today(api, investigator_a, patient_a, drawn_on):
    r = record(api(investigator_a), patient_a, drawn_on=drawn_on)
    assert assert_error(r, 422, "invalid_draw_date")["details"]["field"] == "drawn_on"


def test_a_patient_in_screening_has_no_draws(api, investigator_a, site_a, pada1, ctdna_clock):
    patient = f.registered(by=investigator_a, site=site_a, version=pada1, number="S9")
    assert_error(record(api(investigator_a), patient), 422, "patient_not_enrolled")


def test_another_sites_patient_is_not_found(api, investigator_b, patient_a):
    assert_error(record(api(investigator_b), patient_a), 404, "not_found")
    assert_error(api(investigator_b).get(samples_url(patient_a)), 404, "not_found")
    assert_error(api(investigator_b).get(results_url(patient_a)), 404, "not_found")


@pytest.mark.parametrize("persona", ["sponsor", "data_manager", "statistician"])
def test_central_roles_read_but_do_not_record(api, patient_a, investigator_a, persona, request):
    draw(patient_a, "S-000", day(0), investigator_a)
    client = api(request.getfixturevalue(persona))
    assert_error(record(client, patient_a, "S-001"), 403, "permission_denied")
    assert client.get(samples_url(patient_a)).json()["count"] == 1


def test_labs_do_not_use_the_site_endpoints(client_a, patient_a):
    assert_error(record(client_a, patient_a), 403, "permission_denied")
    assert_error(client_a.get(results_url(patient_a)), 403, "permission_denied")


def test_the_sample_list_costs_the_same_queries_for_one_or_many_rows(
    api, investigator_a, patient_a
):
    client = api(investigator_a)
    draw(patient_a, "S-000", day(0), investigator_a)
    with CaptureQueriesContext(connection) as one:
        assert client.get(samples_url(patient_a)).status_code == 200
    for n in range(1, 4):
        draw(patient_a, f"S-{n:03d}", day(42 * n), investigator_a)
    with CaptureQueriesContext(connection) as many:
        assert client.get(samples_url(patient_a)).json()["count"] == 4
    assert len(many) == len(one)


def test_staff_read_the_interpreted_results(api, client_a, investigator_a, sponsor, patient_a):
    first = draw(patient_a, "S-000", day(0), investigator_a)
    second = draw(patient_a, "S-001", day(42), investigator_a)
    client_a.post("/api/v1/ctdna/results/", payload(first), format="json")
    client_a.post("/api/v1/ctdna/results/", payload(second, variants=[variant()]), format="json")
    for user in (investigator_a, sponsor):
        data = api(user).get(results_url(patient_a)).json()
        assert [r["sample_id"] for r in data["results"]] == ["S-000", "S-001"]
        assert data["results"][1]["interpretation"]["patient_status"] == "rising"
    sample = api(investigator_a).get(samples_url(patient_a)).json()["results"][0]
    assert sample["turnaround_days"] == 12


def test_the_patient_result_list_costs_the_same_queries_for_one_or_many_rows(
    api, client_a, investigator_a, patient_a
):
    client = api(investigator_a)
    samples = [draw(patient_a, f"S-{n:03d}", day(42 * n), investigator_a) for n in range(4)]
    client_a.post("/api/v1/ctdna/results/", payload(samples[0]), format="json")
    with CaptureQueriesContext(connection) as one:
        assert client.get(results_url(patient_a)).status_code == 200
    for sample in samples[1:]:
        body = payload(sample, variants=[variant(), variant("p.E380Q")])
        client_a.post("/api/v1/ctdna/results/", body, format="json")
    with CaptureQueriesContext(connection) as many:
        assert client.get(results_url(patient_a)).json()["count"] == 4
    assert len(many) == len(one)


def test_messages_follow_the_users_language(api, patient_a, site_a):
    from tests.conftest import make_user
    from trial.models import Role

    francophone = make_user("coord_fr", Role.COORDINATOR, [site_a], language="fr")
    r = record(api(francophone), patient_a, "tube 1/a")
    body = assert_error(r, 400, "invalid_sample_id")
    assert body["message"].startswith("Un identifiant d'échantillon compte 1 à 64")
