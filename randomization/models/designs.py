"""Randomization designs and their sealed contents: list entries, minimization draws, cursors.

A design is built from a protocol version (arms, ratio, stratification factors, method) and a
statistician's seed, stored only as its SHA-256. Its content (the list, or the minimization
draws) is written once while the design is a draft; activation seals it. Nothing here is
visible to site staff (concealment is applied in the selectors, API and admin).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from trial.models import HardDeleteForbidden, Protocol, ProtocolVersion, TrialRecord
from trial.models.base import NoDeleteManager, history_reason_field

from .base import SealedManager, SealedMixin

TWO_POW_53 = 1 << 53


class Method(models.TextChoices):
    PERMUTED_BLOCKS = "permuted_blocks", _("Stratified permuted blocks")
    MINIMIZATION = "minimization", _("Pocock-Simon minimization")


class DesignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    RETIRED = "retired", _("Retired")


class DesignSource(models.TextChoices):
    GENERATED = "generated", _("Generated from a seed")
    IMPORTED = "imported", _("Imported list")


class Design(TrialRecord):
    protocol = models.ForeignKey(
        Protocol, on_delete=models.PROTECT, related_name="randomization_designs"
    )
    protocol_version = models.ForeignKey(
        ProtocolVersion, on_delete=models.PROTECT, related_name="randomization_designs"
    )
    number = models.PositiveIntegerField(_("design version"))
    method = models.CharField(_("method"), max_length=20, choices=Method.choices)
    source = models.CharField(_("source"), max_length=20, choices=DesignSource.choices)
    algorithm_version = models.CharField(_("algorithm version"), max_length=64)
    arms = models.JSONField(_("arm codes, in protocol order"))
    ratio = models.JSONField(_("allocation ratio per arm"))
    block_sizes = models.JSONField(_("block sizes"), default=list, blank=True)
    factors = models.JSONField(_("stratification factors and levels"), default=list)
    weights = models.JSONField(_("minimization weights"), default=dict, blank=True)
    p_preferred = models.FloatField(_("probability of the preferred arm"), null=True, blank=True)
    measure = models.CharField(_("imbalance measure"), max_length=20, blank=True)
    length = models.PositiveIntegerField(
        _("entries per stratum or draws"),
        null=True,
        blank=True,
        help_text=_("Null for an imported list: each stratum's cursor holds its length."),
    )
    seed_sha256 = models.CharField(_("seed SHA-256"), max_length=64, blank=True)
    list_sha256 = models.CharField(_("list SHA-256"), max_length=64)
    status = models.CharField(
        _("status"), max_length=20, choices=DesignStatus.choices, default=DesignStatus.DRAFT
    )
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("activated by"),
    )
    activated_at = models.DateTimeField(_("activated at"), null=True, blank=True)
    retired_at = models.DateTimeField(_("retired at"), null=True, blank=True)
    history = HistoricalRecords(history_change_reason_field=history_reason_field())

    class Meta:
        verbose_name = _("randomization design")
        verbose_name_plural = _("randomization designs")
        ordering = ["protocol__code", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["protocol"],
                condition=Q(status="active"),
                name="design_one_active_per_protocol",
            ),
            models.UniqueConstraint(fields=["protocol", "number"], name="design_unique_number"),
            models.CheckConstraint(
                condition=Q(status="draft", activated_at__isnull=True)
                | Q(status="active", activated_at__isnull=False, activated_by__isnull=False)
                | Q(status="retired", retired_at__isnull=False),
                name="design_status_dates",
            ),
            models.CheckConstraint(
                condition=Q(p_preferred__isnull=True) | Q(p_preferred__gte=0.5, p_preferred__lte=1),
                name="design_p_preferred_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.protocol.code} design v{self.number} ({self.method}, {self.status})"

    def factor_codes(self) -> tuple[str, ...]:
        return tuple(f["code"] for f in self.factors)

    def factor_levels(self) -> dict[str, tuple[str, ...]]:
        return {f["code"]: tuple(f["levels"]) for f in self.factors}

    def ratio_in_arm_order(self) -> dict[str, int]:
        return {arm: int(self.ratio[arm]) for arm in self.arms}


class ListEntry(SealedMixin, models.Model):
    """One slot of a permuted-block list: the ``sequence_number``-th allocation of a stratum."""

    design = models.ForeignKey(Design, on_delete=models.PROTECT, related_name="entries")
    stratum = models.CharField(_("stratum"), max_length=200)
    sequence_number = models.PositiveIntegerField(_("sequence number"))
    arm = models.CharField(_("arm"), max_length=20)
    block_number = models.PositiveIntegerField(_("block number"))
    block_size = models.PositiveIntegerField(_("block size"))

    objects = SealedManager()

    class Meta:
        verbose_name = _("randomization list entry")
        verbose_name_plural = _("randomization list entries")
        ordering = ["design", "stratum", "sequence_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["design", "stratum", "sequence_number"], name="listentry_unique_slot"
            ),
            models.CheckConstraint(
                condition=Q(sequence_number__gte=1), name="listentry_sequence_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.design_id}/{self.stratum}#{self.sequence_number}"


class MinimizationDraw(SealedMixin, models.Model):
    """The uniform draw used by the design's ``sequence_number``-th minimization allocation,
    stored as the integer ``k`` of ``k / 2**53`` so it is exact in every language."""

    design = models.ForeignKey(Design, on_delete=models.PROTECT, related_name="draws")
    sequence_number = models.PositiveIntegerField(_("sequence number"))
    draw_53bit = models.BigIntegerField(_("draw numerator (of 2^53)"))

    objects = SealedManager()

    class Meta:
        verbose_name = _("minimization draw")
        verbose_name_plural = _("minimization draws")
        ordering = ["design", "sequence_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["design", "sequence_number"], name="minimizationdraw_unique_slot"
            ),
            models.CheckConstraint(
                condition=Q(draw_53bit__gte=0) & Q(draw_53bit__lt=TWO_POW_53),
                name="minimizationdraw_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.design_id}/draw#{self.sequence_number}"

    @property
    def draw(self) -> float:
        return self.draw_53bit / TWO_POW_53


class StratumCursor(models.Model):
    """How far a stratum's list (or, for minimization, the design's draw sequence, stratum
    ``all``) has been consumed. Locked by every allocation in its stratum, so allocations
    follow list order exactly and the sequence never has gaps."""

    design = models.ForeignKey(Design, on_delete=models.PROTECT, related_name="cursors")
    stratum = models.CharField(_("stratum"), max_length=200)
    length = models.PositiveIntegerField(_("list length"))
    allocated = models.PositiveIntegerField(_("allocated"), default=0)

    objects = NoDeleteManager()

    class Meta:
        verbose_name = _("stratum cursor")
        verbose_name_plural = _("stratum cursors")
        ordering = ["design", "stratum"]
        constraints = [
            models.UniqueConstraint(fields=["design", "stratum"], name="cursor_unique_stratum"),
            models.CheckConstraint(
                condition=Q(allocated__lte=models.F("length")), name="cursor_within_list"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.design_id}/{self.stratum}: {self.allocated}/{self.length}"

    def delete(self, *args, **kwargs):  # noqa: ARG002
        raise HardDeleteForbidden("cursors are never deleted")
