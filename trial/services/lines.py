"""Shared checks of Step 1 follow-up services: the patient's ongoing line and clinical dates."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext as _

from trial.exceptions import InvalidState
from trial.models import Patient, PatientStatus, TreatmentLine

from .errors import DateBeforeEnrolment, DateInFuture, NoOpenLine


def require_enrolled(patient: Patient) -> None:
    if patient.status != PatientStatus.ENROLLED or patient.enrolled_on is None:
        raise InvalidState(
            _("The patient is not enrolled."), {"status": patient.status}, code="not_enrolled"
        )


def check_clinical_date(
    patient: Patient, on: dt.date, *, today: dt.date, field: str, before_enrolment: Any = None
) -> None:
    """``on`` is not in the future and not before enrolment (``before_enrolment`` is the
    error class to raise for the latter; DateBeforeEnrolment by default)."""
    if on > today:
        raise DateInFuture(details={field: str(on)})
    if patient.enrolled_on is not None and on < patient.enrolled_on:
        error = before_enrolment or DateBeforeEnrolment
        raise error(details={field: str(on), "enrolled_on": str(patient.enrolled_on)})


def open_line(patient: Patient, *, lock: bool = False) -> TreatmentLine:
    """The patient's ongoing treatment line; ``lock`` takes its row lock."""
    qs = TreatmentLine.objects.filter(patient=patient, ended_on=None)
    if lock:
        qs = qs.select_for_update()
    line = qs.first()
    if line is None:
        raise NoOpenLine()
    return line


def latest_line(patient: Patient) -> TreatmentLine | None:
    return TreatmentLine.objects.filter(patient=patient).order_by("-created_at", "-pk").first()


def protocol_document(patient: Patient) -> dict[str, Any]:
    return patient.protocol_version.document
