"""Pocock-Simon minimization with a biased coin, for any number of arms and allocation ratio.

Algorithm (Pocock & Simon, Biometrics 1975;31:103-115; Taves, Clin Pharmacol Ther
1974;15:443-453)
--------------------------------------------------------------------------------------------
For a new patient with level ``l_i`` of each factor ``i`` and each candidate arm ``k``:

1. take the counts ``n_ij`` of earlier patients with level ``l_i`` on arm ``j``, add the new
   patient to arm ``k``, and divide by the arm's ratio: ``x_ij = (n_ij + [j == k]) / r_j``
   (ratio-weighted counts, so a 2:1 design is balanced when ``n_A = 2 n_B``);
2. measure the imbalance of factor ``i``: ``range`` = ``max_j x_ij - min_j x_ij``, or
   ``variance`` = population variance of ``x_ij`` over the arms (divisor = number of arms);
3. score the arm: ``G_k = sum_i w_i * D_i(k)``.

Arms with the smallest ``G_k`` are *preferred*. With one uniform draw ``u`` in [0, 1):

- every arm preferred (a full tie): the arm is picked from all arms in proportion to the ratio;
- otherwise, ``u < p_preferred`` picks among the preferred arms and ``u >= p_preferred``
  among the others, each in proportion to the ratio. The draw is reused after rescaling,
  ``u / p`` or ``(u - p) / (1 - p)``, which is again uniform on [0, 1) given the branch;
- "in proportion to the ratio" walks the candidate arms in the order given by ``arms`` and
  takes the first whose cumulative ratio exceeds ``u' * total ratio``. For two 1:1 arms in a
  tie, ``u < 0.5`` gives the first arm and ``u >= 0.5`` the second.

Scores are computed exactly with ``fractions.Fraction`` so ties are never lost to rounding; the
result reports them as floats. With unequal ratios, plain minimization can move the realised
allocation ratio away from the target (Kuznetsova & Tymofyeyev, Stat Med 2012;31:701-723):
check it with ``randomization.rules.simulation`` before activation.

Draws are passed in so the service can record them. ``minimization_draw`` gives a design a
reproducible sequence of draws from a secret seed: draw ``s`` (the ``s``-th allocation of the
design) is the top 53 bits of the first word of ``SHA-256(key || uint64_be(s))`` with
``key = derive_key("minimization-draw", algorithm_version, seed)`` (see
``randomization.rules.blocks`` for the construction and why it is used instead of
``random.Random``). Being counter-based, any draw can be recomputed on its own for an audit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from numbers import Real

from randomization.rules.blocks import (
    InvalidDesignError,
    RandomizationRuleError,
    Sha256CounterDrbg,
    StratumIncompleteError,
    UnsupportedAlgorithmVersionError,
    derive_key,
    validate_ratio,
    word_to_unit_float,
)

MINIMIZATION_DRAWS_V1 = "minimization-draws/sha256-ctr/1"
SUPPORTED_DRAW_VERSIONS = frozenset({MINIMIZATION_DRAWS_V1})
DEFAULT_P_PREFERRED = 0.8

Counts = Mapping[str, Mapping[str, Mapping[str, int]]]


class ImbalanceMeasure(StrEnum):
    RANGE = "range"
    VARIANCE = "variance"


class InvalidCountsError(RandomizationRuleError):
    """Counts name an unknown arm or hold a value that is not a non-negative integer."""

    code = "invalid_counts"


class InvalidDrawError(RandomizationRuleError):
    """The uniform draw is not a float in [0, 1)."""

    code = "invalid_draw"


@dataclass(frozen=True, slots=True)
class ArmScore:
    """``score`` = G_k if the patient were put on ``arm``; ``factor_imbalances`` = D_i(k)."""

    arm: str
    score: float
    factor_imbalances: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class MinimizationResult:
    """Everything needed to audit one allocation.

    ``tie`` is true when more than one arm has the smallest score; ``probabilities`` are the
    chances each arm had given the scores; ``chose_preferred`` is false only when the coin
    sent the patient to a non-preferred arm.
    """

    scores: tuple[ArmScore, ...]
    preferred: tuple[str, ...]
    tie: bool
    draw: float
    p_preferred: float
    measure: ImbalanceMeasure
    chosen: str
    chose_preferred: bool
    probabilities: tuple[tuple[str, float], ...]


def minimize(
    *,
    arms: Sequence[str],
    ratio: Mapping[str, int],
    factor_weights: Mapping[str, Real],
    patient_levels: Mapping[str, str],
    counts: Counts,
    p_preferred: float = DEFAULT_P_PREFERRED,
    measure: ImbalanceMeasure | str = ImbalanceMeasure.RANGE,
    uniform_draw: float,
) -> MinimizationResult:
    """Allocate one patient by Pocock-Simon minimization (see the module docstring).

    ``arms`` fixes the order of arms in the result and in tie-breaking; ``ratio`` maps every
    arm to a positive integer; ``factor_weights`` maps each minimization factor to a positive
    weight; ``patient_levels`` gives the patient's level of each factor; ``counts[factor][level]
    [arm]`` counts earlier allocations (absent entries are 0); ``p_preferred`` is in [0.5, 1];
    ``uniform_draw`` is in [0, 1).

    Raises ``InvalidDesignError``, ``StratumIncompleteError`` (``stratum_incomplete``) when a
    factor has no level, ``InvalidCountsError`` or ``InvalidDrawError``.
    """
    arm_order = _check_arms(arms, ratio)
    weights = _check_weights(factor_weights)
    measure = parse_measure(measure)
    _check_p(p_preferred)
    _check_draw(uniform_draw)
    levels = _patient_levels(weights, patient_levels)
    cell_counts = {f: _cell_counts(f, levels[f], counts, arm_order) for f in weights}

    exact = {arm: _arm_imbalances(arm, arm_order, ratio, cell_counts, measure) for arm in arm_order}
    totals = {arm: sum(weights[f] * d for f, d in exact[arm].items()) for arm in arm_order}
    best = min(totals.values())
    preferred = tuple(arm for arm in arm_order if totals[arm] == best)
    others = tuple(arm for arm in arm_order if totals[arm] != best)
    chosen, chose_preferred = _choose(preferred, others, ratio, p_preferred, uniform_draw)
    return MinimizationResult(
        scores=tuple(
            ArmScore(
                arm=arm,
                score=float(totals[arm]),
                factor_imbalances=tuple((f, float(d)) for f, d in exact[arm].items()),
            )
            for arm in arm_order
        ),
        preferred=preferred,
        tie=len(preferred) > 1,
        draw=uniform_draw,
        p_preferred=p_preferred,
        measure=measure,
        chosen=chosen,
        chose_preferred=chose_preferred,
        probabilities=_probabilities(arm_order, preferred, others, ratio, p_preferred),
    )


def validate_design(
    *,
    arms: Sequence[str],
    ratio: Mapping[str, int],
    factor_weights: Mapping[str, Real],
    p_preferred: float = DEFAULT_P_PREFERRED,
    measure: ImbalanceMeasure | str = ImbalanceMeasure.RANGE,
) -> ImbalanceMeasure:
    """Check a design as ``minimize`` would, without a patient; return the parsed measure.

    For configuration time, so a bad design fails before the first patient. Raises
    ``InvalidDesignError``.
    """
    _check_arms(arms, ratio)
    _check_weights(factor_weights)
    _check_p(p_preferred)
    return parse_measure(measure)


def imbalance(values: Sequence[Fraction], measure: ImbalanceMeasure) -> Fraction:
    """Range (max - min) or population variance of ratio-weighted counts, exactly."""
    if measure is ImbalanceMeasure.RANGE:
        return max(values) - min(values)
    mean = sum(values, Fraction(0)) / len(values)
    return sum(((v - mean) ** 2 for v in values), Fraction(0)) / len(values)


def minimization_draw(*, seed: str, algorithm_version: str, sequence_number: int) -> float:
    """The design's draw for its ``sequence_number``-th allocation (1-based), in [0, 1).

    Raises ``UnsupportedAlgorithmVersionError`` or ``InvalidDesignError`` (empty seed,
    sequence number below 1).
    """
    drbg = _draw_generator(seed, algorithm_version)
    if isinstance(sequence_number, bool) or not isinstance(sequence_number, int):
        raise InvalidDesignError("sequence_number must be an integer")
    if not 1 <= sequence_number < 1 << 64:
        raise InvalidDesignError("sequence_number must be at least 1")
    return _draw_at(drbg, sequence_number)


def iter_minimization_draws(
    *, seed: str, algorithm_version: str, start: int = 1
) -> Iterator[float]:
    """``minimization_draw`` for sequence numbers ``start, start + 1, ...``."""
    drbg = _draw_generator(seed, algorithm_version)
    if isinstance(start, bool) or not isinstance(start, int) or start < 1:
        raise InvalidDesignError("start must be an integer of at least 1")
    return (_draw_at(drbg, s) for s in range(start, 1 << 64))


def _draw_generator(seed: str, algorithm_version: str) -> Sha256CounterDrbg:
    if algorithm_version not in SUPPORTED_DRAW_VERSIONS:
        raise UnsupportedAlgorithmVersionError(
            f"unsupported algorithm version {algorithm_version!r}",
            {"supported": sorted(SUPPORTED_DRAW_VERSIONS)},
        )
    if not isinstance(seed, str) or not seed:
        raise InvalidDesignError("seed must be a non-empty string")
    return Sha256CounterDrbg(derive_key("minimization-draw", algorithm_version, seed))


def _draw_at(drbg: Sha256CounterDrbg, sequence_number: int) -> float:
    return word_to_unit_float(int.from_bytes(drbg.block(sequence_number)[:8], "big"))


def _arm_imbalances(
    arm: str,
    arm_order: tuple[str, ...],
    ratio: Mapping[str, int],
    cell_counts: Mapping[str, Mapping[str, int]],
    measure: ImbalanceMeasure,
) -> dict[str, Fraction]:
    result: dict[str, Fraction] = {}
    for factor, cell in cell_counts.items():
        weighted = [Fraction(cell[j] + (j == arm), ratio[j]) for j in arm_order]
        result[factor] = imbalance(weighted, measure)
    return result


def _choose(
    preferred: tuple[str, ...],
    others: tuple[str, ...],
    ratio: Mapping[str, int],
    p_preferred: float,
    draw: float,
) -> tuple[str, bool]:
    if not others:
        return _pick(preferred, ratio, draw), True
    if draw < p_preferred:
        return _pick(preferred, ratio, draw / p_preferred), True
    return _pick(others, ratio, (draw - p_preferred) / (1 - p_preferred)), False


def _pick(candidates: tuple[str, ...], ratio: Mapping[str, int], draw: float) -> str:
    threshold = draw * sum(ratio[arm] for arm in candidates)
    cumulative = 0
    for arm in candidates:
        cumulative += ratio[arm]
        if threshold < cumulative:
            return arm
    return candidates[-1]  # reached only if rescaling rounded the draw up to 1.0


def _probabilities(
    arm_order: tuple[str, ...],
    preferred: tuple[str, ...],
    others: tuple[str, ...],
    ratio: Mapping[str, int],
    p_preferred: float,
) -> tuple[tuple[str, float], ...]:
    share_preferred = 1.0 if not others else p_preferred
    preferred_total = sum(ratio[arm] for arm in preferred)
    others_total = sum(ratio[arm] for arm in others)
    result = []
    for arm in arm_order:
        if arm in preferred:
            result.append((arm, share_preferred * ratio[arm] / preferred_total))
        else:
            result.append((arm, (1 - p_preferred) * ratio[arm] / others_total))
    return tuple(result)


def _check_arms(arms: Sequence[str], ratio: Mapping[str, int]) -> tuple[str, ...]:
    arm_order = tuple(arms)
    if len(arm_order) < 2 or len(set(arm_order)) != len(arm_order):
        raise InvalidDesignError("at least two distinct arms are required", {"arms": arm_order})
    if set(arm_order) != set(ratio):
        raise InvalidDesignError(
            "ratio must name exactly the arms", {"arms": list(arm_order), "ratio": dict(ratio)}
        )
    validate_ratio({arm: ratio[arm] for arm in arm_order})
    return arm_order


def _check_weights(factor_weights: Mapping[str, Real]) -> dict[str, Fraction]:
    if not factor_weights:
        raise InvalidDesignError("at least one minimization factor is required")
    bad = {
        f: w
        for f, w in factor_weights.items()
        if isinstance(w, bool) or not isinstance(w, Real) or not math.isfinite(w) or w <= 0
    }
    if bad:
        raise InvalidDesignError("factor weights must be positive finite numbers", {"invalid": bad})
    return {f: Fraction(w) for f, w in factor_weights.items()}


def parse_measure(measure: ImbalanceMeasure | str) -> ImbalanceMeasure:
    """The measure named ``measure``; raises ``InvalidDesignError`` for an unknown name."""
    try:
        return ImbalanceMeasure(measure)
    except ValueError:
        raise InvalidDesignError(
            f"unknown imbalance measure {measure!r}",
            {"supported": [m.value for m in ImbalanceMeasure]},
        ) from None


def _check_p(p_preferred: float) -> None:
    if isinstance(p_preferred, bool) or not isinstance(p_preferred, Real):
        raise InvalidDesignError("p_preferred must be a number")
    if not 0.5 <= p_preferred <= 1:
        raise InvalidDesignError("p_preferred must be in [0.5, 1]", {"p_preferred": p_preferred})


def _check_draw(draw: float) -> None:
    if isinstance(draw, bool) or not isinstance(draw, Real) or not 0 <= draw < 1:
        raise InvalidDrawError("uniform_draw must be in [0, 1)", {"uniform_draw": draw})


def _patient_levels(
    weights: Mapping[str, Fraction], patient_levels: Mapping[str, str]
) -> dict[str, str]:
    missing = [f for f in weights if patient_levels.get(f) in (None, "")]
    if missing:
        raise StratumIncompleteError(
            f"missing level for minimization factor(s): {', '.join(missing)}",
            {"missing": missing},
        )
    return {f: patient_levels[f] for f in weights}


def _cell_counts(
    factor: str, level: str, counts: Counts, arm_order: tuple[str, ...]
) -> dict[str, int]:
    cell = counts.get(factor, {}).get(level, {})
    unknown = sorted(set(cell) - set(arm_order))
    bad = {
        arm: n for arm, n in cell.items() if isinstance(n, bool) or not isinstance(n, int) or n < 0
    }
    if unknown or bad:
        raise InvalidCountsError(
            f"invalid counts for {factor}={level}",
            {"factor": factor, "level": level, "unknown_arms": unknown, "invalid": bad},
        )
    return {arm: cell.get(arm, 0) for arm in arm_order}
