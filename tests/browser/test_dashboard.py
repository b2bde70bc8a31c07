"""The dashboards in a real browser: each role logs in and sees its pages, the charts and
tables show the known dataset's numbers, a filter re-renders the panels through htmx, an
export downloads (directly, and as a background job whose progress the page polls), and the
sponsor monitor cannot reach efficacy by arm."""

from __future__ import annotations

import csv
import io
import os
import shutil
import threading
from unittest import mock

import pytest
from django.db import connection

from monitoring.analysis.survival import compare_arms
from monitoring.dashboard import services
from tests.monitoring.dashboard import dataset as ds

from .conftest import ARTIFACTS, ROOT, screenshot

pytestmark = [pytest.mark.browser]

MENUS = {
    "inv_a": {"overview", "enrolment", "operations", "exports"},
    "coord_b": {"overview", "enrolment", "operations", "exports"},
    "sponsor": {"overview", "enrolment", "flow", "ctdna", "operations", "safety", "efficacy"}
    | {"qol", "exports"},
    "stat": {"overview", "enrolment", "flow", "ctdna", "operations", "safety", "efficacy"}
    | {"efficacy_by_arm", "qol", "exports"},
    "dm": {"overview", "enrolment", "flow", "ctdna", "operations", "safety", "efficacy"}
    | {"efficacy_by_arm", "qol", "exports"},
}


def _figure(page, key: str) -> str:
    return page.locator(f'[data-figure="{key}"] dd').first.inner_text().strip()


def _rows(page, table: str) -> list[list[str]]:
    return page.locator(f'table[data-table="{table}"] tbody tr').evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))"
    )


@pytest.mark.parametrize("persona", sorted(MENUS))
def test_each_role_logs_in_and_sees_its_dashboards(open_as, known, persona):
    page = open_as(persona)
    assert page.url.endswith("/dashboard/")
    menu = set(
        page.locator("nav.menu a[data-page]").evaluate_all("a => a.map(e => e.dataset.page)")
    )
    assert menu == MENUS[persona]
    page.goto("/dashboard/enrolment/")
    assert page.locator("svg#chart-enrolment").is_visible()
    sites = {row[0] for row in _rows(page, "enrolment_by_site")}
    assert sites == (
        {"FR01"} if persona == "inv_a" else {"FR02"} if persona == "coord_b" else {"FR01", "FR02"}
    )
    screenshot(page, f"{persona}-enrolment")


def test_a_laboratory_account_sees_no_dashboard(open_as, known):
    page = open_as("lab")
    assert page.locator('[data-error="dashboard_forbidden"]').is_visible()
    assert page.locator("nav.menu a").count() == 0
    screenshot(page, "lab-refused")


def test_charts_and_tables_show_the_known_numbers(open_as, known):
    page = open_as("stat")
    page.goto("/dashboard/flow/")
    boxes = page.locator("svg#chart-consort g.stage").evaluate_all(
        "gs => gs.map(g => Number(g.dataset.count))"
    )
    assert boxes == [14, 11, 11, 7, 7, 6]
    assert page.locator("svg#chart-consort g.arm").count() == 2
    screenshot(page, "stat-flow")
    page.goto("/dashboard/efficacy/by-arm/")
    chart = page.locator("svg#chart-pfs-by-arm")
    assert chart.is_visible() and chart.locator("text", has_text="Number at risk").count() == 1
    records = ds.pfs_records(known, by_arm=True)
    expected = compare_arms(
        records, reference="A", experimental="B", at_risk_times=[3.0 * i for i in range(5)]
    )
    rows = {row[0]: row for row in _rows(page, "pfs_by_arm")}
    for curve in expected.curves:
        assert rows[f"Arm {curve.group}"][1:3] == [str(curve.n), str(curve.events)]
    hr = expected.hazard_ratio
    assert _figure(page, "hazard_ratio").startswith(f"{hr.hazard_ratio:.2f} (95 % CI")
    screenshot(page, "stat-efficacy-by-arm")
    page.goto("/dashboard/ctdna/")
    assert _figure(page, "rising") == "7" and _figure(page, "patients") == "11"
    assert page.locator('table[data-table="rising_incidence"]').is_visible()
    incidence = {row[0]: row[1] for row in _rows(page, "rising_incidence")}
    assert incidence["3"] == "63.6", incidence
    path = screenshot(page, "stat-ctdna")
    if os.environ.get("UPDATE_README_SCREENSHOT"):
        shutil.copyfile(path, ROOT / "docs" / "dashboard.png")


def test_a_filter_re_renders_the_panels_through_htmx(open_as, known):
    page = open_as("sponsor")
    page.goto("/dashboard/safety/")
    assert {row[0] for row in _rows(page, "haem_toxicity")} == {"< 65", ">= 65", "All patients"}
    page.evaluate("window.__loaded = true")  # survives an htmx swap, not a page load
    with page.expect_response(lambda r: "by=endocrine_drug" in r.url):
        page.select_option("select[name=by]", "endocrine_drug")
    page.wait_for_function(
        "document.querySelector('table[data-table=haem_toxicity] td').innerText !== '< 65'"
    )
    levels = {row[0] for row in _rows(page, "haem_toxicity")}
    assert levels == {"anastrozole", "exemestane", "letrozole", "All patients"}
    assert page.evaluate("window.__loaded === true")
    assert "by=endocrine_drug" in page.url
    page.goto("/dashboard/ctdna/")
    with page.expect_response(lambda r: "site=FR01" in r.url):
        page.select_option("select[name=site]", "FR01")
    page.wait_for_function("document.querySelector('[data-figure=patients] dd').innerText === '6'")
    csv_link = page.locator('a[data-csv="turnaround"]').get_attribute("href")
    assert "site=FR01" in csv_link
    screenshot(page, "sponsor-ctdna-filtered")


def _run_in_a_thread(job_id: int) -> None:
    """Stand-in for the Celery worker: run the job body in another thread (own connection)."""

    def run():
        try:
            services.export_job_run(job_id=job_id)
        finally:
            connection.close()

    threading.Thread(target=run, daemon=True).start()


def test_download_an_export_directly_and_as_a_job(open_as, known, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    page = open_as("stat")
    page.goto("/dashboard/exports/")
    with page.expect_download() as download_info:
        page.click('a[data-download="patients"]')
    download = download_info.value
    target = ARTIFACTS / download.suggested_filename
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    download.save_as(str(target))
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) == 14 and rows[0]["subject_id"]
    with mock.patch.object(services, "_send", _run_in_a_thread):
        page.click('button[data-prepare="odm"]')
        link = page.locator("a[data-job-download]")
        link.wait_for(timeout=60_000)
    assert page.locator('li.job[data-status="done"] progress').get_attribute("value") == "100"
    with page.expect_download() as download_info:
        link.click()
    odm = ARTIFACTS / download_info.value.suggested_filename
    download_info.value.save_as(str(odm))
    assert odm.read_text().startswith('<?xml version="1.0" encoding="UTF-8"?>')
    screenshot(page, "stat-exports")


def test_the_sponsor_cannot_reach_efficacy_by_arm(open_as, known, live_server):
    page = open_as("sponsor")
    page.goto("/dashboard/efficacy/")
    assert page.locator("svg#chart-pfs-pooled").is_visible()
    assert page.locator("a[href*='by-arm']").count() == 0
    response = page.goto("/dashboard/efficacy/by-arm/")
    assert response.status == 403
    assert page.locator('[data-error="dashboard_forbidden"]').is_visible()
    assert page.locator("svg").count() == 0
    response = page.goto("/dashboard/efficacy/by-arm/csv/pfs_by_arm/")
    assert response.status == 403
    screenshot(page, "sponsor-refused-by-arm")
