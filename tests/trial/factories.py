"""Patients in known states, built through the real services with explicit clinical values."""

from __future__ import annotations

import datetime as dt

from trial.services import patients as svc

ELIGIBLE_PADA1 = {
    "sex": "female",
    "age": {"value": 62, "unit": "years"},
    "disease_stage": "metastatic",
    "adjuvant_ai_end_date": None,
    "relapse_date": "2026-01-10",
    "life_expectancy": {"value": 24, "unit": "months"},
    "ecog": {"value": 1, "unit": "score"},
    "er_positive_cells": {"value": 80, "unit": "%"},
    "her2_status": "negative",
    "tissue": True,
    "no_prior_systemic_mbc": True,
    "menopausal_status": "postmenopausal",
    "haemoglobin": {"value": 12.1, "unit": "g/dL"},
    "wbc": {"value": 5200, "unit": "/mm3"},
    "platelets": {"value": 250, "unit": "G/L"},
    "organ_function": True,
    "recovered": True,
    "social_security": True,
    "prior_cdk46": False,
    "brain_mets": False,
    "last_major_surgery_date": None,
    "cyp3a4": False,
    "hypertension": False,
    "arrhythmia": False,
    "last_myocardial_infarction_date": None,
    "hepatitis": False,
    "hiv": False,
    "other_cancer": False,
    "hepatic": False,
    "hypersensitivity": False,
    "pregnancy": False,
    "swallow": False,
}


def year_of_birth_for(age: int, on: dt.date) -> int:
    return on.year - age - 1 if on.month < 12 else on.year - age


def registered(*, by, site, version, number="S001", today=None, age=62):
    today = today or dt.date.today()
    return svc.patient_register(
        by=by,
        site=site,
        protocol_version=version,
        screening_number=number,
        year_of_birth=today.year - age,
        sex="female",
        menopausal_status="postmenopausal",
    )


def consented(*, by, patient, today, on=None):
    svc.consent_record(
        by=by,
        patient=patient,
        form_version="ICF-1.0",
        consented_on=on or today,
        taken_by=by,
        today=today,
    )
    return patient


def screened(*, by, patient, today, values=None, **overrides):
    data = dict(ELIGIBLE_PADA1 if values is None else values)
    data.update(overrides)
    data["age"] = {"value": today.year - patient.year_of_birth, "unit": "years"}
    return svc.eligibility_submit(
        by=by, patient=patient, submitted=data, screening_date=today, today=today
    )


def enrolled(*, by, site, version, today, number="S001"):
    patient = registered(by=by, site=site, version=version, number=number, today=today)
    consented(by=by, patient=patient, today=today)
    screened(by=by, patient=patient, today=today)
    return svc.patient_enrol(
        by=by,
        patient=patient,
        endocrine_drug="letrozole",
        planned_c1d1=today + dt.timedelta(days=7),
        today=today,
    )
