"""Step 1 safety: grade >= 3 haematological toxicity (PADA-1 co-primary endpoint, DOMAIN.md
1.6), palbociclib dose reductions and discontinuations.

Step 1 is the time before randomization: Arm A continues the Step 1 treatment line after
randomization (``randomization.services.allocation``), so every query here stops at the
allocation date. Each included patient's worst haematological grade over the Step 1 blood counts
(``BloodCount.haem_max_grade``, all terms, CTCAE as stored with each count); a patient without
a graded count is not evaluable. Baseline characteristics: age at enrolment (< 65 / >= 65
years, from the year of birth: exact to within a year), menopausal status, the aromatase
inhibitor of Step 1, and the site.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Case, Count, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import ExtractYear

from monitoring.analysis.rates import HaemToxicityRecord
from randomization.models import Allocation
from trial.models import DecisionStatus, DoseDecision, TreatmentLine
from trial.selectors.access import User

from ..filters import DashboardFilters
from . import patients, run_sql, scoped

CHARACTERISTICS = ("age_group", "menopausal_status", "endocrine_drug", "site")
AGE_CUTOFF_YEARS = 65


def _randomized_on(patient_ref: str) -> Subquery:
    return Subquery(
        Allocation.objects.filter(patient=OuterRef(patient_ref)).values("allocated_on")[:1]
    )


# Per enrolled patient: the aromatase inhibitor of the first created Step 1 line and the
# worst haematological grade over the Step 1 blood counts drawn before randomization; the
# patients counted per (characteristics, worst grade).
_TOXICITY_SQL = """
WITH step1 AS (
    SELECT patient_id, endocrine_drug,
           ROW_NUMBER() OVER (PARTITION BY patient_id ORDER BY created_at) AS nth
    FROM trial_treatmentline
    WHERE step = 'step1' AND patient_id IN (SELECT id FROM ({patients}) scoped)
),
worst AS (
    SELECT b.patient_id, MAX(b.haem_max_grade) AS grade
    FROM trial_bloodcount b
    JOIN trial_treatmentline l ON l.id = b.line_id
    LEFT JOIN randomization_allocation a ON a.patient_id = b.patient_id
    WHERE l.step = 'step1' AND (a.allocated_on IS NULL OR b.drawn_on < a.allocated_on)
        AND b.patient_id IN (SELECT id FROM ({patients}) scoped)
    GROUP BY b.patient_id
)
SELECT p.age_group, p.menopausal_status, s.endocrine_drug, p.site_code, w.grade, COUNT(*)
FROM ({patients}) p
JOIN step1 s ON s.patient_id = p.id AND s.nth = 1
LEFT JOIN worst w ON w.patient_id = p.id
WHERE s.endocrine_drug IS NOT NULL
GROUP BY p.age_group, p.menopausal_status, s.endocrine_drug, p.site_code, w.grade
"""


def haem_toxicity_records(
    *, user: User | None, filters: DashboardFilters
) -> list[HaemToxicityRecord]:
    """One record per enrolled patient with a Step 1 line (one query). The database derives
    each patient's worst grade and characteristics and counts the patients sharing them; the
    records of a count are one shared value repeated (the analysis sees one per patient)."""
    enrolled = (
        patients(user, filters)
        .filter(enrolled_on__isnull=False)
        .annotate(
            age=ExtractYear("enrolled_on") - F("year_of_birth"),
            age_group=Case(
                When(age__gte=AGE_CUTOFF_YEARS, then=Value(f">= {AGE_CUTOFF_YEARS}")),
                default=Value(f"< {AGE_CUTOFF_YEARS}"),
            ),
            site_code=F("site__code"),
        )
        .values("id", "age_group", "menopausal_status", "site_code")
        .order_by()
    )
    patients_sql, patients_params = enrolled.query.sql_with_params()
    rows = run_sql(_TOXICITY_SQL.format(patients=patients_sql), [*patients_params] * 3)
    records = []
    for age_group, menopausal_status, endocrine, site, worst, n in rows:
        record = HaemToxicityRecord(
            worst_grade=worst,
            characteristics={
                "age_group": age_group,
                "menopausal_status": menopausal_status,
                "endocrine_drug": endocrine,
                "site": site,
            },
        )
        records += [record] * n
    return records


@dataclass(frozen=True)
class DoseModifications:
    patients_on_step1: int
    patients_reduced: int
    reductions: int
    patients_discontinued_palbociclib: int
    by_reason: tuple[tuple[str, int, int], ...]  # (reason code, reductions, discontinuations)


def dose_modifications(*, user: User | None, filters: DashboardFilters) -> DoseModifications:
    """Confirmed (signed) palbociclib decisions of Step 1 (before randomization): reductions to
    a lower non-zero level and discontinuations (confirmed 0 mg), overall and by the rule's
    reason code (three queries)."""
    confirmed = (
        scoped(
            DoseDecision.objects.filter(status=DecisionStatus.CONFIRMED, line__step="step1"),
            user,
            filters,
            "line__patient__",
        )
        .annotate(randomized_on=_randomized_on("line__patient"))
        .filter(Q(randomized_on__isnull=True) | Q(created_at__date__lt=F("randomized_on")))
    )
    reduced = Q(confirmed_dose_mg__gt=0, confirmed_dose_mg__lt=F("current_dose_mg"))
    stopped = Q(confirmed_dose_mg=0)
    by_reason = (
        confirmed.filter(reduced | stopped)
        .values("reason_code")
        .annotate(
            reductions=Count("pk", filter=reduced), discontinuations=Count("pk", filter=stopped)
        )
        .order_by("reason_code")
    )
    totals = confirmed.aggregate(
        patients_reduced=Count("line__patient", distinct=True, filter=reduced),
        reductions=Count("pk", filter=reduced),
        patients_stopped=Count("line__patient", distinct=True, filter=stopped),
    )
    on_step1 = (
        patients(user, filters)
        .filter(enrolled_on__isnull=False, lines__step="step1")
        .distinct()
        .count()
    )
    return DoseModifications(
        patients_on_step1=on_step1,
        patients_reduced=totals["patients_reduced"],
        reductions=totals["reductions"],
        patients_discontinued_palbociclib=totals["patients_stopped"],
        by_reason=tuple(
            (r["reason_code"], r["reductions"], r["discontinuations"]) for r in by_reason
        ),
    )


def step1_line_endings(*, user: User | None, filters: DashboardFilters) -> list[tuple[str, int]]:
    """Step 1 lines that ended before or at randomization, by end reason (progression,
    toxicity, withdrawal, switch to Arm B, ...), most frequent first (one query)."""
    rows = (
        scoped(TreatmentLine.objects.filter(step="step1"), user, filters, "patient__")
        .filter(ended_on__isnull=False)
        .annotate(randomized_on=_randomized_on("patient"))
        .filter(Q(randomized_on__isnull=True) | Q(ended_on__lte=F("randomized_on")))
        .values("end_reason")
        .annotate(n=Count("pk"))
        .order_by("-n", "end_reason")
    )
    return [(r["end_reason"] or "-", r["n"]) for r in rows]
