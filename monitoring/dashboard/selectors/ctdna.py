"""ctDNA monitoring: time to rising bESR1mut on Step 1, lab turnaround, failed samples.

Rising bESR1mut (DOMAIN.md 1.4, rule 18) is the first current result whose interpretation is
``rising``, dated by its blood draw. Time runs from the Step 1 start (actual C1D1, else the
planned C1D1). The competing event is progression on Step 1 (RECIST 1.1 PD) or death (a grade 5
adverse event), after which Step 1 monitoring stops (DOMAIN.md 1.3); patients without either
are censored at the end of their Step 1 line, or at ``today`` while it is ongoing.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from django.db.models import Count, Exists, F, OuterRef, Subquery

from monitoring.analysis import days_to_months
from monitoring.analysis.incidence import IncidenceRecord, Outcome
from monitoring.analysis.rates import LabSample
from monitoring.models import CtdnaResult, Lab, PatientCtdnaStatus, Sample, SampleStatus
from trial.models import OverallResponse
from trial.selectors.access import User

from ..filters import DashboardFilters
from . import days_between, patients, run_sql, scoped


def _newer_version() -> Exists:
    return Exists(
        CtdnaResult.objects.filter(
            lab=OuterRef("lab"), sample=OuterRef("sample"), version__gt=OuterRef("version")
        )
    )


# Per enrolled patient with a Step 1 line (the first created): the start of Step 1, the first
# current rising result, the first progression on Step 1, the first grade 5 adverse event and
# the end of the line; then the patient's ending, counted per (outcome, days).
_RISING_SQL = """
WITH step1 AS (
    SELECT patient_id, COALESCE(started_on, planned_c1d1) AS start_on, ended_on,
           ROW_NUMBER() OVER (PARTITION BY patient_id ORDER BY created_at) AS nth
    FROM trial_treatmentline
    WHERE step = 'step1' AND patient_id IN ({patients})
),
rising AS (
    SELECT r.patient_id, MIN(r.collected_on) AS on_date
    FROM monitoring_ctdnaresult r
    WHERE r.patient_status = %s AND NOT EXISTS (
        SELECT 1 FROM monitoring_ctdnaresult newer
        WHERE newer.lab_id = r.lab_id AND newer.sample_id = r.sample_id
            AND newer.version > r.version
    )
    GROUP BY r.patient_id
),
progression AS (
    SELECT t.patient_id, MIN(t.assessed_on) AS on_date
    FROM trial_tumourassessment t JOIN trial_treatmentline l ON l.id = t.line_id
    WHERE l.step = 'step1' AND t.overall_response = %s
    GROUP BY t.patient_id
),
death AS (
    SELECT patient_id, MIN(onset_on) AS on_date FROM trial_adverseevent WHERE grade = 5
    GROUP BY patient_id
),
dates AS (
    SELECT s.start_on, r.on_date AS rising_on,
           CASE WHEN p.on_date IS NULL THEN d.on_date
                WHEN d.on_date IS NULL OR p.on_date < d.on_date THEN p.on_date
                ELSE d.on_date END AS competing_on,
           CASE WHEN s.ended_on < %s THEN s.ended_on ELSE %s END AS censored_on
    FROM step1 s
    LEFT JOIN rising r ON r.patient_id = s.patient_id
    LEFT JOIN progression p ON p.patient_id = s.patient_id
    LEFT JOIN death d ON d.patient_id = s.patient_id
    WHERE s.nth = 1
),
endings AS (
    SELECT start_on,
           CASE WHEN rising_on <= COALESCE(competing_on, rising_on) THEN %s
                WHEN competing_on IS NOT NULL THEN %s
                ELSE %s END AS outcome,
           CASE WHEN rising_on <= COALESCE(competing_on, rising_on) THEN rising_on
                WHEN competing_on IS NOT NULL THEN competing_on
                ELSE censored_on END AS end_on
    FROM dates
)
SELECT outcome, {days} AS days, COUNT(*) FROM endings GROUP BY outcome, days
"""


def rising_incidence_records(
    *, user: User | None, filters: DashboardFilters, today: dt.date
) -> list[IncidenceRecord]:
    """One incidence record per enrolled patient with a Step 1 line (one query).

    The patient's ending on Step 1: rising first, a competing event first, or censored (at the
    end of the line, or ``today`` while it is ongoing). A rising mutation on the day of
    progression counts as rising (it was drawn on Step 1). The database derives each
    patient's ending and counts the patients per (outcome, days); the records of a count are
    one shared value repeated, so the analysis sees one record per patient without the page
    building 50k objects."""
    enrolled = patients(user, filters).filter(enrolled_on__isnull=False).values("pk").order_by()
    patients_sql, patients_params = enrolled.query.sql_with_params()
    sql = _RISING_SQL.format(patients=patients_sql, days=days_between("end_on", "start_on"))
    params = [
        *patients_params,
        str(PatientCtdnaStatus.RISING),
        str(OverallResponse.PD),
        today,
        today,
        *(str(o) for o in (Outcome.EVENT, Outcome.COMPETING, Outcome.CENSORED)),
    ]
    counts: Counter[tuple[int, str]] = Counter()
    for outcome, days, n in run_sql(sql, params):
        counts[max(0, int(days)), outcome] += n
    records: list[IncidenceRecord] = []
    for (days, outcome), n in sorted(counts.items()):
        records += [IncidenceRecord(days_to_months(days), Outcome(outcome))] * n
    return records


def lab_samples(*, user: User | None, filters: DashboardFilters) -> list[LabSample]:
    """Every ctDNA sample with its lab (the lab of its first result, else the first lab
    serving the site), draw-to-result days and whether its current result failed (one query)."""
    results = CtdnaResult.objects.filter(sample=OuterRef("pk"))
    rows = (
        scoped(Sample.objects.all(), user, filters, "patient__")
        .annotate(
            result_lab=Subquery(results.order_by("created_at", "pk").values("lab__code")[:1]),
            serving_lab=Subquery(
                Lab.objects.filter(sites=OuterRef("patient__site"))
                .order_by("code")
                .values("code")[:1]
            ),
            failed=Exists(results.filter(status=SampleStatus.FAILED).filter(~_newer_version())),
        )
        .values_list("result_lab", "serving_lab", "turnaround_days", "failed")
        .order_by("pk")
    )
    return [
        LabSample(
            lab=result_lab or serving_lab or "-",
            turnaround_days=None if failed or days is None else float(days),
            failed=bool(failed),
        )
        for result_lab, serving_lab, days, failed in rows
    ]


@dataclass(frozen=True)
class FailureCount:
    lab: str
    reason: str
    samples: int


def failed_samples(*, user: User | None, filters: DashboardFilters) -> list[FailureCount]:
    """Current failed results by lab and failure reason (one query)."""
    rows = (
        scoped(CtdnaResult.objects.all(), user, filters, "patient__")
        .filter(status=SampleStatus.FAILED)
        .filter(~_newer_version())
        .values(lab_code=F("lab__code"), reason=F("failure_reason"))
        .annotate(n=Count("sample", distinct=True))
        .order_by("lab_code", "-n", "reason")
    )
    return [FailureCount(r["lab_code"], r["reason"], r["n"]) for r in rows]


__all__ = [
    "FailureCount",
    "failed_samples",
    "lab_samples",
    "rising_incidence_records",
]
