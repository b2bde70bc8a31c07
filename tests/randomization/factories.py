"""Designs and randomizable patients, built through the real services."""

from __future__ import annotations

from django.db import transaction

from randomization.services.designs import design_generate
from randomization.services.lifecycle import design_activate
from tests.trial import factories as f
from trial.services import patients as patient_svc
from trial.services import step2

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
