"""The simulator's sampling model, without a database: determinism, private random streams,
and the published rates it is built to reproduce (a large synthetic cohort, fast)."""

from __future__ import annotations

import dataclasses
import math
import random
import statistics

import pytest

from monitoring.analysis import days_to_months
from monitoring.analysis.survival import SurvivalRecord, compare_arms
from monitoring.simulation.cohort import (
    Marrow,
    Tumour,
    clone_level,
    ctdna_variants,
    patient_rng,
    plan_cohort,
)
from monitoring.simulation.scenario import REFERENCE, SCENARIOS, RunConfig

BIG = RunConfig(patients=6000, sites=40, seed=11, months=36)


@pytest.fixture(scope="module")
def big_cohort():
    return plan_cohort(BIG)


def test_same_seed_same_cohort_and_no_global_random_state():
    state = random.getstate()
    first = plan_cohort(RunConfig(patients=50, sites=3, seed=5))
    assert random.getstate() == state
    assert first == plan_cohort(RunConfig(patients=50, sites=3, seed=5))
    assert first != plan_cohort(RunConfig(patients=50, sites=3, seed=6))


def test_a_patients_course_does_not_depend_on_the_cohort_size():
    small = plan_cohort(RunConfig(patients=10, sites=2, seed=3))
    large = plan_cohort(RunConfig(patients=40, sites=2, seed=3))
    fields = ("age", "screen_failure", "esr1_after_c1d1_days", "pfs_days", "neutropenia_grade")
    for a, b in zip(small, large[:10], strict=True):
        assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]


def test_accrual_is_staggered_and_sites_recruit_only_once_open(big_cohort):
    days = [p.registered_day for p in big_cohort]
    assert days == sorted(days)
    accrual_days = REFERENCE.months_to_days(REFERENCE.accrual_months(BIG.months))
    assert days[0] >= 0 and days[-1] <= accrual_days
    first_day_of_site = {}
    for plan in big_cohort:
        first_day_of_site.setdefault(plan.site_index, plan.registered_day)
    assert len(first_day_of_site) == BIG.sites
    assert max(first_day_of_site.values()) > 30  # not every site opens on day one
    assert 0 in first_day_of_site


def _rate(flags) -> float:
    flags = list(flags)
    return sum(flags) / len(flags)


def test_screen_failures_and_neutropenia_follow_the_published_rates(big_cohort):
    assert _rate(p.screen_failure is not None for p in big_cohort) == pytest.approx(0.15, abs=0.015)
    reasons = {p.screen_failure for p in big_cohort} - {None}
    assert reasons == {reason for reason, _ in REFERENCE.screen_failure_reasons}
    # PALOMA-2 Table 2: grade 3 56.1 %, grade 4 10.4 %
    assert _rate(p.neutropenia_grade >= 3 for p in big_cohort) == pytest.approx(0.665, abs=0.02)
    assert _rate(p.neutropenia_grade == 4 for p in big_cohort) == pytest.approx(0.104, abs=0.012)


def _detected(rng: random.Random, latent_days: float, first_scan: float) -> float:
    """The engine's detection: the next scan (8-weekly, +-7 days) or a clinical scan."""
    if rng.random() < REFERENCE.clinical_detection_fraction:
        return latent_days + rng.uniform(0, 14)
    scans = max(0, math.ceil((latent_days - first_scan) / 56))
    return first_scan + 56 * scans + rng.uniform(-7, 7)


def test_pfs_model_reproduces_the_published_medians_and_hazard_ratio(big_cohort):
    """PADA-1: medians 11.9 (B) and 5.7 (A) months, stratified HR 0.61 [C:S2][C:S3]."""
    rng = random.Random(1)
    records = []
    for plan in big_cohort:
        for arm in ("A", "B"):
            first_scan = 56.0 if arm == "B" else rng.uniform(1, 56)  # Arm A keeps its rhythm
            days = max(1.0, _detected(rng, plan.pfs_days[arm], first_scan))
            records.append(SurvivalRecord(days_to_months(days), True, arm))
    comparison = compare_arms(records, reference="A", experimental="B", at_risk_times=[0.0])
    medians = {curve.group: curve.median.months for curve in comparison.curves}
    assert medians["B"] == pytest.approx(11.9, abs=1.0)
    assert medians["A"] == pytest.approx(5.7, abs=0.6)
    assert comparison.hazard_ratio.hazard_ratio == pytest.approx(0.61, abs=0.05)


def test_the_exponential_alternative_gives_the_medians_but_not_the_hazard_ratio():
    exponential = dataclasses.replace(
        REFERENCE, pfs_weibull_shape=1.0, pfs_latent_median_a_months=5.2,
        pfs_latent_median_b_months=11.4,
    )  # fmt: skip
    cohort = plan_cohort(RunConfig(patients=3000, sites=5, seed=2, scenario=exponential))
    ratio = statistics.median(p.pfs_days["A"] for p in cohort) / statistics.median(
        p.pfs_days["B"] for p in cohort
    )
    assert ratio == pytest.approx(5.2 / 11.4, abs=0.05)  # HR = ratio of medians ~0.46 < 0.61


def test_esr1_model_reaches_the_published_proportions_in_the_reference_scenario(big_cohort):
    """27 % rising, 17 % randomized, median 15.6 months to rising [C:S2][C:S11], with the
    engine's mechanics: a draw every 8 weeks from C2D1, the lab's turnaround, the run's end."""
    rng = random.Random(2)
    run_days = REFERENCE.months_to_days(BIG.months)
    eligible = [p for p in big_cohort if p.screen_failure is None]
    risers, randomized, months = 0, 0, []
    for plan in eligible:
        enrolled = plan.registered_day + plan.screening_after_days + 1
        c1d1 = enrolled + plan.c1d1_after_enrolment_days
        if not plan.will_rise:
            continue
        draw = c1d1 + 28 + 56 * max(0, math.ceil((plan.esr1_after_c1d1_days - 28) / 56))
        turnaround = math.exp(rng.gauss(math.log(13.0), REFERENCE.turnaround_log_sd))
        detected = draw + max(2, round(turnaround))
        if detected > run_days:
            continue
        risers += 1
        months.append(days_to_months(detected - enrolled))
        kept = not (plan.synchronous_progression or plan.step2_window_missed)
        randomized += kept and detected + 20 <= run_days
    assert risers / len(eligible) == pytest.approx(0.27, abs=0.03)
    assert randomized / len(eligible) == pytest.approx(0.17, abs=0.025)
    # This model leaves out the delays of real visits (windows, missed draws): complete runs
    # measure about half a month more than it does (scenario.py's docstring).
    assert statistics.median(months) == pytest.approx(15.6 - 0.5, abs=0.6)


def test_marrow_counts_grade_as_planned():
    plan = next(p for p in plan_cohort(BIG) if p.neutropenia_grade == 4)
    marrow = Marrow(plan, REFERENCE, patient_rng(1, plan.index, "marrow"))
    cycle, day = plan.first_severe_visit
    assert marrow.anc(cycle=1, day=1) >= 1  # before the first severe visit: grade <= 2
    assert marrow.anc(cycle=cycle, day=day) < 0.5  # grade 4 at the planned visit
    values = marrow.values(marrow.anc(cycle=9, day=1))
    assert set(values) == {"anc", "lymphocytes", "wbc", "platelets", "haemoglobin"}
    assert float(values["wbc"]["value"]) > float(values["anc"]["value"])


def test_tumours_never_grow_before_progression_and_progression_shows_a_new_lesion():
    plan = plan_cohort(RunConfig(patients=5, sites=1, seed=4))[0]
    tumour = Tumour(plan, random.Random(0))
    sizes = [lesion["diameter_mm"] for lesion in tumour.baseline()]
    for _ in range(10):
        now = [lesion["diameter_mm"] for lesion in tumour.follow_up(progression=False)]
        assert all(n <= s for n, s in zip(now, sizes, strict=True))
        sizes = now
    assert len(tumour.follow_up(progression=True)) == len(sizes)


def test_ctdna_levels_rise_once_and_then_stay_within_the_two_fold_threshold():
    plan = dataclasses.replace(plan_cohort(RunConfig(patients=1, sites=1, seed=1))[0])
    rng = random.Random(3)
    assert ctdna_variants(dataclasses.replace(plan, baseline_positive=False), rng, None) == []
    level = clone_level(plan, rng)
    copies = [ctdna_variants(plan, rng, level)[0]["copies_per_ml"] for _ in range(50)]
    assert max(copies) / min(copies) < 2
    positive = dataclasses.replace(plan, baseline_positive=True)
    baseline = [ctdna_variants(positive, rng, None)[0]["copies_per_ml"] for _ in range(50)]
    risen = clone_level(positive, rng)[0]
    assert max(baseline) / min(baseline) < 2 and risen >= 2 * max(baseline)


def test_scenarios_are_named():
    assert SCENARIOS["reference"] is REFERENCE and "demo" in SCENARIOS
