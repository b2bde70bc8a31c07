"""patient_randomize's statements: a fixed number per arm, whatever the list position, and
few, because every allocation in a stratum waits for the one holding the cursor."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from randomization.services.allocation import patient_randomize
from tests.conftest import PASSWORD
from tests.randomization import factories as rf

pytestmark = pytest.mark.django_db

# Before the cursor was locked last and the new line's calendar built without reading what a
# new line cannot have: 21 (Arm A) and 48 (Arm B) in bench/bench_randomization.py.
MAX_STATEMENTS = {"A": 19, "B": 32}


def test_an_allocation_takes_a_fixed_number_of_statements_per_arm(
    investigator_a, site_a, pada1, today, design
):
    patients = [
        rf.randomizable(by=investigator_a, site=site_a, version=pada1, today=today, number=f"Q{i}")
        for i in range(6)
    ]
    # The first request of a user also loads its staff profile and sites: not measured.
    patient_randomize(
        patient=patients[0], by=investigator_a, password=PASSWORD, idempotency_key="k0", today=today
    )
    counts: dict[str, set[int]] = {}
    for i, patient in enumerate(patients[1:], start=1):
        with CaptureQueriesContext(connection) as queries:
            outcome = patient_randomize(
                patient=patient,
                by=investigator_a,
                password=PASSWORD,
                idempotency_key=f"k{i}",
                today=today,
            )
        counts.setdefault(outcome.allocation.arm, set()).add(len(queries))
    assert set(counts) == {"A", "B"}
    for arm, seen in counts.items():
        assert len(seen) == 1, f"arm {arm}: {sorted(seen)} statements"
        assert max(seen) <= MAX_STATEMENTS[arm], f"arm {arm}: {sorted(seen)} statements"
