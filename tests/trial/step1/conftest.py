"""Fixtures of the Step 1 follow-up tests: enrolled patients and short-hand recorders."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tests.conftest import PASSWORD
from tests.trial import factories as f
from trial.services import blood_counts, cycles, patients

PALATINE_ELIGIBLE = {
    "sex": "female",
    "de_novo": True,
    "metastases": True,
    "bone_only": True,
    "bilateral": True,
    "er_positive_cells": {"value": 90, "unit": "%"},
    "her2_status": "negative",
    "ecog": {"value": 0, "unit": "score"},
    "indication": True,
    "tissue": True,
    "pregnancy_test": True,
    "contraception": True,
    "fit_for_lrt": True,
    "social_security": True,
    "visceral_crisis": False,
    "prior_ipsilateral": False,
    "contralateral": False,
    "other_cancer": False,
    "last_investigational_drug_date": None,
    "pregnancy": False,
    "swallow": False,
    "hiv": False,
    "hepatitis_b": False,
    "hepatitis_c": False,
    "active_infection": False,
    "prior_metastatic_therapy": False,
    "guardianship": False,
}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2's cost is for production; the signature tests only need check_password to work."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


T0 = dt.date(2027, 1, 4)  # a Monday: enrolment day of the clocked tests
PARIS = ZoneInfo("Europe/Paris")


class Clock:
    """Controlled time: ``clock.to(date)`` moves to 09:00 Paris time on that day."""

    def __init__(self, traveller):
        self._traveller = traveller

    def to(self, day: dt.date) -> dt.date:
        self._traveller.move_to(dt.datetime.combine(day, dt.time(9), tzinfo=PARIS))
        return day


@pytest.fixture
def clock():
    traveller = time_machine.travel(dt.datetime.combine(T0, dt.time(9), tzinfo=PARIS), tick=False)
    machine = traveller.start()
    yield Clock(machine)
    traveller.stop()


@pytest.fixture
def clocked_patient(clock, investigator_a, site_a, pada1, staff_emails):
    """A PADA-1 patient enrolled on T0 with C1D1 planned on T0 + 7 days, time frozen at T0."""
    return f.enrolled(by=investigator_a, site=site_a, version=pada1, today=T0)


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def staff_emails(investigator_a, coordinator_a, investigator_b):
    for user in (investigator_a, coordinator_a, investigator_b):
        user.email = f"{user.username}@example.org"
        user.save(update_fields=["email"])


@pytest.fixture
def patient(investigator_a, site_a, pada1, today, staff_emails):
    """A PADA-1 patient enrolled today, C1D1 planned in 7 days."""
    return f.enrolled(by=investigator_a, site=site_a, version=pada1, today=today)


def enrol_palatine(*, by, site, version, today, number="P001", c1d1_in_days=7):
    patient = f.registered(by=by, site=site, version=version, number=number, today=today)
    f.consented(by=by, patient=patient, today=today)
    f.screened(by=by, patient=patient, today=today, values=PALATINE_ELIGIBLE)
    return patients.patient_enrol(
        by=by,
        patient=patient,
        endocrine_drug="letrozole",
        planned_c1d1=today + dt.timedelta(days=c1d1_in_days),
        today=today,
    )


def cbc(patient, by, *, cycle, day, on, today=None, anc=3.0, platelets=250, hb=130, **extra):
    """Record a blood count with ANC / platelets in G/L and haemoglobin in g/L."""
    values = {
        "anc": {"value": anc, "unit": "G/L"},
        "platelets": {"value": platelets, "unit": "G/L"},
        "haemoglobin": {"value": hb, "unit": "g/L"},
        **extra.pop("values", {}),
    }
    return blood_counts.blood_count_record(
        patient=patient,
        by=by,
        drawn_on=on,
        cycle_number=cycle,
        cycle_day=day,
        values=values,
        today=today or on,
        **extra,
    )


def start(patient, by, on, today=None):
    return cycles.cycle_start(patient=patient, on=on, by=by, today=today or on)
