"""Designs and randomizable patients, built through the real services."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from randomization.services.designs import design_generate
from randomization.services.lifecycle import design_activate
from tests.conftest import PASSWORD
from tests.trial import factories as f
from trial.services import patients as patient_svc
from trial.services import step2, tumour

SEED = "a3f1c9e07b5d4e2a8c6b1f0e9d7a5c3b2e4f6a8c0d1b3e5f7a9c2e4b6d8f0a1c"
STRATUM_VALUES = {"visceral_metastases": "yes", "time_on_step1": "ge_12_months"}


def active_design(*, statistician, version, seed=SEED, length=40):
    design = design_generate(protocol_version=version, by=statistician, seed=seed, length=length)
    return design_activate(design=design, by=statistician)


def randomizable(*, by, site, version, today, number="S001", stratification=None, imaging_on=None):
    """An enrolled Step 1 patient whose Step 2 trigger is eligible (imaging without
    progression on ``imaging_on``, default today: randomize by ``imaging_on`` + 21 days)."""
    patient = f.enrolled(by=by, site=site, version=version, today=today, number=number)
    values = STRATUM_VALUES if stratification is None else stratification
    patient = patient_svc.patient_update(
        by=by, patient=patient, changes={"stratification": values}, reason="stratification"
    )
    imaged = imaging_on or today
    with transaction.atomic():  # step2_trigger_open runs in its caller's transaction
        step2.step2_trigger_open(
            patient=patient,
            source_ref=f"ctdna-{number}",
            detected_on=imaged,
            by=None,
            recent_imaging=(imaged, False),
        )
    return patient


def with_minimization(version):
    """The same protocol version's document switched to minimization (a new version row)."""
    from trial.models import ProtocolVersion

    document = dict(version.document)
    document["randomization"] = {**document["randomization"], "method": "minimization"}
    return ProtocolVersion.objects.create(
        protocol=version.protocol,
        number=version.number + 1,
        document_version=f"{version.document_version}-min",
        content_sha256="0" * 63 + "1",
        document=document,
        source_name="pada1-minimization.yaml",
    )


LESION = {"lesion_number": 1, "location": "liver", "is_lymph_node": False}


def assess(patient, *, by, on, today, diameter_mm=30, new_lesions=False):
    """A RECIST 1.1 assessment with one liver target lesion (the first is the baseline)."""
    return tumour.tumour_assessment_record(
        patient=patient,
        by=by,
        assessed_on=on,
        modality="CT",
        target_lesions=[{**LESION, "diameter_mm": diameter_mm}],
        new_lesions=new_lesions,
        non_target="non_cr_non_pd",
        today=today,
    )


def randomized_on_arm(arm, *, by, site, version, today, start=0):
    """A patient enrolled 120 days before ``today`` with a baseline assessment the next day,
    randomized 58 days before ``today`` onto ``arm`` (patients are randomized in turn until
    the list gives ``arm``). Returns (patient, allocation, randomized_on)."""
    from randomization.services.allocation import patient_randomize

    enrolled_on = today - dt.timedelta(days=120)
    randomized_on = enrolled_on + dt.timedelta(days=62)
    for i in range(start, start + 8):
        patient = randomizable(
            by=by,
            site=site,
            version=version,
            today=enrolled_on,
            number=f"R{arm}{i:03d}",
            imaging_on=randomized_on - dt.timedelta(days=2),
        )
        assess(patient, by=by, on=enrolled_on + dt.timedelta(days=1), today=today)
        outcome = patient_randomize(
            patient=patient,
            by=by,
            password=PASSWORD,
            idempotency_key=f"rand-{arm}-{i}",
            today=randomized_on,
        )
        if outcome.allocation.arm == arm:
            patient.refresh_from_db()
            return patient, outcome.allocation, randomized_on
    raise AssertionError(f"the list gave no arm {arm} in 8 patients")
