"""Processing of the Step 2 trigger outbox (issue 4, "The Step 2 trigger").

A rising result writes an outbox row in its own transaction; after commit the row's id is
sent to ``monitoring.tasks.process_outbox_task``. If the broker is down the send fails, the
result and the row stay committed, and ``monitoring.tasks.outbox_drain_task`` (beat, every
60 s) processes every pending row. Each row is processed exactly once: the claim (a conditional
UPDATE of ``processed_at``) and the trigger it opens commit in one transaction, so a crash rolls
both back and a concurrent claim of the same row finds it taken.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from celery import current_app
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from trial.models import OPEN_TRIGGER_STATUSES
from trial.services.step2 import step2_trigger_open

from ..models import MAX_ATTEMPTS, OutboxOutcome, TriggerOutbox

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
    """Open the Step 2 trigger of one outbox row, once.

    ``step2_trigger_open`` is called with ``source_ref=f"ctdna-result-{result.pk}"``, the
    result's analysis date as the detection date and the lab's service user as the actor. A
    failure rolls back the claim and is recorded (attempts, last error) for the drain to retry.
    """
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
            row.save(update_fields=["outcome", "step2_trigger"])
            return OutboxResult(outbox_id=outbox_id, processed=True, outcome=outcome)
    except Exception as error:
        _record_failure(outbox_id, error)
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


def outbox_pending_ids(*, limit: int = DRAIN_BATCH) -> list[int]:
    """Pending rows, oldest first, leaving out those that failed ``MAX_ATTEMPTS`` times."""
    return list(
        TriggerOutbox.objects.filter(processed_at=None, attempts__lt=MAX_ATTEMPTS)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def outbox_drain(*, limit: int = DRAIN_BATCH) -> int:
    """Process pending rows directly (no broker needed); returns how many this call processed.

    A row that fails is recorded and skipped so one bad row does not block the others.
    """
    processed = 0
    for outbox_id in outbox_pending_ids(limit=limit):
        try:
            processed += outbox_process(outbox_id=outbox_id).processed
        except Exception:  # recorded on the row by outbox_process; go on with the others
            logger.warning("outbox %s: left pending after a failure", outbox_id)
    return processed
