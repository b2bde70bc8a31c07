"""Admin pages of Step 1 follow-up and the query counts of every list (admin and API)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.trial import factories as f
from trial.services import adverse_events, qol, tumour

from .conftest import T0, cbc, start

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)
C1D1 = T0 + 7 * DAY
ANSWERS = {i: 2 for i in range(1, 31)}


def queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return len(ctx.captured_queries)


def follow_up(patient, by, clock, index):
    """One cycle of records for ``patient``: a count, an AE, an assessment, a questionnaire."""
    day = C1D1 + index * 28 * DAY
    clock.to(day)
    if index == 0:
        tumour.tumour_assessment_record(
            patient=patient, by=by, assessed_on=day, modality="CT",
            target_lesions=[{"lesion_number": 1, "location": "liver", "diameter_mm": 30}],
            new_lesions=False, non_target="absent", today=day,
        )  # fmt: skip
    cbc(patient, by, cycle=index + 1, day=1, on=day, anc=0.9 if index % 2 else 1.6)
    start(patient, by, day)
    adverse_events.adverse_event_record(
        patient=patient, by=by, term="Fatigue", grade=2, onset_on=day, attribution="possible",
        serious=index == 1, today=day,
    )  # fmt: skip
    qol.qol_submit(patient=patient, by=by, completed_on=day, responses=ANSWERS, today=day)
    if index:
        tumour.tumour_assessment_record(
            patient=patient, by=by, assessed_on=day + DAY, modality="CT",
            target_lesions=[{"lesion_number": 1, "location": "liver", "diameter_mm": 29}],
            new_lesions=False, non_target="absent", today=day + DAY,
        )  # fmt: skip


API_LISTS = [
    "/api/v1/patients/{p}/schedule/",
    "/api/v1/patients/{p}/cycles/",
    "/api/v1/patients/{p}/blood-counts/",
    "/api/v1/patients/{p}/dose-decisions/",
    "/api/v1/patients/{p}/adverse-events/",
    "/api/v1/patients/{p}/tumour-assessments/",
    "/api/v1/patients/{p}/qol/",
    "/api/v1/schedule/due/",
    "/api/v1/haematological-toxicities/?min_grade=1",
]

ADMIN_LISTS = [
    "/admin/trial/scheduleitem/",
    "/admin/trial/scheduleitem/due/",
    "/admin/trial/scheduleitem/calendar/{p}/",
    "/admin/trial/adverseevent/",
    "/admin/trial/cycle/",
    "/admin/trial/dosedecision/",
    "/admin/trial/bloodcount/",
    "/admin/trial/tumourassessment/",
    "/admin/trial/qolquestionnaire/",
]


@pytest.mark.parametrize("url", API_LISTS)
def test_api_lists_do_not_grow_with_rows(url, clock, clocked_patient, investigator_a, api):
    client = api(investigator_a)
    follow_up(clocked_patient, investigator_a, clock, 0)
    few = queries(client, url.format(p=clocked_patient.pk))
    for index in range(1, 4):
        follow_up(clocked_patient, investigator_a, clock, index)
    assert queries(client, url.format(p=clocked_patient.pk)) == few


@pytest.mark.parametrize("url", ADMIN_LISTS)
def test_admin_lists_do_not_grow_with_rows(
    url, clock, clocked_patient, investigator_a, site_a, pada1, client
):
    follow_up(clocked_patient, investigator_a, clock, 0)
    client.force_login(investigator_a)  # sessions last 8 h and the clock moves: log in again
    few = queries(client, url.format(p=clocked_patient.pk))
    for index in range(1, 4):
        follow_up(clocked_patient, investigator_a, clock, index)
    for number in range(3):
        f.enrolled(
            by=investigator_a,
            site=site_a,
            version=pada1,
            today=C1D1 + 90 * DAY,
            number=f"X{number}",
        )
    client.force_login(investigator_a)
    assert queries(client, url.format(p=clocked_patient.pk)) == few
    assert few <= 20


def test_admin_calendar_and_due_pages_are_site_scoped(
    clocked_patient, client, investigator_a, investigator_b
):
    client.force_login(investigator_b)
    assert (
        client.get(f"/admin/trial/scheduleitem/calendar/{clocked_patient.pk}/").status_code == 404
    )
    page = client.get("/admin/trial/scheduleitem/due/").content.decode()
    assert "FR01" not in page and "Nothing is due" in page
    client.force_login(investigator_a)
    page = client.get(f"/admin/trial/scheduleitem/calendar/{clocked_patient.pk}/").content.decode()
    assert "blood_count:baseline" in page and "cycle_visit:C1D1" in page
    page = client.get("/admin/trial/scheduleitem/due/").content.decode()
    assert "FR01" in page and "ctdna:baseline" in page


def test_admin_sae_clock_shows_overdue_and_the_action_stops_it(
    clock, clocked_patient, client, investigator_a, sponsor
):
    event = adverse_events.adverse_event_record(
        patient=clocked_patient, by=investigator_a, term="Sepsis", grade=4, onset_on=T0,
        attribution="possible", serious=True, today=T0,
    )  # fmt: skip
    client.force_login(sponsor)
    page = client.get("/admin/trial/adverseevent/").content.decode()
    assert "24.0 h left" in page
    clock.to(T0 + 2 * DAY)
    client.force_login(sponsor)
    page = client.get("/admin/trial/adverseevent/?sae=overdue").content.decode()
    assert "OVERDUE by 24.0 h" in page and "Sepsis" in page
    # The sponsor reads; the action refuses them (role), a site investigator may report.
    data = {"action": "mark_sae_reported", "_selected_action": [event.pk]}
    client.post("/admin/trial/adverseevent/", data)
    event.refresh_from_db()
    assert event.sae_reported_at is None
    client.force_login(investigator_a)
    client.post("/admin/trial/adverseevent/", data)
    event.refresh_from_db()
    assert event.sae_reported_at is not None
    assert "Sepsis" in client.get("/admin/trial/adverseevent/?sae=reported").content.decode()
    assert "Sepsis" not in client.get("/admin/trial/adverseevent/?sae=overdue").content.decode()


def test_clinical_records_are_view_only_in_the_admin(clocked_patient, client, investigator_a):
    client.force_login(investigator_a)
    assert client.get("/admin/trial/bloodcount/add/").status_code == 403
    item = clocked_patient.schedule_items.first()
    page = client.get(f"/admin/trial/scheduleitem/{item.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
