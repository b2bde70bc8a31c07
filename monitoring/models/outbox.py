"""The Step 2 trigger outbox: written with a rising result, processed after commit by Celery.

A row is committed in the same transaction as the result, so a trigger cannot be lost when the
broker is down: the after-commit enqueue may fail, the beat's drain task picks the row up.
``processed_at`` is claimed with a conditional UPDATE in the transaction that opens the
trigger, so a row is processed exactly once however many tasks race for it.

The site's notice of an opened trigger is recorded on the row as pending in that same
transaction and sent afterwards, in a second transaction that stamps it sent: a worker killed
while sending leaves it pending for the redelivered task or the drain.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from trial.models import HardDeleteForbidden, Patient, Step2Trigger
from trial.models.base import NoDeleteManager

from .results import CtdnaResult

#: A row that failed this many times is left for a person to look at (admin), not retried.
MAX_ATTEMPTS = 10


class OutboxOutcome(models.TextChoices):
    OPENED = "opened", _("Step 2 trigger opened")
    ALREADY_OPEN = "already_open", _("A Step 2 trigger was already open")
    NOT_ON_STEP1 = "not_on_step1", _("Patient not on Step 1: nothing to trigger")


class NoticeState(models.TextChoices):
    NONE = "", _("No notice")
    PENDING = "pending", _("Notice to send")
    SENT = "sent", _("Notice sent")
    NOT_NEEDED = "not_needed", _("Trigger decided before the notice left")


class TriggerOutbox(models.Model):
    """A rising result waiting to open the patient's Step 2 gate (bookkeeping, not history)."""

    result = models.OneToOneField(CtdnaResult, on_delete=models.PROTECT, related_name="outbox")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_attempt_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=20, choices=OutboxOutcome.choices, blank=True
    )
    step2_trigger = models.ForeignKey(
        Step2Trigger,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("Step 2 trigger"),
    )
    notice = models.CharField(
        _("site notice"), max_length=20, choices=NoticeState.choices, blank=True
    )
    notified_at = models.DateTimeField(_("notified at"), null=True, blank=True)

    objects = NoDeleteManager()

    class Meta:
        verbose_name = _("Step 2 trigger outbox row")
        verbose_name_plural = _("Step 2 trigger outbox")
        ordering = ["-created_at", "-pk"]
        constraints = [
            # The claim sets processed_at first and the outcome later in the same transaction,
            # so only the other direction is a row invariant.
            models.CheckConstraint(
                condition=Q(processed_at__isnull=False) | Q(outcome=""),
                name="triggeroutbox_pending_has_no_outcome",
            ),
            # A notice is owed only for a trigger the row opened.
            models.CheckConstraint(
                condition=Q(notice="") | Q(processed_at__isnull=False),
                name="triggeroutbox_notice_after_processing",
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(processed_at__isnull=True),
                name="triggeroutbox_pending",
            ),
            models.Index(
                fields=["created_at"],
                condition=Q(notice="pending"),
                name="triggeroutbox_notice_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"outbox {self.pk} (result {self.result_id})"

    def delete(self, *args, **kwargs):  # noqa: ARG002
        raise HardDeleteForbidden("outbox rows are never deleted")
