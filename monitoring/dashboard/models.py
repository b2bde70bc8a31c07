"""Export jobs: a large export prepared by a Celery worker, its progress and its file.

A job is bookkeeping, not a clinical record: it is never deleted (the audit trail points at
it) and its progress columns are written by conditional UPDATEs (claim, heartbeat, finish), so
it carries no simple-history table. Who exported what, when, is recorded as audit events
(``trial.services.audit.audit_event_record``) when the job is requested and when it finishes.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from trial.models import HardDeleteForbidden
from trial.models.base import NoDeleteManager


class ExportKind(models.TextChoices):
    """What is exported: one CSV per clinical domain, or the CDISC ODM 1.3.2 XML."""

    PATIENTS = "patients", _("Patients (CSV)")
    ELIGIBILITY = "eligibility", _("Eligibility (CSV)")
    TREATMENT = "treatment", _("Treatment lines and cycles (CSV)")
    BLOOD_COUNTS = "blood_counts", _("Blood counts (CSV)")
    ADVERSE_EVENTS = "adverse_events", _("Adverse events (CSV)")
    TUMOUR_ASSESSMENTS = "tumour_assessments", _("Tumour assessments (CSV)")
    QOL = "qol", _("Quality of life (CSV)")
    CTDNA = "ctdna", _("ctDNA results (CSV)")
    RANDOMIZATION = "randomization", _("Randomization (CSV)")
    ODM = "odm", _("CDISC ODM 1.3.2 XML with audit records")


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class ExportJob(models.Model):
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="export_jobs",
        verbose_name=_("requested by"),
    )
    kind = models.CharField(_("export"), max_length=24, choices=ExportKind.choices)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    scope = models.JSONField(
        _("scope at request"),
        default=dict,
        blank=True,
        help_text=_("The requester's role and visible sites when the export was requested."),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    rows_total = models.PositiveIntegerField(_("rows to write"), null=True, blank=True)
    rows_done = models.PositiveIntegerField(_("rows written"), default=0)
    file_name = models.CharField(_("file name"), max_length=200, blank=True)
    file_path = models.CharField(
        _("file path (under the export directory)"), max_length=300, blank=True
    )
    sha256 = models.CharField(_("SHA-256 of the file"), max_length=64, blank=True)
    size_bytes = models.PositiveBigIntegerField(_("size (bytes)"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last progress at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    objects = NoDeleteManager()

    class Meta:
        verbose_name = _("export job")
        verbose_name_plural = _("export jobs")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="done")
                | (
                    Q(finished_at__isnull=False, size_bytes__isnull=False)
                    & ~Q(sha256="")
                    & ~Q(file_path="")
                ),
                name="exportjob_done_has_file",
            ),
            models.CheckConstraint(
                condition=Q(rows_total__isnull=True) | Q(rows_done__lte=models.F("rows_total")),
                name="exportjob_progress_bounded",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "failed"]) | Q(started_at__isnull=False),
                name="exportjob_started_unless_queued",
            ),
        ]
        indexes = [
            models.Index(fields=["requested_by", "-created_at"], name="exportjob_requester"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    def delete(self, *args, **kwargs):  # noqa: ARG002
        raise HardDeleteForbidden("export jobs are never deleted")

    @property
    def progress_pct(self) -> int:
        if self.status == ExportStatus.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(100, int(100 * self.rows_done / self.rows_total))
