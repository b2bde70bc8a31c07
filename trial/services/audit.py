"""Attribution and reasons for every write, and append-only audit events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import models

from trial.exceptions import ReasonRequired
from trial.models import AuditEvent, Patient


def tracked_save(
    instance: models.Model,
    *,
    by: Any,
    reason: str | None = None,
    update_fields: list[str] | None = None,
) -> None:
    """Save with the acting user and, for an edit after creation, a mandatory reason.

    simple-history writes the historical row with ``history_user`` and ``history_change_reason``.
    """
    is_edit = instance.pk is not None and not instance._state.adding
    if is_edit and not (reason and reason.strip()):
        raise ReasonRequired()
    instance._history_user = by  # type: ignore[attr-defined]
    instance._change_reason = (reason or "").strip() or None  # type: ignore[attr-defined]
    if not is_edit and hasattr(instance, "created_by_id") and instance.created_by_id is None:
        instance.created_by = by
    instance.save(update_fields=update_fields if is_edit else None)


def audit_event_record(
    *,
    action: str,
    actor: Any = None,
    patient: Patient | None = None,
    obj: models.Model | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    event = audit_event_build(action=action, actor=actor, patient=patient, obj=obj, details=details)
    event.save(force_insert=True)
    return event


def audit_events_record(events: Sequence[AuditEvent]) -> list[AuditEvent]:
    """Record events made by :func:`audit_event_build` in one INSERT (a batch of results):
    each row keeps its own actor, patient and object."""
    return AuditEvent.objects.bulk_create(events)


def audit_event_build(
    *,
    action: str,
    actor: Any = None,
    patient: Patient | None = None,
    obj: models.Model | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """An unsaved event; ``obj`` must have its primary key."""
    return AuditEvent(
        action=action,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        patient=patient,
        object_type=obj._meta.label if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        details=details or {},
    )
