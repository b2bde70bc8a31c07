"""Cycles of a treatment line and the palbociclib dose decisions that change them.

A cycle row exists once a cycle has started, or earlier when its start is delayed or held.
The planned CnD1 is the actual C(n-1)D1 plus the cycle length (DOMAIN.md 1.2, section 7 rule
1); a cycle never starts while a hold is open. Dose decisions are proposed by the pure
IBRANCE label rules (``trial.rules.palbociclib``) from a blood count or a non-haematological
adverse event, then confirmed by an investigator's electronic signature; a confirmed dose
applies from the next cycle.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .base import TrialRecord, history_reason_field
from .treatment import TreatmentLine

# Palbociclib dose levels (IBRANCE label Table 1) and 0 for "palbociclib discontinued".
DOSE_LEVEL_VALUES = [0, 75, 100, 125]


class CycleStatus(models.TextChoices):
    PLANNED = "planned", _("Planned (delayed)")
    ON_HOLD = "on_hold", _("On hold")
    STARTED = "started", _("Started")


class Cycle(TrialRecord):
    line = models.ForeignKey(TreatmentLine, on_delete=models.PROTECT, related_name="cycles")
    number = models.PositiveSmallIntegerField(_("cycle number"))
    planned_d1 = models.DateField(_("planned D1"))
    started_on = models.DateField(_("actual D1"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=CycleStatus.choices)
    palbociclib_dose_mg = models.PositiveSmallIntegerField(
        _("palbociclib dose (mg/day)"), null=True, blank=True
    )
    dose_decision = models.ForeignKey(
        "trial.DoseDecision",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("dose decision applied"),
    )
    dose_change_reason = models.TextField(_("reason for the dose change"), blank=True)
    delay_reason = models.TextField(_("reason for the delay"), blank=True)
    hold_opened_on = models.DateField(_("hold opened on"), null=True, blank=True)
    hold_reason = models.TextField(_("reason for the hold"), blank=True)
    hold_decision = models.ForeignKey(
        "trial.DoseDecision",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("dose decision that opened the hold"),
    )
    hold_closed_on = models.DateField(_("hold closed on"), null=True, blank=True)
    hold_close_reason = models.TextField(_("reason for closing the hold"), blank=True)
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    class Meta:
        verbose_name = _("cycle")
        verbose_name_plural = _("cycles")
        ordering = ["line", "number"]
        constraints = [
            models.UniqueConstraint(fields=["line", "number"], name="cycle_unique_number"),
            models.UniqueConstraint(
                fields=["line"],
                condition=~Q(status="started"),
                name="cycle_one_pending_per_line",
            ),
            models.CheckConstraint(
                condition=Q(status="started", started_on__isnull=False)
                | (~Q(status="started") & Q(started_on__isnull=True)),
                name="cycle_started_has_date",
            ),
            models.CheckConstraint(
                condition=~Q(status="on_hold")
                | Q(hold_opened_on__isnull=False, hold_closed_on__isnull=True),
                name="cycle_hold_open_when_on_hold",
            ),
            models.CheckConstraint(
                condition=Q(hold_closed_on__isnull=True)
                | Q(hold_closed_on__gte=models.F("hold_opened_on")),
                name="cycle_hold_closes_after_opening",
            ),
            models.CheckConstraint(
                condition=Q(palbociclib_dose_mg__isnull=True)
                | Q(palbociclib_dose_mg__in=DOSE_LEVEL_VALUES),
                name="cycle_palbociclib_dose_level",
            ),
        ]

    def __str__(self) -> str:
        return f"C{self.number} ({self.get_status_display()})"

    @property
    def hold_open(self) -> bool:
        return self.status == CycleStatus.ON_HOLD


class DecisionStatus(models.TextChoices):
    PROPOSED = "proposed", _("Proposed, awaiting the investigator")
    CONFIRMED = "confirmed", _("Confirmed (signed)")
    SUPERSEDED = "superseded", _("Superseded by a later proposal")


class SignatureMeaning(models.TextChoices):
    APPROVAL = "approval", _("I approve this dose decision as the responsible investigator")


class DoseDecision(TrialRecord):
    """A palbociclib dose decision: the rule's proposal and the investigator's signature.

    Its source is a blood count (Table 2) or an adverse event (Table 3, ILD), never both.

    ``proposed_next_dose_mg`` None means "discontinue"; ``confirmed_dose_mg`` 0 records a
    confirmed discontinuation. The signature (user, time, meaning) is stored with the decision
    after the investigator re-entered their password.
    """

    line = models.ForeignKey(TreatmentLine, on_delete=models.PROTECT, related_name="dose_decisions")
    blood_count = models.OneToOneField(
        "trial.BloodCount",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="dose_decision",
    )
    adverse_event = models.ForeignKey(
        "trial.AdverseEvent",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="dose_decisions",
        verbose_name=_("adverse event"),
    )
    status = models.CharField(
        _("status"), max_length=12, choices=DecisionStatus.choices, default=DecisionStatus.PROPOSED
    )
    action = models.CharField(_("proposed action"), max_length=48)
    reason_code = models.CharField(_("reason code"), max_length=48)
    reason = models.TextField(_("reason"))
    source = models.TextField(_("source"))
    current_dose_mg = models.PositiveSmallIntegerField(_("dose when proposed (mg/day)"))
    proposed_next_dose_mg = models.PositiveSmallIntegerField(
        _("proposed next dose (mg/day)"), null=True, blank=True
    )
    resume_max_grade = models.PositiveSmallIntegerField(
        _("resume at grade at most"), null=True, blank=True
    )
    other_decisions = models.JSONField(_("other rules that applied"), default=list, blank=True)
    confirmed_dose_mg = models.PositiveSmallIntegerField(
        _("confirmed dose (mg/day)"), null=True, blank=True
    )
    applies_to_cycle = models.PositiveSmallIntegerField(
        _("applies from cycle"), null=True, blank=True
    )
    signed_by = models.ForeignKey(
        "auth.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("signed by"),
    )
    signed_at = models.DateTimeField(_("signed at"), null=True, blank=True)
    signature_meaning = models.CharField(
        _("signature meaning"), max_length=20, choices=SignatureMeaning.choices, blank=True
    )
    signature_comment = models.TextField(_("investigator comment"), blank=True)
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    class Meta:
        verbose_name = _("dose decision")
        verbose_name_plural = _("dose decisions")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="confirmed")
                | Q(
                    signed_by__isnull=False,
                    signed_at__isnull=False,
                    confirmed_dose_mg__isnull=False,
                    applies_to_cycle__isnull=False,
                )
                & ~Q(signature_meaning=""),
                name="dosedecision_confirmed_is_signed",
            ),
            models.CheckConstraint(
                condition=Q(confirmed_dose_mg__isnull=True)
                | Q(confirmed_dose_mg__in=DOSE_LEVEL_VALUES),
                name="dosedecision_confirmed_dose_level",
            ),
            models.CheckConstraint(
                condition=Q(blood_count__isnull=True) | Q(adverse_event__isnull=True),
                name="dosedecision_one_source",
            ),
        ]
        indexes = [models.Index(fields=["line", "status"], name="dosedecision_line_status")]

    def __str__(self) -> str:
        return f"{self.action} ({self.get_status_display()})"
