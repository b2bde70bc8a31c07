"""Safety data: blood counts graded by CTCAE and adverse events with the SAE reporting clock.

Blood count values are stored in canonical SI units (G/L, g/L) next to the values and units as
entered (DOMAIN.md section 7 rule 14); each term's grade is stored with the CTCAE version that
produced it (rule 15). Per-term grade columns make PADA-1's Step 1 co-primary endpoint (grade
>= 3 haematological toxicity, DOMAIN.md 1.6) a plain indexed query.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .base import TrialRecord, history_reason_field
from .cycles import Cycle
from .patients import Patient
from .treatment import TreatmentLine


def _count_field(label: str) -> models.DecimalField:
    return models.DecimalField(label, max_digits=12, decimal_places=4, null=True, blank=True)


def _grade_field(label: str) -> models.PositiveSmallIntegerField:
    return models.PositiveSmallIntegerField(label, null=True, blank=True)


class BloodCount(TrialRecord):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="blood_counts")
    line = models.ForeignKey(TreatmentLine, on_delete=models.PROTECT, related_name="blood_counts")
    cycle = models.ForeignKey(
        Cycle, on_delete=models.PROTECT, null=True, blank=True, related_name="blood_counts"
    )
    cycle_number = models.PositiveSmallIntegerField(_("cycle"))
    cycle_day = models.PositiveSmallIntegerField(_("cycle day"))
    drawn_on = models.DateField(_("drawn on"))
    anc_g_per_l = _count_field(_("neutrophils (G/L)"))
    wbc_g_per_l = _count_field(_("white blood cells (G/L)"))
    platelets_g_per_l = _count_field(_("platelets (G/L)"))
    haemoglobin_g_per_l = _count_field(_("haemoglobin (g/L)"))
    lymphocytes_g_per_l = _count_field(_("lymphocytes (G/L)"))
    entered = models.JSONField(_("values and units as entered"))
    lln = models.JSONField(_("lower limits of normal used (canonical units)"))
    temperature_c = models.DecimalField(
        _("temperature (C)"), max_digits=4, decimal_places=1, null=True, blank=True
    )
    fever = models.BooleanField(_("fever at or above the label threshold"), default=False)
    infection = models.BooleanField(_("infection"), default=False)
    lymphopenia_clinical_event = models.BooleanField(
        _("lymphopenia with an associated clinical event"), default=False
    )
    ctcae_version = models.CharField(_("CTCAE version"), max_length=8)
    grades = models.JSONField(_("grades per term"))
    anc_grade = _grade_field(_("neutrophil count decreased grade"))
    wbc_grade = _grade_field(_("white blood cell decreased grade"))
    platelets_grade = _grade_field(_("platelet count decreased grade"))
    haemoglobin_grade = _grade_field(_("anemia grade"))
    lymphocytes_grade = _grade_field(_("lymphocyte count decreased grade"))
    worst_grade = models.PositiveSmallIntegerField(_("worst grade (dose-rule terms)"))
    worst_term = models.CharField(_("worst term"), max_length=40, blank=True)
    haem_max_grade = models.PositiveSmallIntegerField(
        _("worst haematological grade (all terms)"), db_index=True
    )
    proposed_action = models.CharField(_("proposed action"), max_length=48)
    proposed_reason = models.TextField(_("proposal reason"))
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    class Meta:
        verbose_name = _("blood count")
        verbose_name_plural = _("blood counts")
        ordering = ["-drawn_on", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(worst_grade__lte=4) & Q(haem_max_grade__lte=4),
                name="bloodcount_grade_range",
            ),
        ]
        indexes = [models.Index(fields=["line", "cycle_number"], name="bloodcount_line_cycle")]

    def __str__(self) -> str:
        return f"{self.patient_id} C{self.cycle_number}D{self.cycle_day} ({self.drawn_on})"


class Attribution(models.TextChoices):
    UNRELATED = "unrelated", _("Unrelated")
    UNLIKELY = "unlikely", _("Unlikely")
    POSSIBLE = "possible", _("Possible")
    PROBABLE = "probable", _("Probable")
    DEFINITE = "definite", _("Definite")


class AdverseEvent(TrialRecord):
    """An adverse event; a serious one starts the sponsor reporting clock when recorded."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="adverse_events")
    line = models.ForeignKey(
        TreatmentLine,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="adverse_events",
    )
    term = models.CharField(_("CTCAE term"), max_length=120)
    grade = models.PositiveSmallIntegerField(_("CTCAE grade"))
    ctcae_version = models.CharField(_("CTCAE version"), max_length=8)
    onset_on = models.DateField(_("onset"))
    resolved_on = models.DateField(_("resolution"), null=True, blank=True)
    attribution = models.CharField(
        _("attribution to study treatment"), max_length=12, choices=Attribution.choices
    )
    serious = models.BooleanField(_("serious"), default=False)
    description = models.TextField(_("description"), blank=True)
    sae_clock_started_at = models.DateTimeField(_("SAE clock started"), null=True, blank=True)
    sae_report_due_at = models.DateTimeField(_("SAE report due"), null=True, blank=True)
    sae_reported_at = models.DateTimeField(_("SAE reported to sponsor"), null=True, blank=True)
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    class Meta:
        verbose_name = _("adverse event")
        verbose_name_plural = _("adverse events")
        ordering = ["-onset_on", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(grade__gte=1) & Q(grade__lte=5), name="adverseevent_grade_range"
            ),
            models.CheckConstraint(
                condition=Q(resolved_on__isnull=True) | Q(resolved_on__gte=models.F("onset_on")),
                name="adverseevent_resolution_after_onset",
            ),
            models.CheckConstraint(
                condition=Q(serious=False)
                | Q(sae_clock_started_at__isnull=False, sae_report_due_at__isnull=False),
                name="adverseevent_serious_has_clock",
            ),
        ]
        indexes = [
            models.Index(
                fields=["sae_report_due_at"],
                condition=Q(serious=True, sae_reported_at__isnull=True),
                name="adverseevent_sae_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.term} G{self.grade}"
