"""Admin of ctDNA monitoring: labs for data managers, samples for site staff (through the
services), results, submissions and the outbox read-only; list pages at a fixed query count."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.models import CtdnaResult, Lab, Sample, TriggerOutbox
from tests.monitoring.conftest import day, draw, ingest, payload, variant
from tests.trial import factories as f
from trial.models import ScheduleItem, Step2Trigger

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_real_enqueue(no_broker):
    """After-commit enqueues are recorded, never sent to the shared Redis."""


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(ctx.captured_queries)


def results_for(lab, patient, by, count, start=0):
    for n in range(start, start + count):
        sample = draw(patient, f"{patient.pk}-{n}", day(10 * n), by)
        ingest(lab, payload(sample, variants=[variant(copies=10.0 * (n + 1), vaf=0.01 * (n + 1))]))


@pytest.fixture
def many_patients(investigator_a, site_a, pada1, ctdna_clock):
    return [
        f.enrolled(by=investigator_a, site=site_a, version=pada1, today=day(0), number=f"P{n}")
        for n in range(4)
    ]


# --- list pages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "url"),
    [
        ("investigator_a", "/admin/monitoring/sample/"),
        ("investigator_a", "/admin/monitoring/ctdnaresult/"),
        ("sponsor", "/admin/monitoring/ctdnaresult/"),
        ("data_manager", "/admin/monitoring/triggeroutbox/"),
        ("data_manager", "/admin/monitoring/labsubmission/"),
        ("data_manager", "/admin/monitoring/lab/"),
    ],
)
def test_list_pages_do_not_grow_with_rows(
    client, lab_a, many_patients, investigator_a, persona, url, request, data_manager, site_b
):
    client.force_login(request.getfixturevalue(persona))
    results_for(lab_a, many_patients[0], investigator_a, 2)
    few = count_queries(client, url)
    for patient in many_patients[1:]:
        results_for(lab_a, patient, investigator_a, 3)
    from monitoring.services.labs import lab_register

    lab_register(by=data_manager, code="LAB-X", name="X", sites=[site_b])
    many = count_queries(client, url)
    assert many == few
    assert TriggerOutbox.objects.count() >= 4


def test_staff_see_only_their_sites(
    client, lab_a, lab_b, investigator_a, investigator_b, patient_a, patient_b
):
    results_for(lab_a, patient_a, investigator_a, 1)
    results_for(lab_b, patient_b, investigator_b, 1)
    client.force_login(investigator_a)
    page = client.get("/admin/monitoring/sample/").content.decode()
    assert f"{patient_a.pk}-0" in page and f"{patient_b.pk}-0" not in page
    theirs = CtdnaResult.objects.get(patient=patient_b)
    assert client.get(f"/admin/monitoring/ctdnaresult/{theirs.pk}/change/").status_code == 302
    for url in ("/admin/monitoring/lab/", "/admin/monitoring/triggeroutbox/"):
        assert client.get(url).status_code == 403


# --- results are read-only ----------------------------------------------------------------------


def test_results_are_read_only_for_everyone(client, lab_a, patient_a, investigator_a, data_manager):
    results_for(lab_a, patient_a, investigator_a, 1)
    result = CtdnaResult.objects.get()
    for user in (investigator_a, data_manager):
        client.force_login(user)
        url = f"/admin/monitoring/ctdnaresult/{result.pk}/change/"
        page = client.get(url)
        assert page.status_code == 200
        assert b'name="_save"' not in page.content
        assert client.post(url, {"assay": "x"}).status_code == 403
        assert client.get("/admin/monitoring/ctdnaresult/add/").status_code == 403
        assert client.get(f"/admin/monitoring/ctdnaresult/{result.pk}/delete/").status_code == 403
    assert CtdnaResult.objects.get().assay == "ddPCR"


# --- labs ---------------------------------------------------------------------------------------


def test_a_data_manager_registers_a_lab_and_changes_its_sites_with_a_reason(
    client, data_manager, site_a, site_b
):
    client.force_login(data_manager)
    r = client.post(
        "/admin/monitoring/lab/add/", {"code": "CURIE-GEN", "name": "Curie", "sites": [site_a.pk]}
    )
    assert r.status_code == 302, r.content[:2000]
    lab = Lab.objects.get(code="CURIE-GEN")
    assert lab.service_user.username == "lab-curie-gen"
    assert lab.service_user.staff.role == "lab"
    assert not lab.service_user.has_usable_password()
    url = f"/admin/monitoring/lab/{lab.pk}/change/"
    r = client.post(url, {"name": "Curie", "sites": [site_a.pk, site_b.pk]})
    assert r.status_code == 200 and b"A reason for the change is required" in r.content
    r = client.post(
        url, {"name": "Curie", "sites": [site_a.pk, site_b.pk], "change_reason": "now serves B"}
    )
    assert r.status_code == 302
    assert sorted(lab.sites.values_list("code", flat=True)) == ["FR01", "FR02"]
    assert lab.history.first().history_change_reason == "now serves B"


def test_site_staff_cannot_register_labs(client, investigator_a):
    client.force_login(investigator_a)
    assert client.get("/admin/monitoring/lab/add/").status_code == 403


# --- samples ------------------------------------------------------------------------------------


def test_site_staff_record_a_sample_in_the_admin(client, investigator_a, patient_a):
    client.force_login(investigator_a)
    r = client.post(
        "/admin/monitoring/sample/add/",
        {"patient": patient_a.pk, "sample_id": "TUBE-9", "drawn_on": str(day(0))},
    )
    assert r.status_code == 302, r.content[:2000]
    sample = Sample.objects.get(sample_id="TUBE-9")
    assert sample.created_by == investigator_a
    assert ScheduleItem.objects.get(patient=patient_a, done_ref="TUBE-9").status == "done"


def test_a_draw_date_is_corrected_with_a_reason_until_a_result_quotes_it(
    client, investigator_a, patient_a, lab_a
):
    sample = draw(patient_a, "TUBE-9", day(0), investigator_a)
    client.force_login(investigator_a)
    url = f"/admin/monitoring/sample/{sample.pk}/change/"
    r = client.post(url, {"drawn_on": str(day(1)), "change_reason": "typo on the form"})
    assert r.status_code == 302, r.content[:2000]
    sample.refresh_from_db()
    assert sample.drawn_on == day(1)
    assert sample.history.first().history_change_reason == "typo on the form"
    ingest(lab_a, payload(sample))
    r = client.post(url, {"drawn_on": str(day(2)), "change_reason": "again"})
    assert r.status_code == 403
    sample.refresh_from_db()
    assert sample.drawn_on == day(1)


# --- outbox -------------------------------------------------------------------------------------


def test_a_data_manager_processes_pending_rows_from_the_admin(
    client, data_manager, lab_a, patient_a, investigator_a
):
    ingest(lab_a, payload(draw(patient_a, "S-0", day(0), investigator_a)))
    ingest(lab_a, payload(draw(patient_a, "S-1", day(42), investigator_a), variants=[variant()]))
    row = TriggerOutbox.objects.get()
    client.force_login(data_manager)
    r = client.post(
        "/admin/monitoring/triggeroutbox/",
        {"action": "process_now", "_selected_action": [row.pk]},
    )
    assert r.status_code == 302
    row.refresh_from_db()
    assert row.outcome == "opened" and Step2Trigger.objects.get().patient == patient_a


@pytest.mark.parametrize(
    ("url", "table", "filtered"),
    [
        ("/admin/monitoring/sample/", "monitoring_sample", "?q={number}"),
        ("/admin/monitoring/ctdnaresult/", "monitoring_ctdnaresult", "?status__exact=final"),
        ("/admin/monitoring/labsubmission/", "monitoring_labsubmission", "?channel__exact=json"),
    ],
)
def test_large_ingestion_lists_estimate_only_an_unfiltered_count(
    client,
    lab_a,
    many_patients,
    investigator_a,
    data_manager,
    site_a,
    monkeypatch,
    url,
    table,
    filtered,
):
    from trial.admin import EstimatedCountPaginator

    results_for(lab_a, many_patients[0], investigator_a, 2)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_FROM", 1)
    client.force_login(data_manager)

    def counts(path):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path)
        assert response.status_code == 200, response.content[:500]
        return [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"]]

    if connection.vendor == "postgresql":
        assert counts(url) == []  # the planner's estimate, no count of every row
    assert (
        len(counts(url + filtered.format(number=many_patients[0].trial_number))) == 1
    )  # exact, and only once
