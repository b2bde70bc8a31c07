"""Processing of the Step 2 trigger outbox (the Step 2 trigger).

A rising result writes an outbox row in its own transaction; after commit the row's id is
sent to ``monitoring.tasks.process_outbox_task``. If the broker is down the send fails, the
result and the row stay committed, and ``monitoring.tasks.outbox_drain_task`` (beat, every
60 s) processes every pending row. Each row is processed exactly once: the claim (a conditional
UPDATE of ``processed_at``) and the trigger it opens commit in one transaction, so a crash rolls
both back and a concurrent claim of the same row finds it taken.

The site's notice of an opened trigger ("imaging required") is recorded as owed in that same
transaction and sent by ``outbox_notify``, which locks the row, sends the e-mail and stamps it
sent in one transaction, as the schedule's reminders are (``trial.services.schedule``). A
worker killed while sending rolls the stamp back: the redelivered task, or the drain, finds
the notice still owed and sends it (twice only if the process dies between the SMTP
hand-over and the commit). A failed e-mail never holds the trigger back: it is open already.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from celery import current_app
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from trial.models import OPEN_TRIGGER_STATUSES, TriggerStatus
from trial.services.step2 import step2_trigger_notify, step2_trigger_open

from ..models import MAX_ATTEMPTS, NoticeState, OutboxOutcome, TriggerOutbox

logger = logging.getLogger("monitoring.outbox")

PROCESS_TASK = "monitoring.tasks.process_outbox_task"
DRAIN_BATCH = 200


@dataclass(frozen=True, slots=True)
class OutboxResult:
    """What one call did: ``processed`` False when the row was already processed (or gone)."""

    outbox_id: int
    processed: bool
    outcome: str = ""


def _publish(outbox_id: int) -> None:
    """Send the row's id to the worker, with one connection attempt and no publish retry."""
    app = current_app
    with app.connection_for_write() as connection:
        # One attempt: with the broker away the drain task catches up, the lab does not wait.
        connection.ensure_connection(max_retries=0)
        app.send_task(PROCESS_TASK, args=[outbox_id], connection=connection, retry=False)


def outbox_enqueue_after_commit(outbox_id: int) -> None:
    """After the caller's transaction commits, send the row to the worker.

    A broker failure is logged and swallowed: the row is committed and the drain task picks it
    up, and the lab still gets its answer at once (a refused connection fails in one attempt
    instead of kombu's default retries, about 6 s per request).
    """

    def send() -> None:
        try:
            _publish(outbox_id)
        except Exception:  # the broker being down must not fail the lab's request
            logger.warning("outbox %s: enqueue failed, the drain task will process it", outbox_id)

    transaction.on_commit(send)


def outbox_process(*, outbox_id: int) -> OutboxResult:
    """Open the Step 2 trigger of one outbox row, once, then send the site's notice if it is
    owed (also when an earlier run opened the trigger and died before sending it).

    ``step2_trigger_open`` is called with ``source_ref=f"ctdna-result-{result.pk}"``, the
    result's analysis date as the detection date and the lab's service user as the actor. A
    failure rolls back the claim and is recorded (attempts, last error) for the drain to retry;
    a failed notice is recorded the same way and stays owed (see ``outbox_notify``).
    """
    result = _claim_and_open(outbox_id)
    outbox_notify(outbox_id=outbox_id)
    return result


def _claim_and_open(outbox_id: int) -> OutboxResult:
    try:
        with transaction.atomic(durable=True):
            now = timezone.now()
            # The claim: only one transaction can move processed_at from NULL.
            claimed = TriggerOutbox.objects.filter(pk=outbox_id, processed_at=None).update(
                processed_at=now, attempts=F("attempts") + 1, last_attempt_at=now
            )
            if claimed == 0:
                return OutboxResult(outbox_id=outbox_id, processed=False)
            row = TriggerOutbox.objects.select_related(
                "result__lab__service_user", "patient__protocol_version", "patient__site"
            ).get(pk=outbox_id)
            outcome = _open_trigger(row)
            if outcome == OutboxOutcome.OPENED and (
                row.step2_trigger.status == TriggerStatus.IMAGING_REQUIRED
            ):
                row.notice = NoticeState.PENDING
            row.save(update_fields=["outcome", "step2_trigger", "notice"])
            return OutboxResult(outbox_id=outbox_id, processed=True, outcome=outcome)
    except Exception as error:
        _record_failure(outbox_id, error)
        raise


def outbox_notify(*, outbox_id: int) -> bool:
    """Send the owed notice of one outbox row, once; False when none is owed (any more).

    The e-mail leaves inside the transaction that stamps it sent, on purpose: the row stays
    locked for one send, and a failure or a killed worker rolls the stamp back, so the notice
    stays owed for the redelivered task or the drain. A failure is recorded on the row
    (attempts, last error) and raised.
    """
    try:
        with transaction.atomic(durable=True):
            # Lock the row for one send: a concurrent run waits, then finds the notice sent.
            row = (
                TriggerOutbox.objects.select_for_update(of=("self",))
                .select_related("step2_trigger__patient__site")
                .filter(pk=outbox_id, notice=NoticeState.PENDING)
                .first()
            )
            if row is None:
                return False
            sent = step2_trigger_notify(trigger=row.step2_trigger)
            row.notice = NoticeState.SENT if sent else NoticeState.NOT_NEEDED
            row.notified_at = timezone.now()
            row.save(update_fields=["notice", "notified_at"])
            return sent
    except Exception as error:
        _record_notice_failure(outbox_id, error)
        raise


def _open_trigger(row: TriggerOutbox) -> str:
    result = row.result
    already_open = row.patient.step2_triggers.filter(status__in=OPEN_TRIGGER_STATUSES).first()
    trigger = step2_trigger_open(
        patient=row.patient,
        source_ref=f"ctdna-result-{result.pk}",
        detected_on=result.analysed_on,
        by=result.lab.service_user,
    )
    row.step2_trigger = trigger
    if trigger is None:
        row.outcome = OutboxOutcome.NOT_ON_STEP1
    elif already_open is not None and already_open.pk == trigger.pk:
        row.outcome = OutboxOutcome.ALREADY_OPEN
    else:
        row.outcome = OutboxOutcome.OPENED
    return row.outcome


def _record_failure(outbox_id: int, error: Exception) -> None:
    with transaction.atomic(durable=True):
        # Bookkeeping columns only; the row stays pending for the drain.
        TriggerOutbox.objects.filter(pk=outbox_id, processed_at=None).update(
            attempts=F("attempts") + 1,
            last_attempt_at=timezone.now(),
            last_error=f"{type(error).__name__}: {error}"[:2000],
        )
    logger.exception("outbox %s: processing failed", outbox_id)


def _record_notice_failure(outbox_id: int, error: Exception) -> None:
    with transaction.atomic(durable=True):
        # Bookkeeping columns only; the notice stays owed for the drain.
        TriggerOutbox.objects.filter(pk=outbox_id, notice=NoticeState.PENDING).update(
            attempts=F("attempts") + 1,
            last_attempt_at=timezone.now(),
            last_error=f"notice: {type(error).__name__}: {error}"[:2000],
        )
    logger.exception("outbox %s: sending the site's notice failed", outbox_id)


def outbox_pending_ids(*, limit: int = DRAIN_BATCH) -> list[int]:
    """Pending rows, oldest first, leaving out those that failed ``MAX_ATTEMPTS`` times."""
    return list(
        TriggerOutbox.objects.filter(processed_at=None, attempts__lt=MAX_ATTEMPTS)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def outbox_notice_pending_ids(*, limit: int = DRAIN_BATCH) -> list[int]:
    """Processed rows whose notice is still owed, oldest first, leaving out those that failed
    ``MAX_ATTEMPTS`` times (claims and sends together)."""
    return list(
        TriggerOutbox.objects.filter(notice=NoticeState.PENDING, attempts__lt=MAX_ATTEMPTS)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def outbox_drain(*, limit: int = DRAIN_BATCH) -> int:
    """Process pending rows directly (no broker needed), then send the notices still owed;
    returns how many rows this call processed.

    A row that fails is recorded and skipped so one bad row does not block the others.
    """
    processed = 0
    for outbox_id in outbox_pending_ids(limit=limit):
        try:
            processed += outbox_process(outbox_id=outbox_id).processed
        except Exception:  # recorded on the row by outbox_process; go on with the others
            logger.warning("outbox %s: left pending after a failure", outbox_id)
    for outbox_id in outbox_notice_pending_ids(limit=limit):
        try:
            outbox_notify(outbox_id=outbox_id)
        except Exception:  # recorded on the row by outbox_notify; go on with the others
            logger.warning("outbox %s: notice left owed after a failure", outbox_id)
    return processed
