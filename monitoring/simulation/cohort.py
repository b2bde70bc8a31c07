"""Synthetic patients: what will happen to each one, drawn up front from the run's seed.

Pure (stdlib only). Every patient has a private ``random.Random`` stream derived from the run's
seed and the patient's index, so a patient's course does not depend on the order in which the
engine happens to visit patients; the cohort-level draws (accrual, sites) have their own
stream. Module-level ``random`` state is never used.

The plan holds latent facts (when a mutation appears in the blood, when disease progresses,
how the marrow reacts to palbociclib); the engine turns them into what a site and a laboratory
would record, and the product derives everything else (grades, dose decisions, responses,
ctDNA status, Step 2 gate, allocation).
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from .scenario import RunConfig, Scenario

PANEL_VARIANTS = ("p.D538G", "p.Y537S", "p.Y537N", "p.E380Q", "p.L536H", "p.Y537C")


def patient_rng(seed: int, index: int, stream: str = "course") -> random.Random:
    """The private random stream of one patient (string seeds hash with SHA-512: stable)."""
    return random.Random(f"pada1-simulation:{seed}:{stream}:{index}")  # noqa: S311 (simulation)


def cohort_rng(seed: int) -> random.Random:
    return random.Random(f"pada1-simulation:{seed}:cohort")  # noqa: S311 (simulation)


def weighted_choice(rng: random.Random, options: Sequence[tuple[object, float]]) -> object:
    total = sum(weight for _, weight in options)
    point = rng.random() * total
    for value, weight in options:
        point -= weight
        if point < 0:
            return value
    return options[-1][0]


def uniform_days(rng: random.Random, bounds: tuple[int, int]) -> int:
    return rng.randint(bounds[0], bounds[1])


@dataclass(frozen=True)
class PatientPlan:
    """One synthetic patient. Days are counted from the run's first day (``registered_day``) or
    from the patient's Step 1 C1D1 (``*_after_c1d1_days``). ``math.inf``: never."""

    index: int
    site_index: int
    registered_day: int
    age: int
    screen_failure: str | None
    screening_after_days: int
    c1d1_after_enrolment_days: int
    endocrine_drug: str
    visceral_metastases: bool
    baseline_positive: bool
    variant: str
    esr1_after_c1d1_days: float
    step1_progression_after_c1d1_days: float
    synchronous_progression: bool
    step2_window_missed: bool
    pfs_days: dict[str, float]
    step3_pfs_days: float
    crosses_over: bool
    neutropenia_grade: int
    first_severe_visit: tuple[int, int]
    responder: bool
    baseline_lesions_mm: tuple[int, ...]

    @property
    def will_rise(self) -> bool:
        return self.esr1_after_c1d1_days < self.step1_progression_after_c1d1_days


def _accrual(config: RunConfig) -> tuple[list[int], list[int]]:
    """Registration day and site index of every patient: sites open in turn over the first
    part of accrual and recruit at different rates (gamma-distributed weights)."""
    scenario = config.scenario
    rng = cohort_rng(config.seed)
    accrual_days = max(1, int(scenario.months_to_days(scenario.accrual_months(config.months))))
    opening = sorted(
        [0]
        + [
            int(rng.uniform(0, scenario.site_activation_fraction * accrual_days))
            for _ in range(config.sites - 1)
        ]
    )
    weights = [rng.gammavariate(2.0, 1.0) for _ in range(config.sites)]
    days = sorted(int(rng.uniform(0, accrual_days)) for _ in range(config.patients))
    sites = []
    for day in days:
        open_sites = bisect_right(opening, day)
        sites.append(int(weighted_choice(rng, list(enumerate(weights[:open_sites])))))  # type: ignore[call-overload]
    return days, sites


def _weibull_days(rng: random.Random, scenario: Scenario, median_months: float) -> float:
    scale = scenario.weibull_scale_days(median_months)
    return scale * (-math.log(1.0 - rng.random())) ** (1.0 / scenario.pfs_weibull_shape)


def _exponential_days(rng: random.Random, scenario: Scenario, median_months: float) -> float:
    return rng.expovariate(math.log(2) / scenario.months_to_days(median_months))


def _esr1_days(rng: random.Random, scenario: Scenario) -> float:
    if rng.random() >= scenario.esr1_acquiring_fraction:
        return math.inf
    median = scenario.months_to_days(scenario.esr1_median_months)
    return math.exp(rng.gauss(math.log(median), scenario.esr1_log_sd))


def _neutropenia(rng: random.Random, scenario: Scenario) -> tuple[int, tuple[int, int]]:
    draw = rng.random()
    grade = 0
    if draw < scenario.neutropenia_grade4_fraction:
        grade = 4
    elif draw < scenario.neutropenia_grade4_fraction + scenario.neutropenia_grade3_fraction:
        grade = 3
    visit = weighted_choice(rng, scenario.first_severe_visits)
    return grade, visit  # type: ignore[return-value]


def plan_patient(
    config: RunConfig, index: int, registered_day: int, site_index: int
) -> PatientPlan:
    scenario = config.scenario
    rng = patient_rng(config.seed, index, "plan")
    failure = None
    if rng.random() < scenario.screen_failure_rate:
        failure = str(weighted_choice(rng, scenario.screen_failure_reasons))
    neutropenia_grade, first_severe = _neutropenia(rng, scenario)
    return PatientPlan(
        index=index,
        site_index=site_index,
        registered_day=registered_day,
        age=max(30, min(88, int(rng.gauss(63, 11)))),
        screen_failure=failure,
        screening_after_days=uniform_days(rng, scenario.screening_days),
        c1d1_after_enrolment_days=uniform_days(rng, scenario.c1d1_after_enrolment_days),
        endocrine_drug=str(weighted_choice(rng, scenario.endocrine_drugs)),
        visceral_metastases=rng.random() < scenario.visceral_metastases_fraction,
        baseline_positive=rng.random() < scenario.baseline_positive_fraction,
        variant=rng.choice(PANEL_VARIANTS),
        esr1_after_c1d1_days=_esr1_days(rng, scenario),
        step1_progression_after_c1d1_days=_exponential_days(
            rng, scenario, scenario.step1_pfs_median_months
        ),
        synchronous_progression=rng.random() < scenario.synchronous_progression_fraction,
        step2_window_missed=rng.random() < scenario.step2_window_missed_fraction,
        pfs_days={
            "A": _weibull_days(rng, scenario, scenario.pfs_latent_median_a_months),
            "B": _weibull_days(rng, scenario, scenario.pfs_latent_median_b_months),
        },
        step3_pfs_days=_exponential_days(rng, scenario, scenario.step3_pfs_median_months),
        crosses_over=rng.random() < scenario.crossover_fraction,
        neutropenia_grade=neutropenia_grade,
        first_severe_visit=first_severe,
        responder=rng.random() < scenario.responder_fraction,
        baseline_lesions_mm=tuple(rng.randint(12, 48) for _ in range(rng.randint(1, 3))),
    )


def plan_cohort(config: RunConfig) -> list[PatientPlan]:
    """Every patient of the run, in registration order."""
    days, sites = _accrual(config)
    return [
        plan_patient(config, i, day, site)
        for i, (day, site) in enumerate(zip(days, sites, strict=True))
    ]


# --- what the patient's blood and tumours show ------------------------------------------------


def _g_per_l(value: float) -> Decimal:
    return Decimal(str(round(value, 2)))


@dataclass
class Marrow:
    """Neutrophil counts under palbociclib for one patient (PALOMA-2 rates, see Scenario).

    A patient of neutropenia grade 3 or 4 reaches it at ``first_severe_visit``; later D1 counts
    fall to grade 3 again with ``recurrent_grade3_per_d1`` (halved per dose level reduced);
    every other count is grade 0-2, as most counts on palbociclib are. Repeat counts after a
    withheld dose recover within a week with ``recovery_within_week``.
    """

    plan: PatientPlan
    scenario: Scenario
    rng: random.Random
    severe_seen: bool = False

    def anc(self, *, cycle: int, day: int, repeat: bool = False, reductions: int = 0) -> Decimal:
        rng = self.rng
        if repeat:
            recovered = rng.random() < self.scenario.recovery_within_week
            return _g_per_l(rng.uniform(1.05, 1.6) if recovered else rng.uniform(0.6, 0.95))
        grade = self.plan.neutropenia_grade
        if grade and not self.severe_seen and (cycle, day) >= self.plan.first_severe_visit:
            self.severe_seen = True
            return _g_per_l(rng.uniform(0.55, 0.95) if grade == 3 else rng.uniform(0.2, 0.45))
        recurrence = self.scenario.recurrent_grade3_per_d1 / (2**reductions)
        if self.severe_seen and day == 1 and rng.random() < recurrence:
            return _g_per_l(rng.uniform(0.6, 0.95))
        if self.plan.neutropenia_grade == 0:
            return _g_per_l(rng.uniform(1.2, 3.2) if day == 15 else rng.uniform(1.5, 4.5))
        return _g_per_l(rng.uniform(1.0, 1.7) if day >= 15 else rng.uniform(1.1, 2.6))

    def febrile(self) -> bool:
        return self.rng.random() < self.scenario.febrile_fraction

    def values(self, anc: Decimal) -> dict[str, dict[str, str]]:
        """A full blood count around ``anc`` (G/L): lymphocytes, WBC, platelets, haemoglobin
        in the ranges usual on palbociclib, below the grade that would change the dose."""
        rng = self.rng
        lymphocytes = Decimal(str(round(rng.uniform(1.0, 2.2), 2)))
        monocytes = Decimal(str(round(rng.uniform(0.3, 0.6), 2)))
        return {
            "anc": {"value": str(anc), "unit": "G/L"},
            "lymphocytes": {"value": str(lymphocytes), "unit": "G/L"},
            "wbc": {"value": str(anc + lymphocytes + monocytes), "unit": "G/L"},
            "platelets": {"value": str(rng.randint(110, 320)), "unit": "G/L"},
            "haemoglobin": {"value": str(round(rng.uniform(10.6, 13.8), 1)), "unit": "g/dL"},
        }


@dataclass
class Tumour:
    """Target lesion diameters: a responder shrinks over the first scans, others stay stable;
    sizes never grow before progression (so RECIST never finds progression by accident), and
    progression shows a new lesion (unequivocal under RECIST 1.1)."""

    plan: PatientPlan
    rng: random.Random
    scans: int = 0

    def __post_init__(self) -> None:
        self.sizes = list(self.plan.baseline_lesions_mm)

    def baseline(self) -> list[dict[str, object]]:
        return [
            {
                "lesion_number": number,
                "location": ("liver", "lung", "lymph node")[number - 1],
                "is_lymph_node": number == 3,
                "diameter_mm": size,
            }
            for number, size in enumerate(self.sizes, start=1)
        ]

    def follow_up(self, *, progression: bool) -> list[dict[str, object]]:
        self.scans += 1
        if not progression:
            shrink = 0.85 if self.plan.responder and self.scans <= 3 else 1.0
            self.sizes = [
                max(5, min(size, int(size * shrink * self.rng.uniform(0.96, 1.0))))
                for size in self.sizes
            ]
        return [
            {"lesion_number": number, "diameter_mm": size}
            for number, size in enumerate(self.sizes, start=1)
        ]


def clone_level(plan: PatientPlan, rng: random.Random) -> tuple[float, float]:
    """Copies/mL and VAF of the mutation once it has risen, at the level newly positive
    samples had in PADA-1 (median 14 copies/mL, MAF 0.83 % [C:S7]); above the baseline clone
    of a patient positive at inclusion."""
    copies = math.exp(rng.gauss(math.log(14.0), 0.5))
    vaf = math.exp(rng.gauss(math.log(0.0083), 0.5))
    if plan.baseline_positive:
        copies, vaf = copies + 15.0, vaf + 0.01
    return copies, vaf


def ctdna_variants(
    plan: PatientPlan, rng: random.Random, level: tuple[float, float] | None
) -> list[dict[str, object]]:
    """The variants a draw shows: nothing, the baseline low-level clone, or the risen clone
    (``level``) varying by less than the protocol's two-fold rising threshold."""
    if level is None and not plan.baseline_positive:
        return []
    if level is None:
        copies, vaf = rng.uniform(4.0, 6.0), rng.uniform(0.0025, 0.0035)
    else:
        factor = rng.uniform(0.8, 1.25)
        copies, vaf = level[0] * factor, level[1] * factor
    return [
        {
            "gene": "ESR1",
            "protein_change": plan.variant,
            "vaf": round(min(vaf, 0.35), 5),
            "copies_per_ml": round(copies, 1),
        }
    ]
