"""QoL means over time, completion and time to deterioration, by hand."""

from __future__ import annotations

import math
import statistics

import pytest

from monitoring.analysis import AnalysisInputError
from monitoring.analysis.qol import (
    DEFAULT_MID_POINTS,
    Direction,
    QolAssessment,
    mean_scores_over_time,
    time_to_deterioration,
)
from monitoring.analysis.rates import wilson_interval
from monitoring.analysis.survival import SurvivalRecord, kaplan_meier

Q = QolAssessment
# QL2 scores are multiples of 100/12 (two 7-point items): 50, 58.33, 66.67, 75, 83.33, ...
S = 100 / 12


def _t_quantile_two_df(p):
    """Student t quantile with 2 degrees of freedom, closed form: (2p - 1) / sqrt(2p (1 - p))."""
    return (2 * p - 1) / math.sqrt(2 * p * (1 - p))


def test_mean_scores_by_group_and_timepoint():
    assessments = [
        Q("p1", "B", 0, 0.0, 6 * S),
        Q("p2", "B", 0, 0.0, 8 * S),
        Q("p3", "B", 0, 0.0, 10 * S),
        Q("p4", "B", 0, 0.0, None),
        Q("p1", "B", 1, 1.9, 7 * S),
        Q("p5", "A", 0, 0.0, 9 * S),
    ]
    summaries = mean_scores_over_time(assessments)
    assert [(s.group, s.timepoint) for s in summaries] == [("A", 0), ("B", 0), ("B", 1)]
    a0, b0, b1 = summaries
    # B at baseline: 50, 66.67, 83.33 -> mean 66.67, SD 16.67; t(2) interval.
    assert (b0.expected, b0.completed) == (4, 3)
    assert b0.completion == wilson_interval(3, 4)
    assert b0.mean == pytest.approx(8 * S)
    assert b0.sd == pytest.approx(2 * S)
    half = _t_quantile_two_df(0.975) * (2 * S) / math.sqrt(3)
    assert (b0.ci_lower, b0.ci_upper) == pytest.approx((8 * S - half, 8 * S + half))
    # One score: a mean, no spread.
    assert (b1.mean, b1.sd, b1.ci_lower, b1.ci_upper) == (pytest.approx(7 * S), None, None, None)
    assert a0.completion.estimate == 1.0


def test_timepoint_without_any_completed_form():
    (summary,) = mean_scores_over_time([Q("p1", "A", 2, 3.7, None), Q("p2", "A", 2, 3.8, None)])
    assert (summary.completed, summary.mean, summary.completion.estimate) == (0, None, 0.0)


def test_time_to_deterioration_by_hand():
    assessments = [
        # p1: 75 -> 66.67 (-8.3) -> 58.33 (-16.7 >= 10): event at 3.8 months.
        Q("p1", "B", 0, 0.0, 9 * S),
        Q("p1", "B", 1, 1.9, 8 * S),
        Q("p1", "B", 2, 3.8, 7 * S),
        Q("p1", "B", 3, 5.6, 5 * S),
        # p2: 75 -> 66.67 -> missing -> 70 (never >= 10 below): censored at the last form, 5.6.
        Q("p2", "B", 0, 0.0, 9 * S),
        Q("p2", "B", 1, 1.8, 8 * S),
        Q("p2", "B", 2, 3.7, None),
        Q("p2", "B", 3, 5.6, 70.0),
        # p3: no baseline score: not analysable.
        Q("p3", "A", 0, 0.0, None),
        Q("p3", "A", 1, 1.9, 20.0),
        # p4: baseline before the origin, no completed follow-up form: censored at 0.
        Q("p4", "A", 0, -0.2, 50.0),
        Q("p4", "A", 1, 1.9, None),
        # p5: a drop of exactly 10 points is a deterioration.
        Q("p5", "A", 0, 0.0, 60.0),
        Q("p5", "A", 1, 2.1, 50.0),
        # p6: no baseline form at all.
        Q("p6", "A", 1, 2.0, 40.0),
    ]
    derivation = time_to_deterioration(assessments)
    assert derivation.mid_points == DEFAULT_MID_POINTS == 10.0
    assert derivation.direction is Direction.HIGHER_IS_BETTER
    assert derivation.patients == ("p1", "p2", "p4", "p5")
    assert derivation.no_baseline == ("p3", "p6")
    assert derivation.records == (
        SurvivalRecord(3.8, True, "B"),
        SurvivalRecord(5.6, False, "B"),
        SurvivalRecord(0.0, False, "A"),
        SurvivalRecord(2.1, True, "A"),
    )
    curves = kaplan_meier(derivation.records)
    assert [c.group for c in curves] == ["A", "B"]
    assert curves[1].table[-2].survival == 0.5


def test_symptom_scales_deteriorate_upwards_and_mid_is_a_parameter():
    assessments = [Q("p1", "A", 0, 0.0, 100 / 3), Q("p1", "A", 1, 2.0, 200 / 3)]
    worse = time_to_deterioration(assessments, direction=Direction.LOWER_IS_BETTER)
    assert worse.records == (SurvivalRecord(2.0, True, "A"),)
    better = time_to_deterioration(assessments)
    assert better.records == (SurvivalRecord(2.0, False, "A"),)
    strict = time_to_deterioration(assessments, mid_points=40, direction="lower_is_better")
    assert strict.records == (SurvivalRecord(2.0, False, "A"),)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        (
            {"patient_id": "", "group": "A", "timepoint": 0, "time_months": 0, "score": 1},
            "invalid_group",
        ),
        (
            {"patient_id": "p", "group": "A", "timepoint": -1, "time_months": 0, "score": 1},
            "invalid_parameter",
        ),
        (
            {"patient_id": "p", "group": "A", "timepoint": 1, "time_months": -1, "score": 1},
            "invalid_time",
        ),
        (
            {"patient_id": "p", "group": "A", "timepoint": 0, "time_months": math.nan, "score": 1},
            "invalid_time",
        ),
        (
            {"patient_id": "p", "group": "A", "timepoint": 1, "time_months": 1, "score": 100.5},
            "invalid_score",
        ),
        (
            {"patient_id": "p", "group": "A", "timepoint": 1, "time_months": 1, "score": True},
            "invalid_score",
        ),
    ],
)
def test_assessment_validation(kwargs, code):
    with pytest.raises(AnalysisInputError) as error:
        Q(**kwargs)
    assert error.value.code == code


def test_inconsistent_assessments_are_refused():
    with pytest.raises(AnalysisInputError) as error:
        mean_scores_over_time([Q("p", "A", 0, 0, 50), Q("p", "A", 0, 0, 60)])
    assert error.value.code == "invalid_parameter"
    with pytest.raises(AnalysisInputError) as error:
        time_to_deterioration([Q("p", "A", 0, 0, 50), Q("p", "B", 1, 2, 60)])
    assert error.value.code == "invalid_group"
    for mid in (0, -5, math.nan, True):
        with pytest.raises(AnalysisInputError) as error:
            time_to_deterioration([Q("p", "A", 0, 0, 50)], mid_points=mid)
        assert error.value.code == "invalid_parameter"
    with pytest.raises(AnalysisInputError):
        mean_scores_over_time([("p", "A", 0, 0, 50)])


def test_mean_matches_statistics_module_on_a_larger_sample():
    scores = [round(i * S, 6) for i in range(13)]
    assessments = [Q(f"p{i}", "A", 3, 5.5, score) for i, score in enumerate(scores)]
    (summary,) = mean_scores_over_time(assessments)
    assert summary.mean == pytest.approx(statistics.fmean(scores))
    assert summary.sd == pytest.approx(statistics.stdev(scores))
