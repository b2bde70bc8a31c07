"""Computations behind the central-monitoring dashboards: plain values in, frozen dataclasses out.

The modules here know nothing of Django, DRF or Celery, so the dashboards, a Celery cache job
and the trial simulator can all call them with lists of records:

- :mod:`monitoring.analysis.survival`: Kaplan-Meier, medians, numbers at risk, landmark rates,
  (stratified) log-rank, (stratified) Cox hazard ratio.
- :mod:`monitoring.analysis.incidence`: cumulative incidence with a competing event
  (Aalen-Johansen) and the naive 1 - Kaplan-Meier.
- :mod:`monitoring.analysis.rates`: Wilson intervals, haematological toxicity rates, lab
  turnaround, compliance.
- :mod:`monitoring.analysis.qol`: QLQ-C30 scale means over time, completion, time to
  deterioration.

lifelines (and through it numpy, pandas, scipy) is imported inside the functions that need it,
so importing these modules stays cheap for web workers that never analyse anything.

Times are in months; :data:`DAYS_PER_MONTH` converts days (``days / 30.4375``, the mean
Gregorian month, 365.25 / 12).

Nothing here raises a pandas or lifelines exception at the caller: invalid input raises
:class:`AnalysisInputError` with a stable ``code``; a valid input that cannot support an estimate
(no records, no events, one group only, ...) returns a result whose ``status`` says why
(:class:`EstimateStatus`) and whose numbers are ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

__all__ = [
    "DAYS_PER_MONTH",
    "AnalysisInputError",
    "EstimateStatus",
    "days_to_months",
]

DAYS_PER_MONTH = 30.4375


class EstimateStatus(StrEnum):
    """Why an estimate is (or is not) available. Values are a contract with the dashboards."""

    OK = "ok"
    NO_RECORDS = "no_records"  # nothing to analyse (an empty group or an empty list)
    NO_EVENTS = "no_events"  # records, but no event: the estimate is undefined
    SINGLE_GROUP = "single_group"  # a comparison needs two groups with records
    NOT_REACHED = "not_reached"  # a median or quantile the curve never reaches
    NOT_ESTIMABLE = "not_estimable"  # the data cannot identify it (see the result's ``reason``)


class AnalysisInputError(ValueError):
    """Invalid input to an analysis. ``code`` is stable (``invalid_time``, ``invalid_event``,
    ``invalid_group``, ``invalid_stratum``, ``mixed_strata``, ``unknown_group``,
    ``invalid_parameter``, ``invalid_outcome``, ``invalid_count``, ``invalid_score``)."""

    def __init__(self, message: str, *, code: str, details: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.details = dict(details or {})


def days_to_months(days: float) -> float:
    """Days to months at 30.4375 days per month (365.25 / 12)."""
    if isinstance(days, bool) or not isinstance(days, int | float) or not math.isfinite(days):
        raise AnalysisInputError(
            "days must be a finite number", code="invalid_time", details={"days": repr(days)}
        )
    return days / DAYS_PER_MONTH


def check_confidence_level(confidence_level: float) -> float:
    """Return ``confidence_level`` if it is a number strictly between 0 and 1."""
    if (
        isinstance(confidence_level, bool)
        or not isinstance(confidence_level, int | float)
        or not 0 < confidence_level < 1
    ):
        raise AnalysisInputError(
            "confidence_level must lie strictly between 0 and 1",
            code="invalid_parameter",
            details={"confidence_level": repr(confidence_level)},
        )
    return float(confidence_level)


def finite_or_none(value: Any) -> float | None:
    """A finite float, or None for NaN, infinity and None (numpy scalars accepted)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
