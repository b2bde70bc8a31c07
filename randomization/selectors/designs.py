"""Reads of designs and their sealed lists: central readers only (statistician, data
manager). Site staff never reach these; the sponsor sees the balance counts instead."""

from __future__ import annotations

from django.db.models import Count, QuerySet, Sum

from randomization.models import Design, ListEntry, MinimizationDraw
from trial.exceptions import NotFound
from trial.models import Role
from trial.selectors.access import User, require_role

LIST_READERS = frozenset({Role.STATISTICIAN, Role.DATA_MANAGER})
# What central readers see of a design (API and admin): parameters, digests, who and when.
DESIGN_FIELDS = (
    "protocol",
    "protocol_version",
    "number",
    "method",
    "source",
    "algorithm_version",
    "arms",
    "ratio",
    "block_sizes",
    "factors",
    "weights",
    "p_preferred",
    "measure",
    "length",
    "seed_sha256",
    "list_sha256",
    "status",
    "created_by",
    "created_at",
    "activated_by",
    "activated_at",
    "retired_at",
)


def design_list(*, user: User | None) -> QuerySet[Design]:
    """Every design with its allocation progress; role_not_allowed for anyone else."""
    require_role(user, LIST_READERS)
    return (
        Design.objects.select_related("protocol", "protocol_version", "created_by", "activated_by")
        .annotate(
            allocated=Sum("cursors__allocated"),
            capacity=Sum("cursors__length"),
            strata=Count("cursors"),
        )
        .order_by("protocol__code", "-number")
    )


def design_get(*, user: User | None, design_id: int) -> Design:
    design = design_list(user=user).filter(pk=design_id).first()
    if design is None:
        raise NotFound()
    return design


def design_entries(*, design: Design) -> QuerySet[ListEntry]:
    """The list in canonical order (stratum, sequence). Log the view first
    (``randomization.services.lifecycle.design_list_open``)."""
    return ListEntry.objects.filter(design=design).order_by("stratum", "sequence_number")


def design_draws(*, design: Design) -> QuerySet[MinimizationDraw]:
    return MinimizationDraw.objects.filter(design=design).order_by("sequence_number")
