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
from collections import Counter
from dataclasses import dataclass

from django.db import connections

from monitoring.analysis import days_to_months
from monitoring.analysis.qol import (
    DEFAULT_MID_POINTS,
    Direction,
    QolTimepointSummary,
    deterioration_threshold,
    summaries_of_counts,
)
from monitoring.analysis.survival import SurvivalRecord
from trial.models import (
    FINAL_ITEM_STATUSES,
    OPEN_ITEM_STATUSES,
    QLQ_C30_SCALE_FIELDS,
    ItemKind,
    ScheduleItem,
)
from trial.selectors.access import User

from ..filters import DashboardFilters
from . import days_between, patients, run_sql

STEP1, RANDOMIZED, STEP3, STEP2_ARM = "Step 1", "Randomized", "Step 3 (crossover)", "Step 2 arm "

#: Higher is better for global health status and the functional scales; worse for symptoms.
HIGHER_IS_BETTER = frozenset({"ql2", "pf2", "rf2", "ef", "cf", "sf", "summary"})
SCALES = ("ql2", *(s for s in QLQ_C30_SCALE_FIELDS if s != "ql2"))


def direction_of(scale: str) -> Direction:
    return Direction.HIGHER_IS_BETTER if scale in HIGHER_IS_BETTER else Direction.LOWER_IS_BETTER


# The expected forms (one row each) numbered within their (patient, period), with the
# baseline score of the period; the means count forms per (group, timepoint, score); time to
# deterioration keeps one row per (patient, period): its first deterioration, else its last
# completed post-baseline form, else its baseline.
_QOL_SQL = """
WITH latest_form AS (
    SELECT q.patient_id, q.line_id, q.completed_on, q.{score} AS score
    FROM trial_qolquestionnaire q
    WHERE NOT EXISTS (
        SELECT 1 FROM trial_qolquestionnaire newer
        WHERE newer.patient_id = q.patient_id AND newer.line_id = q.line_id
            AND newer.completed_on = q.completed_on AND newer.id > q.id
    )
),
expected AS (
    SELECT s.id, s.patient_id, s.planned_on, COALESCE(s.done_on, s.planned_on) AS form_on,
           f.score, l.step, a.arm,
           CASE WHEN a.allocated_on <= COALESCE(s.done_on, s.planned_on)
                THEN a.allocated_on END AS randomized_on,
           COALESCE(l.started_on, l.planned_c1d1) AS line_origin
    FROM trial_scheduleitem s
    JOIN trial_treatmentline l ON l.id = s.line_id
    LEFT JOIN randomization_allocation a ON a.patient_id = s.patient_id
    LEFT JOIN latest_form f ON f.patient_id = s.patient_id AND f.line_id = s.line_id
        AND f.completed_on = s.done_on
    WHERE s.kind = %s AND s.patient_id IN ({patients})
        AND (s.status IN (%s, %s) OR (s.status IN (%s, %s, %s) AND s.window_closes < %s))
),
grouped AS (
    SELECT id, patient_id, planned_on, score,
           CASE WHEN randomized_on IS NULL THEN %s
                WHEN %s THEN %s
                WHEN step = 'step3' THEN %s
                ELSE %s || arm END AS grp,
           {days} AS days
    FROM expected
),
numbered AS (
    SELECT patient_id, grp, score, days,
           ROW_NUMBER() OVER w - 1 AS timepoint,
           FIRST_VALUE(score) OVER w AS baseline
    FROM grouped
    WINDOW w AS (PARTITION BY patient_id, grp ORDER BY planned_on, id)
),
flagged AS (
    SELECT grp, timepoint, days, baseline,
           MIN(CASE WHEN timepoint > 0 AND {worsening} >= %s THEN timepoint END)
               OVER subject AS deteriorated_at,
           MAX(CASE WHEN timepoint > 0 AND score IS NOT NULL THEN timepoint END)
               OVER subject AS last_completed_at
    FROM numbered
    WINDOW subject AS (PARTITION BY patient_id, grp)
)
SELECT 'form', grp, timepoint, score, COUNT(*) FROM numbered GROUP BY grp, timepoint, score
UNION ALL
SELECT CASE WHEN baseline IS NULL THEN 'no_baseline'
            WHEN deteriorated_at IS NULL THEN 'censored'
            ELSE 'deteriorated' END AS ending,
       grp, NULL, CASE WHEN days < 0 THEN 0 ELSE days END AS time_days, COUNT(*)
FROM flagged
WHERE timepoint = COALESCE(deteriorated_at, last_completed_at, 0)
GROUP BY ending, grp, time_days
"""


@dataclass(frozen=True)
class QolAnalysis:
    """Mean scores per (group, timepoint) and the time-to-deterioration records (one per
    (patient, period) with a baseline score), with how many had no baseline score."""

    summaries: tuple[QolTimepointSummary, ...]
    deterioration: tuple[SurvivalRecord, ...]
    no_baseline: int


def qol_analysis(
    *, user: User | None, filters: DashboardFilters, scale: str, today: dt.date, by_arm: bool
) -> QolAnalysis:
    """The expected QoL forms of the chosen scale, analysed in the database (one query).

    Groups: Step 1, or the randomized period: pooled unless ``by_arm`` (then Step 2 by arm,
    and Step 3 for the crossover line). Timepoint = rank of the form within its (patient,
    period), 0 = baseline; time from the start of the period (a baseline form may precede it).
    Time to deterioration as ``monitoring.analysis.qol.time_to_deterioration``: the first
    post-baseline form worse than baseline by at least the MID, else censored at the last
    completed post-baseline form (at the baseline, not before time 0, without one). The page
    gets counts, not 300k forms: the means from each distinct score's count, the survival
    records as one shared value repeated per patient."""
    if scale not in QLQ_C30_SCALE_FIELDS:
        raise ValueError(f"unknown QLQ-C30 scale {scale!r}")
    database = ScheduleItem.objects.db
    patients_sql, patients_params = (
        patients(user, filters).values("pk").order_by().query.sql_with_params()
    )
    change = (
        "(score - baseline)"
        if direction_of(scale) is Direction.LOWER_IS_BETTER
        else ("(baseline - score)")
    )
    sql = _QOL_SQL.format(
        score=connections[database].ops.quote_name(scale),
        patients=patients_sql,
        days=days_between("form_on", "COALESCE(randomized_on, line_origin)", using=database),
        worsening=change,
    )
    params = [
        str(ItemKind.QOL),
        *patients_params,
        *map(str, FINAL_ITEM_STATUSES),
        *map(str, OPEN_ITEM_STATUSES),
        today,
        STEP1,
        not by_arm,
        RANDOMIZED,
        STEP3,
        STEP2_ARM,
        deterioration_threshold(DEFAULT_MID_POINTS),
    ]
    cells: dict[tuple[str, int], tuple[int, Counter[float]]] = {}
    records: list[SurvivalRecord] = []
    no_baseline = 0
    rows = run_sql(sql, params, using=database)
    for kind, group, timepoint, value, n in sorted(rows, key=_row_order):
        if kind == "form":
            expected, scores = cells.setdefault((group, timepoint), (0, Counter()))
            if value is not None:
                scores[float(value)] += n
            cells[group, timepoint] = (expected + n, scores)
        elif kind == "no_baseline":
            no_baseline += n
        else:
            record = SurvivalRecord(days_to_months(int(value)), kind == "deteriorated", group)
            records += [record] * n
    return QolAnalysis(summaries_of_counts(cells), tuple(records), no_baseline)


def _row_order(row: tuple) -> tuple:
    kind, group, timepoint, value, _n = row
    return (kind, group, timepoint or 0, -1.0 if value is None else float(value))
