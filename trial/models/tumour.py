"""RECIST 1.1 tumour assessments (investigator) with their target lesions.

The response is computed by ``trial.rules.recist`` and stored with the sums it used: the
baseline sum, the nadir (smallest sum on study before this assessment, baseline included) and
the changes. A baseline assessment has no response.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .base import TrialRecord, history_reason_field
from .patients import Patient
from .treatment import TreatmentLine


class Modality(models.TextChoices):
    CT = "CT", _("CT")
    MRI = "MRI", _("MRI")
    BONE_SCAN = "bone_scan", _("Bone scan")
    PET_CT = "PET_CT", _("PET-CT")


class NonTarget(models.TextChoices):
    CR = "cr", _("Complete response")
    NON_CR_NON_PD = "non_cr_non_pd", _("Non-CR / non-PD")
    PD = "pd", _("Unequivocal progression")
    NE = "ne", _("Not evaluated")
    ABSENT = "absent", _("No non-target lesions")


class OverallResponse(models.TextChoices):
    CR = "cr", _("Complete response")
    PR = "pr", _("Partial response")
    SD = "sd", _("Stable disease")
    PD = "pd", _("Progressive disease")
    NE = "ne", _("Not evaluable")
    NON_CR_NON_PD = "non_cr_non_pd", _("Non-CR / non-PD")


class TumourAssessment(TrialRecord):
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="tumour_assessments"
    )
    line = models.ForeignKey(
        TreatmentLine, on_delete=models.PROTECT, related_name="tumour_assessments"
    )
    assessed_on = models.DateField(_("assessment date"))
    modality = models.CharField(_("modality"), max_length=12, choices=Modality.choices)
    is_baseline = models.BooleanField(_("baseline"), default=False)
    new_lesions = models.BooleanField(_("new lesions"), default=False)
    non_target = models.CharField(_("non-target lesions"), max_length=16, choices=NonTarget.choices)
    sum_mm = models.DecimalField(
        _("sum of diameters (mm)"), max_digits=8, decimal_places=1, null=True, blank=True
    )
    baseline_sum_mm = models.DecimalField(
        _("baseline sum (mm)"), max_digits=8, decimal_places=1, null=True, blank=True
    )
    nadir_sum_mm = models.DecimalField(
        _("nadir sum (mm)"), max_digits=8, decimal_places=1, null=True, blank=True
    )
    change_from_baseline_pct = models.DecimalField(
        _("change from baseline (%)"), max_digits=8, decimal_places=2, null=True, blank=True
    )
    change_from_nadir_pct = models.DecimalField(
        _("change from nadir (%)"), max_digits=8, decimal_places=2, null=True, blank=True
    )
    target_response = models.CharField(
        _("target response"), max_length=16, choices=OverallResponse.choices, blank=True
    )
    overall_response = models.CharField(
        _("overall response"), max_length=16, choices=OverallResponse.choices, blank=True
    )
    reason_code = models.CharField(_("reason code"), max_length=40, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    class Meta:
        verbose_name = _("tumour assessment")
        verbose_name_plural = _("tumour assessments")
        ordering = ["-assessed_on", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(is_baseline=True, overall_response="")
                | Q(is_baseline=False) & ~Q(overall_response=""),
                name="tumourassessment_response_unless_baseline",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "assessed_on"], name="tumour_patient_date"),
            models.Index(fields=["line", "overall_response"], name="tumour_line_response"),
        ]

    def __str__(self) -> str:
        return f"{self.assessed_on} {self.overall_response or 'baseline'}"

    @property
    def progression(self) -> bool:
        return self.overall_response == OverallResponse.PD


class TargetLesion(TrialRecord):
    """One target lesion at one assessment; ``lesion_number`` identifies it across assessments."""

    assessment = models.ForeignKey(
        TumourAssessment, on_delete=models.PROTECT, related_name="target_lesions"
    )
    lesion_number = models.PositiveSmallIntegerField(_("lesion number"))
    location = models.CharField(_("anatomical location"), max_length=80)
    is_lymph_node = models.BooleanField(_("lymph node"), default=False)
    diameter_mm = models.DecimalField(
        _("diameter (mm)"),
        max_digits=6,
        decimal_places=1,
        null=True,
        blank=True,
        help_text=_("Longest diameter, or short axis for a lymph node; empty if not assessed."),
    )
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    class Meta:
        verbose_name = _("target lesion")
        verbose_name_plural = _("target lesions")
        ordering = ["assessment", "lesion_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["assessment", "lesion_number"], name="targetlesion_unique_number"
            ),
            models.CheckConstraint(
                condition=Q(diameter_mm__isnull=True) | Q(diameter_mm__gte=0),
                name="targetlesion_diameter_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.lesion_number} {self.location}"
