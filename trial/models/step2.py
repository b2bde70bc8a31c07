"""The Step 2 gate: a rising bESR1mut opens a trigger; imaging decides randomizability.

It lives in ``trial`` (the lowest layer) so that ``monitoring`` (which detects the rising
mutation) and ``randomization`` (which checks the gate) both depend on it, not on each other.
DOMAIN.md 1.3, 1.5; section 7 rules 19-20.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .base import TrialRecord, history_reason_field
from .patients import Patient


class TriggerStatus(models.TextChoices):
    IMAGING_REQUIRED = "imaging_required", _("Imaging required")
    ELIGIBLE = "eligible", _("Eligible for randomization")
    PROGRESSION = "progression", _("Synchronous progression: not randomizable")
    WINDOW_MISSED = "window_missed", _("Window missed")
    RANDOMIZED = "randomized", _("Randomized")


OPEN_TRIGGER_STATUSES = (TriggerStatus.IMAGING_REQUIRED, TriggerStatus.ELIGIBLE)


class Step2Trigger(TrialRecord):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="step2_triggers")
    source = models.CharField(_("source"), max_length=20, default="ctdna")
    source_ref = models.CharField(_("source reference"), max_length=64)
    detected_on = models.DateField(_("detected on"))
    status = models.CharField(_("status"), max_length=20, choices=TriggerStatus.choices)
    imaging_due_by = models.DateField(_("imaging due by"))
    imaging_on = models.DateField(_("imaging date"), null=True, blank=True)
    randomize_by = models.DateField(_("randomize by"), null=True, blank=True)
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    flagged_at = models.DateTimeField(_("missed window flagged at"), null=True, blank=True)
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    class Meta:
        verbose_name = _("Step 2 trigger")
        verbose_name_plural = _("Step 2 triggers")
        ordering = ["-detected_on", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "source", "source_ref"], name="step2trigger_unique_source"
            ),
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status__in=["imaging_required", "eligible"]),
                name="step2trigger_one_open_per_patient",
            ),
        ]
        indexes = [models.Index(fields=["status", "imaging_due_by"], name="step2trigger_due")]

    def __str__(self) -> str:
        return f"{self.patient} {self.status} ({self.detected_on})"
