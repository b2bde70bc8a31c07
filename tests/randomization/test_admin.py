"""The admin: designs and lists for central readers only (views logged), allocations
read-only and site-scoped, query counts flat."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from randomization.models import Allocation
from randomization.services.allocation import patient_randomize
from randomization.services.crossover import patient_crossover
from randomization.services.designs import design_generate
from tests.conftest import PASSWORD
from tests.randomization import factories as rf
from trial.models import AuditEvent

pytestmark = pytest.mark.django_db

DESIGNS = "/admin/randomization/design/"
ALLOCATIONS = "/admin/randomization/allocation/"


def as_user(client, user):
    client.force_login(user)
    return client


def randomize(n, *, by, site, version, today, prefix):
    for i in range(n):
        patient = rf.randomizable(
            by=by, site=site, version=version, today=today, number=f"{prefix}{i}"
        )
        patient_randomize(
            patient=patient, by=by, password=PASSWORD, idempotency_key=f"{prefix}{i}", today=today
        )


@pytest.mark.parametrize("persona", ["investigator_a", "coordinator_a", "sponsor"])
def test_designs_are_not_in_reach_of_site_staff_or_sponsor(client, request, design, persona):
    client = as_user(client, request.getfixturevalue(persona))
    assert client.get(DESIGNS).status_code == 403
    assert client.get(f"{DESIGNS}{design.pk}/change/").status_code == 403
    assert "randomization/design" not in client.get("/admin/").content.decode()
    assert not AuditEvent.objects.filter(action="randomization_list_viewed").exists()


def test_the_statistician_opens_a_design_and_the_view_is_logged(client, statistician, design):
    client = as_user(client, statistician)
    assert client.get(DESIGNS).status_code == 200
    page = client.get(f"{DESIGNS}{design.pk}/change/")
    assert page.status_code == 200
    assert design.list_sha256 in page.content.decode()
    assert page.content.decode().count("<tr>") > 160
    event = AuditEvent.objects.get(action="randomization_list_viewed")
    assert event.actor == statistician and event.details["purpose"] == "admin"
    assert b'name="_save"' not in page.content


def test_the_sponsor_sees_no_patient_level_arm(client, sponsor, design):
    client = as_user(client, sponsor)
    assert client.get(ALLOCATIONS).status_code == 403
    assert client.get("/admin/randomization/crossover/").status_code == 403


def test_allocations_are_site_scoped_read_only_and_never_show_the_block(
    client, investigator_a, investigator_b, site_a, site_b, pada1, today, design
):
    randomize(2, by=investigator_a, site=site_a, version=pada1, today=today, prefix="A")
    randomize(1, by=investigator_b, site=site_b, version=pada1, today=today, prefix="B")
    client = as_user(client, investigator_a)
    page = client.get(ALLOCATIONS).content.decode()
    mine = Allocation.objects.filter(patient__site=site_a)
    theirs = Allocation.objects.get(patient__site=site_b)
    assert all(str(a.patient) in page for a in mine) and str(theirs.patient) not in page
    assert client.get(f"{ALLOCATIONS}{theirs.pk}/change/").status_code == 302  # not found
    detail = client.get(f"{ALLOCATIONS}{mine[0].pk}/change/").content.decode()
    assert "block" not in detail.lower().replace("blocks", "")
    assert client.get(f"{ALLOCATIONS}add/").status_code == 403
    assert client.post(f"{ALLOCATIONS}{mine[0].pk}/delete/").status_code == 403


def test_allocation_list_query_count_does_not_grow(
    client, statistician, investigator_a, site_a, pada1, today, design
):
    client = as_user(client, statistician)
    randomize(1, by=investigator_a, site=site_a, version=pada1, today=today, prefix="Q")
    with CaptureQueriesContext(connection) as one:
        client.get(ALLOCATIONS)
    randomize(5, by=investigator_a, site=site_a, version=pada1, today=today, prefix="R")
    with CaptureQueriesContext(connection) as six:
        assert client.get(ALLOCATIONS).status_code == 200
    assert len(six) == len(one)


def test_design_list_query_count_does_not_grow(client, statistician, pada1, design):
    client = as_user(client, statistician)
    with CaptureQueriesContext(connection) as one:
        client.get(DESIGNS)
    for seed in ("x" * 32, "y" * 32):
        design_generate(protocol_version=pada1, by=statistician, seed=seed, length=2)
    with CaptureQueriesContext(connection) as three:
        client.get(DESIGNS)
    assert len(three) == len(one)


def test_crossover_list_query_count_does_not_grow(
    client, statistician, investigator_a, site_a, pada1, today, design
):
    def crossed(start):
        patient, _, randomized_on = rf.randomized_on_arm(
            "A", by=investigator_a, site=site_a, version=pada1, today=today, start=start
        )
        rf.assess(
            patient,
            by=investigator_a,
            on=randomized_on + dt.timedelta(days=20),
            today=today,
            new_lesions=True,
        )
        patient_crossover(patient=patient, by=investigator_a, password=PASSWORD, today=today)

    client = as_user(client, statistician)
    crossed(0)
    with CaptureQueriesContext(connection) as one:
        client.get("/admin/randomization/crossover/")
    crossed(10)
    with CaptureQueriesContext(connection) as two:
        page = client.get("/admin/randomization/crossover/")
    assert page.status_code == 200 and page.content.decode().count("PADA1-FR01-") >= 2
    assert len(two) == len(one)
