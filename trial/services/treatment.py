"""Treatment lines: switching regimen when the design moves a patient to another step."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext as _

from trial.exceptions import InvalidInput, InvalidState
from trial.models import Patient, TreatmentLine

from .audit import tracked_save
from .schedule import schedule_rebuild


def treatment_line_current(patient: Patient) -> TreatmentLine | None:
    """The patient's open line, else the latest one (ended by progression: Step 2 Arm A
    awaiting the crossover), row-locked; None without any line. Caller's transaction."""
    # Lock the patient's lines: the open one ends and the new one starts together.
    current = (
        TreatmentLine.objects.select_for_update().filter(patient=patient, ended_on=None).first()
    )
    if current is None:
        current = (
            TreatmentLine.objects.select_for_update()
            .filter(patient=patient)
            .order_by("-created_at", "-pk")
            .first()
        )
    if current is not None:
        current.patient = patient  # the caller's locked row: the calendar reads its protocol
    return current


def treatment_line_switch(
    *,
    patient: Patient,
    step: str,
    patient_step: str,
    regimen: str,
    endocrine_drug: str,
    on: dt.date,
    by: Any,
    reason: str,
    end_reason: str,
    current: TreatmentLine | None = None,
) -> TreatmentLine:
    """End the patient's open line on ``on`` and open a line of ``regimen`` from ``on``.

    Palbociclib continues at the current dose level (DOMAIN.md section 7 rule 22). Runs in the
    caller's transaction (randomization, crossover); the caller holds the patient's row lock,
    and may pass ``current``, the line ``treatment_line_current`` locked for it.
    A line already ended by progression (Step 2 Arm A awaiting the crossover) is followed by
    the new line from ``on``, not before its end. The new line's calendar is built at once
    (fulvestrant injections for palbo_fulv) and the ended line's items after ``on`` are
    cancelled.
    Errors: invalid_input (unknown regimen), invalid_state (no line, start before the current
    line's start or end).
    """
    document = patient.protocol_version.document
    if regimen not in document["regimens"]:
        raise InvalidInput("Unknown regimen.", {"regimen": regimen})
    if current is None:
        current = treatment_line_current(patient)
    if current is None:
        raise InvalidState(_("The patient has no treatment line."))
    if current.ended_on is not None:
        if on < current.ended_on:
            raise InvalidState(
                _("The new line cannot start before the previous one ended."),
                {"previous_end": str(current.ended_on)},
            )
    else:
        if current.started_on and on < current.started_on:
            raise InvalidState(
                "The new line cannot start before the current one.",
                {"current_start": str(current.started_on)},
            )
        current.ended_on = on
        current.end_reason = end_reason
        tracked_save(current, by=by, reason=reason, update_fields=["ended_on", "end_reason"])
        schedule_rebuild(line=current, by=by, reason=reason)
    line = TreatmentLine(
        patient=patient,
        step=step,
        regimen=regimen,
        endocrine_drug=endocrine_drug,
        palbociclib_dose_mg=current.palbociclib_dose_mg,
        planned_c1d1=on,
    )
    tracked_save(line, by=by)
    patient.step = patient_step
    tracked_save(patient, by=by, reason=reason, update_fields=["step"])
    schedule_rebuild(line=line, by=by, reason=reason, new_line=True)
    return line
