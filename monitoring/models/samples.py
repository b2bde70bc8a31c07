"""Blood draws for ctDNA: the tube label the lab quotes, the patient, the draw date."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from trial.models import Patient, TrialRecord
from trial.models.base import history_reason_field

SAMPLE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class Sample(TrialRecord):
    """One blood draw recorded by site staff against the patient's ctDNA schedule.

    ``first_result_on`` and ``turnaround_days`` are filled when the first result arrives: the
    draw-to-result turnaround is tracked for every sample (DOMAIN.md 1.4 [C:S7], rule 17).
    """

    sample_id = models.CharField(_("sample id (tube label)"), max_length=64, unique=True)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="ctdna_samples")
    drawn_on = models.DateField(_("draw date"))
    first_result_on = models.DateField(_("first result date"), null=True, blank=True)
    turnaround_days = models.PositiveIntegerField(
        _("turnaround (draw to result, days)"), null=True, blank=True
    )
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    class Meta:
        verbose_name = _("ctDNA sample")
        verbose_name_plural = _("ctDNA samples")
        ordering = ["-drawn_on", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(sample_id__regex=SAMPLE_ID_PATTERN), name="sample_id_format"
            ),
            models.CheckConstraint(
                condition=Q(first_result_on__isnull=True)
                | Q(first_result_on__gte=F("drawn_on"), turnaround_days__isnull=False),
                name="sample_result_after_draw",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "drawn_on"], name="sample_patient_drawn"),
            # The admin list's order: its first page is read off the index, not a sort.
            models.Index(fields=["-drawn_on", "-id"], name="sample_admin_order"),
        ]

    def __str__(self) -> str:
        return self.sample_id
