"""The Step 2 gate (DOMAIN.md 1.3, 1.5; section 7 rules 19-20).

A rising bESR1mut opens a trigger that requires imaging within the protocol's window
(``ctdna.windows.imaging_after_result_days``; an imaging up to ``imaging_before_result_days``
before the result also counts). Imaging without progression makes the patient eligible for
randomization until ``randomization_after_imaging_days`` after it; progression makes them not
randomizable (synchronous progression). A window that passes is recorded as missed and flagged.
The window lengths are protocol parameters (GAP defaults documented in the protocol file).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trial.exceptions import InvalidState
from trial.models import (
    OPEN_TRIGGER_STATUSES,
    Patient,
    Step,
    Step2Trigger,
    TriggerStatus,
    TumourAssessment,
)

from .audit import audit_event_record, tracked_save
from .notifications import notify_after_commit, notify_now, site_staff_emails

DEFAULT_WINDOWS = {
    "imaging_after_result_days": 28,
    "randomization_after_imaging_days": 21,
    "imaging_before_result_days": 14,
}


def step2_windows(patient: Patient) -> dict[str, int]:
    windows = patient.protocol_version.document.get("ctdna", {}).get("windows", {})
    return {**DEFAULT_WINDOWS, **windows}


def _open_trigger(patient: Patient) -> Step2Trigger | None:
    return (
        Step2Trigger.objects.select_for_update()
        .filter(patient=patient, status__in=OPEN_TRIGGER_STATUSES)
        .first()
    )


def step2_trigger_open(
    *,
    patient: Patient,
    source_ref: str,
    detected_on: dt.date,
    by: Any,
    recent_imaging: tuple[dt.date, bool] | None = None,
) -> Step2Trigger | None:
    """Open the Step 2 gate for a rising mutation. Idempotent per (patient, source_ref).

    ``recent_imaging`` is the latest imaging (date, progression) the caller knows of; when None,
    the patient's latest recorded tumour assessment up to ``detected_on`` is used. One done
    within ``imaging_before_result_days`` before detection decides the trigger at once.
    Returns None when the patient is not on Step 1 (nothing to randomize). Runs inside the
    caller's transaction (the ctDNA outbox). Sends nothing: a trigger left waiting for imaging
    is announced to the site with ``step2_trigger_notify``, which the caller runs once it has
    recorded the notice as owed (so that a lost worker cannot lose it).
    """
    existing = Step2Trigger.objects.filter(
        patient=patient, source="ctdna", source_ref=source_ref
    ).first()
    if existing is not None:
        return existing
    if patient.step != Step.STEP1:
        return None
    # Lock the patient: one open trigger per patient, even with concurrent results.
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    current = _open_trigger(patient)
    if current is not None:
        return current
    windows = step2_windows(patient)
    trigger = Step2Trigger(
        patient=patient,
        source_ref=source_ref,
        detected_on=detected_on,
        status=TriggerStatus.IMAGING_REQUIRED,
        imaging_due_by=detected_on + dt.timedelta(days=windows["imaging_after_result_days"]),
    )
    try:
        with transaction.atomic():
            tracked_save(trigger, by=by)
    except IntegrityError:
        return _open_trigger(patient)
    audit_event_record(
        action="step2_trigger_opened",
        actor=by,
        patient=patient,
        obj=trigger,
        details={"source_ref": source_ref, "detected_on": str(detected_on)},
    )
    if recent_imaging is None:
        recent_imaging = _latest_imaging(patient, detected_on)
    if recent_imaging is not None:
        imaged_on, progression = recent_imaging
        earliest = detected_on - dt.timedelta(days=windows["imaging_before_result_days"])
        if earliest <= imaged_on <= detected_on:
            return _decide(trigger, imaged_on=imaged_on, progression=progression, by=by)
    return trigger


def step2_trigger_notify(*, trigger: Step2Trigger) -> bool:
    """E-mail the site that imaging is required, now, from inside the caller's transaction.

    The caller records the notice as sent in that transaction, so a failed send or a process
    killed while sending leaves it owed, to be sent again (twice only if the process dies
    between the SMTP hand-over and the commit). Returns False, sending nothing, when the
    trigger no longer waits for imaging. Errors: whatever the e-mail backend raises.
    """
    if trigger.status != TriggerStatus.IMAGING_REQUIRED:
        return False
    patient = trigger.patient
    notify_now(
        recipients=site_staff_emails(patient.site),
        subject=_("Rising ESR1 mutation: imaging required for %(p)s") % {"p": patient},
        body=_(
            "A rising ESR1 mutation was detected for %(p)s on %(d)s. An imaging assessment must "
            "be recorded by %(due)s to decide on randomization."
        )
        % {"p": patient, "d": trigger.detected_on, "due": trigger.imaging_due_by},
    )
    return True


def _latest_imaging(patient: Patient, on_or_before: dt.date) -> tuple[dt.date, bool] | None:
    latest = (
        TumourAssessment.objects.filter(patient=patient, assessed_on__lte=on_or_before)
        .order_by("-assessed_on", "-pk")
        .first()
    )
    return None if latest is None else (latest.assessed_on, latest.progression)


def _decide(
    trigger: Step2Trigger, *, imaged_on: dt.date, progression: bool, by: Any
) -> Step2Trigger:
    windows = step2_windows(trigger.patient)
    trigger.imaging_on = imaged_on
    if progression:
        trigger.status = TriggerStatus.PROGRESSION
        trigger.closed_on = imaged_on
        reason = "imaging shows progression: not randomizable (synchronous progression)"
    else:
        trigger.status = TriggerStatus.ELIGIBLE
        trigger.randomize_by = imaged_on + dt.timedelta(
            days=windows["randomization_after_imaging_days"]
        )
        reason = "imaging without progression: eligible for randomization"
    tracked_save(
        trigger,
        by=by,
        reason=reason,
        update_fields=["imaging_on", "status", "closed_on", "randomize_by"],
    )
    return trigger


def step2_imaging_recorded(
    *, patient: Patient, assessed_on: dt.date, progression: bool, by: Any
) -> Step2Trigger | None:
    """Apply an imaging assessment to the patient's open trigger, if any. Runs inside the
    caller's transaction (the tumour-assessment service)."""
    trigger = _open_trigger(patient)
    if trigger is None or trigger.status != TriggerStatus.IMAGING_REQUIRED:
        return trigger
    windows = step2_windows(patient)
    earliest = trigger.detected_on - dt.timedelta(days=windows["imaging_before_result_days"])
    if not earliest <= assessed_on <= trigger.imaging_due_by:
        return trigger
    return _decide(trigger, imaged_on=assessed_on, progression=progression, by=by)


def step2_mark_randomized(*, trigger: Step2Trigger, on: dt.date, by: Any) -> Step2Trigger:
    """Close an eligible trigger once the patient is randomized (caller's transaction)."""
    locked = Step2Trigger.objects.select_for_update().get(pk=trigger.pk)
    if locked.status != TriggerStatus.ELIGIBLE:
        raise InvalidState(
            "The patient is not eligible for randomization.", {"trigger_status": locked.status}
        )
    locked.status = TriggerStatus.RANDOMIZED
    locked.closed_on = on
    tracked_save(locked, by=by, reason="randomized", update_fields=["status", "closed_on"])
    return locked


def step2_close_for_progression(*, patient: Patient, on: dt.date, by: Any) -> None:
    """Progression on Step 1 closes any open trigger (caller's transaction)."""
    trigger = _open_trigger(patient)
    if trigger is not None:
        trigger.status = TriggerStatus.PROGRESSION
        trigger.closed_on = on
        tracked_save(
            trigger, by=by, reason="progression on Step 1", update_fields=["status", "closed_on"]
        )


def step2_expire_windows(*, today: dt.date) -> int:
    """Record missed windows (imaging not done, or eligible but not randomized in time) and
    flag each once to the site and the sponsor. Idempotent; cost grows with open triggers."""
    from django.conf import settings

    expired = 0
    candidates = (
        Step2Trigger.objects.filter(status__in=OPEN_TRIGGER_STATUSES)
        .select_related("patient__site")
        .only("pk")
    )
    for pk in candidates.values_list("pk", flat=True):
        with transaction.atomic(durable=True):
            trigger = (
                Step2Trigger.objects.select_for_update(of=("self",))
                .select_related("patient__site")
                .get(pk=pk)
            )
            limit = (
                trigger.imaging_due_by
                if trigger.status == TriggerStatus.IMAGING_REQUIRED
                else trigger.randomize_by
            )
            if trigger.status not in OPEN_TRIGGER_STATUSES or limit is None or today <= limit:
                continue
            trigger.status = TriggerStatus.WINDOW_MISSED
            trigger.closed_on = today
            trigger.flagged_at = timezone.now()
            tracked_save(
                trigger,
                by=None,
                reason=f"window closed on {limit}",
                update_fields=["status", "closed_on", "flagged_at"],
            )
            audit_event_record(
                action="step2_window_missed",
                patient=trigger.patient,
                obj=trigger,
                details={"limit": str(limit)},
            )
            notify_after_commit(
                recipients=[
                    *site_staff_emails(trigger.patient.site),
                    settings.SPONSOR_SAFETY_EMAIL,
                ],
                subject=_("Step 2 window missed for %(p)s") % {"p": trigger.patient},
                body=_("The Step 2 window for %(p)s closed on %(d)s without %(what)s.")
                % {
                    "p": trigger.patient,
                    "d": limit,
                    "what": _("imaging") if trigger.imaging_on is None else _("randomization"),
                },
            )
            expired += 1
    return expired
