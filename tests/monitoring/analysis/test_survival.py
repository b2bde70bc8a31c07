"""Survival analyses against reference computations.

Provenance of every expected value:
- tiny datasets: the product-limit, Greenwood and log-rank arithmetic written out below (exact
  fractions where practical);
- lifelines' example datasets shipped in the wheel (``load_waltons``, ``load_rossi``; no
  network): compared with the plain-Python reference implementations in ``reference.py``;
- the lifelines documentation prints, for the *full* rossi model
  ``arrest ~ fin + age + race + wexp + mar + paro + prio``, exp(coef) = 0.6845 for ``fin``
  (0.6856 stratified by race). Our function fits the arm alone, ``arrest ~ fin``: its value,
  0.6914, is asserted against an independent Efron/Newton-Raphson fit, and is expectedly close
  to the documented adjusted one (randomised aid, so adjustment moves it little).
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lifelines.datasets import load_rossi, load_waltons
from lifelines.statistics import logrank_test as lifelines_logrank
from lifelines.statistics import multivariate_logrank_test

from monitoring.analysis import DAYS_PER_MONTH, AnalysisInputError, EstimateStatus, days_to_months
from monitoring.analysis.survival import (
    SurvivalRecord,
    compare_arms,
    cox_hazard_ratio,
    kaplan_meier,
    landmark_survival,
    logrank_test,
    numbers_at_risk,
    regular_times,
)
from tests.monitoring.analysis.reference import (
    Z95,
    chi2_one_df_p,
    efron_cox,
    first_time_at_or_below,
    logrank_parts,
    product_limit,
)

R = SurvivalRecord


@pytest.fixture(scope="module")
def waltons():
    frame = load_waltons()
    return [
        R(float(t), bool(e), str(g))
        for t, e, g in zip(frame["T"], frame["E"], frame["group"], strict=True)
    ]


@pytest.fixture(scope="module")
def rossi():
    """Financial aid (fin = 1) is the experimental arm "aid", stratum = race."""
    frame = load_rossi()
    return [
        R(float(w), bool(a), "aid" if f else "no_aid", f"race{r}")
        for w, a, f, r in zip(frame.week, frame.arrest, frame.fin, frame.race, strict=True)
    ]


# --- Kaplan-Meier --------------------------------------------------------------------------

TINY_TIMES = [1.0, 2.0, 2.0, 3.0, 4.0, 5.0]
TINY_EVENTS = [True, True, False, True, False, True]


def test_kaplan_meier_matches_hand_computed_product_limit():
    (curve,) = kaplan_meier([R(t, e) for t, e in zip(TINY_TIMES, TINY_EVENTS, strict=True)])
    # S(1) = 5/6; S(2) = 5/6 x 4/5 = 2/3 (one death, one censoring at 2: n = 5);
    # S(3) = 2/3 x 2/3 = 4/9 (n = 3); censoring at 4; S(5) = 4/9 x 0/1 = 0.
    expected = [
        (0.0, 6, 0, 0, Fraction(1)),
        (1.0, 6, 1, 0, Fraction(5, 6)),
        (2.0, 5, 1, 1, Fraction(2, 3)),
        (3.0, 3, 1, 0, Fraction(4, 9)),
        (4.0, 2, 0, 1, Fraction(4, 9)),
        (5.0, 1, 1, 0, Fraction(0)),
    ]
    assert [(r.time_months, r.at_risk, r.events, r.censored) for r in curve.table] == [
        e[:4] for e in expected
    ]
    for row, (*_, survival) in zip(curve.table, expected, strict=True):
        assert row.survival == pytest.approx(float(survival), abs=1e-12)
    # Greenwood at t = 2: sum d / (n (n - d)) = 1/(6 x 5) + 1/(5 x 4) = 1/12;
    # log(-log) interval S^exp(+-z se), se = sqrt(1/12) / |log(2/3)|.
    se = math.sqrt(1 / 12) / abs(math.log(2 / 3))
    assert curve.table[2].ci_lower == pytest.approx((2 / 3) ** math.exp(Z95 * se), abs=1e-9)
    assert curve.table[2].ci_upper == pytest.approx((2 / 3) ** math.exp(-Z95 * se), abs=1e-9)
    assert (curve.n, curve.events, curve.censored) == (6, 4, 2)
    # Median: first time S <= 0.5 is t = 3 (S = 4/9).
    assert curve.median.status is EstimateStatus.OK
    assert curve.median.months == 3.0


def test_kaplan_meier_intervals_match_greenwood_reference_on_waltons(waltons):
    curves = kaplan_meier(waltons)
    assert [c.group for c in curves] == ["control", "miR-137"]
    for curve in curves:
        subset = [r for r in waltons if r.group == curve.group]
        reference = product_limit([r.time_months for r in subset], [r.event for r in subset])
        assert len(curve.table) == len(reference) + (0 if reference[0][0] == 0 else 1)
        by_time = {row.time_months: row for row in curve.table}
        for t, n, d, survival, lower, upper in reference:
            row = by_time[t]
            assert (row.at_risk, row.events) == (n, d)
            assert row.survival == pytest.approx(survival, abs=1e-12)
            assert row.ci_lower == pytest.approx(lower, abs=1e-9)
            assert row.ci_upper == pytest.approx(upper, abs=1e-9)


def test_waltons_medians_and_their_intervals(waltons):
    """Median = first time S <= 0.5; its interval = first times the lower and upper
    log(-log) Greenwood bands reach 0.5, computed here by the reference product limit."""
    curves = {c.group: c for c in kaplan_meier(waltons)}
    literal = {"control": (58.0, 56.0, 60.0), "miR-137": (26.0, 19.0, 29.0)}
    for group, (median, lower, upper) in literal.items():
        subset = [r for r in waltons if r.group == group]
        rows = product_limit([r.time_months for r in subset], [r.event for r in subset])
        assert (
            first_time_at_or_below(rows, 3),
            first_time_at_or_below(rows, 4),
            first_time_at_or_below(rows, 5),
        ) == (median, lower, upper)
        got = curves[group].median
        assert (got.months, got.ci_lower_months, got.ci_upper_months) == (median, lower, upper)


def test_median_not_reached_and_open_upper_limit():
    # 10 subjects, 3 early events: S stays at 0.7 > 0.5.
    records = [R(float(t), t <= 3) for t in range(1, 11)]
    (curve,) = kaplan_meier(records)
    assert curve.median.status is EstimateStatus.NOT_REACHED
    assert curve.median.months is None
    assert curve.median.ci_upper_months is None


def test_no_events_gives_a_flat_curve_and_no_median():
    (curve,) = kaplan_meier([R(1.0, False), R(2.5, False)])
    assert [row.survival for row in curve.table] == [1.0, 1.0, 1.0]
    assert curve.median.status is EstimateStatus.NOT_REACHED
    assert curve.events == 0


def test_requested_group_without_records_is_explicit():
    a, b = kaplan_meier([R(1.0, True, "A")], groups=("A", "B"))
    assert a.status is EstimateStatus.OK
    assert (b.group, b.n, b.table, b.status) == ("B", 0, (), EstimateStatus.NO_RECORDS)
    assert b.median.status is EstimateStatus.NO_RECORDS
    assert b.at(6).status is EstimateStatus.NO_RECORDS
    assert kaplan_meier([]) == ()


def test_unknown_group_and_bad_parameters_raise_coded_errors():
    with pytest.raises(AnalysisInputError) as error:
        kaplan_meier([R(1.0, True, "C")], groups=("A", "B"))
    assert error.value.code == "unknown_group"
    with pytest.raises(AnalysisInputError) as error:
        kaplan_meier([R(1.0, True)], confidence_level=1.0)
    assert error.value.code == "invalid_parameter"
    with pytest.raises(AnalysisInputError) as error:
        kaplan_meier([(1.0, True)])
    assert error.value.code == "invalid_parameter"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"time_months": -0.1, "event": True}, "invalid_time"),
        ({"time_months": math.nan, "event": True}, "invalid_time"),
        ({"time_months": math.inf, "event": True}, "invalid_time"),
        ({"time_months": "3", "event": True}, "invalid_time"),
        ({"time_months": 3.0, "event": 1}, "invalid_event"),
        ({"time_months": 3.0, "event": True, "group": ""}, "invalid_group"),
        ({"time_months": 3.0, "event": True, "stratum": ""}, "invalid_stratum"),
    ],
)
def test_survival_record_validation(kwargs, code):
    with pytest.raises(AnalysisInputError) as error:
        R(**kwargs)
    assert error.value.code == code


def test_days_to_months():
    assert DAYS_PER_MONTH == 365.25 / 12
    assert days_to_months(365.25) == pytest.approx(12.0)
    with pytest.raises(AnalysisInputError) as error:
        days_to_months(math.nan)
    assert error.value.code == "invalid_time"


# --- numbers at risk and landmarks -----------------------------------------------------------


def test_numbers_at_risk_count_time_at_or_after_each_point():
    records = [R(t, e) for t, e in zip(TINY_TIMES, TINY_EVENTS, strict=True)]
    table = numbers_at_risk(records, (0, 2, 2.5, 5, 6))
    # time >= 0: 6; >= 2: {2, 2, 3, 4, 5} = 5; >= 2.5: 3; >= 5: 1; >= 6: 0.
    assert table.times_months == (0.0, 2.0, 2.5, 5.0, 6.0)
    assert table.rows[0].counts == (6, 5, 3, 1, 0)


def test_landmark_agrees_with_the_curve_and_its_numbers_at_risk(rossi):
    curves = {c.group: c for c in kaplan_meier(rossi)}
    at_risk = numbers_at_risk(rossi, (24,))
    for estimate in landmark_survival(rossi, time_months=24):
        subset = [r for r in rossi if r.group == estimate.group]
        rows = product_limit([r.time_months for r in subset], [r.event for r in subset])
        _, _, _, survival, lower, upper = [row for row in rows if row[0] <= 24][-1]
        assert estimate.status is EstimateStatus.OK
        assert estimate.survival == pytest.approx(survival, abs=1e-12)
        assert (estimate.ci_lower, estimate.ci_upper) == pytest.approx((lower, upper), abs=1e-9)
        expected_at_risk = dict((row.group, row.counts[0]) for row in at_risk.rows)
        assert estimate.at_risk == expected_at_risk[estimate.group]
        assert curves[estimate.group].at(24) == estimate


def test_palatine_24_month_overall_survival_rate_by_hand():
    """Single arm, 8 patients: deaths at 6, 14 and 20 months, censored at 10, 22, 26, 30, 30."""
    records = [
        R(6, True),
        R(10, False),
        R(14, True),
        R(20, True),
        R(22, False),
        R(26, False),
        R(30, False),
        R(30, False),
    ]
    (estimate,) = landmark_survival(records, time_months=24)
    # S(24) = 7/8 x 5/6 x 4/5 = 7/12; Greenwood sum = 1/56 + 1/30 + 1/20.
    survival = 7 / 12
    se = math.sqrt(1 / 56 + 1 / 30 + 1 / 20) / abs(math.log(survival))
    assert estimate.survival == pytest.approx(survival)
    assert estimate.ci_lower == pytest.approx(survival ** math.exp(Z95 * se))
    assert estimate.ci_upper == pytest.approx(survival ** math.exp(-Z95 * se))
    assert estimate.at_risk == 3


def test_landmark_beyond_follow_up_is_not_estimable_unless_the_curve_reached_zero():
    (open_end,) = landmark_survival([R(3, True), R(5, False)], time_months=6)
    assert open_end.status is EstimateStatus.NOT_ESTIMABLE
    assert open_end.survival is None
    (closed,) = landmark_survival([R(3, True), R(5, True)], time_months=6)
    assert (closed.status, closed.survival, closed.at_risk) == (EstimateStatus.OK, 0.0, 0)
    with pytest.raises(AnalysisInputError) as error:
        landmark_survival([R(3, True)], time_months=-1)
    assert error.value.code == "invalid_time"


def test_regular_times():
    assert regular_times(12, 3) == (0, 3, 6, 9, 12)
    assert regular_times(1, 0.3) == (0, 0.3, 0.6, 0.9)
    with pytest.raises(AnalysisInputError):
        regular_times(12, 0)


# --- log-rank ------------------------------------------------------------------------------

# A: events at 1 and 3; B: event at 2, censored at 4.
HAND_A = [R(1, True, "A"), R(3, True, "A"), R(2, True, "B"), R(4, False, "B")]
# Second stratum: A: event at 2; B: events at 1 and 3.
HAND_B = [R(2, True, "A"), R(1, True, "B"), R(3, True, "B")]


def test_logrank_by_hand():
    # t=1: n=4 (2 A), d=1 (A): E_A = 1/2, V = 1 x 3 x 2 x 2 / (16 x 3) = 1/4
    # t=2: n=3 (1 A), d=1 (B): E_A = 1/3, V = 1 x 2 x 1 x 2 / (9 x 2) = 2/9
    # t=3: n=2 (1 A), d=1 (A): E_A = 1/2, V = 1 x 1 x 1 x 1 / (4 x 1) = 1/4
    # O_A - E_A = 2 - 4/3 = 2/3, V = 13/18, chi2 = (4/9) / (13/18) = 8/13.
    result = logrank_test(HAND_A)
    assert result.status is EstimateStatus.OK
    assert result.method == "log-rank"
    assert result.statistic == pytest.approx(8 / 13)
    assert result.degrees_of_freedom == 1
    assert result.p_value == pytest.approx(chi2_one_df_p(8 / 13))
    a, b = result.groups
    assert (a.group, a.n, a.observed, a.expected) == ("A", 2, 2, pytest.approx(4 / 3))
    assert (b.group, b.n, b.observed, b.expected) == ("B", 2, 1, pytest.approx(5 / 3))


def test_stratified_logrank_by_hand():
    # Stratum 2: t=1: n=3 (1 A), d=1 (B): E_A = 1/3, V = 2/9; t=2: n=2, d=1 (A): E_A = 1/2,
    # V = 1/4; t=3: only B at risk: E_A = 0, V = 0. O_A - E_A = 1 - 5/6 = 1/6, V = 17/36.
    # Stratified: U = 2/3 + 1/6 = 5/6, V = 13/18 + 17/36 = 43/36, chi2 = (25/36)/(43/36) = 25/43.
    records = [R(r.time_months, r.event, r.group, "s1") for r in HAND_A] + [
        R(r.time_months, r.event, r.group, "s2") for r in HAND_B
    ]
    result = logrank_test(records)
    assert (result.method, result.strata) == ("stratified log-rank", 2)
    assert result.statistic == pytest.approx(25 / 43)
    assert result.p_value == pytest.approx(chi2_one_df_p(25 / 43))
    unstratified = logrank_test(records, stratified=False)
    assert unstratified.method == "log-rank"
    assert unstratified.statistic != pytest.approx(25 / 43)


def test_logrank_equals_lifelines_without_strata(waltons, rossi):
    frame = load_waltons()
    ours = logrank_test(waltons)
    theirs = multivariate_logrank_test(frame["T"], frame["group"], frame["E"])
    assert ours.statistic == pytest.approx(theirs.test_statistic, rel=1e-10)
    assert ours.p_value == pytest.approx(theirs.p_value, rel=1e-8)

    frame = load_rossi()
    aid, no_aid = frame[frame.fin == 1], frame[frame.fin == 0]
    theirs = lifelines_logrank(no_aid.week, aid.week, no_aid.arrest, aid.arrest)
    ours = logrank_test(rossi, stratified=False)
    assert ours.statistic == pytest.approx(theirs.test_statistic, rel=1e-10)
    assert ours.p_value == pytest.approx(theirs.p_value, rel=1e-8)


def test_logrank_three_groups_equals_lifelines():
    frame = load_rossi()
    bands = ["young" if a < 21 else "middle" if a < 26 else "older" for a in frame.age]
    records = [
        R(float(w), bool(e), g) for w, e, g in zip(frame.week, frame.arrest, bands, strict=True)
    ]
    ours = logrank_test(records)
    theirs = multivariate_logrank_test(frame.week, bands, frame.arrest)
    assert ours.degrees_of_freedom == 2
    assert ours.statistic == pytest.approx(theirs.test_statistic, rel=1e-9)
    assert ours.p_value == pytest.approx(theirs.p_value, rel=1e-8)


def test_stratified_logrank_on_rossi_sums_strata(rossi):
    u = v = 0.0
    for stratum in ("race0", "race1"):
        subset = [r for r in rossi if r.stratum == stratum]
        du, dv = logrank_parts(
            [r.time_months for r in subset],
            [r.event for r in subset],
            [r.group == "aid" for r in subset],
        )
        u, v = u + du, v + dv
    result = logrank_test(rossi)
    assert result.strata == 2
    assert result.statistic == pytest.approx(u * u / v, rel=1e-10)
    assert result.p_value == pytest.approx(chi2_one_df_p(u * u / v), rel=1e-8)


def test_logrank_edge_cases_are_explicit():
    assert logrank_test([]).status is EstimateStatus.NO_RECORDS
    single = logrank_test([R(1, True, "A"), R(2, False, "A")], groups=("A", "B"))
    assert single.status is EstimateStatus.SINGLE_GROUP
    assert [(g.group, g.n, g.observed, g.expected) for g in single.groups] == [
        ("A", 2, 1, None),
        ("B", 0, 0, None),
    ]
    no_events = logrank_test([R(1, False, "A"), R(2, False, "B")])
    assert (no_events.status, no_events.p_value) == (EstimateStatus.NO_EVENTS, None)
    # The only event happens when B is no longer at risk: no information.
    disjoint = logrank_test([R(1, False, "B"), R(2, True, "A")])
    assert disjoint.status is EstimateStatus.NOT_ESTIMABLE


def test_strata_must_be_all_or_nothing():
    mixed = [R(1, True, "A", "s1"), R(2, True, "B")]
    with pytest.raises(AnalysisInputError) as error:
        logrank_test(mixed)
    assert error.value.code == "mixed_strata"
    with pytest.raises(AnalysisInputError) as error:
        logrank_test([R(1, True, "A")], stratified=True)
    assert error.value.code == "mixed_strata"
    assert logrank_test(mixed, stratified=False).method == "log-rank"


# --- Cox -----------------------------------------------------------------------------------


def _cox_reference(records, experimental, by_stratum):
    keys = sorted({r.stratum for r in records}) if by_stratum else [None]
    data = []
    for key in keys:
        subset = [r for r in records if not by_stratum or r.stratum == key]
        data.append(
            (
                [r.time_months for r in subset],
                [r.event for r in subset],
                [1.0 if r.group == experimental else 0.0 for r in subset],
            )
        )
    return efron_cox(data)


@pytest.mark.parametrize("stratified", [False, True])
def test_cox_hazard_ratio_on_rossi_matches_independent_efron_fit(rossi, stratified):
    estimate = cox_hazard_ratio(
        rossi, reference="no_aid", experimental="aid", stratified=stratified
    )
    beta, se = _cox_reference(rossi, "aid", stratified)
    assert estimate.status is EstimateStatus.OK
    assert estimate.stratified is stratified
    assert estimate.strata == (2 if stratified else 1)
    assert (estimate.n, estimate.events) == (432, 114)
    assert estimate.hazard_ratio == pytest.approx(math.exp(beta), rel=1e-6)
    assert estimate.ci_lower == pytest.approx(math.exp(beta - Z95 * se), rel=1e-5)
    assert estimate.ci_upper == pytest.approx(math.exp(beta + Z95 * se), rel=1e-5)
    z = abs(beta / se)
    assert estimate.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-5)


def test_cox_rossi_fin_alone_is_close_to_the_documented_adjusted_value(rossi):
    estimate = cox_hazard_ratio(rossi, reference="no_aid", experimental="aid", stratified=False)
    # Computed (test above): exp(-0.3691) = 0.6914, 95 % CI 0.477-1.003, p = 0.052.
    assert estimate.hazard_ratio == pytest.approx(0.6914, abs=5e-5)
    assert estimate.ci_lower == pytest.approx(0.4767, abs=5e-5)
    assert estimate.ci_upper == pytest.approx(1.0028, abs=5e-5)
    assert estimate.p_value == pytest.approx(0.0517, abs=5e-5)
    # lifelines docs, full model: exp(coef) for fin = 0.6845.
    assert estimate.hazard_ratio == pytest.approx(0.6845, abs=0.01)


def test_cox_arm_coding_gives_reciprocal_hazard_ratios(rossi):
    forward = cox_hazard_ratio(rossi, reference="no_aid", experimental="aid")
    backward = cox_hazard_ratio(rossi, reference="aid", experimental="no_aid")
    assert forward.hazard_ratio < 1  # financial aid lowers the hazard of arrest
    assert forward.hazard_ratio * backward.hazard_ratio == pytest.approx(1, rel=1e-6)
    assert forward.p_value == pytest.approx(backward.p_value, rel=1e-6)


def test_cox_edge_cases_are_explicit():
    def hr(records, **kwargs):
        return cox_hazard_ratio(records, reference="A", experimental="B", **kwargs)

    assert hr([]).status is EstimateStatus.NO_RECORDS
    assert hr([R(1, True, "A"), R(2, True, "A")]).status is EstimateStatus.SINGLE_GROUP
    assert hr([R(1, False, "A"), R(2, False, "B")]).status is EstimateStatus.NO_EVENTS
    all_in_a = hr([R(1, True, "A"), R(2, True, "A"), R(3, False, "B"), R(4, False, "B")])
    assert all_in_a.status is EstimateStatus.NOT_ESTIMABLE
    assert "monotone" in all_in_a.reason
    assert all_in_a.hazard_ratio is None
    # Each stratum holds one arm only: nothing compares the arms.
    separated = hr(
        [R(1, True, "A", "s1"), R(2, True, "A", "s1"), R(1, True, "B", "s2"), R(3, True, "B", "s2")]
    )
    assert separated.status is EstimateStatus.NOT_ESTIMABLE
    with pytest.raises(AnalysisInputError) as error:
        hr([R(1, True, "C")])
    assert error.value.code == "unknown_group"
    with pytest.raises(AnalysisInputError) as error:
        cox_hazard_ratio([], reference="A", experimental="A")
    assert error.value.code == "invalid_parameter"


# --- a simulated PADA-1-like trial ---------------------------------------------------------


def _simulated_trial(seed=20221, per_arm=2000):
    """Exponential PFS with the published medians (B 11.9, A 5.7 months, DOMAIN.md 1.7), so
    the true HR is 5.7 / 11.9 = 0.479; uniform accrual over 24 months, analysis at 36 months;
    a stratum drawn at random (no effect on the hazard) for the stratified fit."""
    rng = random.Random(seed)
    records = []
    for arm, median in (("A", 5.7), ("B", 11.9)):
        for _ in range(per_arm):
            stratum = rng.choice(("visceral", "non_visceral"))
            follow_up = 36 - rng.uniform(0, 24)
            time = rng.expovariate(math.log(2) / median)
            records.append(R(min(time, follow_up), time <= follow_up, arm, stratum))
    return records


def test_simulated_trial_recovers_the_true_hazard_ratio_and_medians():
    records = _simulated_trial()
    comparison = compare_arms(
        records,
        reference="A",
        experimental="B",
        at_risk_times=regular_times(36, 6),
        landmark_months=24,
    )
    hr = comparison.hazard_ratio
    # log HR standard error ~ sqrt(1/d_A + 1/d_B) ~ 0.033: +-0.04 on HR is > 2.5 SE.
    assert hr.stratified and hr.strata == 2
    assert hr.hazard_ratio == pytest.approx(5.7 / 11.9, abs=0.04)
    assert hr.ci_lower < 5.7 / 11.9 < hr.ci_upper
    assert hr.p_value < 1e-20
    assert comparison.logrank.method == "stratified log-rank"
    assert comparison.logrank.p_value < 1e-20
    a, b = comparison.curves
    assert (a.group, b.group) == ("A", "B")
    # Sampling SE of a sample median: sqrt(S (1 - S) / n) / f(m) = median / (ln 2 sqrt(n))
    # for an exponential (f(m) = rate / 2); censoring after 12 months barely touches it.
    for curve, median in ((a, 5.7), (b, 11.9)):
        se = median / (math.log(2) * math.sqrt(2000))
        assert abs(curve.median.months - median) < 4 * se
        assert curve.median.ci_lower_months < curve.median.months < curve.median.ci_upper_months
    assert comparison.at_risk.times_months == (0, 6, 12, 18, 24, 30, 36)
    assert [row.counts[0] for row in comparison.at_risk.rows] == [2000, 2000]
    # True 24-month PFS: exp(-ln 2 x 24 / median).
    for landmark, median in zip(comparison.landmarks, (5.7, 11.9), strict=True):
        assert landmark.survival == pytest.approx(math.exp(-math.log(2) * 24 / median), abs=0.03)


# --- properties ----------------------------------------------------------------------------

_small_records = st.lists(
    st.builds(
        R,
        time_months=st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 5.0]),
        event=st.booleans(),
        group=st.sampled_from(["A", "B"]),
        stratum=st.sampled_from(["s1", "s2"]),
    ),
    max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_small_records, st.booleans())
def test_any_valid_input_gives_a_result_never_an_exception(records, stratified):
    comparison = compare_arms(
        records,
        reference="A",
        experimental="B",
        at_risk_times=(0, 1, 2),
        landmark_months=2,
        stratified=stratified,
    )
    for curve in comparison.curves:
        survival = [row.survival for row in curve.table]
        assert survival == sorted(survival, reverse=True)
        for row in curve.table:
            assert row.ci_lower - 1e-12 <= row.survival <= row.ci_upper + 1e-12
    hr = comparison.hazard_ratio
    assert (hr.hazard_ratio is None) == (hr.status is not EstimateStatus.OK)
    if hr.status is EstimateStatus.OK:
        assert hr.ci_lower <= hr.hazard_ratio <= hr.ci_upper
        assert 0 <= hr.p_value <= 1
    logrank = comparison.logrank
    assert (logrank.p_value is None) == (logrank.status is not EstimateStatus.OK)
    assert sum(g.observed for g in logrank.groups) == sum(r.event for r in records)
