"""Fixtures of the simulator tests: a small fast trial and the figures of earlier runs."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from monitoring.simulation.scenario import REFERENCE, RunConfig

# Every patient acquires a mutation within months and accrual is short, so a 9-month run
# randomizes and progresses.
FAST = dataclasses.replace(
    REFERENCE,
    accrual_fraction=0.2,
    esr1_acquiring_fraction=1.0,
    esr1_median_months=3.0,
    synchronous_progression_fraction=0.2,
    crossover_fraction=1.0,
)
SMALL = RunConfig(patients=10, sites=2, seed=7, months=9, scenario=FAST)
END = dt.date(2027, 3, 31)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Accounts the tests create; the simulator sets its own work factor during a run."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def figures_of_earlier_runs() -> dict:
    return {}
