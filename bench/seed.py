"""Seeding the throwaway database through the product's real services.

Accounts, protocol and patients are created exactly as in production (protocol loader, the
patient services, token issuance), so every row has the shape and the history the product
gives it. Needs Django set up with the bench database (``bench/run.py`` does it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from simple_history.utils import bulk_create_with_history

from monitoring.models import Lab, Sample
from monitoring.services.labs import lab_register
from monitoring.services.samples import sample_record
from trial.models import Patient, ProtocolVersion, Role, Site, StaffProfile
from trial.services import patients as svc
from trial.services.accounts import api_token_issue
from trial.services.protocols import protocol_current_version

from .ctdna import SampleRef

SITE_CODE = "BN01"
LAB_CODE = "BENCH-LAB"
ENDOCRINE_DRUG = "letrozole"
# Attestations the eligible demo patient answers yes to; every other attestation is "no".
ATTESTED = {"tissue", "no_prior_systemic_mbc", "organ_function", "recovered", "social_security"}


@dataclass(frozen=True)
class Accounts:
    site: Site
    investigator: Any
    lab: Lab
    lab_token: str
    reader_token: str


def _user(username: str, role: str, sites: list[Site]) -> Any:
    user = get_user_model().objects.create_user(username=username, is_staff=role != Role.LAB)
    profile = StaffProfile.objects.create(user=user, role=role, language="en")
    profile.sites.set(sites)
    return user


def seed_accounts() -> Accounts:
    """One site with an investigator, a data manager, and a laboratory serving the site
    registered by the data manager; API tokens for the lab's service account (the writes,
    baseline included) and for the data manager (the reads). PADA-1 must be loaded."""
    with transaction.atomic():
        site = Site.objects.create(code=SITE_CODE, name="Benchmark site", country="FR")
        investigator = _user("bench.investigator", Role.INVESTIGATOR, [site])
        data_manager = _user("bench.datamanager", Role.DATA_MANAGER, [])
    lab = lab_register(by=data_manager, code=LAB_CODE, name="Benchmark laboratory", sites=[site])
    _token, lab_key = api_token_issue(user=lab.service_user, label="bench", ttl_days=1)
    _token, reader_key = api_token_issue(user=data_manager, label="bench", ttl_days=1)
    return Accounts(
        site=site,
        investigator=investigator,
        lab=lab,
        lab_token=lab_key,
        reader_token=reader_key,
    )


def screening_values(*, age: int, version: ProtocolVersion | None = None) -> dict[str, Any]:
    """Screening data of an eligible PADA-1 patient, with units as sites enter them; every
    attestation criterion of the protocol is answered (yes to ``ATTESTED``, no otherwise)."""
    version = version or protocol_current_version("PADA1")
    attestations = {
        criterion["id"]: criterion["id"] in ATTESTED
        for section in ("inclusion", "exclusion")
        for criterion in version.document["eligibility"][section]
        if criterion["kind"] == "attestation"
    }
    measured = {
        "sex": "female",
        "age": {"value": age, "unit": "years"},
        "disease_stage": "metastatic",
        "relapse_date": None,
        "life_expectancy": {"value": 24, "unit": "months"},
        "ecog": {"value": 1, "unit": "score"},
        "er_positive_cells": {"value": 80, "unit": "%"},
        "her2_status": "negative",
        "menopausal_status": "postmenopausal",
        "haemoglobin": {"value": 12.4, "unit": "g/dL"},
        "wbc": {"value": 5.1, "unit": "G/L"},
        "platelets": {"value": 240, "unit": "G/L"},
    }
    return measured | attestations


def seed_enrolled_patients(*, accounts: Accounts, count: int, today: dt.date) -> list[Patient]:
    """``count`` patients registered, consented, screened eligible and enrolled in Step 1
    through the patient services on ``today`` (a date in the past gives them a history for
    ctDNA draws), C1D1 planned a week later. Trial numbers follow the order of the list."""
    version = protocol_current_version("PADA1")
    by = accounts.investigator
    patients = []
    for index in range(1, count + 1):
        age = 45 + index % 30
        patient = svc.patient_register(
            by=by,
            site=accounts.site,
            protocol_version=version,
            screening_number=f"BENCH-{index:05d}",
            year_of_birth=today.year - age,
            sex="female",
            menopausal_status="postmenopausal",
        )
        svc.consent_record(
            by=by,
            patient=patient,
            form_version="ICF-1.0",
            consented_on=today,
            taken_by=by,
            today=today,
        )
        svc.eligibility_submit(
            by=by,
            patient=patient,
            submitted=screening_values(age=age, version=version),
            screening_date=today,
            today=today,
        )
        patients.append(
            svc.patient_enrol(
                by=by,
                patient=patient,
                endocrine_drug=ENDOCRINE_DRUG,
                planned_c1d1=today + dt.timedelta(days=7),
                today=today,
            )
        )
    return patients


SERVICE_SAMPLES = 20


def _null_pattern(obj: Any) -> dict[str, bool]:
    """Which concrete columns of ``obj`` are set: the "shape" a fast seed must reproduce."""
    return {f.attname: getattr(obj, f.attname) is None for f in obj._meta.concrete_fields}


def seed_samples(*, accounts: Accounts, refs: Sequence[SampleRef], today: dt.date) -> None:
    """Record the ctDNA blood draws that the lab results will quote.

    The first ``SERVICE_SAMPLES`` go through ``sample_record``, the service site staff use; the
    rest, up to a hundred thousand, are inserted in bulk for speed (the service takes a few
    milliseconds each) with ``bulk_create_with_history``: the same columns, the same history row
    attributed to the investigator, no change reason. The shape is checked against a
    service-made sample before going on. Not reproduced: the service also marks a scheduled
    ctDNA item done, and these patients have no schedule rows (result ingestion reads none).
    """
    by = accounts.investigator
    patients = {p.trial_number: p for p in Patient.objects.filter(site=accounts.site)}
    for ref in refs[:SERVICE_SAMPLES]:
        sample_record(
            by=by,
            patient=patients[ref.trial_number],
            sample_id=ref.sample_id,
            drawn_on=ref.drawn_on,
            today=today,
        )
    bulk = [
        Sample(
            sample_id=ref.sample_id,
            patient=patients[ref.trial_number],
            drawn_on=ref.drawn_on,
            created_by=by,
        )
        for ref in refs[SERVICE_SAMPLES:]
    ]
    bulk_create_with_history(bulk, Sample, batch_size=2000, default_user=by)
    if bulk:
        _check_same_shape(refs[0].sample_id, refs[-1].sample_id)


def _check_same_shape(service_sample_id: str, bulk_sample_id: str) -> None:
    made = Sample.objects.get(sample_id=service_sample_id)
    seeded = Sample.objects.get(sample_id=bulk_sample_id)
    made_history = made.history.get()
    seeded_history = seeded.history.get()
    if _null_pattern(made) != _null_pattern(seeded) or _null_pattern(made_history) != _null_pattern(
        seeded_history
    ):
        raise RuntimeError(
            "bulk-seeded samples differ in shape from those sample_record makes: "
            f"{_null_pattern(made_history)} != {_null_pattern(seeded_history)}"
        )
