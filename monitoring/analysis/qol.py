"""Quality of life (EORTC QLQ-C30 scale scores) over time, completion, time to deterioration.

Scores come from ``trial.rules.qlq_c30`` (0-100 per scale, DOMAIN.md 5); forms are due every
2 cycles until progression or 24 months (DOMAIN.md 1.6, rule 25). The caller passes one
:class:`QolAssessment` per *expected* form and scale: ``score`` None when the form was not
returned or the scale was missing (fewer than half its items answered), so completion is
completed / expected at each timepoint.

- Mean score per group and timepoint with the standard deviation and a t-based confidence
  interval of the mean (mean +/- t(n-1) x SD / sqrt(n)).
- Time to deterioration (TTD): time from the origin of ``time_months`` (randomisation for
  Step 2 by arm, Step 1 start otherwise) to the first post-baseline assessment whose score is
  worse than baseline by at least the minimal important difference (MID). For global health
  status (QL2) and functional scales higher is better, so deterioration is a drop; for symptom
  scales it is a rise (``direction``). MID default 10 points (Osoba et al., J Clin Oncol
  1998;16:139-144: changes of 10-20 points are "moderate"); it is a parameter, the SAP decides.
  Patients without deterioration are censored at their last completed post-baseline
  assessment; patients with a baseline score but no completed post-baseline form are censored
  at time 0 (or at the baseline time if later); patients without a baseline score cannot
  deteriorate from it and are listed in ``no_baseline``, not analysed. Deterioration is the
  first one (not "definitive" or confirmed at the next form); death is not an event here.
  The records feed :mod:`monitoring.analysis.survival` (Kaplan-Meier, log-rank, Cox).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from monitoring.analysis import AnalysisInputError, check_confidence_level
from monitoring.analysis.rates import Proportion, wilson_interval
from monitoring.analysis.survival import SurvivalRecord

__all__ = [
    "DEFAULT_MID_POINTS",
    "DeteriorationDerivation",
    "Direction",
    "QolAssessment",
    "QolTimepointSummary",
    "deterioration_threshold",
    "mean_scores_over_time",
    "summaries_of_counts",
    "time_to_deterioration",
]

DEFAULT_MID_POINTS = 10.0
BASELINE_TIMEPOINT = 0
# Scores are multiples of 100/3 or 100/6 divided by item counts: compare with a tolerance so
# a difference of exactly the MID is not lost to binary rounding.
_TOLERANCE = 1e-9


class Direction(StrEnum):
    HIGHER_IS_BETTER = "higher_is_better"  # global health status (QL2), functional scales
    LOWER_IS_BETTER = "lower_is_better"  # symptom scales and single items


@dataclass(frozen=True)
class QolAssessment:
    """One expected QoL form (one scale) of a patient. ``timepoint`` is the nominal assessment
    number in schedule order (0 = baseline); ``time_months`` the actual time from the analysis
    origin (a baseline form may precede it, so only baseline may be negative)."""

    patient_id: str
    group: str
    timepoint: int
    time_months: float
    score: float | None

    def __post_init__(self) -> None:
        for name in ("patient_id", "group"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise AnalysisInputError(
                    f"{name} must be a non-empty string",
                    code="invalid_group",
                    details={name: repr(value)},
                )
        timepoint = self.timepoint
        if isinstance(timepoint, bool) or not isinstance(timepoint, int) or timepoint < 0:
            raise AnalysisInputError(
                "timepoint must be an integer >= 0",
                code="invalid_parameter",
                details={"timepoint": repr(timepoint)},
            )
        time = self.time_months
        if (
            isinstance(time, bool)
            or not isinstance(time, int | float)
            or not math.isfinite(time)
            or (time < 0 and timepoint != BASELINE_TIMEPOINT)
        ):
            raise AnalysisInputError(
                "time_months must be finite, and >= 0 after baseline",
                code="invalid_time",
                details={"time_months": repr(time), "timepoint": timepoint},
            )
        score = self.score
        if score is not None and (
            isinstance(score, bool)
            or not isinstance(score, int | float)
            or not math.isfinite(score)
            or not 0 <= score <= 100
        ):
            raise AnalysisInputError(
                "score must be None or a number from 0 to 100",
                code="invalid_score",
                details={"score": repr(score)},
            )


@dataclass(frozen=True)
class QolTimepointSummary:
    group: str
    timepoint: int
    expected: int
    completed: int
    completion: Proportion
    mean: float | None
    sd: float | None
    ci_lower: float | None
    ci_upper: float | None


@dataclass(frozen=True)
class DeteriorationDerivation:
    """Time-to-deterioration records (``records[i]`` belongs to ``patients[i]``)."""

    records: tuple[SurvivalRecord, ...]
    patients: tuple[str, ...]
    no_baseline: tuple[str, ...]
    mid_points: float
    direction: Direction


def _check_assessments(assessments: Iterable[QolAssessment]) -> tuple[QolAssessment, ...]:
    checked = tuple(assessments)
    seen: set[tuple[str, int]] = set()
    group_of: dict[str, str] = {}
    for index, a in enumerate(checked):
        if not isinstance(a, QolAssessment):
            raise AnalysisInputError(
                "assessments must be QolAssessment values",
                code="invalid_parameter",
                details={"index": index, "type": type(a).__name__},
            )
        if (a.patient_id, a.timepoint) in seen:
            raise AnalysisInputError(
                "a patient has two assessments at the same timepoint",
                code="invalid_parameter",
                details={"patient_id": a.patient_id, "timepoint": a.timepoint},
            )
        seen.add((a.patient_id, a.timepoint))
        if group_of.setdefault(a.patient_id, a.group) != a.group:
            raise AnalysisInputError(
                "a patient belongs to one group",
                code="invalid_group",
                details={"patient_id": a.patient_id, "groups": [group_of[a.patient_id], a.group]},
            )
    return checked


def _summary(group: str, timepoint: int, items: Sequence[QolAssessment], level: float):
    scores = Counter(float(a.score) for a in items if a.score is not None)
    return _summary_of_counts(group, timepoint, len(items), scores, level)


def _summary_of_counts(
    group: str, timepoint: int, expected: int, scores: Mapping[float, int], level: float
) -> QolTimepointSummary:
    """Mean, SD and CI from each distinct score and how many forms have it, in exact rational
    arithmetic (as ``statistics`` does) and rounded once at the end."""
    completed = sum(scores.values())
    completion = wilson_interval(completed, expected, confidence_level=level)
    mean = sd = lower = upper = None
    if completed:
        exact_mean = sum(Fraction(score) * n for score, n in scores.items()) / completed
        mean = float(exact_mean)
    if completed >= 2:
        from scipy.stats import t

        squares = sum((Fraction(score) - exact_mean) ** 2 * n for score, n in scores.items())
        sd = math.sqrt(squares / (completed - 1))
        half = float(t.ppf(1 - (1 - level) / 2, completed - 1)) * sd / math.sqrt(completed)
        lower, upper = mean - half, mean + half  # type: ignore[operator]
    return QolTimepointSummary(
        group, timepoint, expected, completed, completion, mean, sd, lower, upper
    )


def summaries_of_counts(
    cells: Mapping[tuple[str, int], tuple[int, Mapping[float, int]]],
    *,
    confidence_level: float = 0.95,
) -> tuple[QolTimepointSummary, ...]:
    """:func:`mean_scores_over_time` from counts: per (group, timepoint), the expected forms
    and how many completed forms have each distinct score (when the database has counted
    them). Same figures, sorted by group then timepoint."""
    level = check_confidence_level(confidence_level)
    return tuple(
        _summary_of_counts(group, timepoint, *cells[group, timepoint], level)
        for group, timepoint in sorted(cells)
    )


def deterioration_threshold(mid_points: float = DEFAULT_MID_POINTS) -> float:
    """The worsening from baseline that counts as deterioration: the MID, less a tolerance
    for binary rounding (``worsening >= threshold``)."""
    return float(mid_points) - _TOLERANCE


def mean_scores_over_time(
    assessments: Iterable[QolAssessment],
    *,
    confidence_level: float = 0.95,
) -> tuple[QolTimepointSummary, ...]:
    """Mean score, n, SD, confidence interval and completion per group and timepoint, sorted
    by group then timepoint. Errors: ``invalid_parameter`` (duplicate patient and timepoint),
    ``invalid_group`` (a patient in two groups)."""
    assessments = _check_assessments(assessments)
    level = check_confidence_level(confidence_level)
    cells: dict[tuple[str, int], list[QolAssessment]] = defaultdict(list)
    for a in assessments:
        cells[a.group, a.timepoint].append(a)
    return tuple(
        _summary(group, timepoint, cells[group, timepoint], level)
        for group, timepoint in sorted(cells)
    )


def time_to_deterioration(
    assessments: Iterable[QolAssessment],
    *,
    mid_points: float = DEFAULT_MID_POINTS,
    direction: Direction = Direction.HIGHER_IS_BETTER,
) -> DeteriorationDerivation:
    """Survival records for time to first deterioration by >= ``mid_points`` from baseline,
    one per patient with a baseline score (sorted by patient id). Errors: as
    :func:`mean_scores_over_time`, and ``invalid_parameter`` for a MID that is not > 0."""
    assessments = _check_assessments(assessments)
    if (
        isinstance(mid_points, bool)
        or not isinstance(mid_points, int | float)
        or not math.isfinite(mid_points)
        or mid_points <= 0
    ):
        raise AnalysisInputError(
            "mid_points must be a number > 0",
            code="invalid_parameter",
            details={"mid_points": repr(mid_points)},
        )
    direction = Direction(direction)
    by_patient: dict[str, list[QolAssessment]] = defaultdict(list)
    for a in assessments:
        by_patient[a.patient_id].append(a)
    records, patients, no_baseline = [], [], []
    for patient_id in sorted(by_patient):
        forms = sorted(by_patient[patient_id], key=lambda a: a.timepoint)
        baseline = forms[0] if forms[0].timepoint == BASELINE_TIMEPOINT else None
        if baseline is None or baseline.score is None:
            no_baseline.append(patient_id)
            continue
        record = _deterioration_record(baseline, forms[1:], float(mid_points), direction)
        records.append(record)
        patients.append(patient_id)
    return DeteriorationDerivation(
        tuple(records), tuple(patients), tuple(no_baseline), float(mid_points), direction
    )


def _deterioration_record(
    baseline: QolAssessment,
    later: Sequence[QolAssessment],
    mid_points: float,
    direction: Direction,
) -> SurvivalRecord:
    reference = float(baseline.score)  # type: ignore[arg-type]
    censor_at = max(0.0, float(baseline.time_months))
    for form in later:
        if form.score is None:
            continue
        change = float(form.score) - reference
        worsening = -change if direction is Direction.HIGHER_IS_BETTER else change
        if worsening >= deterioration_threshold(mid_points):
            return SurvivalRecord(float(form.time_months), True, baseline.group)
        censor_at = float(form.time_months)
    return SurvivalRecord(censor_at, False, baseline.group)
