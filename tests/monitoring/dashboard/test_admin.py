"""The export jobs admin: read-only, for data managers, a list whose query count is pinned."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.dashboard.models import ExportJob


def _jobs(user, count: int) -> None:
    for _ in range(count):
        ExportJob.objects.create(requested_by=user, kind="patients", filters={"protocol": "PADA1"})


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_data_managers_read_export_jobs_others_do_not(client, data_manager, sponsor, statistician):
    _jobs(statistician, 1)
    job = ExportJob.objects.get()
    client.force_login(data_manager)
    assert client.get("/admin/dashboard/exportjob/").status_code == 200
    page = client.get(f"/admin/dashboard/exportjob/{job.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.get("/admin/dashboard/exportjob/add/").status_code == 403
    assert client.get(f"/admin/dashboard/exportjob/{job.pk}/delete/").status_code == 403
    client.force_login(sponsor)
    assert client.get("/admin/dashboard/exportjob/").status_code == 403


def test_the_job_list_query_count_does_not_grow(client, data_manager, statistician):
    client.force_login(data_manager)
    _jobs(statistician, 2)
    few = _queries(client, "/admin/dashboard/exportjob/")
    _jobs(statistician, 20)
    assert _queries(client, "/admin/dashboard/exportjob/") == few
