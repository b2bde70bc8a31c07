"""Figures, their baselines and targets, and the verdict of each (PASS or SHORT).

A figure is one number the report states (a throughput, a latency, a time, a peak memory). It
carries the baseline measured in the same run, so the report shows the ratio next to it, and the
performance targets ("at least 400 results/s", "at least 0.8 x the bare endpoint", "at most
5 s"): a figure passes when it meets every target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Bound(StrEnum):
    AT_LEAST = "at_least"
    AT_MOST = "at_most"


class Verdict(StrEnum):
    PASS = "PASS"
    SHORT = "SHORT"
    NO_TARGET = "-"
    NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Target:
    """A goal: ``value`` itself, or ``value`` times the baseline when ``relative``."""

    bound: Bound
    value: float
    relative: bool = False

    def threshold(self, baseline: float | None) -> float | None:
        if not self.relative:
            return self.value
        return None if baseline is None else self.value * baseline

    def met_by(self, value: float, baseline: float | None) -> bool | None:
        """True or False, or None when a relative target has no baseline to compare with."""
        threshold = self.threshold(baseline)
        if threshold is None:
            return None
        return value >= threshold if self.bound is Bound.AT_LEAST else value <= threshold

    def describe(self, unit: str) -> str:
        sign = ">=" if self.bound is Bound.AT_LEAST else "<="
        if self.relative:
            return f"{sign} {self.value:,g} x baseline"
        return f"{sign} {self.value:,g} {unit}".rstrip()


@dataclass(frozen=True)
class Figure:
    """One reported number; ``value`` None means it could not be measured (see ``note``)."""

    name: str
    value: float | None
    unit: str
    baseline_name: str = ""
    baseline_value: float | None = None
    targets: tuple[Target, ...] = ()
    note: str = ""
    extra: dict[str, float | int | str] = field(default_factory=dict)
    # The true value is at least ``value`` (a run stopped at its time limit).
    lower_bound: bool = False

    @property
    def ratio(self) -> float | None:
        return ratio(self.value, self.baseline_value)

    @property
    def verdict(self) -> Verdict:
        return verdict(self.value, self.baseline_value, self.targets, lower_bound=self.lower_bound)


def ratio(value: float | None, baseline: float | None) -> float | None:
    """``value / baseline``, or None when either is missing or the baseline is zero."""
    if value is None or baseline is None or baseline == 0:
        return None
    return value / baseline


def verdict(
    value: float | None,
    baseline: float | None,
    targets: tuple[Target, ...],
    *,
    lower_bound: bool = False,
) -> Verdict:
    """PASS when every target is met, SHORT when one is missed. A relative target without a
    baseline counts as missed: the issue asks for the ratio measured in the same run. A lower
    bound (the run was stopped) cannot prove an upper limit is kept."""
    if value is None:
        return Verdict.NOT_MEASURED
    if not targets:
        return Verdict.NO_TARGET
    if lower_bound and any(t.bound is Bound.AT_MOST for t in targets):
        return Verdict.SHORT
    met = [target.met_by(value, baseline) for target in targets]
    return Verdict.PASS if all(m is True for m in met) else Verdict.SHORT


def format_number(value: float | None) -> str:
    """Readable precision: thousands separated above 100, three significant digits below."""
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1 or magnitude == 0:
        return f"{value:.2f}"
    return f"{value:.3g}"
