"""Pre-activation simulation of an allocation design: balance and predictability.

Before a design is activated the statistician runs it over ``n_trials`` simulated trials of
``n_patients`` patients. Each patient's level of every stratification factor is drawn
independently from the given level probabilities; the stratum is the cross-classification of
all factors (``randomization.rules.blocks.stratum_key``). Two designs are supported:

- stratified permuted blocks (``simulate_permuted_blocks``): one list stream per stratum,
  produced by ``randomization.rules.blocks.iter_stratum_allocations`` (the production
  algorithm), read lazily;
- Pocock-Simon minimization (``simulate_minimization``): every patient goes through
  ``randomization.rules.minimization.minimize`` over the whole trial's marginal counts.

Imbalance is the spread of ratio-weighted arm counts, ``max_j n_j / r_j - min_j n_j / r_j``
(``|n_A - n_B|`` for two 1:1 arms), at the end of each simulated trial: overall, in each stratum
that received patients, and in each factor level (the margins minimization balances). Each is
summarised by mean, median, 95th percentile (linear interpolation between order statistics,
Hyndman & Fan type 7) and maximum.

Predictability is the rate at which an observer who knows every past allocation guesses the
next one under the convergence strategy (Blackwell & Hodges, Ann Math Stat 1957;28:449-460;
Rosenberger & Lachin, *Randomization in Clinical Trials: Theory and Practice*, 2nd ed., Wiley
2016): guess the arm with the fewest ratio-weighted allocations so far in the patient's stratum,
at random among ties. The random tie guess is scored by its expectation (credit ``1 / t`` when
the allocated arm is among ``t`` tied arms), which has the same mean as a coin and no extra
noise. For 1:1 blocks of size 2 the rate is 0.75; larger and random block sizes lower it and 0.5
is the floor for two arms. For minimization the report also gives the rate of an observer who
knows the algorithm and the counts and guesses the preferred arm (about ``p_preferred``).

All randomness comes from private counter-mode SHA-256 generators derived from ``seed`` and the
trial index (see ``randomization.rules.blocks``), so a report is reproducible from its seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from numbers import Real

from randomization.rules.blocks import (
    PERMUTED_BLOCKS_V1,
    BlockEntry,
    InvalidDesignError,
    Sha256CounterDrbg,
    derive_key,
    iter_stratum_allocations,
    seed_digest,
    stratum_key,
    validate_block_sizes,
    validate_ratio,
)
from randomization.rules.minimization import (
    DEFAULT_P_PREFERRED,
    ImbalanceMeasure,
    minimize,
    validate_design,
)

PROBABILITY_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class FactorDistribution:
    """A stratification factor and the probability of each level among simulated patients."""

    factor: str
    levels: tuple[str, ...]
    probabilities: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class ImbalanceSummary:
    """Distribution of end-of-trial imbalance over ``n`` observations."""

    n: int
    mean: float
    p50: float
    p95: float
    max: float


@dataclass(frozen=True, slots=True)
class SimulationReport:
    """Result of one simulated design; ``format_report`` renders it as text."""

    method: str
    design: tuple[tuple[str, str], ...]
    n_trials: int
    n_patients: int
    seed_digest: str
    overall: ImbalanceSummary
    within_stratum: ImbalanceSummary
    by_stratum: tuple[tuple[str, ImbalanceSummary], ...]
    by_factor_level: tuple[tuple[str, ImbalanceSummary], ...]
    allocation_share: tuple[tuple[str, float], ...]
    convergence_guess_rate: float
    algorithm_aware_guess_rate: float | None


@dataclass(frozen=True, slots=True)
class _Allocation:
    arm: str
    aware_guesses: tuple[str, ...] | None


_Allocator = Callable[[Mapping[str, str], str], _Allocation]


class _Tally:
    """Counts and guess credits of one simulated trial."""

    def __init__(self, arms: Mapping[str, int]) -> None:
        self.arms = arms
        self.overall = dict.fromkeys(arms, 0)
        self.by_stratum: dict[str, dict[str, int]] = {}
        self.by_level: dict[str, dict[str, int]] = {}
        self.convergence_credit = 0.0
        self.aware_credit = 0.0

    def record(self, levels: Mapping[str, str], stratum: str, allocation: _Allocation) -> None:
        stratum_counts = self.by_stratum.setdefault(stratum, dict.fromkeys(self.arms, 0))
        self.convergence_credit += _credit(_fewest(stratum_counts, self.arms), allocation.arm)
        if allocation.aware_guesses is not None:
            self.aware_credit += _credit(allocation.aware_guesses, allocation.arm)
        stratum_counts[allocation.arm] += 1
        self.overall[allocation.arm] += 1
        for factor, level in levels.items():
            cell = self.by_level.setdefault(f"{factor}={level}", dict.fromkeys(self.arms, 0))
            cell[allocation.arm] += 1


def simulate_permuted_blocks(
    *,
    arms: Mapping[str, int],
    block_sizes: Sequence[int],
    factors: Sequence[FactorDistribution],
    n_trials: int,
    n_patients: int,
    seed: str,
) -> SimulationReport:
    """Simulate stratified permuted blocks with randomly varying sizes (module docstring).

    Raises ``InvalidDesignError`` or ``InvalidBlockSizesError`` for a malformed design.
    """
    sizes = validate_block_sizes(block_sizes, validate_ratio(arms))
    _check_run(factors, n_trials, n_patients, seed)

    def allocator_for(trial: int) -> _Allocator:
        block_seed = derive_key("simulation-blocks", seed, str(trial)).hex()
        streams: dict[str, Iterator[BlockEntry]] = {}

        def allocate(levels: Mapping[str, str], stratum: str) -> _Allocation:
            if stratum not in streams:
                streams[stratum] = iter_stratum_allocations(
                    arms=arms,
                    block_sizes=sizes,
                    seed=block_seed,
                    algorithm_version=PERMUTED_BLOCKS_V1,
                    stratum=stratum,
                )
            return _Allocation(arm=next(streams[stratum]).arm, aware_guesses=None)

        return allocate

    design = (
        ("arms", _ratio_text(arms)),
        ("block sizes", ", ".join(str(size) for size in sizes)),
    )
    return _run("permuted_blocks", design, arms, factors, n_trials, n_patients, seed, allocator_for)


def simulate_minimization(
    *,
    arms: Mapping[str, int],
    factor_weights: Mapping[str, Real],
    factors: Sequence[FactorDistribution],
    n_trials: int,
    n_patients: int,
    seed: str,
    p_preferred: float = DEFAULT_P_PREFERRED,
    measure: ImbalanceMeasure | str = ImbalanceMeasure.RANGE,
) -> SimulationReport:
    """Simulate Pocock-Simon minimization over the trial's margins (module docstring).

    ``arms`` maps arm code to ratio (its order is the tie-break order); every weighted factor
    must be one of ``factors``. Raises ``InvalidDesignError`` for a malformed design.
    """
    measure = validate_design(
        arms=tuple(arms),
        ratio=arms,
        factor_weights=factor_weights,
        p_preferred=p_preferred,
        measure=measure,
    )
    _check_run(factors, n_trials, n_patients, seed)
    unknown = sorted(set(factor_weights) - {f.factor for f in factors})
    if unknown:
        raise InvalidDesignError("weighted factors must be simulated", {"unknown": unknown})

    def allocator_for(trial: int) -> _Allocator:
        draws = Sha256CounterDrbg(derive_key("simulation-draws", seed, str(trial)))
        counts: dict[str, dict[str, dict[str, int]]] = {f: {} for f in factor_weights}

        def allocate(levels: Mapping[str, str], stratum: str) -> _Allocation:
            result = minimize(
                arms=tuple(arms),
                ratio=arms,
                factor_weights=factor_weights,
                patient_levels=levels,
                counts=counts,
                p_preferred=p_preferred,
                measure=measure,
                uniform_draw=draws.uniform(),
            )
            for factor in factor_weights:
                cell = counts[factor].setdefault(levels[factor], dict.fromkeys(arms, 0))
                cell[result.chosen] += 1
            return _Allocation(arm=result.chosen, aware_guesses=result.preferred)

        return allocate

    design = (
        ("arms", _ratio_text(arms)),
        ("weights", ", ".join(f"{f}: {w}" for f, w in factor_weights.items())),
        ("imbalance measure", measure.value),
        ("p_preferred", f"{p_preferred:g}"),
    )
    return _run("minimization", design, arms, factors, n_trials, n_patients, seed, allocator_for)


def format_report(report: SimulationReport) -> str:
    """The report as plain text, one table of imbalance and the guess rates."""
    title = report.method.replace("_", " ")
    lines = [f"Allocation simulation: {title}"]
    lines += [f"  {name}: {value}" for name, value in report.design]
    lines.append(
        f"  {report.n_trials} trials x {report.n_patients} patients;"
        f" seed SHA-256 {report.seed_digest[:16]}"
    )
    lines.append("Imbalance at trial end (max - min of ratio-weighted arm counts)")
    rows = [("overall", report.overall), ("within strata (pooled)", report.within_stratum)]
    rows += [(f"stratum {key}", summary) for key, summary in report.by_stratum]
    rows += [(f"margin {key}", summary) for key, summary in report.by_factor_level]
    width = max(len(scope) for scope, _ in rows)
    lines.append(f"  {'scope':<{width}} {'n':>7} {'mean':>7} {'p50':>7} {'p95':>7} {'max':>7}")
    for scope, s in rows:
        lines.append(
            f"  {scope:<{width}} {s.n:>7} {s.mean:>7.2f} {s.p50:>7.2f} {s.p95:>7.2f} {s.max:>7.2f}"
        )
    shares = ", ".join(f"{arm} {share:.3f}" for arm, share in report.allocation_share)
    lines.append(f"Allocation share: {shares}")
    lines.append(
        f"Correct guesses, convergence strategy within stratum: {report.convergence_guess_rate:.3f}"
    )
    if report.algorithm_aware_guess_rate is not None:
        lines.append(
            "Correct guesses, observer who knows the algorithm and counts:"
            f" {report.algorithm_aware_guess_rate:.3f}"
        )
    return "\n".join(lines) + "\n"


def percentile(values: Sequence[float], q: float) -> float:
    """Percentile ``q`` in [0, 100] by linear interpolation (Hyndman & Fan type 7).

    Computed exactly and rounded once, so 2.1 is reported as 2.1, not 2.0999999999999943.
    """
    if not values or not 0 <= q <= 100:
        raise ValueError("percentile needs at least one value and q in [0, 100]")
    ordered = [Fraction(value) for value in sorted(values)]
    position = (len(ordered) - 1) * Fraction(q) / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def summarise(values: Sequence[float]) -> ImbalanceSummary:
    """Mean, median, 95th percentile and maximum; all zero when there is no observation."""
    if not values:
        return ImbalanceSummary(n=0, mean=0.0, p50=0.0, p95=0.0, max=0.0)
    return ImbalanceSummary(
        n=len(values),
        mean=math.fsum(values) / len(values),
        p50=percentile(values, 50),
        p95=percentile(values, 95),
        max=max(values),
    )


def spread(counts: Mapping[str, int], arms: Mapping[str, int]) -> float:
    """``max - min`` of ratio-weighted counts ``n_j / r_j``."""
    weighted = [Fraction(counts[arm], ratio) for arm, ratio in arms.items()]
    return float(max(weighted) - min(weighted))


def _run(
    method: str,
    design: tuple[tuple[str, str], ...],
    arms: Mapping[str, int],
    factors: Sequence[FactorDistribution],
    n_trials: int,
    n_patients: int,
    seed: str,
    allocator_for: Callable[[int], _Allocator],
) -> SimulationReport:
    codes = [f.factor for f in factors]
    levels = {f.factor: f.levels for f in factors}
    tallies = []
    for trial in range(n_trials):
        patients = Sha256CounterDrbg(derive_key("simulation-patients", seed, str(trial)))
        allocate = allocator_for(trial)
        tally = _Tally(arms)
        for _ in range(n_patients):
            patient = {f.factor: _draw_level(patients, f) for f in factors}
            stratum = stratum_key(codes, patient, levels=levels)
            tally.record(patient, stratum, allocate(patient, stratum))
        tallies.append(tally)
    return _report(method, design, arms, factors, n_trials, n_patients, seed, tallies)


def _report(
    method: str,
    design: tuple[tuple[str, str], ...],
    arms: Mapping[str, int],
    factors: Sequence[FactorDistribution],
    n_trials: int,
    n_patients: int,
    seed: str,
    tallies: Sequence[_Tally],
) -> SimulationReport:
    total = n_trials * n_patients
    strata = sorted({key for t in tallies for key in t.by_stratum})
    margins = [f"{f.factor}={level}" for f in factors for level in f.levels]
    aware = method == "minimization"
    return SimulationReport(
        method=method,
        design=design,
        n_trials=n_trials,
        n_patients=n_patients,
        seed_digest=seed_digest(seed),
        overall=summarise([spread(t.overall, arms) for t in tallies]),
        within_stratum=summarise(
            [spread(counts, arms) for t in tallies for counts in t.by_stratum.values()]
        ),
        by_stratum=tuple(
            (key, _summary_of([t.by_stratum for t in tallies], key, arms)) for key in strata
        ),
        by_factor_level=tuple(
            (key, _summary_of([t.by_level for t in tallies], key, arms)) for key in margins
        ),
        allocation_share=tuple((arm, sum(t.overall[arm] for t in tallies) / total) for arm in arms),
        convergence_guess_rate=math.fsum(t.convergence_credit for t in tallies) / total,
        algorithm_aware_guess_rate=(
            math.fsum(t.aware_credit for t in tallies) / total if aware else None
        ),
    )


def _summary_of(
    per_trial: Sequence[Mapping[str, Mapping[str, int]]], key: str, arms: Mapping[str, int]
) -> ImbalanceSummary:
    """Summary over the trials in which ``key`` received at least one patient."""
    return summarise([spread(cells[key], arms) for cells in per_trial if key in cells])


def _fewest(counts: Mapping[str, int], arms: Mapping[str, int]) -> tuple[str, ...]:
    weighted = {arm: Fraction(counts[arm], ratio) for arm, ratio in arms.items()}
    low = min(weighted.values())
    return tuple(arm for arm, value in weighted.items() if value == low)


def _credit(guesses: Sequence[str], arm: str) -> float:
    return 1 / len(guesses) if arm in guesses else 0.0


def _draw_level(drbg: Sha256CounterDrbg, factor: FactorDistribution) -> str:
    u = drbg.uniform()
    cumulative = 0.0
    for level, probability in zip(factor.levels, factor.probabilities, strict=True):
        cumulative += probability
        if u < cumulative:
            return level
    return next(
        level
        for level, probability in zip(
            reversed(factor.levels), reversed(factor.probabilities), strict=True
        )
        if probability > 0
    )


def _ratio_text(arms: Mapping[str, int]) -> str:
    return ":".join(arms) + " = " + ":".join(str(ratio) for ratio in arms.values())


def _check_run(
    factors: Sequence[FactorDistribution], n_trials: int, n_patients: int, seed: str
) -> None:
    for name, value in (("n_trials", n_trials), ("n_patients", n_patients)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidDesignError(f"{name} must be a positive integer", {name: value})
    if not isinstance(seed, str) or not seed:
        raise InvalidDesignError("seed must be a non-empty string")
    if len({f.factor for f in factors}) != len(factors):
        raise InvalidDesignError("factors must be distinct")
    for factor in factors:
        _check_factor(factor)


def _check_factor(factor: FactorDistribution) -> None:
    probabilities = tuple(factor.probabilities)
    valid = (
        len(factor.levels) > 0
        and len(probabilities) == len(factor.levels)
        and len(set(factor.levels)) == len(factor.levels)
        and all(isinstance(p, Real) and math.isfinite(p) and p >= 0 for p in probabilities)
    )
    if not valid or abs(math.fsum(probabilities) - 1) > PROBABILITY_TOLERANCE:
        raise InvalidDesignError(
            f"factor {factor.factor!r}: need distinct levels with one probability each,"
            " non-negative and summing to 1",
            {"factor": factor.factor},
        )
