"""Time-to-event analyses for the efficacy dashboards: Kaplan-Meier, log-rank, Cox.

Inputs are :class:`SurvivalRecord` values (time in months, event or censored, group, optional
stratum). PFS from randomisation (DOMAIN.md 1.6, rule 24: randomisation to first of RECIST 1.1
progression or death, else censored at the last tumour assessment) and overall survival are built
by the caller; this module only estimates. Times are months: convert days with
``monitoring.analysis.days_to_months`` (days / 30.4375).

Methods (all two-sided, default confidence level 0.95):

- Kaplan-Meier: ``lifelines.KaplanMeierFitter``. Pointwise confidence intervals are lifelines'
  default "exponential Greenwood" interval, i.e. Greenwood's variance on the log(-log S) scale
  (the same as R ``survfit(conf.type = "log-log")``; R's own default is ``"log"``).
- Median: the first time at which S(t) <= 0.5 (lifelines ``median_survival_time_``; R takes the
  midpoint when S is exactly 0.5 over an interval). Its confidence interval is
  ``lifelines.utils.median_survival_times(confidence_interval_)``: the first times at which the
  lower and the upper pointwise bands reach 0.5 (Brookmeyer & Crowley, Biometrics
  1982;38:29-41, with the log(-log) band). An upper band that never reaches 0.5 leaves the upper
  limit "not reached" (None).
- Number at risk at time t: subjects whose time is >= t (still under observation just before t),
  as in R ``summary(survfit, times = t)``.
- Survival at a landmark (e.g. PALATINE's 24-month overall survival rate, DOMAIN.md 2): the
  Kaplan-Meier step value at that time with its pointwise interval; not estimable beyond the
  last observed time unless the curve has reached 0.
- Log-rank test: the classical Mantel-Haenszel log-rank statistic, O - E per group with the
  hypergeometric variance, chi-square on k - 1 degrees of freedom. Stratified, the O - E vectors
  and variance matrices are summed over strata before forming the statistic (R
  ``survdiff(Surv(t, e) ~ arm + strata(s))``). lifelines has no stratified log-rank, so the
  statistic is computed here with numpy; with a single stratum it equals
  ``lifelines.statistics.multivariate_logrank_test`` (and ``logrank_test`` for two groups), which
  the tests assert.
- Hazard ratio: ``lifelines.CoxPHFitter`` with one covariate, experimental arm = 1 and
  reference arm = 0, so HR < 1 favours the experimental arm (PADA-1: arm B fulvestrant +
  palbociclib vs arm A, DOMAIN.md 1.7). Efron's method for ties (lifelines' only one); the
  stratified model passes ``strata=[...]`` (a separate baseline hazard per stratum, one common
  HR). Wald confidence interval and two-sided Wald p.

Edge cases never raise: an empty group gives ``no_records``, a group without an event has a
curve but no median (``not_reached``), a comparison with one group only gives ``single_group``,
no event at all ``no_events``, and a hazard ratio the data cannot identify (all events in one
arm, or no stratum where both arms were at risk at an event) ``not_estimable`` with the reason.
"""

from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitoring.analysis import (
    AnalysisInputError,
    EstimateStatus,
    check_confidence_level,
    finite_or_none,
)

__all__ = [
    "AtRiskRow",
    "AtRiskTable",
    "GroupEventCounts",
    "HazardRatioEstimate",
    "KaplanMeierEstimate",
    "KaplanMeierRow",
    "LandmarkEstimate",
    "LogRankResult",
    "MedianEstimate",
    "SurvivalComparison",
    "SurvivalRecord",
    "compare_arms",
    "cox_hazard_ratio",
    "kaplan_meier",
    "landmark_survival",
    "logrank_test",
    "numbers_at_risk",
    "regular_times",
]


@dataclass(frozen=True)
class SurvivalRecord:
    """One subject: follow-up time in months, whether the event was observed (False = censored
    at ``time_months``), the group (arm) and an optional stratum label."""

    time_months: float
    event: bool
    group: str = "all"
    stratum: str | None = None

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
        if not isinstance(self.event, bool):
            raise AnalysisInputError(
                "event must be True or False",
                code="invalid_event",
                details={"event": repr(self.event)},
            )
        if not isinstance(self.group, str) or not self.group:
            raise AnalysisInputError(
                "group must be a non-empty string",
                code="invalid_group",
                details={"group": repr(self.group)},
            )
        if self.stratum is not None and (not isinstance(self.stratum, str) or not self.stratum):
            raise AnalysisInputError(
                "stratum must be None or a non-empty string",
                code="invalid_stratum",
                details={"stratum": repr(self.stratum)},
            )


@dataclass(frozen=True)
class KaplanMeierRow:
    """The estimate at one observed time. ``at_risk`` counts subjects with time >= this time;
    ``events`` and ``censored`` happened at it; ``survival`` is S(t) just after it."""

    time_months: float
    at_risk: int
    events: int
    censored: int
    survival: float
    ci_lower: float
    ci_upper: float


@dataclass(frozen=True)
class MedianEstimate:
    """Median time to event with its confidence interval. ``status`` is ``ok``,
    ``not_reached`` (the curve stays above 0.5: ``months`` is None) or ``no_records``.
    A limit that is None was not reached (the interval is open on that side)."""

    status: EstimateStatus
    months: float | None
    ci_lower_months: float | None
    ci_upper_months: float | None


@dataclass(frozen=True)
class LandmarkEstimate:
    """S(t) at a landmark time with its confidence interval and the number still at risk."""

    group: str
    time_months: float
    status: EstimateStatus
    survival: float | None
    ci_lower: float | None
    ci_upper: float | None
    at_risk: int
    reason: str = ""


@dataclass(frozen=True)
class KaplanMeierEstimate:
    """The Kaplan-Meier curve of one group. ``table`` starts with a row at time 0 and has one
    row per distinct observed time; it is empty when the group has no records."""

    group: str
    n: int
    events: int
    censored: int
    table: tuple[KaplanMeierRow, ...]
    median: MedianEstimate
    confidence_level: float

    @property
    def status(self) -> EstimateStatus:
        return EstimateStatus.OK if self.n else EstimateStatus.NO_RECORDS

    def at(self, time_months: float) -> LandmarkEstimate:
        """The step value of the curve at ``time_months`` (S is right-continuous)."""
        time_months = _check_time_point(time_months)
        if not self.table:
            return LandmarkEstimate(
                self.group, time_months, EstimateStatus.NO_RECORDS, None, None, None, 0
            )
        times = [row.time_months for row in self.table]
        last = self.table[-1]
        position = bisect.bisect_left(times, time_months)
        at_risk = self.table[position].at_risk if position < len(times) else 0
        if time_months > last.time_months and last.survival > 0:
            return LandmarkEstimate(
                self.group,
                time_months,
                EstimateStatus.NOT_ESTIMABLE,
                None,
                None,
                None,
                0,
                reason="beyond the last follow-up time of the group",
            )
        row = self.table[bisect.bisect_right(times, time_months) - 1]
        return LandmarkEstimate(
            self.group,
            time_months,
            EstimateStatus.OK,
            row.survival,
            row.ci_lower,
            row.ci_upper,
            at_risk,
        )


@dataclass(frozen=True)
class AtRiskRow:
    group: str
    counts: tuple[int, ...]


@dataclass(frozen=True)
class AtRiskTable:
    """Numbers at risk (time >= t) for each group at each of ``times_months``."""

    times_months: tuple[float, ...]
    rows: tuple[AtRiskRow, ...]


@dataclass(frozen=True)
class GroupEventCounts:
    """Subjects and observed events of a group; ``expected`` events under equal hazards
    (summed over strata), None when the test could not be computed."""

    group: str
    n: int
    observed: int
    expected: float | None


@dataclass(frozen=True)
class LogRankResult:
    """Log-rank test. ``method`` is ``"log-rank"`` or ``"stratified log-rank"``; ``groups``
    gives observed and expected events (summed over strata)."""

    status: EstimateStatus
    method: str
    statistic: float | None
    degrees_of_freedom: int | None
    p_value: float | None
    strata: int
    groups: tuple[GroupEventCounts, ...]
    reason: str = ""


@dataclass(frozen=True)
class HazardRatioEstimate:
    """Cox hazard ratio of ``experimental`` vs ``reference`` (HR < 1 favours experimental).
    ``notes`` keeps the warnings lifelines emitted while fitting."""

    status: EstimateStatus
    reference: str
    experimental: str
    hazard_ratio: float | None
    ci_lower: float | None
    ci_upper: float | None
    p_value: float | None
    stratified: bool
    strata: int
    n: int
    events: int
    confidence_level: float
    method: str = "Cox proportional hazards, Efron ties, Wald interval"
    reason: str = ""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SurvivalComparison:
    """Everything the efficacy panel shows for a two-arm comparison."""

    curves: tuple[KaplanMeierEstimate, ...]
    at_risk: AtRiskTable
    logrank: LogRankResult
    hazard_ratio: HazardRatioEstimate
    landmarks: tuple[LandmarkEstimate, ...]


# --- helpers -----------------------------------------------------------------------------


def _check_time_point(time_months: float) -> float:
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
    return float(time_months)


def _check_records(records: Iterable[SurvivalRecord]) -> tuple[SurvivalRecord, ...]:
    checked = tuple(records)
    for index, record in enumerate(checked):
        if not isinstance(record, SurvivalRecord):
            raise AnalysisInputError(
                "records must be SurvivalRecord values",
                code="invalid_parameter",
                details={"index": index, "type": type(record).__name__},
            )
    return checked


def _group_order(
    records: Sequence[SurvivalRecord], groups: Sequence[str] | None
) -> tuple[str, ...]:
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


def _use_strata(records: Sequence[SurvivalRecord], stratified: bool | None) -> bool:
    with_stratum = sum(record.stratum is not None for record in records)
    if stratified is False:
        return False
    if 0 < with_stratum < len(records):
        raise AnalysisInputError(
            "either every record has a stratum or none has",
            code="mixed_strata",
            details={"with_stratum": with_stratum, "records": len(records)},
        )
    if stratified is True and records and with_stratum == 0:
        raise AnalysisInputError(
            "a stratified analysis needs a stratum on every record",
            code="mixed_strata",
            details={"with_stratum": 0, "records": len(records)},
        )
    return with_stratum > 0


def regular_times(max_months: float, step_months: float) -> tuple[float, ...]:
    """0, step, 2 x step, ... up to and including ``max_months`` (ticks, at-risk times)."""
    max_months = _check_time_point(max_months)
    if (
        isinstance(step_months, bool)
        or not isinstance(step_months, int | float)
        or not math.isfinite(step_months)
        or step_months <= 0
    ):
        raise AnalysisInputError(
            "step_months must be a finite number > 0",
            code="invalid_parameter",
            details={"step_months": repr(step_months)},
        )
    count = math.floor(max_months / step_months + 1e-9)
    return tuple(round(index * step_months, 10) for index in range(count + 1))


# --- Kaplan-Meier ------------------------------------------------------------------------


def _empty_curve(group: str, confidence_level: float) -> KaplanMeierEstimate:
    median = MedianEstimate(EstimateStatus.NO_RECORDS, None, None, None)
    return KaplanMeierEstimate(group, 0, 0, 0, (), median, confidence_level)


def _fit_curve(
    group: str, records: Sequence[SurvivalRecord], confidence_level: float
) -> KaplanMeierEstimate:
    if not records:
        return _empty_curve(group, confidence_level)
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    fitter = KaplanMeierFitter(alpha=1 - confidence_level)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitter.fit(
            [record.time_months for record in records],
            event_observed=[record.event for record in records],
        )
    events_table = fitter.event_table
    bands = fitter.confidence_interval_
    # The default timeline is the event table's index, shared by the estimate and its bands.
    survival = fitter.survival_function_.iloc[:, 0].reindex(events_table.index)
    lower = bands.iloc[:, 0].reindex(events_table.index)
    upper = bands.iloc[:, 1].reindex(events_table.index)
    table = tuple(
        KaplanMeierRow(float(t), int(n), int(d), int(c), float(s), float(lo), float(hi))
        for t, n, d, c, s, lo, hi in zip(
            events_table.index.tolist(),
            events_table["at_risk"].tolist(),
            events_table["observed"].tolist(),
            events_table["censored"].tolist(),
            survival.tolist(),
            lower.tolist(),
            upper.tolist(),
            strict=True,
        )
    )
    median_months = finite_or_none(fitter.median_survival_time_)
    median_limits = median_survival_times(bands)
    events = sum(record.event for record in records)
    median = MedianEstimate(
        EstimateStatus.OK if median_months is not None else EstimateStatus.NOT_REACHED,
        median_months,
        finite_or_none(median_limits.iloc[0, 0]),
        finite_or_none(median_limits.iloc[0, 1]),
    )
    return KaplanMeierEstimate(
        group, len(records), events, len(records) - events, table, median, confidence_level
    )


def kaplan_meier(
    records: Iterable[SurvivalRecord],
    *,
    groups: Sequence[str] | None = None,
    confidence_level: float = 0.95,
) -> tuple[KaplanMeierEstimate, ...]:
    """One Kaplan-Meier curve per group, in the order of ``groups`` (default: sorted names).

    A requested group without records gets an empty curve (status ``no_records``).
    Errors: ``unknown_group`` (a record's group is not in ``groups``), ``invalid_parameter``.
    """
    records = _check_records(records)
    confidence_level = check_confidence_level(confidence_level)
    order = _group_order(records, groups)
    return tuple(
        _fit_curve(group, [r for r in records if r.group == group], confidence_level)
        for group in order
    )


def landmark_survival(
    records: Iterable[SurvivalRecord],
    *,
    time_months: float,
    groups: Sequence[str] | None = None,
    confidence_level: float = 0.95,
) -> tuple[LandmarkEstimate, ...]:
    """S(``time_months``) per group with its confidence interval (e.g. 24-month OS rate)."""
    time_months = _check_time_point(time_months)
    curves = kaplan_meier(records, groups=groups, confidence_level=confidence_level)
    return tuple(curve.at(time_months) for curve in curves)


def numbers_at_risk(
    records: Iterable[SurvivalRecord],
    times_months: Sequence[float],
    *,
    groups: Sequence[str] | None = None,
) -> AtRiskTable:
    """How many subjects of each group have a time >= t, for each t of ``times_months``."""
    records = _check_records(records)
    times = tuple(_check_time_point(t) for t in times_months)
    order = _group_order(records, groups)
    rows = []
    for group in order:
        sorted_times = sorted(r.time_months for r in records if r.group == group)
        counts = tuple(len(sorted_times) - bisect.bisect_left(sorted_times, t) for t in times)
        rows.append(AtRiskRow(group, counts))
    return AtRiskTable(times, tuple(rows))


# --- log-rank ----------------------------------------------------------------------------


def _logrank_stratum(records: Sequence[SurvivalRecord], order: Sequence[str]):
    """O - E vector, variance matrix (k x k) and expected events of one stratum."""
    import numpy as np

    k = len(order)
    index = {group: position for position, group in enumerate(order)}
    times = np.array([r.time_months for r in records], dtype=float)
    events = np.array([r.event for r in records], dtype=bool)
    members = np.array([index[r.group] for r in records], dtype=int)
    event_times = np.unique(times[events])
    # at_risk[j, g]: subjects of group g with time >= event_times[j]; deaths[j, g] likewise.
    at_risk = np.zeros((event_times.size, k))
    deaths = np.zeros((event_times.size, k))
    for g in range(k):
        group_times = np.sort(times[members == g])
        at_risk[:, g] = group_times.size - np.searchsorted(group_times, event_times, side="left")
        group_event_times = times[(members == g) & events]
        positions = np.searchsorted(event_times, group_event_times)
        np.add.at(deaths[:, g], positions, 1)
    n = at_risk.sum(axis=1)
    d = deaths.sum(axis=1)
    expected = (at_risk * (d / n)[:, None]).sum(axis=0)
    observed = deaths.sum(axis=0)
    # Hypergeometric covariance at each time: d (n - d) / (n^2 (n - 1)) * n_g (delta n - n_h);
    # the ratio (n - d) / (n - 1) is 1 when a single subject is at risk (nothing to vary).
    ratio = np.where(n > 1, (n - d) / np.where(n > 1, n - 1, 1), 1.0)
    factor = d * ratio / n**2
    variance = np.einsum("j,jg,gh->gh", factor * n, at_risk, np.eye(k)) - np.einsum(
        "j,jg,jh->gh", factor, at_risk, at_risk
    )
    return observed - expected, variance, expected


def logrank_test(
    records: Iterable[SurvivalRecord],
    *,
    groups: Sequence[str] | None = None,
    stratified: bool | None = None,
) -> LogRankResult:
    """Log-rank test of equal hazards across groups, stratified when the records carry strata.

    ``stratified``: None = stratify if the records have strata; True = they must; False =
    ignore strata. Errors: ``mixed_strata``, ``unknown_group``, ``invalid_parameter``.
    """
    records = _check_records(records)
    order = _group_order(records, groups)
    use_strata = _use_strata(records, stratified)
    method = "stratified log-rank" if use_strata else "log-rank"
    present = [g for g in order if any(r.group == g for r in records)]
    strata_labels = sorted({r.stratum for r in records if r.stratum}) if use_strata else [None]

    def counts(expected=None) -> tuple[GroupEventCounts, ...]:
        # Every requested group is listed (one without records has zeros); expected counts
        # exist only when the statistic does.
        position = {group: index for index, group in enumerate(present)}
        return tuple(
            GroupEventCounts(
                group,
                sum(r.group == group for r in records),
                sum(r.event for r in records if r.group == group),
                float(expected[position[group]])
                if expected is not None and group in position
                else None,
            )
            for group in order
        )

    def unavailable(status: EstimateStatus, reason: str):
        return LogRankResult(
            status,
            method,
            None,
            None,
            None,
            len(strata_labels) if records else 0,
            counts(),
            reason,
        )

    if not records:
        return unavailable(EstimateStatus.NO_RECORDS, "no records")
    if len(present) < 2:
        return unavailable(EstimateStatus.SINGLE_GROUP, "a comparison needs two groups")
    if not any(r.event for r in records):
        return unavailable(EstimateStatus.NO_EVENTS, "no event in any group")

    import numpy as np
    from scipy.stats import chi2

    k = len(present)
    u_total = np.zeros(k)
    v_total = np.zeros((k, k))
    expected_total = np.zeros(k)
    for stratum in strata_labels:
        subset = [r for r in records if not use_strata or r.stratum == stratum]
        u, v, expected = _logrank_stratum(subset, present)
        u_total += u
        v_total += v
        expected_total += expected
    reduced = v_total[:-1, :-1]
    if not np.any(np.abs(reduced) > 0):
        return unavailable(
            EstimateStatus.NOT_ESTIMABLE,
            "no event occurred while two groups were at risk in the same stratum",
        )
    statistic = float(u_total[:-1] @ np.linalg.pinv(reduced) @ u_total[:-1])
    degrees = k - 1
    return LogRankResult(
        EstimateStatus.OK,
        method,
        statistic,
        degrees,
        float(chi2.sf(statistic, degrees)),
        len(strata_labels),
        counts(expected_total),
    )


# --- Cox hazard ratio --------------------------------------------------------------------


def _informative_events(records: Sequence[SurvivalRecord], use_strata: bool, experimental: str):
    """(experimental events with a reference subject at risk in the stratum, and vice versa).

    With one binary covariate the partial likelihood has a finite maximum only if both kinds
    exist; otherwise it rises monotonically and the HR is 0 or infinite.
    """
    latest: dict[tuple[str | None, bool], float] = {}
    for r in records:
        key = (r.stratum if use_strata else None, r.group == experimental)
        latest[key] = max(latest.get(key, -1.0), r.time_months)
    experimental_informative = reference_informative = 0
    for r in records:
        if not r.event:
            continue
        stratum = r.stratum if use_strata else None
        is_experimental = r.group == experimental
        other_latest = latest.get((stratum, not is_experimental), -1.0)
        if other_latest >= r.time_months:
            if is_experimental:
                experimental_informative += 1
            else:
                reference_informative += 1
    return experimental_informative, reference_informative


def _fit_cox(records, experimental, use_strata, confidence_level):
    import pandas as pd
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError

    frame = pd.DataFrame(
        {
            "time": [r.time_months for r in records],
            "event": [int(r.event) for r in records],
            "arm": [int(r.group == experimental) for r in records],
        }
    )
    if use_strata:
        frame["stratum"] = [r.stratum for r in records]
    fitter = CoxPHFitter(alpha=1 - confidence_level)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fitter.fit(
                frame,
                duration_col="time",
                event_col="event",
                strata=["stratum"] if use_strata else None,
            )
        except (ConvergenceError, ValueError, ArithmeticError) as error:
            return None, f"the Cox model could not be fitted: {error}", ()
    notes = tuple(sorted({str(w.message).strip() for w in caught}))
    return fitter, "", notes


def cox_hazard_ratio(
    records: Iterable[SurvivalRecord],
    *,
    reference: str,
    experimental: str,
    stratified: bool | None = None,
    confidence_level: float = 0.95,
) -> HazardRatioEstimate:
    """Hazard ratio of ``experimental`` vs ``reference`` from a (stratified) Cox model.

    Every record must belong to one of the two arms (``unknown_group`` otherwise).
    ``stratified`` as in :func:`logrank_test`. Errors: ``mixed_strata``, ``invalid_parameter``.
    """
    records = _check_records(records)
    confidence_level = check_confidence_level(confidence_level)
    if reference == experimental:
        raise AnalysisInputError(
            "reference and experimental arms must differ",
            code="invalid_parameter",
            details={"reference": reference, "experimental": experimental},
        )
    _group_order(records, (reference, experimental))
    use_strata = _use_strata(records, stratified)
    n = len(records)
    events = sum(r.event for r in records)
    strata = len({r.stratum for r in records}) if use_strata else (1 if records else 0)

    def result(status, reason="", *, hr=None, lower=None, upper=None, p=None, notes=()):
        return HazardRatioEstimate(
            status=status,
            reference=reference,
            experimental=experimental,
            hazard_ratio=hr,
            ci_lower=lower,
            ci_upper=upper,
            p_value=p,
            stratified=use_strata,
            strata=strata,
            n=n,
            events=events,
            confidence_level=confidence_level,
            reason=reason,
            notes=notes,
        )

    if not records:
        return result(EstimateStatus.NO_RECORDS, "no records")
    if len({r.group for r in records}) < 2:
        return result(EstimateStatus.SINGLE_GROUP, "a hazard ratio needs records in both arms")
    if not events:
        return result(EstimateStatus.NO_EVENTS, "no event in either arm")
    informative_experimental, informative_reference = _informative_events(
        records, use_strata, experimental
    )
    if not informative_experimental or not informative_reference:
        return result(
            EstimateStatus.NOT_ESTIMABLE,
            "the events that compare the arms all fall in one arm: the hazard ratio is 0 or "
            "infinite (monotone partial likelihood)",
        )
    fitter, failure, notes = _fit_cox(records, experimental, use_strata, confidence_level)
    if fitter is None:
        return result(EstimateStatus.NOT_ESTIMABLE, failure)
    coefficient = float(fitter.params_["arm"])
    limits = fitter.confidence_intervals_.loc["arm"]
    p_value = finite_or_none(fitter.summary.at["arm", "p"])
    values = (coefficient, float(limits.iloc[0]), float(limits.iloc[1]))
    if p_value is None or not all(math.isfinite(v) and abs(v) < 700 for v in values):
        return result(EstimateStatus.NOT_ESTIMABLE, "the Cox fit gave no finite estimate")
    return result(
        EstimateStatus.OK,
        hr=math.exp(values[0]),
        lower=math.exp(values[1]),
        upper=math.exp(values[2]),
        p=p_value,
        notes=notes,
    )


def compare_arms(
    records: Iterable[SurvivalRecord],
    *,
    reference: str,
    experimental: str,
    at_risk_times: Sequence[float],
    landmark_months: float | None = None,
    stratified: bool | None = None,
    confidence_level: float = 0.95,
) -> SurvivalComparison:
    """Curves (reference first), numbers at risk, log-rank, hazard ratio and optional landmark
    rates for a two-arm comparison, e.g. PADA-1 PFS by arm (B vs A), stratified."""
    records = _check_records(records)
    arms = (reference, experimental)
    curves = kaplan_meier(records, groups=arms, confidence_level=confidence_level)
    return SurvivalComparison(
        curves=curves,
        at_risk=numbers_at_risk(records, at_risk_times, groups=arms),
        logrank=logrank_test(records, groups=arms, stratified=stratified),
        hazard_ratio=cox_hazard_ratio(
            records,
            reference=reference,
            experimental=experimental,
            stratified=stratified,
            confidence_level=confidence_level,
        ),
        landmarks=(
            () if landmark_months is None else tuple(curve.at(landmark_months) for curve in curves)
        ),
    )
