"""Proportions, toxicity rates, lab turnaround and compliance for the monitoring dashboards.

- Proportions carry a Wilson score interval (Wilson EB, J Am Stat Assoc 1927;22:209-212;
  Newcombe RG, Stat Med 1998;17:857-872, method 3), which unlike the Wald interval stays inside
  [0, 1] and keeps its coverage for small n or rates near 0 or 1:
  centre = (p + z^2 / 2n) / (1 + z^2 / n),
  half-width = z / (1 + z^2 / n) x sqrt(p (1 - p) / n + z^2 / 4n^2).
- Grade >= 3 haematological toxicity on Step 1 is PADA-1's first co-primary endpoint, "and its
  association with baseline characteristics", CTCAE v4.03 (DOMAIN.md 1.6). The caller passes each
  included patient's worst haematological grade (``trial.rules.ctcae`` grades); patients without
  any graded blood count are not evaluable and are counted apart, never as grade 0. The
  association with one characteristic is tested with Fisher's exact test (two levels, two-sided)
  or Pearson's chi-square without continuity correction (more levels; ``sparse`` flags an
  expected count below 5, where the chi-square approximation is poor). The tests are descriptive
  monitoring aids, not the SAP's analysis.
- Turnaround (blood draw to result, days) per lab: median and quartiles, the figures the ddPCR
  feasibility report gives (median 13, Q1 9, Q3 21 days; DOMAIN.md 1.4 [C:S7]). Quartiles use
  linear interpolation between order statistics (Hyndman & Fan type 7, R's default,
  ``statistics.quantiles(method="inclusive")``). Failed samples have no turnaround; their rate is
  failed / (resulted + failed); pending samples are counted, not included in either.
- Compliance per site: each scheduled assessment is classified by the caller from the calendar
  (``trial.rules.schedule``: ``classify`` and ``is_missed``) into a :class:`ComplianceOutcome`.
  Expected = done in window + done out of window + overdue + missed; items whose window is still
  open or has not opened (``open``) are not expected yet. Compliance = done in window / expected.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from statistics import NormalDist
from types import MappingProxyType

from monitoring.analysis import AnalysisInputError, EstimateStatus, check_confidence_level

__all__ = [
    "AssociationTest",
    "ComplianceItem",
    "ComplianceOutcome",
    "ComplianceSummary",
    "HaemToxicityRecord",
    "LabSample",
    "LabTurnaround",
    "Proportion",
    "SubgroupRate",
    "ToxicityRates",
    "TurnaroundReport",
    "compliance_by_site",
    "haem_toxicity_rates",
    "turnaround_by_lab",
    "wilson_interval",
]

_MAX_CTCAE_GRADE = 5
_SPARSE_EXPECTED = 5.0


@dataclass(frozen=True)
class Proportion:
    """successes / n with a Wilson interval; ``status`` is ``no_records`` (all None) when n = 0."""

    successes: int
    n: int
    estimate: float | None
    ci_lower: float | None
    ci_upper: float | None
    confidence_level: float

    @property
    def status(self) -> EstimateStatus:
        return EstimateStatus.OK if self.n else EstimateStatus.NO_RECORDS


def _check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AnalysisInputError(
            f"{name} must be an integer >= 0", code="invalid_count", details={name: repr(value)}
        )
    return value


def wilson_interval(successes: int, n: int, *, confidence_level: float = 0.95) -> Proportion:
    """The proportion ``successes / n`` with its Wilson score interval.

    Errors: ``invalid_count`` (negative, non-integer, or successes > n), ``invalid_parameter``.
    """
    successes = _check_count(successes, "successes")
    n = _check_count(n, "n")
    confidence_level = check_confidence_level(confidence_level)
    if successes > n:
        raise AnalysisInputError(
            "successes cannot exceed n",
            code="invalid_count",
            details={"successes": successes, "n": n},
        )
    if n == 0:
        return Proportion(0, 0, None, None, None, confidence_level)
    z = NormalDist().inv_cdf(1 - (1 - confidence_level) / 2)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # Exact at the edges: x = 0 has lower limit 0 and x = n upper limit 1.
    lower = 0.0 if successes == 0 else max(0.0, centre - half)
    upper = 1.0 if successes == n else min(1.0, centre + half)
    return Proportion(successes, n, p, lower, upper, confidence_level)


# --- haematological toxicity ---------------------------------------------------------------


@dataclass(frozen=True)
class HaemToxicityRecord:
    """One included patient: worst CTCAE haematological grade on Step 1 (0-5; None = no graded
    blood count, not evaluable) and baseline characteristics (name -> level)."""

    worst_grade: int | None
    characteristics: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        grade = self.worst_grade
        if grade is not None and (
            isinstance(grade, bool)
            or not isinstance(grade, int)
            or not 0 <= grade <= _MAX_CTCAE_GRADE
        ):
            raise AnalysisInputError(
                "worst_grade must be None or an integer from 0 to 5",
                code="invalid_count",
                details={"worst_grade": repr(grade)},
            )
        if not isinstance(self.characteristics, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.characteristics.items()
        ):
            raise AnalysisInputError(
                "characteristics must map names to string levels",
                code="invalid_parameter",
                details={"characteristics": repr(self.characteristics)},
            )
        object.__setattr__(self, "characteristics", MappingProxyType(dict(self.characteristics)))


@dataclass(frozen=True)
class SubgroupRate:
    level: str
    rate: Proportion


@dataclass(frozen=True)
class AssociationTest:
    """Association between the toxicity and a characteristic's levels (see module docstring)."""

    status: EstimateStatus
    method: str
    statistic: float | None
    degrees_of_freedom: int | None
    p_value: float | None
    sparse: bool
    reason: str = ""


@dataclass(frozen=True)
class ToxicityRates:
    """Rate of worst grade >= ``min_grade`` among evaluable patients, overall and by level."""

    min_grade: int
    overall: Proportion
    not_evaluable: int
    characteristic: str | None
    subgroups: tuple[SubgroupRate, ...]
    missing_characteristic: int
    association: AssociationTest | None


def _association(table: Sequence[tuple[int, int]]) -> AssociationTest:
    """Fisher (2 x 2) or Pearson chi-square (r x 2) on rows of (with, without) counts."""
    rows = [row for row in table if sum(row) > 0]
    column_totals = (sum(row[0] for row in rows), sum(row[1] for row in rows))
    if len(rows) < 2:
        return AssociationTest(
            EstimateStatus.SINGLE_GROUP, "", None, None, None, False, "fewer than two levels"
        )
    if 0 in column_totals:
        return AssociationTest(
            EstimateStatus.NOT_ESTIMABLE,
            "",
            None,
            None,
            None,
            False,
            "every evaluable patient has the same outcome",
        )
    total = sum(column_totals)
    expected = [[sum(row) * column_totals[column] / total for column in (0, 1)] for row in rows]
    sparse = any(value < _SPARSE_EXPECTED for row in expected for value in row)
    from scipy import stats

    if len(rows) == 2:
        _, p_value = stats.fisher_exact([list(row) for row in rows], alternative="two-sided")
        return AssociationTest(
            EstimateStatus.OK, "Fisher exact, two-sided", None, None, float(p_value), sparse
        )
    statistic = sum(
        (rows[i][j] - expected[i][j]) ** 2 / expected[i][j]
        for i in range(len(rows))
        for j in (0, 1)
    )
    degrees = len(rows) - 1
    return AssociationTest(
        EstimateStatus.OK,
        "Pearson chi-square, no continuity correction",
        statistic,
        degrees,
        float(stats.chi2.sf(statistic, degrees)),
        sparse,
    )


def haem_toxicity_rates(
    records: Iterable[HaemToxicityRecord],
    *,
    characteristic: str | None = None,
    levels: Sequence[str] | None = None,
    min_grade: int = 3,
    confidence_level: float = 0.95,
) -> ToxicityRates:
    """Proportion of evaluable patients whose worst haematological grade is >= ``min_grade``,
    overall and, with ``characteristic``, per level (order of ``levels``, default sorted) with
    a test of association. Patients lacking the characteristic are counted in
    ``missing_characteristic`` and left out of the subgroups (not out of ``overall``).
    Errors: ``invalid_parameter``, ``invalid_count``."""
    records = tuple(records)
    if not all(isinstance(r, HaemToxicityRecord) for r in records):
        raise AnalysisInputError(
            "records must be HaemToxicityRecord values", code="invalid_parameter"
        )
    if (
        isinstance(min_grade, bool)
        or not isinstance(min_grade, int)
        or not 1 <= min_grade <= _MAX_CTCAE_GRADE
    ):
        raise AnalysisInputError(
            "min_grade must be an integer from 1 to 5",
            code="invalid_parameter",
            details={"min_grade": repr(min_grade)},
        )
    evaluable = [r for r in records if r.worst_grade is not None]

    def rate(subset: Sequence[HaemToxicityRecord]) -> Proportion:
        hits = sum(r.worst_grade >= min_grade for r in subset)  # type: ignore[operator]
        return wilson_interval(hits, len(subset), confidence_level=confidence_level)

    overall = rate(evaluable)
    if characteristic is None:
        return ToxicityRates(min_grade, overall, len(records) - len(evaluable), None, (), 0, None)
    with_level = [r for r in evaluable if characteristic in r.characteristics]
    present = {r.characteristics[characteristic] for r in with_level}
    if levels is None:
        order = tuple(sorted(present))
    else:
        order = tuple(levels)
        if len(set(order)) != len(order) or not present <= set(order):
            raise AnalysisInputError(
                "levels must be distinct and include every level present",
                code="invalid_parameter",
                details={"levels": list(order), "present": sorted(present)},
            )
    by_level: dict[str, list[HaemToxicityRecord]] = defaultdict(list)
    for r in with_level:
        by_level[r.characteristics[characteristic]].append(r)
    subgroups = tuple(SubgroupRate(level, rate(by_level[level])) for level in order)
    table = [(s.rate.successes, s.rate.n - s.rate.successes) for s in subgroups]
    return ToxicityRates(
        min_grade,
        overall,
        len(records) - len(evaluable),
        characteristic,
        subgroups,
        len(evaluable) - len(with_level),
        _association(table),
    )


# --- lab turnaround ------------------------------------------------------------------------


@dataclass(frozen=True)
class LabSample:
    """One ctDNA sample: the lab, draw-to-result days (None until a result), failed or not.
    A failed sample carries no turnaround."""

    lab: str
    turnaround_days: float | None
    failed: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.lab, str) or not self.lab:
            raise AnalysisInputError(
                "lab must be a non-empty string",
                code="invalid_group",
                details={"lab": repr(self.lab)},
            )
        if not isinstance(self.failed, bool):
            raise AnalysisInputError(
                "failed must be True or False",
                code="invalid_parameter",
                details={"failed": repr(self.failed)},
            )
        days = self.turnaround_days
        if days is None:
            return
        if (
            isinstance(days, bool)
            or not isinstance(days, int | float)
            or not math.isfinite(days)
            or days < 0
        ):
            raise AnalysisInputError(
                "turnaround_days must be None or a finite number >= 0",
                code="invalid_time",
                details={"turnaround_days": repr(days)},
            )
        if self.failed:
            raise AnalysisInputError(
                "a failed sample has no turnaround",
                code="invalid_parameter",
                details={"lab": self.lab, "turnaround_days": days},
            )


@dataclass(frozen=True)
class LabTurnaround:
    """Turnaround of one lab (``lab`` None: all labs). Day figures are None without results."""

    lab: str | None
    samples: int
    resulted: int
    failed: int
    pending: int
    failure_rate: Proportion
    median_days: float | None
    q1_days: float | None
    q3_days: float | None
    min_days: float | None
    max_days: float | None


@dataclass(frozen=True)
class TurnaroundReport:
    overall: LabTurnaround
    labs: tuple[LabTurnaround, ...]


def _lab_summary(lab: str | None, samples: Sequence[LabSample], level: float) -> LabTurnaround:
    days = sorted(s.turnaround_days for s in samples if s.turnaround_days is not None)
    failed = sum(s.failed for s in samples)
    resulted = len(days)
    failure_rate = wilson_interval(failed, failed + resulted, confidence_level=level)
    if not days:
        quartiles: tuple[float | None, ...] = (None, None, None)
    elif len(days) == 1:
        quartiles = (float(days[0]),) * 3
    else:
        q1, median, q3 = statistics.quantiles(days, n=4, method="inclusive")
        quartiles = (float(q1), float(median), float(q3))
    return LabTurnaround(
        lab=lab,
        samples=len(samples),
        resulted=resulted,
        failed=failed,
        pending=len(samples) - resulted - failed,
        failure_rate=failure_rate,
        median_days=quartiles[1],
        q1_days=quartiles[0],
        q3_days=quartiles[2],
        min_days=float(days[0]) if days else None,
        max_days=float(days[-1]) if days else None,
    )


def turnaround_by_lab(
    samples: Iterable[LabSample], *, confidence_level: float = 0.95
) -> TurnaroundReport:
    """Median, Q1 and Q3 of draw-to-result days and the failure rate, per lab (sorted by name)
    and for all labs together."""
    samples = tuple(samples)
    if not all(isinstance(s, LabSample) for s in samples):
        raise AnalysisInputError("samples must be LabSample values", code="invalid_parameter")
    level = check_confidence_level(confidence_level)
    by_lab: dict[str, list[LabSample]] = defaultdict(list)
    for sample in samples:
        by_lab[sample.lab].append(sample)
    return TurnaroundReport(
        overall=_lab_summary(None, samples, level),
        labs=tuple(_lab_summary(lab, by_lab[lab], level) for lab in sorted(by_lab)),
    )


# --- compliance ----------------------------------------------------------------------------


class ComplianceOutcome(StrEnum):
    DONE_IN_WINDOW = "done_in_window"
    DONE_OUT_OF_WINDOW = "done_out_of_window"
    OVERDUE = "overdue"  # window closed, not done, grace period still running
    MISSED = "missed"  # past the grace period, not done
    OPEN = "open"  # window not closed yet: not expected yet


@dataclass(frozen=True)
class ComplianceItem:
    """One scheduled assessment of a patient: the site, the kind (``visit``, ``blood_count``,
    ``ctdna``, ``imaging``, ``qol``, ...) and its outcome so far."""

    site: str
    kind: str
    outcome: ComplianceOutcome

    def __post_init__(self) -> None:
        for name in ("site", "kind"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise AnalysisInputError(
                    f"{name} must be a non-empty string",
                    code="invalid_group",
                    details={name: repr(value)},
                )
        if not isinstance(self.outcome, ComplianceOutcome):
            raise AnalysisInputError(
                "outcome must be a ComplianceOutcome",
                code="invalid_outcome",
                details={"outcome": repr(self.outcome)},
            )


@dataclass(frozen=True)
class ComplianceSummary:
    """Counts for one site and kind (``site`` None: all sites)."""

    site: str | None
    kind: str
    expected: int
    done_in_window: int
    done_out_of_window: int
    overdue: int
    missed: int
    open: int
    compliance: Proportion


def _compliance(site: str | None, kind: str, items: Sequence[ComplianceItem], level: float):
    counts = {outcome: 0 for outcome in ComplianceOutcome}
    for item in items:
        counts[item.outcome] += 1
    expected = len(items) - counts[ComplianceOutcome.OPEN]
    return ComplianceSummary(
        site=site,
        kind=kind,
        expected=expected,
        done_in_window=counts[ComplianceOutcome.DONE_IN_WINDOW],
        done_out_of_window=counts[ComplianceOutcome.DONE_OUT_OF_WINDOW],
        overdue=counts[ComplianceOutcome.OVERDUE],
        missed=counts[ComplianceOutcome.MISSED],
        open=counts[ComplianceOutcome.OPEN],
        compliance=wilson_interval(
            counts[ComplianceOutcome.DONE_IN_WINDOW], expected, confidence_level=level
        ),
    )


def compliance_by_site(
    items: Iterable[ComplianceItem], *, confidence_level: float = 0.95
) -> tuple[ComplianceSummary, ...]:
    """One summary per (site, kind) present, sorted by site then kind, followed by one per
    kind over all sites (``site`` None)."""
    items = tuple(items)
    if not all(isinstance(i, ComplianceItem) for i in items):
        raise AnalysisInputError("items must be ComplianceItem values", code="invalid_parameter")
    level = check_confidence_level(confidence_level)
    by_pair: dict[tuple[str, str], list[ComplianceItem]] = defaultdict(list)
    by_kind: dict[str, list[ComplianceItem]] = defaultdict(list)
    for item in items:
        by_pair[item.site, item.kind].append(item)
        by_kind[item.kind].append(item)
    per_site = [
        _compliance(site, kind, by_pair[site, kind], level) for site, kind in sorted(by_pair)
    ]
    totals = [_compliance(None, kind, by_kind[kind], level) for kind in sorted(by_kind)]
    return (*per_site, *totals)
