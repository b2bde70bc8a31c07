"""A design's life after generation: activation seals it, retirement ends it, and every view
of its list by a central reader is logged."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from randomization.exceptions import (
    DesignAlreadyActive,
    DesignNotActive,
    DesignNotDraft,
    ListHashMismatch,
)
from randomization.models import Design, DesignStatus, ListEntry, Method, MinimizationDraw
from randomization.rules.blocks import BlockEntry, BlockList, list_digest
from trial.models import Role
from trial.selectors.access import require_role
from trial.services.audit import audit_event_record, tracked_save

from .designs import STATISTICIAN_ONLY, draws_digest

LIST_READERS = frozenset({Role.STATISTICIAN, Role.DATA_MANAGER})


def stored_list_digest(design: Design) -> str:
    """The SHA-256 of the design's content as stored now (list entries or draws)."""
    if design.method == Method.MINIMIZATION:
        numerators = MinimizationDraw.objects.filter(design=design).order_by("sequence_number")
        return draws_digest(numerators.values_list("draw_53bit", flat=True).iterator())
    rows = ListEntry.objects.filter(design=design).values_list(
        "stratum", "sequence_number", "arm", "block_number", "block_size"
    )
    return list_digest(BlockList(entries=tuple(BlockEntry(*row) for row in rows.iterator())))


def design_activate(*, design: Design, by: Any) -> Design:
    """Activate a draft design: from now on its list is sealed and allocations use it.

    The stored content is re-hashed and must match the digest recorded at generation.
    Errors: role_not_allowed (only a statistician), design_not_draft, design_already_active
    (another design of the protocol is active), list_hash_mismatch.
    """
    require_role(by, STATISTICIAN_ONLY)
    try:
        with transaction.atomic(durable=True):
            # Lock the design: concurrent activations or retirements must see one status.
            locked = Design.objects.select_for_update().get(pk=design.pk)
            if locked.status != DesignStatus.DRAFT:
                raise DesignNotDraft(details={"status": locked.status})
            others = Design.objects.filter(protocol_id=locked.protocol_id, status="active")
            if others.exists():
                raise DesignAlreadyActive()
            actual = stored_list_digest(locked)
            if actual != locked.list_sha256:
                raise ListHashMismatch(details={"recorded": locked.list_sha256, "stored": actual})
            locked.status = DesignStatus.ACTIVE
            locked.activated_by = by
            locked.activated_at = timezone.now()
            tracked_save(
                locked,
                by=by,
                reason="activated by the statistician",
                update_fields=["status", "activated_by", "activated_at"],
            )
            audit_event_record(
                action="randomization_design_activated",
                actor=by,
                obj=locked,
                details={"design_version": locked.number, "list_sha256": locked.list_sha256},
            )
            return locked
    except IntegrityError as exc:  # the partial unique index: a concurrent activation won
        raise DesignAlreadyActive() from exc


def design_retire(*, design: Design, by: Any, reason: str) -> Design:
    """Retire a draft or active design (its allocations stay). Errors: role_not_allowed,
    design_not_active (already retired), reason_required."""
    require_role(by, STATISTICIAN_ONLY)
    with transaction.atomic(durable=True):
        # Lock the design: an activation running now must not be overwritten.
        locked = Design.objects.select_for_update().get(pk=design.pk)
        if locked.status == DesignStatus.RETIRED:
            raise DesignNotActive(details={"status": locked.status})
        locked.status = DesignStatus.RETIRED
        locked.retired_at = timezone.now()
        tracked_save(locked, by=by, reason=reason, update_fields=["status", "retired_at"])
        audit_event_record(
            action="randomization_design_retired",
            actor=by,
            obj=locked,
            details={"design_version": locked.number, "reason": reason},
        )
        return locked


def design_list_open(*, design: Design, by: Any, purpose: str) -> None:
    """Record that a central reader opened the design's list (or draws). Call it before
    returning any list content, from every route (API, admin, command).

    Errors: role_not_allowed for anyone but a statistician or a data manager.
    """
    require_role(by, LIST_READERS)
    with transaction.atomic(durable=True):
        audit_event_record(
            action="randomization_list_viewed",
            actor=by,
            obj=design,
            details={"design_version": design.number, "purpose": purpose},
        )
