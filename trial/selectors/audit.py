"""A patient's audit trail across every tracked record, oldest first.

Apps register each tracked model with the lookup from the model to its patient; one query per
registered model, diffs computed in memory against the previous version of the same row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import models

from trial.models import AuditEvent, Consent, EligibilityAssessment, Patient, TreatmentLine

_TRACKED: list[tuple[type[models.Model], str]] = []
_SKIP_FIELDS = {
    "history_id",
    "history_date",
    "history_type",
    "history_user",
    "history_user_id",
    "history_change_reason",
    "created_at",
}


def register_patient_history(model: type[models.Model], patient_lookup: str) -> None:
    """Include ``model``'s history in patient audit trails; ``patient_lookup`` is the ORM path
    from the model to Patient ("patient", "line__patient", or "" for Patient itself)."""
    if (model, patient_lookup) not in _TRACKED:
        _TRACKED.append((model, patient_lookup))


register_patient_history(Patient, "")
register_patient_history(Consent, "patient")
register_patient_history(EligibilityAssessment, "patient")
register_patient_history(TreatmentLine, "patient")


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    user: str | None
    record: str
    record_id: str
    action: str
    changes: dict[str, Any]
    reason: str | None


_ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


def _field_names(history_model: type[models.Model]) -> list[str]:
    return [f.attname for f in history_model._meta.concrete_fields if f.attname not in _SKIP_FIELDS]


MASKED = "[masked]"


def _entries_for(
    model: type[models.Model], lookup: str, patient: Patient, masked: frozenset[str]
) -> list[AuditEntry]:
    history_model = model.history.model  # type: ignore[attr-defined]
    if not lookup:
        condition = {"id": patient.pk}
    elif "__" in lookup:
        condition = {f"{lookup}__pk": patient.pk}
    else:
        condition = {f"{lookup}_id": patient.pk}
    rows = (
        history_model.objects.filter(**condition)
        .select_related("history_user")
        .order_by("history_date", "history_id")
    )
    fields = _field_names(history_model)
    previous: dict[Any, dict[str, Any]] = {}
    entries = []
    for row in rows:
        current = {f: getattr(row, f) for f in fields}
        before = previous.get(row.id)
        if before is None:
            changes = {f: [None, _plain(v)] for f, v in current.items() if v not in (None, "")}
        else:
            changes = {
                f: [_plain(before[f]), _plain(v)] for f, v in current.items() if before[f] != v
            }
        previous[row.id] = current
        for name in masked & changes.keys():
            changes[name] = [None if v is None else MASKED for v in changes[name]]
        entries.append(
            AuditEntry(
                at=row.history_date,
                user=row.history_user.get_username() if row.history_user else None,
                record=model._meta.label,
                record_id=str(row.id),
                action=_ACTIONS.get(row.history_type, row.history_type),
                changes=changes,
                reason=row.history_change_reason,
            )
        )
    return entries


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str, list, dict)):
        return value
    return str(value)


def patient_audit_trail(
    *, patient: Patient, masked_fields: frozenset[str] = frozenset()
) -> list[AuditEntry]:
    """Every tracked change of the patient's records, oldest first. ``masked_fields`` values
    are replaced by a marker (the screening number for pseudonymised readers)."""
    entries: list[AuditEntry] = []
    for model, lookup in _TRACKED:
        entries.extend(_entries_for(model, lookup, patient, masked_fields))
    for event in AuditEvent.objects.filter(patient=patient).select_related("actor"):
        entries.append(
            AuditEntry(
                at=event.at,
                user=event.actor.get_username() if event.actor else None,
                record="event",
                record_id=str(event.pk),
                action=event.action,
                changes=event.details,
                reason=None,
            )
        )
    entries.sort(key=lambda e: (e.at, e.record, e.record_id))
    return entries
