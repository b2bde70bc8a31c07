"""Cumulative incidence: Aalen-Johansen by hand and against lifelines' AalenJohansenFitter."""

from __future__ import annotations

import math
import random
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import AalenJohansenFitter

from monitoring.analysis import AnalysisInputError, EstimateStatus
from monitoring.analysis.incidence import (
    IncidenceRecord,
    Method,
    Outcome,
    cumulative_incidence,
    one_minus_kaplan_meier,
)
from tests.monitoring.analysis.reference import Z95

E, C, X = Outcome.EVENT, Outcome.COMPETING, Outcome.CENSORED
I = IncidenceRecord  # noqa: E741 - short constructor alias for readable data tables

# Rising mutation at 1; at 2 one rising and one progression (a tie across types); censored at
# 3; rising at 4; progression at 5.
HAND = [I(1, E), I(2, C), I(2, E), I(3, X), I(4, E), I(5, C)]
LIFELINES_CODE = {E: 1, C: 2, X: 0}


def test_aalen_johansen_by_hand():
    (curve,) = cumulative_incidence(HAND)
    # t=1: n=6, 1 event: F = 1/6, all-cause S = 5/6.
    # t=2: n=5, 1 event + 1 competing: F = 1/6 + 5/6 x 1/5 = 1/3, S = 5/6 x 3/5 = 1/2.
    # t=3: censoring. t=4: n=2, 1 event: F = 1/3 + 1/2 x 1/2 = 7/12, S = 1/4.
    # t=5: n=1, competing: F stays 7/12.
    assert [(r.time_months, r.at_risk, r.events, r.competing, r.censored) for r in curve.table] == [
        (0.0, 6, 0, 0, 0),
        (1.0, 6, 1, 0, 0),
        (2.0, 5, 1, 1, 0),
        (3.0, 3, 0, 0, 1),
        (4.0, 2, 1, 0, 0),
        (5.0, 1, 0, 1, 0),
    ]
    assert [r.incidence for r in curve.table] == pytest.approx(
        [0, 1 / 6, 1 / 3, 1 / 3, 7 / 12, 7 / 12]
    )
    assert (curve.method, curve.n, curve.events, curve.competing, curve.censored) == (
        Method.AALEN_JOHANSEN,
        6,
        3,
        2,
        1,
    )
    # Collett's variance at t=1 reduces to S(0)^2 d (n - d) / n^3 = 5/216; log(-log F) limits.
    f = 1 / 6
    se = math.sqrt(5 / 216) / (f * abs(math.log(f)))
    row = curve.table[1]
    # exp(-exp(log(-log F) +- z se)) = F^exp(+-z se)
    assert row.ci_lower == pytest.approx(f ** math.exp(Z95 * se))
    assert row.ci_upper == pytest.approx(f ** math.exp(-Z95 * se))
    assert curve.table[0].ci_lower == curve.table[0].ci_upper == 0.0


def test_one_minus_kaplan_meier_overstates_incidence_with_competing_events():
    (naive,) = one_minus_kaplan_meier(HAND)
    (aj,) = cumulative_incidence(HAND)
    # Competing endings censored: S = 5/6, then 5/6 x 4/5 = 2/3 (n = 5), then 2/3 x 1/2 = 1/3.
    assert naive.method is Method.ONE_MINUS_KAPLAN_MEIER
    assert [r.incidence for r in naive.table] == pytest.approx(
        [0, 1 / 6, 1 / 3, 1 / 3, 2 / 3, 2 / 3]
    )
    assert naive.table[2].competing == 1
    assert naive.at(5).incidence > aj.at(5).incidence
    for row in naive.table:
        assert row.ci_lower <= row.incidence <= row.ci_upper


def _random_records(seed, n, *, integer_times):
    rng = random.Random(seed)
    records = []
    for _ in range(n):
        outcome = rng.choice((E, E, C, X))
        if integer_times:
            # Censoring between the integer event times, so jittering tied endings (which
            # lifelines does) cannot move an event past a censoring.
            time = rng.randint(1, 30) + (0.5 if outcome is X else 0.0)
        else:
            time = round(rng.uniform(0.01, 30), 4)
        records.append(I(float(time), outcome))
    return records


def _lifelines_fit(records, seed=None):
    fitter = AalenJohansenFitter(calculate_variance=True, seed=seed)
    state = np.random.get_state()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitter.fit(
                [r.time_months for r in records],
                [LIFELINES_CODE[r.outcome] for r in records],
                event_of_interest=1,
            )
    finally:
        np.random.set_state(state)
    return fitter


def test_equals_lifelines_without_ties_across_types():
    records = _random_records(7, 300, integer_times=False)
    fitter = _lifelines_fit(records)
    assert not fitter._check_for_duplicates(
        [r.time_months for r in records], [LIFELINES_CODE[r.outcome] for r in records]
    )
    (curve,) = cumulative_incidence(records)
    theirs = fitter.cumulative_density_.iloc[:, 0]
    bands = fitter.confidence_interval_
    assert len(curve.table) == len(theirs)
    for row in curve.table:
        assert row.incidence == pytest.approx(theirs.at[row.time_months], abs=1e-12)
        limits = bands.loc[row.time_months]
        if row.incidence > 0 and not limits.isna().any():
            low, high = sorted(limits)
            assert (row.ci_lower, row.ci_upper) == pytest.approx((low, high), abs=1e-9)
    # lifelines leaves NaN where the last subject ends (d / (n (n - d)) with n = d); the term
    # is multiplied by F(t) - F(t_i) = 0 there, so the interval stays defined here.
    assert all(math.isfinite(r.ci_lower) and math.isfinite(r.ci_upper) for r in curve.table)


def test_equals_jittered_lifelines_after_tied_times():
    """lifelines jitters tied event/competing times by < 1e-4; after each tie block (integer
    times are 1 apart) the estimates coincide, because the order of tied endings does not
    change the product."""
    records = _random_records(11, 300, integer_times=True)
    fitter = _lifelines_fit(records, seed=0)
    theirs = fitter.cumulative_density_.iloc[:, 0]
    (curve,) = cumulative_incidence(records)
    for row in curve.table[1:]:
        after = theirs[theirs.index <= row.time_months + 0.25].iloc[-1]
        assert row.incidence == pytest.approx(after, abs=1e-12)


def test_without_competing_events_aalen_johansen_is_one_minus_kaplan_meier():
    records = [r for r in _random_records(3, 120, integer_times=True) if r.outcome is not C]
    (aj,) = cumulative_incidence(records)
    (naive,) = one_minus_kaplan_meier(records)
    assert [r.incidence for r in aj.table] == pytest.approx([r.incidence for r in naive.table])


def test_groups_points_and_edge_cases():
    records = [I(1, E, "Step 1"), I(2, X, "Step 1")]
    step1, other = cumulative_incidence(records, groups=("Step 1", "other"))
    assert step1.status is EstimateStatus.OK
    assert (other.status, other.table) == (EstimateStatus.NO_RECORDS, ())
    assert other.at(3).status is EstimateStatus.NO_RECORDS
    point = step1.at(1.5)
    assert (point.status, point.incidence) == (EstimateStatus.OK, 0.5)
    beyond = step1.at(3)
    assert beyond.status is EstimateStatus.NOT_ESTIMABLE
    assert beyond.incidence is None
    # Everyone ended by an event or a competing event: the curve is final after the last time.
    (closed,) = cumulative_incidence([I(1, E), I(2, C)])
    assert closed.at(10).incidence == 0.5
    (none,) = cumulative_incidence([I(1, C), I(2, X)])
    assert [r.incidence for r in none.table] == [0, 0, 0]
    assert cumulative_incidence([]) == ()
    naive_a, naive_b = one_minus_kaplan_meier([I(1, E, "a")], groups=("a", "b"))
    assert naive_b.status is EstimateStatus.NO_RECORDS


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"time_months": -1, "outcome": E}, "invalid_time"),
        ({"time_months": math.nan, "outcome": E}, "invalid_time"),
        ({"time_months": 1, "outcome": "event"}, "invalid_outcome"),
        ({"time_months": 1, "outcome": E, "group": ""}, "invalid_group"),
    ],
)
def test_record_validation(kwargs, code):
    with pytest.raises(AnalysisInputError) as error:
        I(**kwargs)
    assert error.value.code == code


def test_parameter_errors():
    with pytest.raises(AnalysisInputError) as error:
        cumulative_incidence([I(1, E, "x")], groups=("y",))
    assert error.value.code == "unknown_group"
    with pytest.raises(AnalysisInputError) as error:
        cumulative_incidence([I(1, E)], confidence_level=0)
    assert error.value.code == "invalid_parameter"
    with pytest.raises(AnalysisInputError) as error:
        cumulative_incidence([(1, "event")])
    assert error.value.code == "invalid_parameter"
    (curve,) = cumulative_incidence([I(1, E)])
    with pytest.raises(AnalysisInputError) as error:
        curve.at(-1)
    assert error.value.code == "invalid_time"


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.builds(
            I,
            time_months=st.sampled_from([0.0, 1.0, 1.5, 2.0, 4.0]),
            outcome=st.sampled_from(list(Outcome)),
        ),
        min_size=1,
        max_size=15,
    )
)
def test_aalen_johansen_properties(records):
    """The CIF rises, stays within [0, 1] and its interval, never exceeds 1 - KM, and the
    incidences of the event and the competing event add up to 1 - all-cause survival."""
    (aj,) = cumulative_incidence(records)
    (naive,) = one_minus_kaplan_meier(records)
    swapped = [I(r.time_months, {E: C, C: E}.get(r.outcome, r.outcome), r.group) for r in records]
    (competing,) = cumulative_incidence(swapped)
    all_cause = 1.0
    for row, naive_row, other in zip(aj.table, naive.table, competing.table, strict=True):
        if row.at_risk:
            all_cause *= 1 - (row.events + row.competing) / row.at_risk
        assert 0 <= row.ci_lower <= row.incidence + 1e-12
        assert row.incidence <= row.ci_upper + 1e-12 <= 1 + 1e-12
        assert row.incidence <= naive_row.incidence + 1e-12
        assert row.incidence + other.incidence == pytest.approx(1 - all_cause, abs=1e-12)
    incidences = [row.incidence for row in aj.table]
    assert incidences == sorted(incidences)
