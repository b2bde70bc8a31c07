"""Who sees what: every dashboard route, fragment, table CSV and export, for every persona.

Site staff: the operational pages (enrolment, operations) and the exports, own sites only.
Sponsor monitor: every page except efficacy by arm. Statistician and data manager: everything.
Laboratory service account: nothing. Anonymous: the login page (htmx: 401 + HX-Redirect).
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.analysis import days_to_months
from monitoring.analysis.incidence import IncidenceRecord, Outcome, cumulative_incidence
from monitoring.analysis.rates import (
    HaemToxicityRecord,
    LabSample,
    haem_toxicity_rates,
    turnaround_by_lab,
)
from monitoring.analysis.survival import SurvivalRecord, compare_arms, kaplan_meier
from monitoring.dashboard.models import ExportKind
from monitoring.services.samples import sample_record
from tests.trial import factories as f

from . import dataset as ds
from . import html as h

SITE_STAFF = ("inv_a", "coord_a", "inv_b", "coord_b")
CENTRAL = ("dm", "sponsor", "stat")
BY_ARM = ("dm", "stat")
EVERYONE = (*SITE_STAFF, *CENTRAL, "lab", None)
DASHBOARD = (*SITE_STAFF, *CENTRAL)

ROUTES = [
    ("/dashboard/", DASHBOARD),
    ("/dashboard/enrolment/", DASHBOARD),
    ("/dashboard/enrolment/csv/enrolment_by_site/", DASHBOARD),
    ("/dashboard/operations/", DASHBOARD),
    ("/dashboard/operations/csv/compliance/", DASHBOARD),
    ("/dashboard/flow/", CENTRAL),
    ("/dashboard/flow/csv/flow/", CENTRAL),
    ("/dashboard/ctdna/", CENTRAL),
    ("/dashboard/ctdna/csv/turnaround/", CENTRAL),
    ("/dashboard/safety/", CENTRAL),
    ("/dashboard/safety/csv/haem_toxicity/", CENTRAL),
    ("/dashboard/efficacy/", CENTRAL),
    ("/dashboard/efficacy/csv/pfs_pooled/", CENTRAL),
    ("/dashboard/qol/", CENTRAL),
    ("/dashboard/qol/csv/qol_means/", CENTRAL),
    ("/dashboard/efficacy/by-arm/", BY_ARM),
    ("/dashboard/efficacy/by-arm/csv/pfs_by_arm/", BY_ARM),
    ("/dashboard/exports/", DASHBOARD),
    *((f"/dashboard/exports/{kind}/", DASHBOARD) for kind in ExportKind.values),
]
FRAGMENTS = [url for url, _roles in ROUTES if "csv" not in url and "exports" not in url][1:]


def _expected(persona, allowed) -> int:
    if persona is None:
        return 302
    return 200 if persona in allowed else 403


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.parametrize("persona", EVERYONE)
def test_role_matrix_of_every_route(db, known, on_today, as_persona, persona):
    client = as_persona(known, persona)
    seen = {}
    for url, _allowed in ROUTES:
        response = client.get(url)
        _body(response)
        seen[url] = response.status_code
    expected = {url: _expected(persona, allowed) for url, allowed in ROUTES}
    assert seen == expected


@pytest.mark.parametrize("persona", EVERYONE)
def test_role_matrix_of_htmx_fragments(db, known, on_today, as_persona, persona):
    client = as_persona(known, persona)
    headers = {"HX-Request": "true", "HX-Target": "panels"}
    for url in FRAGMENTS:
        allowed = dict(ROUTES)[url]
        response = client.get(url, headers=headers)
        if persona is None:
            assert response.status_code == 401, url
            assert response["HX-Redirect"] == "/dashboard/login/"
        else:
            assert response.status_code == _expected(persona, allowed), url
        if response.status_code == 200:
            body = response.content.decode()
            assert "<html" not in body and 'class="panel"' in body, url


def test_anonymous_is_sent_to_the_login_page(db, known, as_persona):
    response = as_persona(known, None).get("/dashboard/safety/?protocol=PADA1")
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/login/?next=/dashboard/safety/%3Fprotocol%3DPADA1"


def test_a_refused_role_gets_the_stable_code(db, known, as_persona):
    response = as_persona(known, "sponsor").get("/dashboard/efficacy/by-arm/")
    assert response.status_code == 403
    assert b'data-error="dashboard_forbidden"' in response.content
    assert b"Hazard ratio" not in response.content


def test_menus_list_only_the_pages_of_the_role(db, known, as_persona):
    def menu(persona):
        html = as_persona(known, persona).get("/dashboard/").content.decode()
        return {page for page in PAGES if f'data-page="{page}"' in html}

    PAGES = ("enrolment", "flow", "ctdna", "operations", "safety", "efficacy")
    PAGES += ("efficacy_by_arm", "qol", "exports")
    assert menu("inv_a") == {"enrolment", "operations", "exports"}
    assert menu("sponsor") == set(PAGES) - {"efficacy_by_arm"}
    assert menu("stat") == set(PAGES)


def test_site_staff_cannot_filter_on_another_site(db, known, on_today, as_persona):
    client = as_persona(known, "inv_a")
    assert client.get("/dashboard/enrolment/?site=FR02").status_code == 404
    assert client.get("/dashboard/exports/patients/?site=FR02").status_code == 404
    assert client.get("/dashboard/enrolment/?site=FR01").status_code == 200


def test_bad_filters_are_refused_with_invalid_filter(db, known, as_persona):
    client = as_persona(known, "stat")
    for query in (
        "protocol=NOPE",
        "site=XX99",
        "enrolled_from=2027-13-01",
        "enrolled_from=2028-01-01&enrolled_to=2027-01-01",
        "by=shoe_size",
    ):
        response = client.get(f"/dashboard/safety/?{query}")
        assert response.status_code == 400, query
        assert b'data-error="invalid_filter"' in response.content, query
    assert client.get("/dashboard/safety/csv/no_such_table/").status_code == 400
    assert client.get("/dashboard/exports/no_such_export/").status_code == 400


# --- the numbers of the known dataset ----------------------------------------------------

ENROLLED_PADA1 = len(ds.SITE_A) + len(ds.SITE_B)


def _page(known, persona, url, as_persona) -> str:
    response = as_persona(known, persona).get(url)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def test_enrolment_per_site_against_the_target(db, known, on_today, as_persona):
    html = _page(known, "sponsor", "/dashboard/enrolment/", as_persona)
    assert "chart-enrolment" in h.charts(html)
    assert h.figures(html)["enrolled"] == str(ENROLLED_PADA1)
    assert h.figures(html)["target"] == "1000 (1.1 %)"
    rows = h.table(html, "enrolment_by_month")
    assert rows[0] == ["Month", "FR01", "FR02", "All sites", "Cumulative", "Cumulative % of target"]
    assert rows[1] == ["2027-01", "6", "5", "11", "11", "1.1"]
    assert h.table(html, "enrolment_by_site")[1:] == [["FR01", "6"], ["FR02", "5"]]


def test_screen_failures_by_criterion(db, known, on_today, as_persona):
    html = _page(known, "sponsor", "/dashboard/enrolment/", as_persona)
    figures = h.figures(html)
    assert figures["screened"] == "14"  # 11 enrolled, 2 screen failures, 1 still screening
    assert figures["screen_failures"].startswith("2/14 = 14.3 %")
    assert figures["in_screening"] == "1"
    counts = {row[0]: row[2] for row in h.table(html, "screen_failures_by_criterion")[1:]}
    assert counts == {"ecog": "1", "er": "1", "her2": "1"}


def test_site_staff_see_their_own_site_only(db, known, on_today, as_persona):
    html = _page(known, "coord_b", "/dashboard/enrolment/", as_persona)
    assert h.table(html, "enrolment_by_site")[1:] == [["FR02", "5"]]
    counts = {row[0]: row[2] for row in h.table(html, "screen_failures_by_criterion")[1:]}
    assert counts == {"her2": "1"}
    html = _page(known, "coord_b", "/dashboard/operations/", as_persona)
    sites = {row[0] for row in h.table(html, "compliance")[1:]}
    assert sites == {"FR02", "All sites"}
    assert [row[1] for row in h.table(html, "sae_clocks")[1:]] == ["0"]  # FR02 on time
    assert "PADA1-FR01" not in html


def test_consort_flow(db, known, on_today, as_persona):
    html = _page(known, "sponsor", "/dashboard/flow/", as_persona)
    assert "chart-consort" in h.charts(html)
    counts = {(row[0], row[1]): int(row[2]) for row in h.table(html, "flow")[1:]}
    stage = {step: counts[step, ""] for step, detail in counts if detail == ""}
    assert list(stage.values()) == [14, 11, 11, 7, 7, 6]
    assert counts["Screened (eligibility assessed)", "Screen failure"] == 2
    assert counts["Screened (eligibility assessed)", "Still in screening"] == 1
    assert counts["Monitored by ctDNA (at least one sample)", "Monitoring ongoing"] == 4
    assert counts["Imaged within the window", "Synchronous progression"] == 1
    arms = {detail: n for (step, detail), n in counts.items() if step == "Randomized"}
    expected_a = sum(a.arm == "A" for a in known.allocations.values())
    assert arms == {
        "": 6,
        "Arm A": expected_a,
        "Arm B": 6 - expected_a,
        "Crossed over (Step 3)": 1,
    }
    assert 'data-count="6"' in html  # the randomized box of the SVG


def _rising_records():
    """By hand: rising on the C2D1 draw (28 days after C1D1) for the 7 rising patients; the
    others are still on Step 1, censored on TODAY (793 days after C1D1)."""
    rising = [IncidenceRecord(days_to_months(28), Outcome.EVENT) for _ in ds.RISING]
    others = ENROLLED_PADA1 - len(ds.RISING)
    censored = [IncidenceRecord(days_to_months(793), Outcome.CENSORED) for _ in range(others)]
    return rising + censored


def _lab_samples():
    """By hand from the dataset's draws and results (turnaround days, failed, pending)."""
    lab_a = [10, 12, 14, 11, 11] + [10] * 5  # baselines of A1 A2 A3 R1 R2, C2D1 draws
    lab_b = [9, 13, 11, 11, 11] + [10] * 4  # B1 B3 R3 R4 + B2's redraw, C2D1 draws
    samples = [LabSample("LAB-A", float(d)) for d in lab_a] + [LabSample("LAB-A", None)]
    samples += [LabSample("LAB-B", float(d)) for d in lab_b]
    return samples + [LabSample("LAB-B", None, failed=True)]


def test_ctdna_incidence_turnaround_and_failures(db, known, on_today, as_persona):
    html = _page(known, "stat", "/dashboard/ctdna/", as_persona)
    assert {"chart-rising-incidence", "chart-turnaround", "chart-failed-samples"} <= set(
        h.charts(html)
    )
    figures = h.figures(html)
    assert (figures["patients"], figures["rising"], figures["censored"]) == ("11", "7", "4")
    curve = cumulative_incidence(_rising_records())[0]
    rows = {row[0]: row for row in h.table(html, "rising_incidence")[1:]}
    assert rows["3"][1] == str(round(100 * curve.at(3).incidence, 1)) == "63.6"
    assert rows["3"][2:4] == [
        str(round(100 * v, 1)) for v in (curve.at(3).ci_lower, curve.at(3).ci_upper)
    ]
    report = turnaround_by_lab(_lab_samples())
    turnaround = {row[0]: row for row in h.table(html, "turnaround")[1:]}
    for lab in report.labs:
        row = turnaround[lab.lab]
        assert row[1:5] == [str(lab.samples), str(lab.resulted), str(lab.failed), str(lab.pending)]
        assert row[5:8] == [str(round(v, 1)) for v in (lab.median_days, lab.q1_days, lab.q3_days)]
    assert h.table(html, "failed_samples")[1:] == [["LAB-B", "insufficient cfDNA", "1"]]


def test_operations_compliance_and_sae_clocks(db, known, on_today, as_persona):
    html = _page(known, "sponsor", "/dashboard/operations/", as_persona)
    assert {"chart-compliance", "chart-sae-clocks"} <= set(h.charts(html))
    rows = h.table(html, "compliance")
    assert rows[0][:8] == [
        "Site", "Assessment", "Expected", "Done in window", "Done out of window", "Overdue",
        "Missed", "Not yet due",
    ]  # fmt: skip
    for row in rows[1:]:
        expected, *parts = (int(v) for v in row[2:7])
        assert expected == sum(parts), row
    kinds = {row[1] for row in rows[1:]}
    assert {"Cycle visit", "Blood count", "ctDNA draw", "Imaging", "QoL questionnaire"} <= kinds
    assert h.table(html, "sae_clocks")[1:] == [
        ["FR01", "1", "0", "0", "0"],
        ["FR02", "0", "1", "0", "1"],
    ]
    open_saes = h.table(html, "open_saes")[1:]
    assert [(r[1], r[2], r[3], r[6]) for r in open_saes] == [("FR02", "Pneumonia", "3", "-99.0")]


def test_step1_haematological_toxicity_and_dose_modifications(db, known, on_today, as_persona):
    html = _page(known, "sponsor", "/dashboard/safety/?by=age_group", as_persona)
    assert h.figures(html)["overall"].startswith("2/10 = 20.0 %")
    assert h.figures(html)["not_evaluable"] == "1"  # A4: no blood count
    # A1 (70 y) grade 3 and B2 (61 y) grade 4; A4 (45 y) not evaluable.
    records = [
        HaemToxicityRecord(3, {"age_group": ">= 65"}),
        HaemToxicityRecord(4, {"age_group": "< 65"}),
    ]
    records += [
        HaemToxicityRecord(0, {"age_group": ">= 65" if ds.AGES[p] >= 65 else "< 65"})
        for p in ("A2", "A3", "B1", "B3", "R1", "R2", "R3", "R4")
    ]
    expected = haem_toxicity_rates(records, characteristic="age_group")
    rows = h.table(html, "haem_toxicity")[1:]
    assert [r[:3] for r in rows] == [
        [s.level, str(s.rate.n), str(s.rate.successes)] for s in expected.subgroups
    ] + [["All patients", "10", "2"]]
    assert h.figures(html)["association"].startswith(f"p = {expected.association.p_value:.3f}")
    assert h.table(html, "dose_modifications")[1:] == [["haem_grade_4", "1", "0"]]
    endings = dict(h.table(html, "step1_endings")[1:])
    arm_b = sum(a.arm == "B" for a in known.allocations.values())
    assert endings == {"randomized_arm_b": str(arm_b), "progression": "1"}  # A2 on Step 1


def test_safety_by_another_characteristic_through_the_filter(db, known, on_today, as_persona):
    client = as_persona(known, "sponsor")
    response = client.get(
        "/dashboard/safety/?by=endocrine_drug",
        headers={"HX-Request": "true", "HX-Target": "panels"},
    )
    rows = {r[0]: r[1:3] for r in h.table(response.content.decode(), "haem_toxicity")[1:]}
    assert rows["anastrozole"] == ["2", "1"]  # A2 grade 0, B2 grade 4
    assert rows["exemestane"] == ["1", "0"]


def test_efficacy_by_arm_feeds_the_survival_analysis(db, known, on_today, as_persona):
    html = _page(known, "stat", "/dashboard/efficacy/by-arm/", as_persona)
    assert "chart-pfs-by-arm" in h.charts(html)
    records = ds.pfs_records(known, by_arm=True)
    times = [3.0 * i for i in range(5)]
    expected = compare_arms(records, reference="A", experimental="B", at_risk_times=times)
    rows = {row[0]: row for row in h.table(html, "pfs_by_arm")[1:]}
    for curve in expected.curves:
        row = rows[f"Arm {curve.group}"]
        assert row[1:4] == [str(curve.n), str(curve.events), str(curve.censored)]
        assert row[4] == h.cell(round(curve.median.months, 1))
    hr = expected.hazard_ratio
    comparison = h.table(html, "pfs_comparison")[1]
    assert comparison[:3] == [str(round(v, 3)) for v in (hr.hazard_ratio, hr.ci_lower, hr.ci_upper)]
    assert comparison[4:6] == ["yes", str(hr.strata)]
    assert comparison[7] == str(round(expected.logrank.p_value, 4))
    steps = h.table(html, "pfs_by_arm_curve")[1:]
    assert len(steps) == sum(len(curve.table) for curve in expected.curves)
    last_a = [r for r in steps if r[0] == "Arm A"][-1]
    assert last_a[5] == h.cell(round(100 * expected.curves[0].table[-1].survival, 1))
    at_risk = h.table(html, "pfs_by_arm_at_risk")
    assert at_risk[1:] == [
        [f"Arm {row.group}", *map(str, row.counts)] for row in expected.at_risk.rows
    ]
    # Hand check of the medians: Arm A ends at 56, 150 (death) and 168 days: median 150 days.
    arm_a = {label for label, a in known.allocations.items() if a.arm == "A"}
    if arm_a == {"R1", "R2", "R3"}:
        assert rows["Arm A"][4] == "4.9"  # 150 / 30.4375


def test_sponsor_sees_pooled_efficacy_only(db, known, on_today, as_persona):
    html = _page(known, "sponsor", "/dashboard/efficacy/", as_persona)
    assert h.charts(html) == ["chart-pfs-pooled"]
    curve = kaplan_meier(ds.pfs_records(known, by_arm=False))[0]
    row = h.table(html, "pfs_pooled")[1]
    assert row[1:5] == [
        str(curve.n),
        str(curve.events),
        str(curve.censored),
        h.cell(round(curve.median.months, 1)),
    ]
    assert "Arm A" not in html and "Hazard ratio" not in html and "by-arm" not in html
    html = _page(known, "stat", "/dashboard/efficacy/", as_persona)
    assert 'href="/dashboard/efficacy/by-arm/?' in html


def test_palatine_overall_survival_at_24_months(db, known, on_today, as_persona):
    html = _page(known, "sponsor", "/dashboard/efficacy/?protocol=PALATINE", as_persona)
    assert h.charts(html) == ["chart-os"]
    # From C1D1 (day 7): P3 alive at day 200, P2 dead on day 300, P1 alive at day 760.
    records = [
        SurvivalRecord(days_to_months(193), False),
        SurvivalRecord(days_to_months(293), True),
        SurvivalRecord(days_to_months(753), False),
    ]
    landmark = kaplan_meier(records)[0].at(24)
    assert landmark.survival == 0.5
    row = h.table(html, "os")[1]
    assert row == [
        "3",
        "1",
        "1",
        "50.0",
        *(str(round(100 * v, 1)) for v in (landmark.ci_lower, landmark.ci_upper)),
    ]


def test_quality_of_life_by_step_or_by_arm(db, known, on_today, as_persona):
    html = _page(known, "sponsor", "/dashboard/qol/", as_persona)
    rows = h.table(html, "qol_means")[1:]
    groups = {row[0] for row in rows}
    assert groups == {"Step 1", "Randomized"}
    baseline = next(r for r in rows if r[:2] == ["Step 1", "0"])
    # Baselines of A3 (83.3), B3 (66.7) and A4 (83.3) among 11 expected Step 1 baselines.
    assert baseline[2:6] == ["11", "3", "27.3", "77.8"]
    follow_up = next(r for r in rows if r[:2] == ["Step 1", "1"])
    assert follow_up[5] == "58.3"  # A3 50.0, B3 66.7
    deterioration = h.table(html, "qol_deterioration")[1:]
    assert deterioration[0][:3] == ["Step 1", "3", "1"]  # A3 dropped 33 points
    html = _page(known, "stat", "/dashboard/qol/", as_persona)
    groups = {row[0] for row in h.table(html, "qol_means")[1:]}
    assert "Step 1" in groups and any(g.startswith("Step 2 arm") for g in groups)


def test_every_table_downloads_as_csv_with_the_same_numbers(db, known, on_today, as_persona):
    client = as_persona(known, "stat")
    html = client.get("/dashboard/ctdna/").content.decode()
    response = client.get("/dashboard/ctdna/csv/turnaround/?protocol=PADA1")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="PADA1-ctdna-turnaround.csv"' in response["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(response.content.decode())))
    assert lines[0] == h.table(html, "turnaround")[0]
    displayed = [[v if v != "–" else "" for v in row] for row in h.table(html, "turnaround")[1:]]
    assert lines[1:] == displayed
    for key in h.tables(html):
        assert f'href="/dashboard/ctdna/csv/{key}/?protocol=PADA1"' in html


def test_a_filter_narrows_every_panel(db, known, on_today, as_persona):
    client = as_persona(known, "stat")
    headers = {"HX-Request": "true", "HX-Target": "panels"}
    html = client.get("/dashboard/ctdna/?site=FR01", headers=headers).content.decode()
    assert h.figures(html)["patients"] == "6"
    assert [row[0] for row in h.table(html, "turnaround")[1:]] == ["LAB-A", "All labs"]
    assert 'href="/dashboard/ctdna/csv/turnaround/?protocol=PADA1&amp;site=FR01"' in html
    html = client.get("/dashboard/enrolment/?enrolled_to=2026-12-31").content.decode()
    assert "No patient enrolled yet." in html


# --- query counts ---------------------------------------------------------------------------

PAGES = [
    "/dashboard/enrolment/",
    "/dashboard/flow/",
    "/dashboard/ctdna/",
    "/dashboard/operations/",
    "/dashboard/safety/",
    "/dashboard/efficacy/",
    "/dashboard/efficacy/by-arm/",
    "/dashboard/qol/",
    "/dashboard/efficacy/?protocol=PALATINE",
    "/dashboard/exports/",
]


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def _more_patients(known, count: int) -> None:
    """``count`` more PADA-1 patients with a C1D1 blood count, a ctDNA draw and a QoL form."""
    from trial.services import blood_counts, cycles, qol

    builder_user = known.users["inv_a"]
    start = dt.datetime.combine(ds.T0, dt.time(9), tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        for index in range(count):
            clock.move_to(start)
            label = f"X{index}"
            patient = f.enrolled(
                by=builder_user,
                site=known.sites["a"],
                version=known.pada1,
                today=ds.T0,
                number=label,
            )
            clock.move_to(start + dt.timedelta(days=7))
            cycles.cycle_start(patient=patient, on=ds.day(7), by=builder_user, today=ds.day(7))
            blood_counts.blood_count_record(
                patient=patient, by=builder_user, drawn_on=ds.day(7), cycle_number=1,
                cycle_day=1, values={"anc": {"value": 2.0, "unit": "G/L"}}, today=ds.day(7),
            )  # fmt: skip
            sample_record(
                by=builder_user,
                patient=patient,
                sample_id=f"{label}-0",
                drawn_on=ds.day(7),
                today=ds.day(7),
            )
            qol.qol_submit(
                patient=patient,
                by=builder_user,
                completed_on=ds.day(7),
                responses=ds.qlq_answers(5),
                today=ds.day(7),
            )


#: Each page's queries with the statistician's session (login, profile, filters, panels).
#: The per-patient analyses are one statement each (BEGIN, SET LOCAL work_mem and COMMIT
#: around it), whatever the number of patients.
MAX_QUERIES = {
    "/dashboard/enrolment/": 11,
    "/dashboard/flow/": 9,
    "/dashboard/ctdna/": 13,
    "/dashboard/operations/": 10,
    "/dashboard/safety/": 15,
    "/dashboard/efficacy/": 9,
    "/dashboard/efficacy/by-arm/": 9,
    "/dashboard/qol/": 11,
    "/dashboard/efficacy/?protocol=PALATINE": 9,
    "/dashboard/exports/": 8,
}


def test_query_counts_do_not_grow_with_patients(db, known, on_today, as_persona):
    client = as_persona(known, "stat")
    before = {url: _queries(client, url) for url in PAGES}
    _more_patients(known, 3)
    after = {url: _queries(client, url) for url in PAGES}
    assert after == before
    assert {url: min(n, MAX_QUERIES[url]) for url, n in before.items()} == before
