"""ctDNA blood draws recorded by site staff."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.db import IntegrityError, transaction

from trial.exceptions import ReasonRequired
from trial.models import Patient, PatientStatus
from trial.selectors.access import require_site_writer
from trial.services.audit import tracked_save
from trial.services.schedule import schedule_item_mark_done

from ..exceptions import (
    DrawDateInvalid,
    DuplicateSampleId,
    PatientNotEnrolled,
    SampleHasResult,
    SampleIdInvalid,
)
from ..models import SAMPLE_ID_PATTERN, Sample
from .ingestion import ctdna_parameters


def _check_draw(patient: Patient, drawn_on: dt.date, today: dt.date) -> None:
    if drawn_on > today or (patient.enrolled_on is not None and drawn_on < patient.enrolled_on):
        raise DrawDateInvalid(
            details={
                "field": "drawn_on",
                "drawn_on": drawn_on.isoformat(),
                "enrolled_on": patient.enrolled_on.isoformat() if patient.enrolled_on else None,
                "today": today.isoformat(),
            }
        )


def sample_record(
    *, by: Any, patient: Patient, sample_id: str, drawn_on: dt.date, today: dt.date
) -> Sample:
    """Record a blood draw for ctDNA and mark the patient's scheduled ctDNA item done.

    Errors: not_found (another site's patient), role_not_allowed (site staff only),
    invalid_sample_id, patient_not_enrolled, ctdna_not_monitored, invalid_draw_date (after
    today or before enrolment), duplicate_sample_id (sample ids are unique trial-wide).
    """
    require_site_writer(by, patient.site)
    if not isinstance(sample_id, str) or not re.match(SAMPLE_ID_PATTERN, sample_id):
        raise SampleIdInvalid(details={"field": "sample_id"})
    if patient.status != PatientStatus.ENROLLED or not patient.trial_number:
        raise PatientNotEnrolled(details={"status": patient.status})
    ctdna_parameters(patient)
    _check_draw(patient, drawn_on, today)
    with transaction.atomic(durable=True):
        sample = Sample(sample_id=sample_id, patient=patient, drawn_on=drawn_on)
        try:
            with transaction.atomic():
                tracked_save(sample, by=by)
        except IntegrityError as error:
            raise DuplicateSampleId(
                details={"field": "sample_id", "sample_id": sample_id}
            ) from error
        # The draw completes the scheduled ctDNA item nearest to it (None for an unscheduled draw).
        schedule_item_mark_done(
            patient=patient, kind="ctdna", on=drawn_on, ref=sample.sample_id, by=by
        )
    return sample


def sample_correct(
    *, by: Any, sample: Sample, drawn_on: dt.date, reason: str, today: dt.date
) -> Sample:
    """Correct the draw date of a sample that has no result yet (a result quotes it).

    Errors: not_found, role_not_allowed, reason_required, invalid_draw_date, sample_has_result.
    """
    patient = sample.patient
    require_site_writer(by, patient.site)
    if not (reason and reason.strip()):
        raise ReasonRequired()
    _check_draw(patient, drawn_on, today)
    with transaction.atomic(durable=True):
        # Lock the patient like result ingestion does: no result may arrive mid-correction.
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        locked = Sample.objects.get(pk=sample.pk)
        if locked.results.exists():
            raise SampleHasResult(details={"sample_id": locked.sample_id})
        locked.drawn_on = drawn_on
        tracked_save(locked, by=by, reason=reason, update_fields=["drawn_on"])
    return locked
