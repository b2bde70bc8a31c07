"""Ratios to the same-run baseline and verdicts against the performance targets."""

import pytest

from bench.figures import Bound, Figure, Target, Verdict, format_number, ratio, verdict

AT_LEAST_400 = Target(Bound.AT_LEAST, 400)
AT_LEAST_08_OF_BASELINE = Target(Bound.AT_LEAST, 0.8, relative=True)
AT_MOST_5 = Target(Bound.AT_MOST, 5)


def test_ratio_is_value_over_baseline():
    assert ratio(450, 500) == pytest.approx(0.9)
    assert ratio(None, 500) is None
    assert ratio(450, None) is None
    assert ratio(450, 0) is None


@pytest.mark.parametrize(
    ("value", "baseline", "expected"),
    [
        (400, 500, Verdict.PASS),  # 0.8 x 500 = 400: the bounds are inclusive
        (399.9, 400, Verdict.SHORT),  # under the absolute target
        (420, 600, Verdict.SHORT),  # 0.7 x the baseline
        (420, None, Verdict.SHORT),  # a relative target needs the same-run baseline
    ],
)
def test_every_target_must_be_met(value, baseline, expected):
    assert verdict(value, baseline, (AT_LEAST_08_OF_BASELINE, AT_LEAST_400)) is expected


def test_at_most_targets():
    assert verdict(5.0, None, (AT_MOST_5,)) is Verdict.PASS
    assert verdict(5.01, None, (AT_MOST_5,)) is Verdict.SHORT


def test_a_missing_value_is_not_measured_and_no_target_is_no_verdict():
    assert verdict(None, 100, (AT_LEAST_400,)) is Verdict.NOT_MEASURED
    assert verdict(10, 100, ()) is Verdict.NO_TARGET


def test_figure_carries_its_ratio_and_verdict():
    figure = Figure(
        name="ctDNA",
        value=450,
        unit="results/s",
        baseline_name="bare",
        baseline_value=500,
        targets=(AT_LEAST_08_OF_BASELINE, AT_LEAST_400),
    )
    assert figure.ratio == pytest.approx(0.9)
    assert figure.verdict is Verdict.PASS


def test_targets_describe_themselves():
    assert AT_LEAST_400.describe("results/s") == ">= 400 results/s"
    assert AT_LEAST_08_OF_BASELINE.describe("results/s") == ">= 0.8 x baseline"
    assert AT_MOST_5.describe("s") == "<= 5 s"
    assert Target(Bound.AT_LEAST, 2000).describe("results/s") == ">= 2,000 results/s"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"),
        (0, "0.00"),
        (0.0123, "0.0123"),
        (3.14159, "3.14"),
        (42.25, "42.2"),
        (1234.5, "1,234"),
    ],
)
def test_number_format(value, text):
    assert format_number(value) == text


def test_a_lower_bound_never_passes_an_upper_limit():
    assert verdict(100, None, (AT_MOST_5,), lower_bound=True) is Verdict.SHORT
    assert verdict(4, None, (AT_MOST_5,), lower_bound=True) is Verdict.SHORT
    assert verdict(500, None, (AT_LEAST_400,), lower_bound=True) is Verdict.PASS
