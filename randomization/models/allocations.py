"""Allocations: one sealed row per randomized patient."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from trial.models import Patient, TreatmentLine, TrialRecord, TumourAssessment
from trial.models.base import history_reason_field

from .base import SealedManager, SealedMixin
from .designs import Design, ListEntry


class Allocation(SealedMixin, TrialRecord):
    """A patient's allocation to an arm; ``created_by`` is the investigator who randomized.

    ``sequence_scope`` is the list the ``sequence_number`` counts in: the patient's stratum for
    permuted blocks (so the unique constraint is one allocation per design, stratum and
    sequence number), ``all`` for minimization (the design's draw sequence). ``stratum`` is
    always the patient's stratum key and ``levels`` their factor levels at allocation.
    Sealed: the code refuses to update or delete it, and on PostgreSQL a trigger refuses too.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="allocations")
    design = models.ForeignKey(Design, on_delete=models.PROTECT, related_name="allocations")
    stratum = models.CharField(_("stratum"), max_length=200)
    levels = models.JSONField(_("stratification levels at allocation"))
    sequence_scope = models.CharField(_("sequence scope"), max_length=200)
    sequence_number = models.PositiveIntegerField(_("sequence number"))
    arm = models.CharField(_("arm"), max_length=20)
    list_entry = models.OneToOneField(
        ListEntry,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="allocation",
        verbose_name=_("list entry"),
    )
    minimization = models.JSONField(
        _("minimization scores and draw"),
        null=True,
        blank=True,
        help_text=_("Imbalance scores per arm, preferred arms, the draw and the probabilities."),
    )
    allocated_on = models.DateField(_("allocation date"))
    idempotency_key = models.CharField(_("idempotency key"), max_length=100)

    objects = SealedManager()
    # The list entry is central-only (its id locates the slot in the sealed list): keep it out
    # of the history that site staff read in the patient's audit trail.
    history = HistoricalRecords(
        history_change_reason_field=history_reason_field(), excluded_fields=["list_entry"]
    )

    class Meta:
        verbose_name = _("allocation")
        verbose_name_plural = _("allocations")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["patient"], name="allocation_one_per_patient"),
            models.UniqueConstraint(
                fields=["design", "sequence_scope", "sequence_number"],
                name="allocation_unique_sequence",
            ),
            models.UniqueConstraint(
                fields=["idempotency_key"], name="allocation_unique_idempotency_key"
            ),
            models.CheckConstraint(
                condition=Q(sequence_number__gte=1), name="allocation_sequence_positive"
            ),
            models.CheckConstraint(
                condition=Q(list_entry__isnull=False, minimization__isnull=True)
                | Q(list_entry__isnull=True, minimization__isnull=False),
                name="allocation_one_source",
            ),
        ]
        indexes = [models.Index(fields=["design", "stratum", "arm"], name="allocation_balance")]

    def __str__(self) -> str:
        return f"{self.patient_id}: arm {self.arm} ({self.stratum} #{self.sequence_number})"


class Crossover(TrialRecord):
    """Step 3: an Arm A patient's switch to fulvestrant + palbociclib after recorded RECIST
    progression (DOMAIN.md 1.3; section 7 rule 23). ``created_by`` is the investigator."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="crossovers")
    allocation = models.ForeignKey(Allocation, on_delete=models.PROTECT, related_name="crossovers")
    progression = models.ForeignKey(
        TumourAssessment,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("progression assessment"),
    )
    line = models.ForeignKey(
        TreatmentLine, on_delete=models.PROTECT, related_name="+", verbose_name=_("new line")
    )
    decided_on = models.DateField(_("decision date"))
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    class Meta:
        verbose_name = _("crossover")
        verbose_name_plural = _("crossovers")
        ordering = ["-decided_on"]
        constraints = [
            models.UniqueConstraint(fields=["patient"], name="crossover_one_per_patient"),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id}: crossover on {self.decided_on}"
