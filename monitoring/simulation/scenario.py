"""The simulated trial's parameters, each with its source.

Tags as in DOMAIN.md: [C:key] a published figure (keys of DOMAIN.md "Sources"), [P2] PALOMA-2
(Finn RS et al., N Engl J Med 2016;375:1925-1936: palbociclib + letrozole, Table 2 adverse
events, PFS), [A] an assumption of this simulator (no public figure; chosen to be clinically
plausible and stated in the report), [K] calibrated here so that the simulated figures land on
the published ones (the derivation is in the docstring of the field's group).

Only the sampling of synthetic patients reads these values; every clinical decision (CTCAE
grades, dose proposals, RECIST responses, ctDNA interpretation, Step 2 gate, allocation) is
taken by the product's own code from what the simulated sites and laboratory record.

Calibration of the ESR1 process [K]. PADA-1 reports 279/1017 (27 %) patients with a rising
bESR1mut, a median of 15.6 months from inclusion to rising, and 172 (17 %) randomized, at a
median follow-up of 35.3 months [C:S2][C:S11]. The simulator reproduces them in its reference
scenario (1,000 patients, 36 months, accrual over the first 18 months) with: a fraction
``esr1_acquiring_fraction`` of patients who acquire a hotspot mutation while on Step 1, at a
log-normal time (median ``esr1_median_months``, log-SD ``esr1_log_sd``) competing with Step 1
progression (exponential, PALOMA-2 median); the mutation is seen at the next protocol draw and
reported after the laboratory turnaround. The proportion seen depends on follow-up: shorter
runs (the demo's 18 months) show fewer risers; the report prints the scenario's median
follow-up beside PADA-1's. The two values were chosen by Monte Carlo of these mechanics
(``tests/monitoring/simulation/test_cohort.py`` repeats it), corrected by what complete runs
measure: with a latent median of 18 months and 57 % acquiring, four 1,000-patient runs put
rising at 25.6-28.1 % but the median time to rising at 16.3-17.1 months, a month late.

Calibration of PFS from randomization [K]. Progression is found at the protocol's imaging
(every 8 weeks, done within its +-7-day window) or, for ``clinical_detection_fraction`` of
progressions, by an unscheduled scan within two weeks of symptoms. Exponential times with the
published medians (11.9 and 5.7 months) imply a hazard ratio of 5.7 / 11.9 = 0.48, far from the
published stratified 0.61 [C:S3]: the published curves are not exponential. A Weibull with a
common shape k is proportional-hazards with HR = (median_A / median_B) ** k, so a shape below 1
reproduces both medians and the hazard ratio. The latent medians and shape below were chosen
by Monte Carlo of the detection model (observed medians ~5.6 and ~12.0 months, HR ~0.60);
``pfs_weibull_shape = 1.0`` gives the exponential model instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

DAYS_PER_MONTH = 30.4375


@dataclass(frozen=True)
class Published:
    """A published figure the report sets the simulated one beside."""

    label: str
    value: str
    source: str


PUBLISHED = {
    "rising": Published("Rising bESR1mut, % of included", "27 % (279/1017)", "[C:S2]"),
    "randomized": Published("Randomized, % of included", "17 % (172/1017)", "[C:S2][C:S4]"),
    "not_randomized": Published(
        "Rising but not randomized, % of risers", "38 % (107/279)", "[C:S2], 107 = 279 - 172"
    ),
    "time_to_rising": Published(
        "Median time from inclusion to rising bESR1mut", "15.6 months", "[C:S11]"
    ),
    "pfs_b": Published(
        "Median PFS, Arm B fulvestrant + palbociclib", "11.9 months (9.1-13.6)", "[C:S2]"
    ),
    "pfs_a": Published("Median PFS, Arm A AI + palbociclib", "5.7 months (3.9-7.5)", "[C:S2]"),
    "hazard_ratio": Published(
        "Stratified hazard ratio B vs A", "0.61 (0.43-0.86)", "[C:S3]; CI [M]"
    ),
    "neutropenia": Published(
        "Grade >= 3 neutropenia on palbociclib + AI, % of patients",
        "66.4 % (grade 3 56.1 %, grade 4 10.4 %)",
        "[P2] Table 2",
    ),
    "dose_reduction": Published(
        "Dose reduction for adverse events, % of patients", "36.0 %", "[P2] [M] not re-read"
    ),
    "follow_up": Published("Median follow-up from inclusion", "35.3 months", "[C:S2]"),
    "turnaround": Published("ctDNA turnaround, draw to result", "13 days (Q1 9, Q3 21)", "[C:S7]"),
}


@dataclass(frozen=True)
class Scenario:
    # --- accrual and screening -----------------------------------------------------------
    accrual_fraction: float = 0.5  # [A] accrual over the first half of the run (PADA-1: 22 months)
    max_accrual_months: float = 22.0  # [C:S2] 22 Mar 2017 - Jan 2019
    site_activation_fraction: float = 0.25  # [A] sites open over the first quarter of accrual
    screen_failure_rate: float = 0.15  # [A] no public PADA-1 figure
    # [A] reasons of screen failure by criterion id of pada1.yaml (relative weights)
    screen_failure_reasons: tuple[tuple[str, float], ...] = (
        ("er", 0.20),
        ("ai_sensitive", 0.20),
        ("ecog", 0.15),
        ("brain_mets", 0.15),
        ("prior_cdk46", 0.10),
        ("platelets", 0.10),
        ("hb", 0.10),
    )
    screening_days: tuple[int, int] = (1, 14)  # [A] consent to screening data
    c1d1_after_enrolment_days: tuple[int, int] = (0, 7)  # [A]
    # [A] endocrine partner of palbociclib at Step 1 (relative weights)
    endocrine_drugs: tuple[tuple[str, float], ...] = (
        ("letrozole", 0.70),
        ("anastrozole", 0.20),
        ("exemestane", 0.10),
    )
    visceral_metastases_fraction: float = 0.55  # [A] stratification factor level "yes"

    # --- Step 1 progression --------------------------------------------------------------
    step1_pfs_median_months: float = 24.8  # [P2] palbociclib + letrozole median PFS

    # --- ESR1 ctDNA ([K], see the module docstring) ---------------------------------------
    esr1_acquiring_fraction: float = 0.52
    esr1_median_months: float = 16.2
    esr1_log_sd: float = 0.45
    baseline_positive_fraction: float = 0.032  # [C:S12] 3.2 % positive at inclusion
    turnaround_median_days: float = 13.0  # [C:S7]
    turnaround_log_sd: float = 0.71  # [K] log-normal with Q1 ~9 and Q3 ~21 days [C:S7]
    technical_failure_rate: float = 0.006  # [C:S7] 77/12,552 samples
    redraw_after_days: tuple[int, int] = (3, 10)  # [A]
    # [C:S7] newly positive: median 14 copies/mL (4-1225), median MAF 0.83 % (0.11-35 %)
    rising_copies_median: float = 14.0
    rising_vaf_median: float = 0.0083
    # Rising without randomization (107/279 [C:S2]): mostly synchronous progression.
    synchronous_progression_fraction: float = 0.36  # [K] with the window misses below: 38 %
    step2_window_missed_fraction: float = 0.025  # [A] imaging or randomization not in time
    trigger_imaging_after_days: tuple[int, int] = (2, 14)  # [A] within the 28-day window
    randomize_after_days: tuple[int, int] = (1, 10)  # [A] within the 21-day window

    # --- PFS from randomization ([K], see the module docstring) ---------------------------
    pfs_latent_median_a_months: float = 5.0
    pfs_latent_median_b_months: float = 11.1
    pfs_weibull_shape: float = 0.62
    clinical_detection_fraction: float = 0.35  # [A] progression found between scans
    clinical_detection_days: tuple[int, int] = (0, 14)  # [A]
    imaging_jitter_days: int = 7  # pada1.yaml imaging window (+-7 days)
    crossover_fraction: float = 0.80  # [A] "offered" to Arm A progressors [C:S1]; most accept
    crossover_after_days: tuple[int, int] = (3, 14)  # [A]
    step3_pfs_median_months: float = 4.0  # [A] PFS after crossover (PFS2) not in DOMAIN.md

    # --- palbociclib neutropenia ([P2] Table 2: grade 3 56.1 %, grade 4 10.4 %) ------------
    neutropenia_grade3_fraction: float = 0.561
    neutropenia_grade4_fraction: float = 0.104
    # [A] cycle visit of the first grade >= 3 (most occur in cycles 1-2 [P2])
    first_severe_visits: tuple[tuple[tuple[int, int], float], ...] = (
        ((1, 15), 0.50),
        ((2, 1), 0.15),
        ((2, 15), 0.20),
        ((3, 1), 0.08),
        ((4, 1), 0.04),
        ((5, 1), 0.03),
    )
    recurrent_grade3_per_d1: float = 0.10  # [A] grade 3 again on a later D1 count
    febrile_fraction: float = 0.03  # [A] of severe episodes; [P2] febrile neutropenia 1.8 %
    recovery_within_week: float = 0.85  # [A] repeat CBC shows grade <= 2 after 7 days
    # [A] investigator reduces on "consider reduction"; with the two above, about a third of
    # patients have a dose reduction, as in PALOMA-2 (36.0 % [P2][M])
    consider_reduction_accepted: float = 0.5
    cycle_delay_fraction: float = 0.02  # [A] cycles delayed a week at the patient's request

    # --- QoL -----------------------------------------------------------------------------
    qol_compliance: float = 0.88  # [A] forms filled in; the rest are recorded as missed

    # --- RECIST --------------------------------------------------------------------------
    responder_fraction: float = 0.42  # [P2][M] objective response 42 % (all patients)

    def months_to_days(self, months: float) -> float:
        return months * DAYS_PER_MONTH

    def accrual_months(self, run_months: float) -> float:
        return min(self.max_accrual_months, max(1.0, run_months * self.accrual_fraction))

    def weibull_scale_days(self, median_months: float) -> float:
        """Scale of a Weibull with this scenario's shape and the given median, in days."""
        k = self.pfs_weibull_shape
        return self.months_to_days(median_months) / math.log(2) ** (1 / k)


REFERENCE = Scenario()

# The demo `make run` loads (``seed_demo``): a small trial where accrual goes on to the last
# day and mutations appear sooner [A], so that 18 months show every state of the design
# (screening, screen failure, Step 1, rising awaiting imaging, both arms, crossover, progression).
DEMO = Scenario(
    accrual_fraction=1.0,
    esr1_acquiring_fraction=1.0,
    esr1_median_months=3.5,
    synchronous_progression_fraction=0.3,
    step2_window_missed_fraction=0.0,
    trigger_imaging_after_days=(21, 27),  # late: a mutation found near the end awaits imaging
    crossover_fraction=1.0,
)

SCENARIOS = {"reference": REFERENCE, "demo": DEMO}


@dataclass(frozen=True)
class RunConfig:
    """What the command line chooses: size, seed and duration of the run, and its last day."""

    patients: int
    sites: int
    seed: int
    months: float = 36.0
    scenario: Scenario = field(default=REFERENCE)

    def __post_init__(self) -> None:
        if self.patients < 1 or self.sites < 1 or self.months < 1:
            raise ValueError("patients, sites and months must be at least 1")
