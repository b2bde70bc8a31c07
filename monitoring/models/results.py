"""What labs send and what the trial stores of it: submissions, results, variants.

All three are write-once (:class:`~monitoring.models.base.ImmutableRecord`, and a PostgreSQL
trigger). A correction is an amendment: a new result row for the same (lab, sample) with the
next ``version``, pointing at the original and carrying the reason.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from trial.models import Patient
from trial.models.base import history_reason_field

from .base import ImmutableRecord
from .labs import Lab
from .samples import Sample


class Channel(models.TextChoices):
    JSON = "json", _("JSON result")
    BATCH = "batch", _("JSON batch")
    FHIR = "fhir", _("FHIR Bundle")
    AMENDMENT = "amendment", _("Amendment")


class SampleStatus(models.TextChoices):
    REPORTED = "reported", _("Reported")
    FAILED = "failed", _("Failed")


class PatientCtdnaStatus(models.TextChoices):
    NOT_DETECTED = "not_detected", _("Not detected")
    DETECTED_STABLE = "detected_stable", _("Detected, stable")
    RISING = "rising", _("Rising")


class NextAction(models.TextChoices):
    NONE = "none", _("None")
    REDRAW_REQUESTED = "redraw_requested", _("Redraw requested")
    IMAGING_REQUIRED = "imaging_required", _("Imaging required")


class VariantChange(models.TextChoices):
    BASELINE = "baseline", _("Baseline (first reported sample)")
    NEW = "new", _("New")
    INCREASED = "increased", _("Increased")
    STABLE = "stable", _("Stable")
    DECREASED = "decreased", _("Decreased")


class LabSubmission(ImmutableRecord):
    """One HTTP request body a lab posted, kept verbatim with its SHA-256."""

    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="submissions")
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    media_type = models.CharField(_("media type"), max_length=100)
    body = models.TextField(_("body as received"))
    body_sha256 = models.CharField(_("SHA-256 of the body"), max_length=64)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("lab submission")
        verbose_name_plural = _("lab submissions")
        ordering = ["-received_at", "-pk"]
        # The admin list's order: its first page is read off the index, not a sort.
        indexes = [models.Index(fields=["-received_at", "-id"], name="submission_admin_order")]

    def __str__(self) -> str:
        return f"{self.lab.code} {self.channel} {self.received_at:%Y-%m-%d %H:%M}"


class CtdnaResult(ImmutableRecord):
    """One lab's result for one sample, with its interpretation at the time it arrived."""

    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="results")
    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="results")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="ctdna_results")
    version = models.PositiveSmallIntegerField(_("version"), default=1)
    amends = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="amendments",
        verbose_name=_("amends (original result)"),
    )
    amendment_reason = models.TextField(_("amendment reason"), blank=True)
    submission = models.ForeignKey(LabSubmission, on_delete=models.PROTECT, related_name="results")
    entry_indexes = models.JSONField(
        _("positions in the submission"),
        default=list,
        help_text=_("Item of a batch, or entries of a FHIR Bundle; empty for a single result."),
    )
    payload = models.JSONField(_("result as received"))
    content_sha256 = models.CharField(_("SHA-256 of the canonical content"), max_length=64)
    collected_on = models.DateField(_("collected on"))
    analysed_on = models.DateField(_("analysed on"))
    assay = models.CharField(_("assay"), max_length=32)
    status = models.CharField(_("sample status"), max_length=10, choices=SampleStatus.choices)
    failure_reason = models.TextField(_("failure reason"), blank=True)
    patient_status = models.CharField(
        _("patient ctDNA status"), max_length=20, choices=PatientCtdnaStatus.choices
    )
    next_action = models.CharField(_("next action"), max_length=20, choices=NextAction.choices)
    interpretation_reason = models.TextField(_("interpretation"))
    compared_with = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("compared with (previous reported result)"),
    )
    no_longer_detected = models.JSONField(_("no longer detected"), default=list)
    turnaround_days = models.PositiveIntegerField(_("turnaround (draw to result, days)"))
    created_at = models.DateTimeField(_("received at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("posted by"),
    )
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    class Meta:
        verbose_name = _("ctDNA result")
        verbose_name_plural = _("ctDNA results")
        ordering = ["-collected_on", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["lab", "sample"],
                condition=Q(version=1),
                name="ctdnaresult_one_per_lab_sample",
            ),
            models.UniqueConstraint(
                fields=["lab", "sample", "version"], name="ctdnaresult_unique_version"
            ),
            models.CheckConstraint(
                condition=Q(version=1, amends__isnull=True, amendment_reason="")
                | (Q(version__gt=1, amends__isnull=False) & ~Q(amendment_reason="")),
                name="ctdnaresult_amendment_shape",
            ),
            models.CheckConstraint(
                condition=Q(analysed_on__gte=F("collected_on")),
                name="ctdnaresult_analysed_after_collected",
            ),
            models.CheckConstraint(
                condition=(Q(status="failed") & ~Q(failure_reason=""))
                | Q(status="reported", failure_reason=""),
                name="ctdnaresult_failure_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "collected_on"], name="ctdnaresult_patient_date"),
            models.Index(fields=["lab", "-created_at"], name="ctdnaresult_lab_recent"),
            models.Index(fields=["-collected_on", "-id"], name="ctdnaresult_admin_order"),
        ]

    def __str__(self) -> str:
        return f"ctDNA result {self.pk} v{self.version} ({self.status})"


class CtdnaVariant(ImmutableRecord):
    """One ESR1 variant of a reported result, classified against the previous result."""

    result = models.ForeignKey(CtdnaResult, on_delete=models.PROTECT, related_name="variants")
    position = models.PositiveSmallIntegerField(_("position in the result"))
    gene = models.CharField(_("gene"), max_length=16)
    protein_change = models.CharField(_("protein change (normalised HGVS)"), max_length=32)
    protein_change_reported = models.CharField(_("protein change as reported"), max_length=64)
    vaf = models.FloatField(_("variant allele fraction (0-1)"), null=True, blank=True)
    copies_per_ml = models.FloatField(_("copies/mL of plasma"), null=True, blank=True)
    in_panel = models.BooleanField(_("in the protocol's panel"))
    change = models.CharField(_("change"), max_length=10, choices=VariantChange.choices)
    previous_vaf = models.FloatField(_("previous VAF"), null=True, blank=True)
    previous_copies_per_ml = models.FloatField(_("previous copies/mL"), null=True, blank=True)
    reason = models.TextField(_("reason"))
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    class Meta:
        verbose_name = _("ctDNA variant")
        verbose_name_plural = _("ctDNA variants")
        ordering = ["result", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["result", "protein_change"], name="ctdnavariant_unique_change"
            ),
            models.UniqueConstraint(
                fields=["result", "position"], name="ctdnavariant_unique_position"
            ),
            models.CheckConstraint(
                condition=Q(vaf__isnull=True) | Q(vaf__gte=0, vaf__lte=1),
                name="ctdnavariant_vaf_fraction",
            ),
            models.CheckConstraint(
                condition=Q(copies_per_ml__isnull=True) | Q(copies_per_ml__gte=0),
                name="ctdnavariant_copies_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(vaf__isnull=False) | Q(copies_per_ml__isnull=False),
                name="ctdnavariant_has_measurement",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.gene} {self.protein_change} ({self.change})"
