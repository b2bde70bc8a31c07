"""Balance of allocations per arm: overall, per stratum and per factor level (margin).

The statistician and the data manager see the full report (imbalance, list use, design);
the sponsor monitor sees counts only. Nobody sees the list here. Three queries whatever the
number of allocations (designs, cursors, grouped counts).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count

from randomization.models import Allocation, Design, DesignStatus, Method, StratumCursor
from randomization.rules.blocks import UNSTRATIFIED_KEY, all_strata
from randomization.rules.simulation import spread
from trial.models import Role
from trial.selectors.access import User, require_role

FULL_READERS = frozenset({Role.STATISTICIAN, Role.DATA_MANAGER})
BALANCE_READERS = FULL_READERS | {Role.SPONSOR_MONITOR}


@dataclass
class Cell:
    """Counts per arm in one scope; ``imbalance`` and list use only in the full report."""

    scope: str
    counts: dict[str, int]
    imbalance: float | None = None
    allocated: int | None = None
    list_length: int | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"scope": self.scope, "counts": self.counts}
        if self.imbalance is not None:
            data["imbalance"] = self.imbalance
        if self.list_length is not None:
            data["allocated"] = self.allocated
            data["list_length"] = self.list_length
        return data


@dataclass
class DesignBalance:
    design: dict[str, Any]
    overall: Cell
    strata: list[Cell] = field(default_factory=list)
    margins: list[Cell] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "design": self.design,
            "overall": self.overall.as_dict(),
            "strata": [c.as_dict() for c in self.strata],
            "margins": [c.as_dict() for c in self.margins],
        }


def balance_report(*, user: User | None, protocol_code: str | None = None) -> list[DesignBalance]:
    """One section per design that is active or has allocations; role_not_allowed for site
    staff and laboratories."""
    profile = require_role(user, BALANCE_READERS)
    full = profile.role in FULL_READERS
    queryset = Design.objects.select_related("protocol", "protocol_version")
    if protocol_code:
        queryset = queryset.filter(protocol__code=protocol_code)
    designs = list(queryset)
    rows = (
        Allocation.objects.filter(design__in=designs)
        .values_list("design_id", "stratum", "arm")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[int, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for design_id, stratum, arm, n in rows:
        counts[design_id][stratum][arm] = n
    cursors: dict[int, dict[str, StratumCursor]] = defaultdict(dict)
    if full:
        for cursor in StratumCursor.objects.filter(design__in=designs):
            cursors[cursor.design_id][cursor.stratum] = cursor
    return [
        _design_balance(d, counts[d.pk], cursors[d.pk], full)
        for d in sorted(designs, key=lambda d: (d.protocol.code, -d.number))
        if d.status == DesignStatus.ACTIVE or counts[d.pk]
    ]


def _design_balance(
    design: Design,
    by_stratum: dict[str, dict[str, int]],
    cursors: dict[str, StratumCursor],
    full: bool,
) -> DesignBalance:
    ratio = design.ratio_in_arm_order()
    codes = design.factor_codes()
    levels = design.factor_levels()

    def cell(scope: str, arm_counts: dict[str, int], cursor: StratumCursor | None = None) -> Cell:
        complete = {arm: arm_counts.get(arm, 0) for arm in design.arms}
        result = Cell(scope=scope, counts=complete)
        if full:
            result.imbalance = spread(complete, ratio)
            if cursor is not None:
                result.allocated, result.list_length = cursor.allocated, cursor.length
        return result

    overall: dict[str, int] = defaultdict(int)
    margins: dict[str, dict[str, int]] = {
        f"{code}={level}": defaultdict(int) for code in codes for level in levels[code]
    }
    strata = []
    for key in all_strata(codes, levels=levels):
        arm_counts = by_stratum.get(key, {})
        strata.append(cell(key, arm_counts, cursors.get(key) if per_list_design(design) else None))
        for pair in key.split("|") if codes else ():
            for arm, n in arm_counts.items():
                margins[pair][arm] += n
        for arm, n in arm_counts.items():
            overall[arm] += n
    header: dict[str, Any] = {
        "id": design.pk,
        "protocol": design.protocol.code,
        "protocol_version": design.protocol_version.number,
        "design_version": design.number,
        "method": design.method,
        "status": design.status,
        "arms": list(design.arms),
        "ratio": ratio,
    }
    total_cursor = cursors.get(UNSTRATIFIED_KEY) if not per_list_design(design) else None
    return DesignBalance(
        design=header,
        overall=cell("overall", overall, total_cursor),
        strata=strata,
        margins=[cell(scope, arm_counts) for scope, arm_counts in margins.items()],
    )


def per_list_design(design: Design) -> bool:
    """Permuted blocks keep one list (cursor) per stratum; minimization one draw sequence."""
    return design.method == Method.PERMUTED_BLOCKS
