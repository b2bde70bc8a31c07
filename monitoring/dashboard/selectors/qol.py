"""Quality of life (EORTC QLQ-C30) over time by step, or by arm for the data-monitoring roles.

The expected forms are the scheduled QoL items whose window has closed (done, missed, or
overdue; DOMAIN.md 1.6, rule 25); a done item's score is the questionnaire completed on its
done date for that line. A form belongs to Step 1 before randomization and to the randomized
period from the randomization date on (Arm A continues the Step 1 treatment line, so the line
does not tell). Time runs from the start of the period: the Step 1 line's start (actual C1D1,
else the planned C1D1), or the randomization date. Each (patient, period) is one subject of the
analysis: a patient's Step 1 and randomized forms belong to different groups.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import OuterRef, Q, Subquery

from monitoring.analysis import days_to_months
from monitoring.analysis.qol import Direction, QolAssessment
from randomization.models import Allocation
from trial.models import (
    OPEN_ITEM_STATUSES,
    QLQ_C30_SCALE_FIELDS,
    ItemKind,
    ItemStatus,
    QolQuestionnaire,
    ScheduleItem,
)
from trial.selectors.access import User

from ..filters import DashboardFilters
from . import scoped

#: Higher is better for global health status and the functional scales; worse for symptoms.
HIGHER_IS_BETTER = frozenset({"ql2", "pf2", "rf2", "ef", "cf", "sf", "summary"})
SCALES = ("ql2", *(s for s in QLQ_C30_SCALE_FIELDS if s != "ql2"))


def direction_of(scale: str) -> Direction:
    return Direction.HIGHER_IS_BETTER if scale in HIGHER_IS_BETTER else Direction.LOWER_IS_BETTER


@dataclass(frozen=True)
class QolRow:
    patient_id: int
    line_id: int
    step: str
    arm: str | None
    randomized_on: dt.date | None
    origin: dt.date
    planned_on: dt.date
    done_on: dt.date | None
    score: float | None


def qol_rows(
    *, user: User | None, filters: DashboardFilters, scale: str, today: dt.date
) -> list[QolRow]:
    """Expected QoL forms with the chosen scale's score (one query)."""
    if scale not in QLQ_C30_SCALE_FIELDS:
        raise ValueError(f"unknown QLQ-C30 scale {scale!r}")
    form = QolQuestionnaire.objects.filter(
        patient=OuterRef("patient"), line=OuterRef("line"), completed_on=OuterRef("done_on")
    ).order_by("-pk")
    allocation = Allocation.objects.filter(patient=OuterRef("patient"))
    expected = Q(status__in=(ItemStatus.DONE, ItemStatus.MISSED)) | Q(
        status__in=OPEN_ITEM_STATUSES, window_closes__lt=today
    )
    rows = (
        scoped(ScheduleItem.objects.filter(kind=ItemKind.QOL), user, filters, "patient__")
        .filter(expected)
        .annotate(
            score=Subquery(form.values(scale)[:1]),
            arm=Subquery(allocation.values("arm")[:1]),
            randomized_on=Subquery(allocation.values("allocated_on")[:1]),
        )
        .values_list(
            "patient_id",
            "line_id",
            "line__step",
            "arm",
            "randomized_on",
            "line__started_on",
            "line__planned_c1d1",
            "planned_on",
            "done_on",
            "score",
        )
        .order_by("patient_id", "planned_on", "pk")
    )
    return [
        QolRow(patient, line, step, arm, randomized, started or planned, planned_on, done, score)
        for patient, line, step, arm, randomized, started, planned, planned_on, done, score in rows
    ]


def _randomized_period(row: QolRow) -> bool:
    when = row.done_on or row.planned_on
    return row.randomized_on is not None and when >= row.randomized_on


def group_of(row: QolRow, *, by_arm: bool) -> str:
    """Step 1, or the randomized period: pooled unless the user may see arms (then Step 2 by
    arm, and Step 3 for the crossover line)."""
    if not _randomized_period(row):
        return "Step 1"
    if not by_arm:
        return "Randomized"
    if row.step == "step3":
        return "Step 3 (crossover)"
    return f"Step 2 arm {row.arm}"


def assessments(rows: list[QolRow], *, by_arm: bool) -> list[QolAssessment]:
    """Rows as analysis inputs: timepoint = rank of the form within its (patient, period)
    (0 = baseline), time from the start of the period."""
    result = []
    seen: dict[tuple[int, str], int] = {}
    for row in rows:
        randomized = _randomized_period(row)
        group = group_of(row, by_arm=by_arm)
        timepoint = seen.get((row.patient_id, group), -1) + 1
        seen[row.patient_id, group] = timepoint
        origin = row.randomized_on if randomized else row.origin
        days = ((row.done_on or row.planned_on) - origin).days
        result.append(
            QolAssessment(
                patient_id=f"{row.patient_id}:{group}",
                group=group,
                timepoint=timepoint,
                time_months=days_to_months(days if timepoint == 0 else max(days, 0)),
                score=row.score,
            )
        )
    return result
