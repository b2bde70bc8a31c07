"""PFS from randomization: progression or death, otherwise censored at the last adequate
assessment (DOMAIN.md section 7 rule 24)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from randomization.selectors.pfs import pfs_from_randomization
from tests.randomization import factories as rf
from trial.exceptions import DomainError
from trial.models import AdverseEvent, SurvivalContact

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


@pytest.fixture
def randomized(investigator_a, site_a, pada1, today, design):
    """Three randomized patients (both arms among them), randomized 58 days ago."""

    def make(arm, start):
        return rf.randomized_on_arm(
            arm, by=investigator_a, site=site_a, version=pada1, today=today, start=start
        )

    return [make("A", 0), make("B", 10), make("A", 20)]


def by_patient(rows):
    return {row.patient_id: row for row in rows}


def test_progression_death_and_censoring(randomized, investigator_a, statistician, today):
    (progressed, _, start), (died, _, _), (censored, _, _) = randomized
    rf.assess(progressed, by=investigator_a, on=start + 14 * DAY, today=today)
    rf.assess(progressed, by=investigator_a, on=start + 30 * DAY, today=today, new_lesions=True)
    SurvivalContact.objects.create(
        patient=died,
        contacted_on=start + 41 * DAY,
        method="records",
        vital_status="dead",
        death_on=start + 40 * DAY,
    )
    rf.assess(censored, by=investigator_a, on=start + 20 * DAY, today=today)
    rows = by_patient(pfs_from_randomization(user=statistician))
    assert (rows[progressed.pk].time_days, rows[progressed.pk].event_type) == (30, "progression")
    assert rows[progressed.pk].event and rows[progressed.pk].arm == "A"
    assert (rows[died.pk].time_days, rows[died.pk].event_type, rows[died.pk].arm) == (
        40,
        "death",
        "B",
    )
    assert (rows[censored.pk].time_days, rows[censored.pk].event) == (20, False)
    assert rows[censored.pk].end_on == start + 20 * DAY and rows[censored.pk].event_type == ""


def test_a_grade_5_adverse_event_is_a_death(randomized, investigator_a, statistician, today):
    """PADA-1 records no survival contacts: a fatal adverse event ends PFS."""
    (patient, _, start), *_ = randomized
    rf.assess(patient, by=investigator_a, on=start + 10 * DAY, today=today)
    AdverseEvent.objects.create(
        patient=patient,
        term="Sepsis",
        grade=5,
        ctcae_version="5.0",
        onset_on=start + 25 * DAY,
        attribution="unrelated",
    )
    row = by_patient(pfs_from_randomization(user=statistician))[patient.pk]
    assert (row.time_days, row.event, row.event_type) == (25, True, "death")


def test_no_assessment_after_randomization_is_censored_at_day_zero(randomized, statistician):
    rows = pfs_from_randomization(user=statistician)
    assert {(r.time_days, r.event) for r in rows} == {(0, False)}
    assert all(r.end_on == r.randomized_on for r in rows)


def test_a_data_cutoff_ignores_later_events(randomized, investigator_a, data_manager, today):
    (patient, _, start), *_ = randomized
    rf.assess(patient, by=investigator_a, on=start + 10 * DAY, today=today)
    rf.assess(patient, by=investigator_a, on=start + 30 * DAY, today=today, new_lesions=True)
    row = by_patient(pfs_from_randomization(user=data_manager, cutoff=start + 20 * DAY))[patient.pk]
    assert (row.time_days, row.event) == (10, False)


@pytest.mark.parametrize("persona", ["investigator_a", "coordinator_a", "sponsor"])
def test_only_the_data_monitoring_roles_read_pfs_by_arm(request, persona):
    with pytest.raises(DomainError) as caught:
        pfs_from_randomization(user=request.getfixturevalue(persona))
    assert caught.value.code == "role_not_allowed"


def test_pfs_is_one_query_whatever_the_number_of_patients(randomized, statistician):
    everyone = pfs_from_randomization(user=statistician)  # also caches the user's profile
    with CaptureQueriesContext(connection) as queries:
        rows = pfs_from_randomization(user=statistician, protocol_code="PADA1")
    assert len(rows) == len(everyone) >= 3
    assert len(queries) == 1
