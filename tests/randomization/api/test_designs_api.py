"""Designs, sealed lists and the balance report: central readers only, views logged, query
counts flat."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from randomization.services.allocation import patient_randomize
from randomization.services.designs import design_generate
from tests.conftest import PASSWORD
from tests.randomization import factories as rf
from trial.models import AuditEvent

pytestmark = pytest.mark.django_db

SITE_AND_SPONSOR = ["investigator_a", "coordinator_a", "sponsor"]


def _randomize_many(n, *, by, site, version, today):
    for i in range(n):
        patient = rf.randomizable(by=by, site=site, version=version, today=today, number=f"B{i}")
        patient_randomize(
            patient=patient, by=by, password=PASSWORD, idempotency_key=f"b{i}", today=today
        )


@pytest.mark.parametrize("reader", ["statistician", "data_manager"])
def test_central_readers_see_designs_without_the_list(api, request, design, reader):
    response = api(request.getfixturevalue(reader)).get("/api/v1/randomization/designs/")
    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert row["id"] == design.pk and row["block_sizes"] == [2, 4, 6]
    assert row["status"] == "active" and row["strata"] == 4 and row["capacity"] == 160
    assert "entries" not in row and "seed" not in row
    detail = api(request.getfixturevalue(reader)).get(f"/api/v1/randomization/designs/{design.pk}/")
    assert detail.json()["list_sha256"] == design.list_sha256


@pytest.mark.parametrize("persona", SITE_AND_SPONSOR)
@pytest.mark.parametrize("path", ["", "{id}/", "{id}/list/", "{id}/list/?format=csv"])
def test_site_staff_and_sponsor_never_reach_designs_or_lists(api, request, design, persona, path):
    url = "/api/v1/randomization/designs/" + path.format(id=design.pk)
    response = api(request.getfixturevalue(persona)).get(url)
    assert response.status_code == 403
    assert response.json()["code"] == "role_not_allowed"
    assert "block_size" not in response.content.decode()
    assert not AuditEvent.objects.filter(action="randomization_list_viewed").exists()


def test_every_view_of_the_list_is_logged_and_the_csv_matches_the_digest(
    api, statistician, data_manager, design
):
    url = f"/api/v1/randomization/designs/{design.pk}/list/"
    body = api(statistician).get(url).json()
    assert len(body["entries"]) == 160 and body["draws"] == []
    assert {"stratum", "sequence_number", "block_number", "arm", "block_size"} == set(
        body["entries"][0]
    )
    csv_response = api(data_manager).get(url + "?format=csv")
    assert hashlib.sha256(csv_response.content).hexdigest() == design.list_sha256
    views = AuditEvent.objects.filter(action="randomization_list_viewed").order_by("at")
    assert [(e.actor, e.details["purpose"]) for e in views] == [
        (statistician, "api"),
        (data_manager, "csv"),
    ]
    assert all(e.patient is None and e.object_id == str(design.pk) for e in views)


def test_design_list_query_count_does_not_grow(api, statistician, pada1):
    client = api(statistician)
    rf.active_design(statistician=statistician, version=pada1)
    with CaptureQueriesContext(connection) as one:
        client.get("/api/v1/randomization/designs/")
    for seed in ("b" * 40, "c" * 40, "d" * 40):
        design_generate(protocol_version=pada1, by=statistician, seed=seed, length=4)
    with CaptureQueriesContext(connection) as many:
        response = client.get("/api/v1/randomization/designs/")
    assert response.json()["count"] == 4
    assert len(many) == len(one)


def test_list_content_query_count_does_not_grow(api, statistician, pada1):
    client = api(statistician)
    small = rf.active_design(statistician=statistician, version=pada1, length=2)
    with CaptureQueriesContext(connection) as few:
        client.get(f"/api/v1/randomization/designs/{small.pk}/list/")
    large = design_generate(protocol_version=pada1, by=statistician, seed="e" * 40, length=300)
    with CaptureQueriesContext(connection) as lots:
        client.get(f"/api/v1/randomization/designs/{large.pk}/list/")
    assert len(lots) == len(few)


def test_balance_full_for_the_statistician_counts_only_for_the_sponsor(
    api, statistician, sponsor, data_manager, investigator_a, site_a, pada1, today, design
):
    _randomize_many(3, by=investigator_a, site=site_a, version=pada1, today=today)
    full = api(statistician).get("/api/v1/randomization/balance/")
    assert full.status_code == 200
    (section,) = full.json()
    assert section["design"]["id"] == design.pk
    assert sum(section["overall"]["counts"].values()) == 3
    stratum = next(c for c in section["strata"] if sum(c["counts"].values()))
    assert stratum["scope"] == "visceral_metastases=yes|time_on_step1=ge_12_months"
    assert stratum["allocated"] == 3 and stratum["list_length"] == 40
    assert "imbalance" in stratum
    margins = {c["scope"]: sum(c["counts"].values()) for c in section["margins"]}
    assert margins == {
        "visceral_metastases=yes": 3,
        "visceral_metastases=no": 0,
        "time_on_step1=lt_12_months": 0,
        "time_on_step1=ge_12_months": 3,
    }
    assert api(data_manager).get("/api/v1/randomization/balance/").json() == full.json()
    counts_only = api(sponsor).get("/api/v1/randomization/balance/?protocol=PADA1").json()
    for cell in [counts_only[0]["overall"], *counts_only[0]["strata"], *counts_only[0]["margins"]]:
        assert set(cell) == {"scope", "counts"}
    assert counts_only[0]["overall"] == {"scope": "overall", "counts": section["overall"]["counts"]}


@pytest.mark.parametrize("persona", ["investigator_a", "coordinator_a", "investigator_b"])
def test_site_staff_get_no_balance(api, request, design, persona):
    response = api(request.getfixturevalue(persona)).get("/api/v1/randomization/balance/")
    assert response.status_code == 403 and response.json()["code"] == "role_not_allowed"


def test_balance_query_count_does_not_grow(
    api, statistician, investigator_a, site_a, pada1, today, design
):
    client = api(statistician)
    _randomize_many(1, by=investigator_a, site=site_a, version=pada1, today=today)
    with CaptureQueriesContext(connection) as one:
        client.get("/api/v1/randomization/balance/")
    for i in range(5):
        patient = rf.randomizable(
            by=investigator_a,
            site=site_a,
            version=pada1,
            today=today,
            number=f"Q{i}",
            stratification={"visceral_metastases": "no", "time_on_step1": "lt_12_months"},
        )
        patient_randomize(
            patient=patient,
            by=investigator_a,
            password=PASSWORD,
            idempotency_key=f"q{i}",
            today=today,
        )
    with CaptureQueriesContext(connection) as six:
        response = client.get("/api/v1/randomization/balance/")
    assert sum(response.json()[0]["overall"]["counts"].values()) == 6
    assert len(six) == len(one)
