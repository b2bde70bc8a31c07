"""Cumulative incidence of an event over time with a competing event (e.g. rising bESR1mut on
Step 1, with progression or death before any rising mutation as the competing event).

Each subject ends in one :class:`Outcome`: the event of interest, a competing event that makes
the event of interest impossible afterwards (for rising bESR1mut on Step 1: progression or
death, after which Step 1 monitoring stops, DOMAIN.md 1.3-1.4), or censoring (still on Step 1
without either, or lost to follow-up).

Two estimators:

- :func:`cumulative_incidence` (the one the dashboard shows): the Aalen-Johansen estimator of
  the cumulative incidence function, F(t) = sum over event times t_j <= t of
  S(t_j-) x d_j / n_j, where S is the Kaplan-Meier estimate of being free of *any* ending
  (event or competing), d_j the events of interest at t_j and n_j the number at risk.
  Confidence interval: Greenwood-type variance of Collett (*Modelling Survival Data in
  Medical Research*, 3rd ed., 2015, p. 411, as implemented in lifelines'
  ``AalenJohansenFitter._bounds``), on the log(-log F) scale so the limits stay in [0, 1].
- :func:`one_minus_kaplan_meier`: 1 - Kaplan-Meier with the competing event treated as
  censoring. It estimates the incidence in a hypothetical world where the competing event
  could not happen and the patients who progressed would still be monitored for, and could
  still develop, a rising mutation. That world does not exist on Step 1, so 1 - KM over-states
  the proportion of patients who actually had a rising mutation, more so the more progressions
  occur first (Putter, Fiocco & Geskus, Stat Med 2007;26:2389-2430; Gooley et al., Stat Med
  1999;18:695-706). It is provided for comparison (and for the case without competing events,
  where both estimators coincide).

Why the Aalen-Johansen estimate is computed here rather than by lifelines'
``AalenJohansenFitter``: lifelines breaks ties between an event and a competing event by
jittering the times with ``numpy.random.seed`` (random unless seeded, and reseeding numpy's
global generator as a side effect in a web or simulator process). The estimator itself needs no
tie breaking: at a tied time the all-cause survival just before it multiplies d_j / n_j, which is
what any order of the jittered events gives after the tie. The tests check this module against
``AalenJohansenFitter`` on data without such ties and on tied data after the tie.

Times are months (``monitoring.analysis.days_to_months``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist

from monitoring.analysis import AnalysisInputError, EstimateStatus, check_confidence_level
from monitoring.analysis.survival import SurvivalRecord, kaplan_meier

__all__ = [
    "IncidenceCurve",
    "IncidencePoint",
    "IncidenceRecord",
    "IncidenceRow",
    "Method",
    "Outcome",
    "cumulative_incidence",
    "one_minus_kaplan_meier",
]


class Outcome(StrEnum):
    EVENT = "event"
    COMPETING = "competing"
    CENSORED = "censored"


class Method(StrEnum):
    AALEN_JOHANSEN = "aalen_johansen"
    ONE_MINUS_KAPLAN_MEIER = "one_minus_kaplan_meier"


@dataclass(frozen=True)
class IncidenceRecord:
    """One subject: time in months to the ending ``outcome``, and the group."""

    time_months: float
    outcome: Outcome
    group: str = "all"

    def __post_init__(self) -> None:
        time = self.time_months
        if (
            isinstance(time, bool)
            or not isinstance(time, int | float)
            or not math.isfinite(time)
            or time < 0
        ):
            raise AnalysisInputError(
                "time_months must be a finite number >= 0",
                code="invalid_time",
                details={"time_months": repr(time)},
            )
        if not isinstance(self.outcome, Outcome):
            raise AnalysisInputError(
                "outcome must be an Outcome",
                code="invalid_outcome",
                details={"outcome": repr(self.outcome)},
            )
        if not isinstance(self.group, str) or not self.group:
            raise AnalysisInputError(
                "group must be a non-empty string",
                code="invalid_group",
                details={"group": repr(self.group)},
            )


@dataclass(frozen=True)
class IncidenceRow:
    """The estimate just after ``time_months``. For 1 - KM, ``competing`` counts the competing
    endings at this time (they are censored by that estimator and included in ``censored``)."""

    time_months: float
    at_risk: int
    events: int
    competing: int
    censored: int
    incidence: float
    ci_lower: float
    ci_upper: float


@dataclass(frozen=True)
class IncidencePoint:
    group: str
    time_months: float
    status: EstimateStatus
    incidence: float | None
    ci_lower: float | None
    ci_upper: float | None
    reason: str = ""


@dataclass(frozen=True)
class IncidenceCurve:
    """Cumulative incidence of one group. ``table`` starts at time 0, one row per distinct
    observed time; empty when the group has no records."""

    group: str
    method: Method
    n: int
    events: int
    competing: int
    censored: int
    table: tuple[IncidenceRow, ...]
    confidence_level: float

    @property
    def status(self) -> EstimateStatus:
        return EstimateStatus.OK if self.n else EstimateStatus.NO_RECORDS

    def at(self, time_months: float) -> IncidencePoint:
        """The step value at ``time_months``; not estimable after the last observed time,
        unless nobody remains at risk of the event (the curve is then final)."""
        if (
            isinstance(time_months, bool)
            or not isinstance(time_months, int | float)
            or not math.isfinite(time_months)
            or time_months < 0
        ):
            raise AnalysisInputError(
                "time points must be finite numbers >= 0",
                code="invalid_time",
                details={"time_months": repr(time_months)},
            )
        time_months = float(time_months)
        if not self.table:
            return IncidencePoint(
                self.group, time_months, EstimateStatus.NO_RECORDS, None, None, None
            )
        last = self.table[-1]
        if time_months > last.time_months and last.censored > 0:
            return IncidencePoint(
                self.group,
                time_months,
                EstimateStatus.NOT_ESTIMABLE,
                None,
                None,
                None,
                reason="beyond the last follow-up time of the group",
            )
        times = [row.time_months for row in self.table]
        row = self.table[bisect.bisect_right(times, time_months) - 1]
        return IncidencePoint(
            self.group, time_months, EstimateStatus.OK, row.incidence, row.ci_lower, row.ci_upper
        )


def _check_records(records: Iterable[IncidenceRecord]) -> tuple[IncidenceRecord, ...]:
    checked = tuple(records)
    for index, record in enumerate(checked):
        if not isinstance(record, IncidenceRecord):
            raise AnalysisInputError(
                "records must be IncidenceRecord values",
                code="invalid_parameter",
                details={"index": index, "type": type(record).__name__},
            )
    return checked


def _group_order(records: Sequence[IncidenceRecord], groups: Sequence[str] | None):
    if groups is None:
        return tuple(sorted({record.group for record in records}))
    ordered = tuple(groups)
    if len(set(ordered)) != len(ordered) or not all(isinstance(g, str) and g for g in ordered):
        raise AnalysisInputError(
            "groups must be distinct non-empty strings",
            code="invalid_parameter",
            details={"groups": [repr(g) for g in ordered]},
        )
    unknown = sorted({record.group for record in records} - set(ordered))
    if unknown:
        raise AnalysisInputError(
            "records belong to groups that were not requested",
            code="unknown_group",
            details={"groups": unknown},
        )
    return ordered


def _log_log_limits(incidence: float, variance: float, z: float) -> tuple[float, float]:
    """Limits of F from a symmetric interval on log(-log F) (delta method)."""
    if incidence <= 0.0:
        return 0.0, 0.0
    if incidence >= 1.0 or variance <= 0.0:
        return incidence, incidence
    log_f = math.log(incidence)
    se = math.sqrt(variance) / (incidence * abs(log_f))
    centre = math.log(-log_f)
    # exp(-exp(.)) decreases, so the + side gives the lower limit.
    return math.exp(-math.exp(centre + z * se)), math.exp(-math.exp(centre - z * se))


def _counts_by_time(records: Sequence[IncidenceRecord]):
    times = sorted({0.0, *(r.time_months for r in records)})
    position = {time: index for index, time in enumerate(times)}
    counts = [[0, 0, 0] for _ in times]  # events, competing, censored
    slot = {Outcome.EVENT: 0, Outcome.COMPETING: 1, Outcome.CENSORED: 2}
    for record in records:
        counts[position[record.time_months]][slot[record.outcome]] += 1
    return times, counts


def _aalen_johansen(group, records, confidence_level) -> IncidenceCurve:
    z = NormalDist().inv_cdf(1 - (1 - confidence_level) / 2)
    times, counts = _counts_by_time(records)
    at_risk = len(records)
    survival_before = 1.0  # all-cause Kaplan-Meier just before the current time
    incidence = 0.0
    # Running sums for Collett's variance, expanded so each time costs O(1):
    # sum_i (F - F_i)^2 a_i + sum_i b_i - 2 sum_i (F - F_i) c_i.
    sum_a = sum_a_f = sum_a_f2 = sum_b = sum_c = sum_c_f = 0.0
    rows = []
    for time, (events, competing, censored) in zip(times, counts, strict=True):
        endings = events + competing
        if at_risk:
            incidence += survival_before * events / at_risk
            # A time where every subject at risk ends contributes (F - F_i) = 0 to the first
            # term, so its infinite coefficient d / (n (n - d)) is dropped.
            a = endings / (at_risk * (at_risk - endings)) if at_risk > endings else 0.0
            sum_a += a
            sum_a_f += a * incidence
            sum_a_f2 += a * incidence**2
            sum_b += survival_before**2 * events * (at_risk - events) / at_risk**3
            c = survival_before * events / at_risk**2
            sum_c += c
            sum_c_f += c * incidence
        variance = (
            incidence**2 * sum_a
            - 2 * incidence * sum_a_f
            + sum_a_f2
            + sum_b
            - 2 * (incidence * sum_c - sum_c_f)
        )
        lower, upper = _log_log_limits(incidence, max(variance, 0.0), z)
        rows.append(
            IncidenceRow(time, at_risk, events, competing, censored, incidence, lower, upper)
        )
        if at_risk:
            survival_before *= 1 - endings / at_risk
        at_risk -= endings + censored
    return IncidenceCurve(
        group,
        Method.AALEN_JOHANSEN,
        len(records),
        sum(r.outcome is Outcome.EVENT for r in records),
        sum(r.outcome is Outcome.COMPETING for r in records),
        sum(r.outcome is Outcome.CENSORED for r in records),
        tuple(rows),
        confidence_level,
    )


def _empty(group: str, method: Method, confidence_level: float) -> IncidenceCurve:
    return IncidenceCurve(group, method, 0, 0, 0, 0, (), confidence_level)


def cumulative_incidence(
    records: Iterable[IncidenceRecord],
    *,
    groups: Sequence[str] | None = None,
    confidence_level: float = 0.95,
) -> tuple[IncidenceCurve, ...]:
    """Aalen-Johansen cumulative incidence of ``Outcome.EVENT`` per group, with
    ``Outcome.COMPETING`` as the competing event. Order of ``groups`` (default: sorted names).
    Errors: ``unknown_group``, ``invalid_parameter``."""
    records = _check_records(records)
    confidence_level = check_confidence_level(confidence_level)
    curves = []
    for group in _group_order(records, groups):
        subset = [r for r in records if r.group == group]
        curves.append(
            _aalen_johansen(group, subset, confidence_level)
            if subset
            else _empty(group, Method.AALEN_JOHANSEN, confidence_level)
        )
    return tuple(curves)


def one_minus_kaplan_meier(
    records: Iterable[IncidenceRecord],
    *,
    groups: Sequence[str] | None = None,
    confidence_level: float = 0.95,
) -> tuple[IncidenceCurve, ...]:
    """1 - Kaplan-Meier of ``Outcome.EVENT`` with competing endings censored (see the module
    docstring for why the dashboard shows :func:`cumulative_incidence` instead)."""
    records = _check_records(records)
    confidence_level = check_confidence_level(confidence_level)
    order = _group_order(records, groups)
    # One survival record per distinct (time, outcome, group): at 50k subjects, building a
    # validated record per subject costs more than the estimate.
    distinct: dict[tuple[float, Outcome, str], SurvivalRecord] = {}
    survival_records = []
    for r in records:
        key = (r.time_months, r.outcome, r.group)
        if key not in distinct:
            distinct[key] = SurvivalRecord(r.time_months, r.outcome is Outcome.EVENT, r.group)
        survival_records.append(distinct[key])
    curves = []
    for curve in kaplan_meier(survival_records, groups=order, confidence_level=confidence_level):
        subset = [r for r in records if r.group == curve.group]
        if not subset:
            curves.append(_empty(curve.group, Method.ONE_MINUS_KAPLAN_MEIER, confidence_level))
            continue
        competing_at: dict[float, int] = {}
        for r in subset:
            if r.outcome is Outcome.COMPETING:
                competing_at[r.time_months] = competing_at.get(r.time_months, 0) + 1
        rows = tuple(
            IncidenceRow(
                row.time_months,
                row.at_risk,
                row.events,
                competing_at.get(row.time_months, 0),
                row.censored,
                1.0 - row.survival,
                1.0 - row.ci_upper,
                1.0 - row.ci_lower,
            )
            for row in curve.table
        )
        curves.append(
            IncidenceCurve(
                curve.group,
                Method.ONE_MINUS_KAPLAN_MEIER,
                len(subset),
                sum(r.outcome is Outcome.EVENT for r in subset),
                sum(r.outcome is Outcome.COMPETING for r in subset),
                sum(r.outcome is Outcome.CENSORED for r in subset),
                rows,
                confidence_level,
            )
        )
    return tuple(curves)
