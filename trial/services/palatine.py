"""PALATINE: locoregional treatment of the primary and survival follow-up (DOMAIN.md section 2).

Both exist only for protocols with a ``locoregional_treatment`` / ``follow_up`` block.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from trial.exceptions import InvalidInput
from trial.models import (
    ContactMethod,
    ItemKind,
    LocoregionalTreatment,
    LrtModality,
    Margins,
    PathologicalResponse,
    Patient,
    SurgeryType,
    SurvivalContact,
    VitalStatus,
)
from trial.selectors import clinical_history  # noqa: F401  (registers the audit trail)
from trial.selectors.access import require_site_writer

from .audit import audit_event_record, tracked_save
from .errors import NoOpenLine, NotInProtocol
from .lines import check_clinical_date, latest_line, require_enrolled
from .schedule import schedule_item_mark_done


def _require_block(patient: Patient, block: str) -> dict[str, Any]:
    value = patient.protocol_version.document.get(block)
    if value is None:
        raise NotInProtocol(details={"protocol_block": block})
    return value


def _choice(value: str, choices: Any, field: str, *, required: bool) -> str:
    if not value and not required:
        return ""
    if value not in choices.values:
        raise InvalidInput(_("Unknown value."), {field: value})
    return value


def _surgery(modality: str, fields: dict[str, Any]) -> None:
    needs = modality in (LrtModality.SURGERY, LrtModality.SURGERY_AND_RADIOTHERAPY)
    for name, choices in (("surgery_type", SurgeryType), ("margins", Margins)):
        fields[name] = _choice(fields.get(name) or "", choices, name, required=needs)
    fields["planned_surgery_type"] = _choice(
        fields.get("planned_surgery_type") or "",
        SurgeryType,
        "planned_surgery_type",
        required=False,
    )
    fields["pathological_response"] = _choice(
        fields.get("pathological_response") or "",
        PathologicalResponse,
        "pathological_response",
        required=False,
    )
    if needs and fields.get("surgery_on") is None:
        raise InvalidInput(_("The surgery date is required."), {"surgery_on": None})


def _radiotherapy(modality: str, fields: dict[str, Any]) -> None:
    needs = modality in (LrtModality.RADIOTHERAPY, LrtModality.SURGERY_AND_RADIOTHERAPY)
    start, end = fields.get("radiotherapy_start_on"), fields.get("radiotherapy_end_on")
    if needs and start is None:
        raise InvalidInput(
            _("The radiotherapy start is required."), {"radiotherapy_start_on": None}
        )
    if start is not None and end is not None and end < start:
        raise InvalidInput(
            _("Radiotherapy cannot end before it starts."),
            {"radiotherapy_start_on": str(start), "radiotherapy_end_on": str(end)},
        )


def locoregional_treatment_record(
    *, patient: Patient, by: Any, modality: str, today: dt.date, **fields: Any
) -> LocoregionalTreatment:
    """Record the locoregional treatment of the primary (surgery and/or radiotherapy, with
    type, date, margins and pathological response); marks the planned item done.

    ``fields``: planned_surgery_type, surgery_type, surgery_on, margins, pathological_response,
    residual_tumour_size_mm, residual_cellularity_pct, radiotherapy_start_on,
    radiotherapy_end_on, radiotherapy_dose_gy. Errors: not_in_protocol, invalid_input,
    date_in_future, date_before_enrolment, no_open_line, not_enrolled.
    """
    require_site_writer(by, patient.site)
    require_enrolled(patient)
    block = _require_block(patient, "locoregional_treatment")
    if modality not in LrtModality.values or modality not in block["modalities"]:
        raise InvalidInput(_("This modality is not in the protocol."), {"modality": modality})
    _surgery(modality, fields)
    _radiotherapy(modality, fields)
    dates = [fields.get(n) for n in ("surgery_on", "radiotherapy_start_on", "radiotherapy_end_on")]
    for name, value in zip(
        ("surgery_on", "radiotherapy_start_on", "radiotherapy_end_on"), dates, strict=True
    ):
        if value is not None:
            check_clinical_date(patient, value, today=today, field=name)
    cellularity = fields.get("residual_cellularity_pct")
    if cellularity is not None and not 0 <= cellularity <= 100:
        raise InvalidInput(
            _("Cellularity is a percentage."), {"residual_cellularity_pct": cellularity}
        )
    with transaction.atomic(durable=True):
        line = latest_line(patient)
        if line is None:
            raise NoOpenLine()
        treatment = LocoregionalTreatment(
            patient=patient,
            line=line,
            modality=modality,
            **{k: v for k, v in fields.items() if v is not None},
        )
        tracked_save(treatment, by=by)
        done_on = min(d for d in dates if d is not None)
        schedule_item_mark_done(
            patient=patient,
            kind=ItemKind.LOCOREGIONAL_TREATMENT,
            on=done_on,
            ref=f"locoregional_treatment:{treatment.pk}",
            by=by,
        )
    return treatment


def survival_contact_record(
    *,
    patient: Patient,
    by: Any,
    contacted_on: dt.date,
    method: str,
    vital_status: str,
    today: dt.date,
    death_on: dt.date | None = None,
    last_known_alive_on: dt.date | None = None,
) -> SurvivalContact:
    """Record a survival follow-up contact for the overall-survival endpoint; marks the planned
    contact done. Errors: not_in_protocol, invalid_input (death date missing or given for a
    living patient, after the contact), date_in_future, date_before_enrolment."""
    require_site_writer(by, patient.site)
    require_enrolled(patient)
    _require_block(patient, "follow_up")
    _choice(method, ContactMethod, "method", required=True)
    _choice(vital_status, VitalStatus, "vital_status", required=True)
    check_clinical_date(patient, contacted_on, today=today, field="contacted_on")
    if (vital_status == VitalStatus.DEAD) != (death_on is not None):
        raise InvalidInput(_("A date of death goes with vital status 'dead' only."), {})
    if death_on is not None and death_on > contacted_on:
        raise InvalidInput(
            _("The date of death is after the contact."), {"death_on": str(death_on)}
        )
    with transaction.atomic(durable=True):
        contact = SurvivalContact(
            patient=patient,
            contacted_on=contacted_on,
            method=method,
            vital_status=vital_status,
            death_on=death_on,
            last_known_alive_on=last_known_alive_on
            or (contacted_on if vital_status == VitalStatus.ALIVE else None),
        )
        tracked_save(contact, by=by)
        schedule_item_mark_done(
            patient=patient,
            kind=ItemKind.SURVIVAL_CONTACT,
            on=contacted_on,
            ref=f"survival_contact:{contact.pk}",
            by=by,
        )
        if vital_status == VitalStatus.DEAD:
            audit_event_record(
                action="death_recorded",
                actor=by,
                patient=patient,
                obj=contact,
                details={"death_on": str(death_on)},
            )
    return contact
