"""Treatment lines: the regimen a patient is on, from the protocol."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .base import TrialRecord, history_reason_field
from .patients import Patient


class AromataseInhibitor(models.TextChoices):
    LETROZOLE = "letrozole", _("Letrozole")
    ANASTROZOLE = "anastrozole", _("Anastrozole")
    EXEMESTANE = "exemestane", _("Exemestane")


class TreatmentLine(TrialRecord):
    """A regimen given in a step of the design, from its start to its end."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="lines")
    step = models.CharField(_("step"), max_length=20)
    regimen = models.CharField(_("regimen code"), max_length=40)
    endocrine_drug = models.CharField(_("endocrine partner"), max_length=20)
    palbociclib_dose_mg = models.PositiveSmallIntegerField(_("palbociclib dose (mg/day)"))
    planned_c1d1 = models.DateField(_("planned C1D1"))
    started_on = models.DateField(_("actual C1D1"), null=True, blank=True)
    ended_on = models.DateField(_("end date"), null=True, blank=True)
    end_reason = models.CharField(_("end reason"), max_length=40, blank=True)
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    class Meta:
        verbose_name = _("treatment line")
        verbose_name_plural = _("treatment lines")
        ordering = ["patient", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(ended_on__isnull=True),
                name="treatmentline_one_open_per_patient",
            ),
            models.CheckConstraint(
                condition=Q(palbociclib_dose_mg__in=[0, 75, 100, 125]),
                name="treatmentline_palbociclib_dose_level",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient} {self.step} {self.regimen}"
