"""Pre-activation simulation: imbalance distributions and the convergence-strategy guess rate."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from randomization.rules.blocks import InvalidBlockSizesError, InvalidDesignError, seed_digest
from randomization.rules.simulation import (
    FactorDistribution,
    ImbalanceSummary,
    format_report,
    percentile,
    simulate_minimization,
    simulate_permuted_blocks,
    spread,
    summarise,
)

FACTORS = (
    FactorDistribution("visceral_metastases", ("yes", "no"), (0.6, 0.4)),
    FactorDistribution("time_on_step1", ("lt_12_months", "ge_12_months"), (0.3, 0.7)),
)
WEIGHTS = {"visceral_metastases": 1, "time_on_step1": 1}
ONE_TO_ONE = {"A": 1, "B": 1}
RUN = {"factors": FACTORS, "n_trials": 100, "n_patients": 60, "seed": "simulation-seed"}


@pytest.fixture(scope="module")
def blocks_of_two():
    return simulate_permuted_blocks(arms=ONE_TO_ONE, block_sizes=[2], **RUN)


@pytest.fixture(scope="module")
def mixed_blocks():
    return simulate_permuted_blocks(arms=ONE_TO_ONE, block_sizes=[2, 4, 6], **RUN)


@pytest.fixture(scope="module")
def minimization():
    return simulate_minimization(arms=ONE_TO_ONE, factor_weights=WEIGHTS, **RUN)


@pytest.fixture(scope="module")
def coin():
    """p_preferred = 0.5 with two arms is complete randomization."""
    return simulate_minimization(arms=ONE_TO_ONE, factor_weights=WEIGHTS, p_preferred=0.5, **RUN)


class TestGuessRate:
    def test_blocks_of_two_are_guessed_about_three_times_in_four(self, blocks_of_two):
        # 0.5 on the first slot of each block, 1.0 on the second; only a stratum whose list
        # stops inside a block pulls the rate a little below 0.75.
        assert 0.73 < blocks_of_two.convergence_guess_rate <= 0.75

    def test_mixed_block_sizes_are_harder_to_guess(self, blocks_of_two, mixed_blocks):
        assert 0.62 < mixed_blocks.convergence_guess_rate < 0.72
        assert mixed_blocks.convergence_guess_rate < blocks_of_two.convergence_guess_rate - 0.03

    def test_minimization_is_reported_for_both_observers(self, minimization, mixed_blocks):
        assert 0.5 < minimization.convergence_guess_rate < mixed_blocks.convergence_guess_rate
        assert 0.65 < minimization.algorithm_aware_guess_rate < 0.8
        assert mixed_blocks.algorithm_aware_guess_rate is None

    def test_complete_randomization_cannot_be_guessed(self, coin):
        assert coin.convergence_guess_rate == pytest.approx(0.5, abs=0.02)


class TestImbalance:
    def test_within_stratum_imbalance_never_exceeds_half_the_largest_block(
        self, blocks_of_two, mixed_blocks
    ):
        assert blocks_of_two.within_stratum.max <= 1
        assert mixed_blocks.within_stratum.max <= 3
        assert all(summary.max <= 3 for _, summary in mixed_blocks.by_stratum)

    def test_minimization_keeps_the_margins_balanced(self, minimization, coin):
        for (level, balanced), (_, random) in zip(
            minimization.by_factor_level, coin.by_factor_level, strict=True
        ):
            assert balanced.p95 <= 4, level
            assert balanced.mean < random.mean / 2, level
        assert minimization.overall.p95 <= 4
        assert coin.overall.mean > 2 * minimization.overall.mean

    def test_report_covers_every_stratum_and_margin(self, mixed_blocks):
        assert [key for key, _ in mixed_blocks.by_stratum] == sorted(
            f"visceral_metastases={v}|time_on_step1={t}"
            for v in ("yes", "no")
            for t in ("lt_12_months", "ge_12_months")
        )
        assert [key for key, _ in mixed_blocks.by_factor_level] == [
            "visceral_metastases=yes",
            "visceral_metastases=no",
            "time_on_step1=lt_12_months",
            "time_on_step1=ge_12_months",
        ]
        assert mixed_blocks.overall.n == 100
        assert mixed_blocks.within_stratum.n == sum(s.n for _, s in mixed_blocks.by_stratum)

    def test_allocation_share_follows_the_ratio(self, mixed_blocks):
        shares = dict(mixed_blocks.allocation_share)
        assert shares["A"] == pytest.approx(0.5, abs=0.01)
        two_to_one = simulate_permuted_blocks(arms={"A": 2, "B": 1}, block_sizes=[3, 6], **RUN)
        assert dict(two_to_one.allocation_share)["A"] == pytest.approx(2 / 3, abs=0.01)
        # A block of six holds four A and two B; the worst prefixes (A A A A, or B B) leave a
        # ratio-weighted gap of 2.
        assert two_to_one.within_stratum.max <= 2

    def test_three_arms_use_max_minus_min(self):
        report = simulate_permuted_blocks(
            arms={"A": 1, "B": 1, "C": 1}, block_sizes=[3], **{**RUN, "n_trials": 20}
        )
        assert report.within_stratum.max <= 2
        assert 1 / 3 < report.convergence_guess_rate < 2 / 3


class TestReproducibility:
    def test_same_seed_same_report(self, mixed_blocks):
        again = simulate_permuted_blocks(arms=ONE_TO_ONE, block_sizes=[2, 4, 6], **RUN)
        assert again == mixed_blocks
        assert mixed_blocks.seed_digest == seed_digest("simulation-seed")

    def test_other_seed_other_report(self, mixed_blocks):
        other = simulate_permuted_blocks(
            arms=ONE_TO_ONE, block_sizes=[2, 4, 6], **{**RUN, "seed": "another-seed"}
        )
        assert other != mixed_blocks


class TestFormatting:
    def test_text_report(self, minimization):
        text = format_report(minimization)
        assert text.startswith("Allocation simulation: minimization\n")
        for fragment in (
            "weights: visceral_metastases: 1, time_on_step1: 1",
            "imbalance measure: range",
            "p_preferred: 0.8",
            "100 trials x 60 patients",
            "overall",
            "within strata (pooled)",
            "stratum visceral_metastases=yes|time_on_step1=ge_12_months",
            "margin time_on_step1=lt_12_months",
            "Allocation share: A 0.",
            f"convergence strategy within stratum: {minimization.convergence_guess_rate:.3f}",
            "knows the algorithm",
        ):
            assert fragment in text

    def test_blocks_report_has_no_algorithm_aware_line(self, mixed_blocks):
        text = format_report(mixed_blocks)
        assert "block sizes: 2, 4, 6" in text
        assert "knows the algorithm" not in text


class TestStatistics:
    def test_percentiles_interpolate_linearly(self):
        assert percentile([1, 2, 3, 4], 50) == 2.5
        assert percentile([4, 1, 3, 2], 95) == 3.85
        assert percentile([7], 95) == 7
        assert percentile([0] * 99 + [2] * 1, 95) == 0

    def test_summary(self):
        assert summarise([0, 2, 2, 4]) == ImbalanceSummary(n=4, mean=2, p50=2, p95=3.7, max=4)
        assert summarise([]) == ImbalanceSummary(n=0, mean=0, p50=0, p95=0, max=0)

    def test_spread_uses_ratio_weighted_counts(self):
        assert spread({"A": 5, "B": 3}, {"A": 1, "B": 1}) == 2
        assert spread({"A": 6, "B": 3}, {"A": 2, "B": 1}) == 0
        assert spread({"A": 1, "B": 4, "C": 2}, {"A": 1, "B": 1, "C": 1}) == 3

    @settings(max_examples=50, deadline=None)
    @given(st.lists(st.floats(min_value=0, max_value=100), min_size=1, max_size=50))
    def test_percentiles_are_ordered(self, values):
        summary = summarise(values)
        assert min(values) <= summary.p50 <= summary.p95 <= summary.max == max(values)


class TestValidation:
    @pytest.mark.parametrize(
        "factor",
        [
            FactorDistribution("f", ("a", "b"), (0.5, 0.6)),
            FactorDistribution("f", ("a", "b"), (0.5,)),
            FactorDistribution("f", ("a", "a"), (0.5, 0.5)),
            FactorDistribution("f", ("a", "b"), (1.5, -0.5)),
            FactorDistribution("f", (), ()),
        ],
    )
    def test_factor_distributions(self, factor):
        with pytest.raises(InvalidDesignError):
            simulate_permuted_blocks(
                arms=ONE_TO_ONE, block_sizes=[2], **{**RUN, "factors": (factor,)}
            )

    @pytest.mark.parametrize(
        "overrides", [{"n_trials": 0}, {"n_patients": -1}, {"seed": ""}, {"n_trials": 1.5}]
    )
    def test_run_parameters(self, overrides):
        with pytest.raises(InvalidDesignError):
            simulate_permuted_blocks(arms=ONE_TO_ONE, block_sizes=[2], **{**RUN, **overrides})

    def test_block_sizes(self):
        with pytest.raises(InvalidBlockSizesError):
            simulate_permuted_blocks(arms=ONE_TO_ONE, block_sizes=[3], **RUN)

    @pytest.mark.parametrize(
        "overrides",
        [
            {"factor_weights": {"site": 1}},
            {"measure": "entropy"},
            {"p_preferred": 0.3},
        ],
    )
    def test_minimization_design(self, overrides):
        arguments = {"arms": ONE_TO_ONE, "factor_weights": WEIGHTS, **RUN, **overrides}
        with pytest.raises(InvalidDesignError):
            simulate_minimization(**arguments)

    def test_unstratified_design(self):
        report = simulate_permuted_blocks(
            arms=ONE_TO_ONE, block_sizes=[2], **{**RUN, "factors": (), "n_trials": 10}
        )
        assert [key for key, _ in report.by_stratum] == ["all"]
        assert report.by_factor_level == ()
