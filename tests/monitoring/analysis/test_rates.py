"""Wilson intervals, toxicity rates, turnaround and compliance against hand computations."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from monitoring.analysis import AnalysisInputError, EstimateStatus
from monitoring.analysis.rates import (
    ComplianceItem,
    ComplianceOutcome,
    HaemToxicityRecord,
    LabSample,
    compliance_by_site,
    haem_toxicity_rates,
    turnaround_by_lab,
    wilson_interval,
)

Z = NormalDist().inv_cdf(0.975)

# --- Wilson --------------------------------------------------------------------------------


def test_wilson_by_hand():
    # 8 / 20: p = 0.4; centre = (p + z^2/40) / (1 + z^2/20); half-width =
    # z / (1 + z^2/20) x sqrt(p (1 - p) / 20 + z^2 / 1600).
    p = 0.4
    denominator = 1 + Z * Z / 20
    centre = (p + Z * Z / 40) / denominator
    half = Z / denominator * math.sqrt(p * (1 - p) / 20 + Z * Z / 1600)
    result = wilson_interval(8, 20)
    assert result.estimate == 0.4
    assert result.ci_lower == pytest.approx(centre - half, abs=1e-12)
    assert result.ci_upper == pytest.approx(centre + half, abs=1e-12)
    assert (round(result.ci_lower, 4), round(result.ci_upper, 4)) == (0.2188, 0.6134)


@pytest.mark.parametrize(
    ("successes", "n", "lower", "upper"),
    # Newcombe RG, Stat Med 1998;17:857-872, worked examples, method 3 (Wilson score).
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_reproduces_newcombe(successes, n, lower, upper):
    result = wilson_interval(successes, n)
    assert (round(result.ci_lower, 4), round(result.ci_upper, 4)) == (lower, upper)


def test_wilson_edges_and_levels():
    zero = wilson_interval(0, 10)
    # x = 0: upper = z^2 / (n + z^2).
    assert (zero.ci_lower, zero.ci_upper) == (0.0, pytest.approx(Z * Z / (10 + Z * Z)))
    full = wilson_interval(10, 10)
    assert (full.ci_lower, full.ci_upper) == (pytest.approx(10 / (10 + Z * Z)), 1.0)
    empty = wilson_interval(0, 0)
    assert (empty.status, empty.estimate, empty.ci_lower) == (EstimateStatus.NO_RECORDS, None, None)
    narrow = wilson_interval(8, 20, confidence_level=0.8)
    wide = wilson_interval(8, 20)
    assert wide.ci_lower < narrow.ci_lower < narrow.ci_upper < wide.ci_upper


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((3, 2), {}),
        ((-1, 2), {}),
        ((1, 2.0), {}),
        ((True, 2), {}),
        ((1, 2), {"confidence_level": 1}),
    ],
)
def test_wilson_errors(args, kwargs):
    with pytest.raises(AnalysisInputError) as error:
        wilson_interval(*args, **kwargs)
    assert error.value.code in {"invalid_count", "invalid_parameter"}


# --- haematological toxicity ----------------------------------------------------------------


def _patients(level, with_grade_3, without):
    return [HaemToxicityRecord(3, {"menopausal": level}) for _ in range(with_grade_3)] + [
        HaemToxicityRecord(2, {"menopausal": level}) for _ in range(without)
    ]


def _fisher_two_sided(a, b, c, d):
    """Sum of hypergeometric probabilities of the tables no more likely than the observed."""
    row1, col1, total = a + b, a + c, a + b + c + d

    def probability(x):
        return math.comb(col1, x) * math.comb(total - col1, row1 - x) / math.comb(total, row1)

    observed = probability(a)
    support = range(max(0, row1 + col1 - total), min(row1, col1) + 1)
    return sum(p for p in map(probability, support) if p <= observed * (1 + 1e-7))


def test_overall_rate_excludes_not_evaluable_patients():
    records = [
        HaemToxicityRecord(4),
        HaemToxicityRecord(3),
        HaemToxicityRecord(2),
        HaemToxicityRecord(0),
        HaemToxicityRecord(None),
    ]
    rates = haem_toxicity_rates(records)
    assert (rates.overall.successes, rates.overall.n, rates.not_evaluable) == (2, 4, 1)
    assert rates.overall == wilson_interval(2, 4)
    assert (rates.characteristic, rates.subgroups, rates.association) == (None, (), None)
    assert haem_toxicity_rates(records, min_grade=4).overall.successes == 1


def test_two_levels_use_fisher_exact():
    records = _patients("pre", 3, 7) + _patients("post", 10, 5) + [HaemToxicityRecord(3)]
    rates = haem_toxicity_rates(records, characteristic="menopausal")
    assert [(s.level, s.rate.successes, s.rate.n) for s in rates.subgroups] == [
        ("post", 10, 15),
        ("pre", 3, 10),
    ]
    assert rates.missing_characteristic == 1
    assert rates.overall.n == 26
    test = rates.association
    assert test.status is EstimateStatus.OK
    assert test.method == "Fisher exact, two-sided"
    assert test.p_value == pytest.approx(_fisher_two_sided(10, 5, 3, 7), rel=1e-9)
    # Expected counts: 13 x 10 / 25 = 5.2 and 12 x 10 / 25 = 4.8 < 5.
    assert test.sparse is True


def test_more_levels_use_pearson_chi_square():
    records = (
        [HaemToxicityRecord(3, {"ecog": "0"})] * 20
        + [HaemToxicityRecord(1, {"ecog": "0"})] * 30
        + [HaemToxicityRecord(3, {"ecog": "1"})] * 15
        + [HaemToxicityRecord(1, {"ecog": "1"})] * 15
        + [HaemToxicityRecord(4, {"ecog": "2"})] * 12
        + [HaemToxicityRecord(0, {"ecog": "2"})] * 8
    )
    rates = haem_toxicity_rates(records, characteristic="ecog", levels=("0", "1", "2", "3"))
    assert [s.level for s in rates.subgroups] == ["0", "1", "2", "3"]
    assert rates.subgroups[3].rate.status is EstimateStatus.NO_RECORDS
    observed = [(20, 30), (15, 15), (12, 8)]
    totals = (47, 53)
    expected = [[sum(row) * t / 100 for t in totals] for row in observed]
    statistic = sum(
        (observed[i][j] - expected[i][j]) ** 2 / expected[i][j] for i in range(3) for j in range(2)
    )
    test = rates.association
    assert test.method == "Pearson chi-square, no continuity correction"
    assert test.statistic == pytest.approx(statistic)
    assert test.degrees_of_freedom == 2
    # chi-square with 2 df: survival function exp(-x / 2).
    assert test.p_value == pytest.approx(math.exp(-statistic / 2))
    assert test.sparse is False


def test_association_edge_cases():
    one_level = haem_toxicity_rates(_patients("pre", 2, 2), characteristic="menopausal")
    assert one_level.association.status is EstimateStatus.SINGLE_GROUP
    same_outcome = haem_toxicity_rates(
        _patients("pre", 0, 3) + _patients("post", 0, 4), characteristic="menopausal"
    )
    assert same_outcome.association.status is EstimateStatus.NOT_ESTIMABLE
    assert same_outcome.association.p_value is None


def test_toxicity_errors():
    with pytest.raises(AnalysisInputError) as error:
        HaemToxicityRecord(6)
    assert error.value.code == "invalid_count"
    with pytest.raises(AnalysisInputError) as error:
        HaemToxicityRecord(2, {"age": 60})
    assert error.value.code == "invalid_parameter"
    with pytest.raises(AnalysisInputError) as error:
        haem_toxicity_rates([HaemToxicityRecord(1)], min_grade=0)
    assert error.value.code == "invalid_parameter"
    with pytest.raises(AnalysisInputError) as error:
        haem_toxicity_rates(_patients("pre", 1, 1), characteristic="menopausal", levels=("post",))
    assert error.value.code == "invalid_parameter"
    with pytest.raises(AnalysisInputError):
        haem_toxicity_rates([3])


def test_characteristics_are_frozen():
    source = {"menopausal": "post"}
    record = HaemToxicityRecord(3, source)
    source["menopausal"] = "pre"
    assert record.characteristics["menopausal"] == "post"
    with pytest.raises(TypeError):
        record.characteristics["menopausal"] = "pre"


# --- turnaround ----------------------------------------------------------------------------


def test_turnaround_quartiles_per_lab_and_overall():
    samples = [LabSample("Curie", d) for d in (5, 9, 13, 21, 30)] + [
        LabSample("Curie", None, failed=True),
        LabSample("Curie", None),
        LabSample("Gustave Roussy", 1),
        LabSample("Gustave Roussy", 2),
        LabSample("Gustave Roussy", 3),
        LabSample("Gustave Roussy", 4),
    ]
    report = turnaround_by_lab(samples)
    curie, roussy = report.labs
    # Type 7: quantile p at position 1 + (n - 1) p of the sorted values.
    # Curie n = 5: Q1 at 2 -> 9, median at 3 -> 13, Q3 at 4 -> 21 (the Callens et al. figures).
    assert (curie.lab, curie.median_days, curie.q1_days, curie.q3_days) == ("Curie", 13, 9, 21)
    assert (curie.samples, curie.resulted, curie.failed, curie.pending) == (7, 5, 1, 1)
    assert curie.failure_rate == wilson_interval(1, 6)
    assert (curie.min_days, curie.max_days) == (5, 30)
    # Roussy n = 4: Q1 at 1.75 -> 1.75, median 2.5, Q3 at 3.25 -> 3.25.
    assert (roussy.q1_days, roussy.median_days, roussy.q3_days) == (1.75, 2.5, 3.25)
    overall = report.overall
    assert overall.lab is None
    assert (overall.samples, overall.resulted, overall.failed) == (11, 9, 1)
    assert overall.median_days == 5


def test_turnaround_without_results_and_with_one_result():
    report = turnaround_by_lab([LabSample("A", None, failed=True), LabSample("B", 7)])
    a, b = report.labs
    assert (a.median_days, a.q1_days, a.failure_rate.estimate) == (None, None, 1.0)
    assert (b.q1_days, b.median_days, b.q3_days) == (7.0, 7.0, 7.0)
    assert turnaround_by_lab([]).overall.samples == 0


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"lab": "", "turnaround_days": 1}, "invalid_group"),
        ({"lab": "A", "turnaround_days": -1}, "invalid_time"),
        ({"lab": "A", "turnaround_days": math.inf}, "invalid_time"),
        ({"lab": "A", "turnaround_days": 3, "failed": True}, "invalid_parameter"),
        ({"lab": "A", "turnaround_days": None, "failed": "no"}, "invalid_parameter"),
    ],
)
def test_lab_sample_validation(kwargs, code):
    with pytest.raises(AnalysisInputError) as error:
        LabSample(**kwargs)
    assert error.value.code == code


# --- compliance ----------------------------------------------------------------------------

O = ComplianceOutcome  # noqa: E741 - alias for readable data tables


def test_compliance_per_site_and_kind_with_totals():
    items = (
        [ComplianceItem("FR02", "ctdna", O.DONE_IN_WINDOW)] * 7
        + [ComplianceItem("FR02", "ctdna", O.MISSED)] * 1
        + [ComplianceItem("FR01", "ctdna", O.DONE_IN_WINDOW)] * 3
        + [ComplianceItem("FR01", "ctdna", O.DONE_OUT_OF_WINDOW)] * 1
        + [ComplianceItem("FR01", "ctdna", O.OVERDUE)] * 1
        + [ComplianceItem("FR01", "ctdna", O.OPEN)] * 2
        + [ComplianceItem("FR01", "qol", O.OPEN)] * 1
    )
    summaries = compliance_by_site(items)
    keys = [(s.site, s.kind) for s in summaries]
    assert keys == [
        ("FR01", "ctdna"),
        ("FR01", "qol"),
        ("FR02", "ctdna"),
        (None, "ctdna"),
        (None, "qol"),
    ]
    fr01 = summaries[0]
    assert (fr01.expected, fr01.done_in_window, fr01.done_out_of_window, fr01.overdue) == (
        5,
        3,
        1,
        1,
    )
    assert (fr01.missed, fr01.open) == (0, 2)
    assert fr01.compliance == wilson_interval(3, 5)
    qol = summaries[1]
    assert (qol.expected, qol.compliance.status) == (0, EstimateStatus.NO_RECORDS)
    total = summaries[3]
    assert (total.expected, total.done_in_window, total.missed) == (13, 10, 1)
    assert compliance_by_site([]) == ()


def test_compliance_item_validation():
    with pytest.raises(AnalysisInputError) as error:
        ComplianceItem("FR01", "ctdna", "missed")
    assert error.value.code == "invalid_outcome"
    with pytest.raises(AnalysisInputError) as error:
        ComplianceItem("", "ctdna", O.MISSED)
    assert error.value.code == "invalid_group"
    with pytest.raises(AnalysisInputError):
        compliance_by_site([("FR01", "ctdna", "missed")])
