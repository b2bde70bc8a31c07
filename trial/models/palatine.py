"""PALATINE: locoregional treatment of the primary and survival follow-up.

DOMAIN.md section 2: surgery and/or radiotherapy of the primary after palbociclib + letrozole
(planned at the protocol's ``locoregional_treatment.planned_after_weeks``), pathological
response at surgery, conversion to breast-conserving surgery, and contacts for the 24-month
overall-survival endpoint (``follow_up``).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .base import TrialRecord, history_reason_field
from .patients import Patient
from .treatment import TreatmentLine


class LrtModality(models.TextChoices):
    SURGERY = "surgery", _("Surgery")
    RADIOTHERAPY = "radiotherapy", _("Radiotherapy")
    SURGERY_AND_RADIOTHERAPY = "surgery_and_radiotherapy", _("Surgery and radiotherapy")


class SurgeryType(models.TextChoices):
    BREAST_CONSERVING = "breast_conserving", _("Breast-conserving surgery")
    MASTECTOMY = "mastectomy", _("Mastectomy")


class Margins(models.TextChoices):
    NEGATIVE = "negative", _("Negative (R0)")
    CLOSE = "close", _("Close")
    POSITIVE = "positive", _("Positive (R1)")


class PathologicalResponse(models.TextChoices):
    COMPLETE = "complete", _("Complete (no residual invasive disease)")
    PARTIAL = "partial", _("Partial")
    NONE = "none", _("No response")


class LocoregionalTreatment(TrialRecord):
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="locoregional_treatments"
    )
    line = models.ForeignKey(
        TreatmentLine, on_delete=models.PROTECT, related_name="locoregional_treatments"
    )
    modality = models.CharField(_("modality"), max_length=30, choices=LrtModality.choices)
    planned_surgery_type = models.CharField(
        _("surgery planned at diagnosis"), max_length=20, choices=SurgeryType.choices, blank=True
    )
    surgery_type = models.CharField(
        _("surgery performed"), max_length=20, choices=SurgeryType.choices, blank=True
    )
    surgery_on = models.DateField(_("surgery date"), null=True, blank=True)
    margins = models.CharField(_("margins"), max_length=10, choices=Margins.choices, blank=True)
    pathological_response = models.CharField(
        _("pathological response"), max_length=10, choices=PathologicalResponse.choices, blank=True
    )
    residual_tumour_size_mm = models.DecimalField(
        _("residual invasive tumour size (mm)"),
        max_digits=6,
        decimal_places=1,
        null=True,
        blank=True,
    )
    residual_cellularity_pct = models.PositiveSmallIntegerField(
        _("residual tumour cellularity (%)"), null=True, blank=True
    )
    radiotherapy_start_on = models.DateField(_("radiotherapy start"), null=True, blank=True)
    radiotherapy_end_on = models.DateField(_("radiotherapy end"), null=True, blank=True)
    radiotherapy_dose_gy = models.DecimalField(
        _("radiotherapy total dose (Gy)"), max_digits=5, decimal_places=1, null=True, blank=True
    )
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    class Meta:
        verbose_name = _("locoregional treatment")
        verbose_name_plural = _("locoregional treatments")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(modality="radiotherapy")
                | Q(surgery_on__isnull=False) & ~Q(surgery_type="") & ~Q(margins=""),
                name="lrt_surgery_details",
            ),
            models.CheckConstraint(
                condition=Q(modality="surgery") | Q(radiotherapy_start_on__isnull=False),
                name="lrt_radiotherapy_details",
            ),
            models.CheckConstraint(
                condition=Q(radiotherapy_end_on__isnull=True)
                | Q(radiotherapy_end_on__gte=models.F("radiotherapy_start_on")),
                name="lrt_radiotherapy_dates",
            ),
            models.CheckConstraint(
                condition=Q(residual_cellularity_pct__isnull=True)
                | Q(residual_cellularity_pct__lte=100),
                name="lrt_cellularity_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_modality_display()} ({self.surgery_on or self.radiotherapy_start_on})"

    @property
    def converted_to_conservative(self) -> bool | None:
        """Secondary endpoint: a planned mastectomy performed as breast-conserving surgery."""
        if not self.planned_surgery_type or not self.surgery_type:
            return None
        return (
            self.planned_surgery_type == SurgeryType.MASTECTOMY
            and self.surgery_type == SurgeryType.BREAST_CONSERVING
        )


class VitalStatus(models.TextChoices):
    ALIVE = "alive", _("Alive")
    DEAD = "dead", _("Dead")
    LOST = "lost", _("Lost to follow-up")


class ContactMethod(models.TextChoices):
    VISIT = "visit", _("Visit")
    PHONE = "phone", _("Telephone")
    RECORDS = "records", _("Medical records")


class SurvivalContact(TrialRecord):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="survival_contacts")
    contacted_on = models.DateField(_("contact date"))
    method = models.CharField(_("method"), max_length=10, choices=ContactMethod.choices)
    vital_status = models.CharField(_("vital status"), max_length=8, choices=VitalStatus.choices)
    death_on = models.DateField(_("date of death"), null=True, blank=True)
    last_known_alive_on = models.DateField(_("last known alive"), null=True, blank=True)
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    class Meta:
        verbose_name = _("survival contact")
        verbose_name_plural = _("survival contacts")
        ordering = ["-contacted_on", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(vital_status="dead", death_on__isnull=False)
                | ~Q(vital_status="dead") & Q(death_on__isnull=True),
                name="survivalcontact_death_date",
            ),
            models.CheckConstraint(
                condition=Q(death_on__isnull=True) | Q(death_on__lte=models.F("contacted_on")),
                name="survivalcontact_death_before_contact",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contacted_on} {self.vital_status}"
