"""Exports: CSV per domain and CDISC ODM 1.3.2 (validated against the XSD bundled with
odmlib), pseudonymised, site-scoped, arm-masked for the sponsor, streamed, audited; export
jobs claimed once, with progress, a SHA-256 and a download for their requester only."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from pathlib import Path
from unittest import mock

import odmlib
import pytest
from django.db.models.query import QuerySet
from lxml import etree

from monitoring.dashboard import services
from monitoring.dashboard.exports import domains, streams
from monitoring.dashboard.models import ExportJob, ExportKind, ExportStatus
from randomization.models import Allocation
from trial.models import AuditEvent, Patient, Role
from trial.services.adverse_events import adverse_event_record

from . import dataset as ds

ODM_NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
XSD = Path(odmlib.__file__).parent / "schemas" / "odm" / "1.3.2" / "ODM1-3-2.xsd"


@pytest.fixture(scope="module")
def odm_schema():
    return etree.XMLSchema(etree.parse(str(XSD)))


@pytest.fixture
def export_dir(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path / "exports"


def _download(client, url) -> tuple[object, bytes]:
    response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    assert response.streaming
    return response, b"".join(response.streaming_content)


def _csv(client, kind, query="") -> list[dict[str, str]]:
    _response, body = _download(client, f"/dashboard/exports/{kind}/?{query}")
    return list(csv.DictReader(io.StringIO(body.decode())))


def _odm(client, odm_schema, query=""):
    response, body = _download(client, f"/dashboard/exports/odm/?{query}")
    assert response["Content-Type"] == "application/xml"
    document = etree.fromstring(body)
    odm_schema.assertValid(document)
    return document


def _screening_numbers(known) -> set[str]:
    return set(Patient.objects.values_list("screening_number", flat=True))


# --- CSV -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", domains.CSV_KINDS)
def test_every_domain_exports_its_rows_pseudonymised(db, known, on_today, as_persona, kind):
    rows = _csv(as_persona(known, "stat"), kind)
    domain = domains.DOMAINS[kind]
    assert list(rows[0]) == domain.headers
    assert len(rows) == domain.queryset(None, _filters(known, "PADA1")).count() or len(rows) >= 1
    subjects = {row["subject_id"] for row in rows}
    assert not subjects & _screening_numbers(known)
    trial_numbers = set(
        Patient.objects.exclude(trial_number=None).values_list("trial_number", flat=True)
    )
    assert all(s in trial_numbers or s.startswith("NE-") for s in subjects)


def _filters(known, protocol):
    from monitoring.dashboard.filters import parse_filters

    return parse_filters({"protocol": protocol}, user=known.users["stat"])


def test_the_patients_export_lists_every_patient_of_the_protocol(db, known, on_today, as_persona):
    rows = _csv(as_persona(known, "stat"), "patients")
    assert len(rows) == 14  # 11 enrolled, 2 screen failures, 1 in screening
    never_enrolled = [r for r in rows if r["subject_id"].startswith("NE-")]
    assert {r["status"] for r in never_enrolled} == {"screen_failed", "screening"}
    b1 = next(r for r in rows if r["subject_id"] == known.patients["B1"].trial_number)
    assert b1["site"] == "FR02"
    assert b1["step"] == "step2_arm_" + known.allocations["B1"].arm.lower()  # no progression
    assert b1["stratification"] == '{"time_on_step1":"lt_12_months","visceral_metastases":"no"}'


def test_site_staff_export_their_own_site_only(db, known, on_today, as_persona):
    for kind in ("patients", "ctdna", "blood_counts"):
        rows = _csv(as_persona(known, "coord_b"), kind)
        assert rows and {r["site"] for r in rows} == {"FR02"}, kind


def test_the_sponsor_gets_the_arm_masked(db, known, on_today, as_persona):
    sponsor = as_persona(known, "sponsor")
    randomization = _csv(sponsor, "randomization")
    assert len(randomization) == 6
    assert {r["arm"] for r in randomization} == {"masked"}
    assert {r["crossover_on"] for r in randomization} <= {"", "masked"}
    patients = {r["subject_id"]: r for r in _csv(sponsor, "patients")}
    assert patients[known.patients["B1"].trial_number]["step"] == "randomized"
    treatment = _csv(sponsor, "treatment")
    after = [r for r in treatment if r["line_step"] == "randomized"]
    assert after and {r["regimen"] for r in after} == {"masked"}
    assert "palbo_fulv" not in {r["regimen"] for r in treatment}
    assert not any(r["end_reason"].startswith("randomized_arm_") for r in treatment)
    stat = _csv(as_persona(known, "stat"), "randomization")
    assert {r["arm"] for r in stat} == {"A", "B"}


def test_free_text_cannot_run_as_a_spreadsheet_formula(db, known, on_today, as_persona):
    adverse_event_record(
        patient=known.patients["A3"],
        by=known.users["inv_a"],
        term='=HYPERLINK("http://x")',
        grade=1,
        onset_on=ds.TODAY,
        attribution="unrelated",
        serious=False,
        today=ds.TODAY,
        description="@SUM(A1)",
    )
    _response, body = _download(as_persona(known, "stat"), "/dashboard/exports/adverse_events/")
    assert "'=HYPERLINK" in body.decode() and "'@SUM(A1)" in body.decode()


def test_csv_exports_stream_from_a_database_iterator(db, known, on_today, as_persona, monkeypatch):
    monkeypatch.setattr(streams, "ROWS_PER_CHUNK", 3)
    real_iterator = QuerySet.iterator
    sizes = []

    def spy(self, chunk_size=None):
        sizes.append(chunk_size)
        return real_iterator(self, chunk_size=chunk_size)

    with mock.patch.object(QuerySet, "iterator", spy):
        response = as_persona(known, "stat").get("/dashboard/exports/blood_counts/")
        chunks = list(response.streaming_content)
    assert sizes == [domains.CHUNK_SIZE]
    rows = sum(chunk.count(b"\n") for chunk in chunks) - 1
    assert len(chunks) >= rows // 3


def test_every_export_is_audited(db, known, on_today, as_persona):
    client = as_persona(known, "sponsor")
    _download(client, "/dashboard/exports/qol/?protocol=PADA1&site=FR02")
    event = AuditEvent.objects.filter(action="export_streamed").latest("at")
    assert event.actor == known.users["sponsor"]
    assert event.details["export"] == "qol"
    assert event.details["filters"] == {"protocol": "PADA1", "site": "FR02"}
    assert event.details["role"] == Role.SPONSOR_MONITOR and event.details["arms_masked"]
    assert event.details["file"].startswith("PADA1-FR02-qol-")


# --- ODM -----------------------------------------------------------------------------------


def test_odm_export_is_valid_odm_1_3_2_with_audit_records(
    db, known, on_today, as_persona, odm_schema
):
    document = _odm(as_persona(known, "stat"), odm_schema)
    assert document.get("ODMVersion") == "1.3.2" and document.get("FileType") == "Transactional"
    subjects = {s.get("SubjectKey") for s in document.iterfind(".//odm:SubjectData", ODM_NS)}
    assert len(subjects) == 14 and not subjects & _screening_numbers(known)
    a1 = known.patients["A1"]
    subject = document.find(f".//odm:SubjectData[@SubjectKey='{a1.trial_number}']", ODM_NS)
    groups = subject.findall(".//odm:ItemGroupData[@ItemGroupOID='IG.PATIENT']", ODM_NS)
    expected_versions = a1.history.count()
    assert len(groups) == expected_versions
    assert groups[0].get("TransactionType") == "Insert"
    update = next(
        g
        for g in groups
        if g.findtext("odm:AuditRecord/odm:ReasonForChange", namespaces=ODM_NS)
        == "stratification at randomization"
    )
    audit = update.find("odm:AuditRecord", ODM_NS)
    assert update.get("TransactionType") == "Update"
    assert audit.find("odm:UserRef", ODM_NS).get("UserOID") == f"USR.{known.users['inv_a'].pk}"
    assert audit.find("odm:LocationRef", ODM_NS).get("LocationOID") == "LOC.FR01"
    stamp = dt.datetime.fromisoformat(audit.findtext("odm:DateTimeStamp", namespaces=ODM_NS))
    assert stamp.date() == ds.RANDOMIZED_ON
    users = {u.get("OID") for u in document.iterfind(".//odm:AdminData/odm:User", ODM_NS)}
    refs = {r.get("UserOID") for r in document.iterfind(".//odm:UserRef", ODM_NS)}
    assert refs <= users
    items = {i.get("OID") for i in document.iterfind(".//odm:ItemDef", ODM_NS)}
    used = {i.get("ItemOID") for i in document.iterfind(".//odm:ItemData", ODM_NS)}
    assert used <= items
    allocation = document.find(
        f".//odm:SubjectData[@SubjectKey='{a1.trial_number}']//odm:ItemData[@ItemOID='IT.ALLOCATION.ARM']",
        ODM_NS,
    )
    assert allocation.get("Value") == Allocation.objects.get(patient=a1).arm


def test_odm_export_for_the_sponsor_masks_arms_and_stays_valid(
    db, known, on_today, as_persona, odm_schema
):
    document = _odm(as_persona(known, "sponsor"), odm_schema)
    assert document.find(".//odm:ItemGroupDef[@OID='IG.ALLOCATION']", ODM_NS) is None
    assert document.find(".//odm:ItemGroupData[@ItemGroupOID='IG.CROSSOVER']", ODM_NS) is None
    steps = {
        i.get("Value")
        for i in document.iterfind(".//odm:ItemData[@ItemOID='IT.PATIENT.STEP']", ODM_NS)
    }
    assert "randomized" in steps and not {"step2_arm_a", "step2_arm_b", "step3"} & steps
    text = etree.tostring(document).decode()
    for revealing in ("arm A", "arm B", "randomized_arm_", "palbo_fulv", "fulvestrant"):
        assert revealing not in text, revealing
    reasons = {r.text for r in document.iterfind(".//odm:ReasonForChange", ODM_NS)}
    assert "randomized to [masked]" in reasons


def test_odm_export_of_site_staff_holds_their_site_only(
    db, known, on_today, as_persona, odm_schema
):
    document = _odm(as_persona(known, "inv_a"), odm_schema, "protocol=PALATINE")
    sites = {s.get("LocationOID") for s in document.iterfind(".//odm:SiteRef", ODM_NS)}
    assert sites == {"LOC.FR01"}
    keys = {s.get("SubjectKey") for s in document.iterfind(".//odm:SubjectData", ODM_NS)}
    assert keys == {known.patients["P1"].trial_number, known.patients["P3"].trial_number}
    logins = {u.text for u in document.iterfind(".//odm:User/odm:LoginName", ODM_NS)}
    assert {"inv_a", "coord_a", "stat", "system"} <= logins
    assert not {"inv_b", "coord_b"} & logins


# --- export jobs ---------------------------------------------------------------------------


def _request_job(client, kind="odm", **filters):
    data = {"kind": kind, "protocol": "PADA1", **filters}
    return client.post("/dashboard/exports/jobs/", data, headers={"HX-Request": "true"})


def test_a_job_is_queued_after_commit_on_the_exports_queue(
    db, known, on_today, as_persona, django_capture_on_commit_callbacks
):
    client = as_persona(known, "stat")
    sender = mock.patch("monitoring.dashboard.services.current_app.send_task")
    with sender as send, django_capture_on_commit_callbacks(execute=True):
        response = _request_job(client, "patients", site="FR01")
    assert response.status_code == 200
    job = ExportJob.objects.get()
    assert (job.kind, job.status, job.requested_by) == ("patients", "queued", known.users["stat"])
    assert job.filters == {"protocol": "PADA1", "site": "FR01"}
    assert job.scope == {"role": "statistician", "sites": "all", "arms_masked": False}
    send.assert_called_once_with(services.RUN_TASK, args=[job.pk], queue="exports", retry=False)
    assert f'hx-get="/dashboard/exports/jobs/{job.pk}/"' in response.content.decode()
    assert AuditEvent.objects.filter(action="export_requested", object_id=str(job.pk)).exists()


def test_a_broker_failure_marks_the_job_failed(
    db, known, on_today, as_persona, django_capture_on_commit_callbacks
):
    down = mock.patch(
        "monitoring.dashboard.services.current_app.send_task", side_effect=ConnectionError
    )
    with down, django_capture_on_commit_callbacks(execute=True):
        _request_job(as_persona(known, "stat"))
    job = ExportJob.objects.get()
    assert job.status == ExportStatus.FAILED and "could not be queued" in job.error


def test_running_a_job_writes_the_file_with_progress_and_audit(
    db, known, on_today, as_persona, export_dir, odm_schema, monkeypatch
):
    monkeypatch.setattr(services, "PROGRESS_EVERY_ROWS", 50)
    client = as_persona(known, "stat")
    with mock.patch("monitoring.dashboard.services.current_app.send_task"):
        _request_job(client)
    job = ExportJob.objects.get()
    progress = []
    real_update = services._running

    def watch(job_id):
        progress.append(ExportJob.objects.get(pk=job_id).rows_done)
        return real_update(job_id)

    monkeypatch.setattr(services, "_running", watch)
    assert services.export_job_run(job_id=job.pk) is True
    job.refresh_from_db()
    assert job.status == ExportStatus.DONE and job.attempts == 1
    assert job.rows_done == job.rows_total > 50 and job.progress_pct == 100
    assert len(set(progress)) > 2  # progress moved while writing
    path = export_dir / job.file_path
    content = path.read_bytes()
    assert hashlib.sha256(content).hexdigest() == job.sha256 and len(content) == job.size_bytes
    odm_schema.assertValid(etree.fromstring(content))
    assert AuditEvent.objects.filter(action="export_completed", object_id=str(job.pk)).exists()
    assert not list(export_dir.glob(".*.part"))
    # A second delivery of the task finds the job done and does nothing.
    assert services.export_job_run(job_id=job.pk) is False
    status = client.get(f"/dashboard/exports/jobs/{job.pk}/").content.decode()
    assert 'data-status="done"' in status and "hx-trigger" not in status
    assert job.sha256 in status
    response = client.get(f"/dashboard/exports/jobs/{job.pk}/file/")
    assert b"".join(response.streaming_content) == content
    assert job.file_name in response["Content-Disposition"]
    assert AuditEvent.objects.filter(action="export_downloaded", object_id=str(job.pk)).exists()


def test_only_the_requester_sees_and_downloads_a_job(db, known, on_today, as_persona, export_dir):
    with mock.patch("monitoring.dashboard.services.current_app.send_task"):
        _request_job(as_persona(known, "stat"), "qol")
    job = ExportJob.objects.get()
    services.export_job_run(job_id=job.pk)
    other = as_persona(known, "dm")
    for url in (f"/dashboard/exports/jobs/{job.pk}/", f"/dashboard/exports/jobs/{job.pk}/file/"):
        response = other.get(url)
        assert response.status_code == 404 and b'data-error="unknown_export"' in response.content
    assert as_persona(known, "lab").get(f"/dashboard/exports/jobs/{job.pk}/").status_code == 403


def test_a_running_job_shows_its_progress_and_polls(db, known, on_today, as_persona):
    with mock.patch("monitoring.dashboard.services.current_app.send_task"):
        _request_job(as_persona(known, "stat"), "ctdna")
    job = ExportJob.objects.get()
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportStatus.RUNNING,
        started_at=ds.dt.datetime.now(ds.dt.UTC),
        rows_total=40,
        rows_done=10,
    )
    html = as_persona(known, "stat").get(f"/dashboard/exports/jobs/{job.pk}/").content.decode()
    assert 'hx-trigger="every 1s"' in html and 'value="25"' in html and "10/40" in html
    response = as_persona(known, "stat").get(f"/dashboard/exports/jobs/{job.pk}/file/")
    assert response.status_code == 409 and b"export_not_ready" in response.content


def test_a_stale_running_job_is_reclaimed_and_a_live_one_is_not(
    db, known, on_today, as_persona, export_dir
):
    with mock.patch("monitoring.dashboard.services.current_app.send_task"):
        _request_job(as_persona(known, "stat"), "patients")
    job = ExportJob.objects.get()
    now = ds.dt.datetime.now(ds.dt.UTC)
    ExportJob.objects.filter(pk=job.pk).update(status="running", started_at=now, heartbeat_at=now)
    assert services.export_job_run(job_id=job.pk) is False
    stale = now - services.STALE_AFTER - ds.dt.timedelta(seconds=1)
    ExportJob.objects.filter(pk=job.pk).update(heartbeat_at=stale)
    assert services.export_job_run(job_id=job.pk) is True
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("done", 1)


def test_a_job_whose_requester_lost_access_fails(db, known, on_today, as_persona, export_dir):
    with mock.patch("monitoring.dashboard.services.current_app.send_task"):
        _request_job(as_persona(known, "stat"), "patients")
    job = ExportJob.objects.get()
    profile = known.users["stat"].staff
    profile.role = Role.LAB
    profile.save(update_fields=["role"])
    known.users["stat"]._staff_profile_cache = False
    ExportJob.objects.select_related("requested_by")  # the worker loads a fresh user
    assert services.export_job_run(job_id=job.pk) is True
    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", "export_forbidden")
    assert AuditEvent.objects.filter(action="export_failed", object_id=str(job.pk)).exists()


def test_the_task_runs_the_service(db, known):
    from monitoring.dashboard.tasks import export_run_task

    with mock.patch("monitoring.dashboard.tasks.export_job_run", return_value=True) as run:
        assert export_run_task.run(41) is True
    run.assert_called_once_with(job_id=41)
    assert export_run_task.name == "monitoring.dashboard.tasks.export_run_task"


def test_exports_page_lists_every_export_and_the_users_jobs(db, known, on_today, as_persona):
    html = as_persona(known, "inv_a").get("/dashboard/exports/").content.decode()
    for kind in ExportKind.values:
        assert f'data-download="{kind}"' in html and f'data-prepare="{kind}"' in html
