"""Admin: site scoping, reasons on edit, no delete, and bounded query counts on list pages."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.trial import factories as f
from trial.models import Patient

pytestmark = pytest.mark.django_db


def login(client, user):
    client.force_login(user)
    return client


def count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(ctx.captured_queries)


def test_patient_list_query_count_does_not_grow_with_patients(
    client, investigator_a, site_a, pada1, today
):
    login(client, investigator_a)
    for i in range(3):
        f.enrolled(by=investigator_a, site=site_a, version=pada1, today=today, number=f"P{i}")
    few = count_queries(client, "/admin/trial/patient/")
    for i in range(3, 15):
        f.enrolled(by=investigator_a, site=site_a, version=pada1, today=today, number=f"P{i}")
    many = count_queries(client, "/admin/trial/patient/")
    assert many == few
    assert many <= 12


def test_patient_change_page_query_count_is_bounded(client, investigator_a, site_a, pada1, today):
    login(client, investigator_a)
    patient = f.enrolled(by=investigator_a, site=site_a, version=pada1, today=today)
    assert count_queries(client, f"/admin/trial/patient/{patient.pk}/change/") <= 30


def test_admin_is_site_scoped(client, investigator_a, investigator_b, site_a, site_b, pada1, today):
    theirs = f.registered(by=investigator_b, site=site_b, version=pada1, today=today, number="B1")
    f.registered(by=investigator_a, site=site_a, version=pada1, today=today, number="A1")
    login(client, investigator_a)
    page = client.get("/admin/trial/patient/").content.decode()
    assert "A1" in page and "B1" not in page
    assert client.get(f"/admin/trial/patient/{theirs.pk}/change/").status_code == 302
    assert client.get(f"/admin/trial/patient/{theirs.pk}/enrol/").status_code == 404


def test_admin_search_and_filters(client, investigator_a, site_a, pada1, today):
    f.enrolled(by=investigator_a, site=site_a, version=pada1, today=today, number="A1")
    f.registered(by=investigator_a, site=site_a, version=pada1, today=today, number="A2")
    login(client, investigator_a)
    page = client.get("/admin/trial/patient/?q=PADA1-FR01-0001").content.decode()
    assert "PADA1-FR01-0001" in page and "A2" not in page
    page = client.get("/admin/trial/patient/?status__exact=screening").content.decode()
    assert "A2" in page and "PADA1-FR01-0001" not in page


def test_admin_edit_requires_a_reason(client, investigator_a, site_a, pada1, today):
    patient = f.registered(by=investigator_a, site=site_a, version=pada1, today=today)
    login(client, investigator_a)
    url = f"/admin/trial/patient/{patient.pk}/change/"
    data = {
        "year_of_birth": 1955,
        "sex": "female",
        "menopausal_status": "postmenopausal",
        "stratification": "{}",
        "change_reason": "",
        "assessments-TOTAL_FORMS": 0,
        "assessments-INITIAL_FORMS": 0,
        "consents-TOTAL_FORMS": 0,
        "consents-INITIAL_FORMS": 0,
        "lines-TOTAL_FORMS": 0,
        "lines-INITIAL_FORMS": 0,
    }
    response = client.post(url, data)
    assert response.status_code == 200
    assert "A reason for the change is required." in response.content.decode()
    assert Patient.objects.get().year_of_birth != 1955
    response = client.post(url, data | {"change_reason": "corrected from source"})
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.year_of_birth == 1955
    assert patient.history.latest().history_change_reason == "corrected from source"


@pytest.mark.parametrize(
    ("stratification", "message"),
    [
        ('{"visceral_metastases\\u0000": "yes"}', "NUL character"),
        ('["yes"]', "maps each factor name to a level"),
        ('{"visceral_metastases": 1}', "maps each factor name to a level"),
    ],
)
def test_admin_refuses_stratification_it_cannot_store(
    client, investigator_a, site_a, pada1, today, stratification, message
):
    patient = f.registered(by=investigator_a, site=site_a, version=pada1, today=today)
    login(client, investigator_a)
    data = {
        "year_of_birth": 1955,
        "sex": "female",
        "menopausal_status": "postmenopausal",
        "stratification": stratification,
        "change_reason": "corrected from source",
    }
    for prefix in ("assessments", "consents", "lines"):
        data |= {f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0}
    response = client.post(f"/admin/trial/patient/{patient.pk}/change/", data)
    assert response.status_code == 200
    assert message in response.content.decode()
    patient.refresh_from_db()
    assert patient.stratification == {}
    assert patient.history.count() == 1


def test_enrolment_from_the_admin_calls_the_service(client, investigator_a, site_a, pada1, today):
    patient = f.registered(by=investigator_a, site=site_a, version=pada1, today=today)
    f.consented(by=investigator_a, patient=patient, today=today)
    f.screened(by=investigator_a, patient=patient, today=today)
    login(client, investigator_a)
    response = client.post(
        f"/admin/trial/patient/{patient.pk}/enrol/",
        {"endocrine_drug": "exemestane", "planned_c1d1": str(today)},
    )
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.trial_number == "PADA1-FR01-0001"


def test_nothing_can_be_deleted_from_the_admin(client, investigator_a, site_a, pada1, today):
    patient = f.registered(by=investigator_a, site=site_a, version=pada1, today=today)
    login(client, investigator_a)
    assert client.get(f"/admin/trial/patient/{patient.pk}/delete/").status_code == 403


def test_sponsor_reads_but_cannot_change(client, sponsor, investigator_a, site_a, pada1, today):
    patient = f.registered(by=investigator_a, site=site_a, version=pada1, today=today)
    login(client, sponsor)
    assert client.get("/admin/trial/patient/").status_code == 200
    response = client.post(f"/admin/trial/patient/{patient.pk}/change/", {"year_of_birth": 1950})
    assert response.status_code == 403


def test_the_protocol_document_conceals_the_randomization_design_from_sites(
    client, investigator_a, statistician, pada1
):
    client.force_login(investigator_a)
    page = client.get(f"/admin/trial/protocolversion/{pada1.pk}/change/").content.decode()
    assert "block_sizes" not in page and "concealed" in page and "cycle_length_days" in page
    client.force_login(statistician)
    page = client.get(f"/admin/trial/protocolversion/{pada1.pk}/change/").content.decode()
    assert "block_sizes" in page


def test_schedule_list_estimates_only_an_unfiltered_count_of_a_large_table(
    client, sponsor, investigator_a, site_a, pada1, today, monkeypatch
):
    from trial.admin import EstimatedCountPaginator

    f.enrolled(by=investigator_a, site=site_a, version=pada1, today=today, number="P1")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE trial_scheduleitem")
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_FROM", 1)
    login(client, sponsor)

    def counts(url):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"]]

    assert counts("/admin/trial/scheduleitem/") == []  # the estimate, no count
    assert len(counts("/admin/trial/scheduleitem/?status__exact=due")) == 1  # exact, once
    login(client, investigator_a)
    assert len(counts("/admin/trial/scheduleitem/")) == 1  # a site's list: exact
