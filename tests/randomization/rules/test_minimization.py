"""Pocock-Simon minimization: a hand-worked example, tie-breaking, ratio, draws, validation."""

import hashlib
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from randomization.rules.blocks import (
    InvalidDesignError,
    StratumIncompleteError,
    UnsupportedAlgorithmVersionError,
    derive_key,
)
from randomization.rules.minimization import (
    MINIMIZATION_DRAWS_V1,
    ImbalanceMeasure,
    InvalidCountsError,
    InvalidDrawError,
    iter_minimization_draws,
    minimization_draw,
    minimize,
    validate_design,
)

ARMS = ("A", "B")
RATIO = {"A": 1, "B": 1}
PATIENT = {"visceral_metastases": "yes", "time_on_step1": "ge_12_months"}
COUNTS = {
    "visceral_metastases": {"yes": {"A": 4, "B": 6}, "no": {"A": 9, "B": 1}},
    "time_on_step1": {"ge_12_months": {"A": 7, "B": 6}, "lt_12_months": {"A": 0, "B": 5}},
}
FAST = settings(max_examples=60, deadline=None)


def run(**overrides):
    arguments = {
        "arms": ARMS,
        "ratio": RATIO,
        "factor_weights": {"visceral_metastases": 1, "time_on_step1": 2},
        "patient_levels": PATIENT,
        "counts": COUNTS,
        "p_preferred": 0.8,
        "measure": ImbalanceMeasure.RANGE,
        "uniform_draw": 0.5,
    }
    arguments.update(overrides)
    return minimize(**arguments)


class TestHandWorkedExample:
    """Two factors, weights visceral_metastases = 1 and time_on_step1 = 2, arms A:B = 1:1.

    The new patient has visceral metastases (yes) and 12 months or more on Step 1.
    Earlier patients with the same levels: visceral = yes: A 4, B 6; time >= 12 months: A 7, B 6.
    Counts of the other levels (visceral = no: A 9, B 1; time < 12 months: A 0, B 5) must not
    matter.

    Range measure:
      put on A: visceral A 5, B 6 -> range 1; time A 8, B 6 -> range 2; G_A = 1*1 + 2*2 = 5
      put on B: visceral A 4, B 7 -> range 3; time A 7, B 7 -> range 0; G_B = 1*3 + 2*0 = 3
      B is the only preferred arm. With p = 0.8: draw < 0.8 gives B, draw >= 0.8 gives A;
      the chances are B 0.8, A 0.2.
    With equal weights (1, 1): G_A = 1 + 2 = 3 and G_B = 3 + 0 = 3, a tie; the tie is broken by
      the draw in arm order, draw < 0.5 gives A and draw >= 0.5 gives B.
    Variance measure (population variance of the two counts), weights (1, 2):
      put on A: visceral (5, 6) mean 5.5 -> 0.25; time (8, 6) mean 7 -> 1; G_A = 0.25 + 2 = 2.25
      put on B: visceral (4, 7) mean 5.5 -> 2.25; time (7, 7) -> 0;         G_B = 2.25
      a tie, so the two measures can disagree on the same counts.
    """

    def test_range_scores_and_preferred_arm(self):
        result = run()
        scores = {s.arm: s.score for s in result.scores}
        imbalances = {s.arm: dict(s.factor_imbalances) for s in result.scores}
        assert scores == {"A": 5.0, "B": 3.0}
        assert imbalances == {
            "A": {"visceral_metastases": 1.0, "time_on_step1": 2.0},
            "B": {"visceral_metastases": 3.0, "time_on_step1": 0.0},
        }
        assert result.preferred == ("B",)
        assert result.tie is False
        assert dict(result.probabilities) == pytest.approx({"A": 0.2, "B": 0.8})

    @pytest.mark.parametrize(
        ("draw", "arm", "preferred"),
        [(0.0, "B", True), (0.79, "B", True), (0.8, "A", False), (0.999999, "A", False)],
    )
    def test_draw_below_p_gives_the_preferred_arm_and_at_or_above_p_the_other(
        self, draw, arm, preferred
    ):
        result = run(uniform_draw=draw)
        assert result.chosen == arm
        assert result.chose_preferred is preferred
        assert result.draw == draw

    @pytest.mark.parametrize(("draw", "arm"), [(0.0, "A"), (0.49, "A"), (0.5, "B"), (0.99, "B")])
    def test_equal_weights_tie_is_broken_by_the_draw_in_arm_order(self, draw, arm):
        result = run(
            factor_weights={"visceral_metastases": 1, "time_on_step1": 1}, uniform_draw=draw
        )
        assert {s.arm: s.score for s in result.scores} == {"A": 3.0, "B": 3.0}
        assert result.tie is True
        assert result.preferred == ARMS
        assert result.chosen == arm
        assert dict(result.probabilities) == {"A": 0.5, "B": 0.5}

    def test_variance_measure(self):
        result = run(measure="variance")
        assert result.measure is ImbalanceMeasure.VARIANCE
        assert {s.arm: s.score for s in result.scores} == {"A": 2.25, "B": 2.25}
        assert dict(result.scores[0].factor_imbalances) == {
            "visceral_metastases": 0.25,
            "time_on_step1": 1.0,
        }
        assert result.tie is True


class TestTiesAndRatios:
    def test_first_patient_is_a_full_tie(self):
        result = run(counts={}, uniform_draw=0.3)
        assert result.tie is True and result.chosen == "A"
        assert run(counts={}, uniform_draw=0.7).chosen == "B"

    def test_three_arms_with_two_preferred(self):
        """Counts A 0, B 0, C 1 at the patient's level, one factor, range.

        On A: (1, 0, 1) -> 1; on B: (0, 1, 1) -> 1; on C: (0, 0, 2) -> 2. A and B are preferred
        and share p = 0.8: draw in [0, 0.4) -> A, [0.4, 0.8) -> B, [0.8, 1) -> C.
        """
        arguments = {
            "arms": ("A", "B", "C"),
            "ratio": {"A": 1, "B": 1, "C": 1},
            "factor_weights": {"f": 1},
            "patient_levels": {"f": "x"},
            "counts": {"f": {"x": {"A": 0, "B": 0, "C": 1}}},
        }
        chosen = {d: run(**arguments, uniform_draw=d).chosen for d in (0.0, 0.39, 0.4, 0.79, 0.8)}
        assert chosen == {0.0: "A", 0.39: "A", 0.4: "B", 0.79: "B", 0.8: "C"}
        result = run(**arguments)
        assert result.preferred == ("A", "B") and result.tie is True
        assert dict(result.probabilities) == pytest.approx({"A": 0.4, "B": 0.4, "C": 0.2})

    def test_ratio_weighted_counts(self):
        """2:1, counts A 2, B 1: on A (3/2, 1) -> 1/2; on B (1, 2) -> 1. A is preferred."""
        result = run(
            ratio={"A": 2, "B": 1},
            factor_weights={"f": 1},
            patient_levels={"f": "x"},
            counts={"f": {"x": {"A": 2, "B": 1}}},
        )
        assert {s.arm: s.score for s in result.scores} == {"A": 0.5, "B": 1.0}
        assert result.preferred == ("A",)

    def test_full_tie_is_broken_in_proportion_to_the_ratio(self):
        """Ratio A:B = 2:1, factors f (A 0, B 0) and g (A 1, B 0), equal weights, range.

        On A: f (1/2, 0) -> 1/2; g (2/2, 0) -> 1;   G_A = 3/2.
        On B: f (0, 1) -> 1;     g (1/2, 1) -> 1/2; G_B = 3/2.
        A full tie: A takes draws in [0, 2/3), B takes [2/3, 1).
        """
        arguments = {
            "ratio": {"A": 2, "B": 1},
            "factor_weights": {"f": 1, "g": 1},
            "patient_levels": {"f": "x", "g": "y"},
            "counts": {"f": {"x": {"A": 0, "B": 0}}, "g": {"y": {"A": 1, "B": 0}}},
        }
        result = run(**arguments)
        assert {s.arm: s.score for s in result.scores} == {"A": 1.5, "B": 1.5}
        assert result.preferred == ("A", "B")
        assert dict(result.probabilities) == pytest.approx({"A": 2 / 3, "B": 1 / 3})
        assert run(**arguments, uniform_draw=0.66).chosen == "A"
        assert run(**arguments, uniform_draw=0.67).chosen == "B"

    def test_non_preferred_arms_share_the_remainder_in_proportion_to_the_ratio(self):
        """Ratio A:B:C = 2:1:1, one factor, counts A 2, B 0, C 1, range.

        On A: (3/2, 0, 1) -> 3/2; on B: (1, 1, 1) -> 0; on C: (1, 0, 2) -> 2. B is preferred
        (draws below 0.8); A and C share [0.8, 1) as 2:1, so A takes [0.8, 0.9333...) and C the
        rest.
        """
        arguments = {
            "arms": ("A", "B", "C"),
            "ratio": {"A": 2, "B": 1, "C": 1},
            "factor_weights": {"f": 1},
            "patient_levels": {"f": "x"},
            "counts": {"f": {"x": {"A": 2, "B": 0, "C": 1}}},
        }
        result = run(**arguments)
        assert result.preferred == ("B",)
        assert dict(result.probabilities) == pytest.approx(
            {"A": 0.2 * 2 / 3, "B": 0.8, "C": 0.2 / 3}
        )
        assert run(**arguments, uniform_draw=0.93).chosen == "A"
        assert run(**arguments, uniform_draw=0.94).chosen == "C"

    def test_p_of_one_always_gives_the_preferred_arm(self):
        assert run(p_preferred=1.0, uniform_draw=0.999999).chosen == "B"


class TestProperties:
    cells = st.fixed_dictionaries(
        {arm: st.integers(min_value=0, max_value=30) for arm in ("A", "B", "C")}
    )

    @FAST
    @given(
        first=cells,
        second=cells,
        draw=st.floats(min_value=0, max_value=1, exclude_max=True),
        p=st.sampled_from([0.5, 0.7, 0.8, 0.9, 1.0]),
        measure=st.sampled_from(list(ImbalanceMeasure)),
        ratio=st.sampled_from([{"A": 1, "B": 1, "C": 1}, {"A": 2, "B": 1, "C": 1}]),
    )
    def test_choice_is_consistent_with_scores_and_probabilities(
        self, first, second, draw, p, measure, ratio
    ):
        result = run(
            arms=("A", "B", "C"),
            ratio=ratio,
            factor_weights={"f": 1, "g": 0.5},
            patient_levels={"f": "x", "g": "y"},
            counts={"f": {"x": first}, "g": {"y": second}},
            p_preferred=p,
            measure=measure,
            uniform_draw=draw,
        )
        best = min(s.score for s in result.scores)
        assert result.preferred == tuple(s.arm for s in result.scores if s.score == best)
        assert result.chosen in ("A", "B", "C")
        assert sum(dict(result.probabilities).values()) == pytest.approx(1.0)
        assert dict(result.probabilities)[result.chosen] > 0
        full_tie = len(result.preferred) == 3
        assert result.chose_preferred == (full_tie or draw < p)
        assert (result.chosen in result.preferred) == result.chose_preferred

    @settings(max_examples=15, deadline=None)
    @given(
        first=cells,
        p=st.sampled_from([0.5, 0.8, 1.0]),
        ratio=st.sampled_from([{"A": 1, "B": 1, "C": 1}, {"A": 2, "B": 1, "C": 3}]),
    )
    def test_an_even_grid_of_draws_reproduces_the_stated_probabilities(self, first, p, ratio):
        grid = 400
        arguments = {
            "arms": ("A", "B", "C"),
            "ratio": ratio,
            "factor_weights": {"f": 1},
            "patient_levels": {"f": "x"},
            "counts": {"f": {"x": first}},
            "p_preferred": p,
        }
        chosen = Counter(
            run(**arguments, uniform_draw=(i + 0.5) / grid).chosen for i in range(grid)
        )
        stated = dict(run(**arguments).probabilities)
        for arm in ("A", "B", "C"):
            assert chosen[arm] / grid == pytest.approx(stated[arm], abs=2 / grid)

    @FAST
    @given(
        levels=st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=60),
        draws=st.lists(st.floats(min_value=0, max_value=1, exclude_max=True), min_size=60),
    )
    def test_deterministic_minimization_keeps_each_level_within_one(self, levels, draws):
        counts = {"f": {}}
        for level, draw in zip(levels, draws, strict=False):
            result = run(
                factor_weights={"f": 1},
                patient_levels={"f": level},
                counts=counts,
                p_preferred=1.0,
                uniform_draw=draw,
            )
            cell = counts["f"].setdefault(level, {"A": 0, "B": 0})
            cell[result.chosen] += 1
            assert abs(cell["A"] - cell["B"]) <= 1

    def test_counts_of_the_patients_other_levels_do_not_matter(self):
        other = {
            "visceral_metastases": {"yes": {"A": 4, "B": 6}, "no": {"A": 0, "B": 40}},
            "time_on_step1": {"ge_12_months": {"A": 7, "B": 6}},
        }
        assert run(counts=other).scores == run().scores


class TestDraws:
    def test_draw_is_the_top_53_bits_of_the_counter_block(self):
        key = derive_key("minimization-draw", MINIMIZATION_DRAWS_V1, "seed-1")
        block = hashlib.sha256(key + (7).to_bytes(8, "big")).digest()
        expected = (int.from_bytes(block[:8], "big") >> 11) / 2**53
        assert (
            minimization_draw(
                seed="seed-1", algorithm_version=MINIMIZATION_DRAWS_V1, sequence_number=7
            )
            == expected
        )

    def test_draws_are_reproducible_and_random_access(self):
        stream = iter_minimization_draws(seed="s", algorithm_version=MINIMIZATION_DRAWS_V1)
        first = [next(stream) for _ in range(20)]
        assert first == [
            minimization_draw(seed="s", algorithm_version=MINIMIZATION_DRAWS_V1, sequence_number=n)
            for n in range(1, 21)
        ]
        later = iter_minimization_draws(seed="s", algorithm_version=MINIMIZATION_DRAWS_V1, start=11)
        assert [next(later) for _ in range(10)] == first[10:]
        assert all(0 <= d < 1 for d in first)
        assert len(set(first)) == 20

    def test_seeds_give_different_draws(self):
        def draws(seed):
            stream = iter_minimization_draws(seed=seed, algorithm_version=MINIMIZATION_DRAWS_V1)
            return [next(stream) for _ in range(5)]

        assert draws("seed-1") != draws("seed-2")

    def test_draws_are_roughly_uniform(self):
        stream = iter_minimization_draws(seed="u", algorithm_version=MINIMIZATION_DRAWS_V1)
        deciles = Counter(int(next(stream) * 10) for _ in range(5000))
        assert all(400 < deciles[d] < 600 for d in range(10))

    @pytest.mark.parametrize(
        ("arguments", "error"),
        [
            ({"seed": "s", "algorithm_version": "v0", "sequence_number": 1}, "unsupported"),
            (
                {"seed": "", "algorithm_version": MINIMIZATION_DRAWS_V1, "sequence_number": 1},
                "design",
            ),
            (
                {"seed": "s", "algorithm_version": MINIMIZATION_DRAWS_V1, "sequence_number": 0},
                "design",
            ),
            (
                {"seed": "s", "algorithm_version": MINIMIZATION_DRAWS_V1, "sequence_number": 1.0},
                "design",
            ),
        ],
    )
    def test_invalid_draw_requests(self, arguments, error):
        expected = (
            UnsupportedAlgorithmVersionError if error == "unsupported" else InvalidDesignError
        )
        with pytest.raises(expected):
            minimization_draw(**arguments)


class TestValidation:
    def test_missing_patient_level_is_stratum_incomplete(self):
        with pytest.raises(StratumIncompleteError) as raised:
            run(patient_levels={"visceral_metastases": "yes"})
        assert raised.value.code == "stratum_incomplete"
        assert raised.value.details["missing"] == ["time_on_step1"]

    @pytest.mark.parametrize("draw", [-0.1, 1.0, 1.5, float("nan"), True])
    def test_draw_must_be_in_the_unit_interval(self, draw):
        with pytest.raises(InvalidDrawError) as raised:
            run(uniform_draw=draw)
        assert raised.value.code == "invalid_draw"

    @pytest.mark.parametrize(
        "overrides",
        [
            {"p_preferred": 0.4},
            {"p_preferred": 1.1},
            {"measure": "entropy"},
            {"arms": ("A",), "ratio": {"A": 1}},
            {"arms": ("A", "A"), "ratio": {"A": 1}},
            {"arms": ("A", "B"), "ratio": {"A": 1, "C": 1}},
            {"ratio": {"A": 0, "B": 1}},
            {"factor_weights": {}},
            {"factor_weights": {"visceral_metastases": 0, "time_on_step1": 1}},
            {"factor_weights": {"visceral_metastases": float("inf"), "time_on_step1": 1}},
        ],
    )
    def test_malformed_designs(self, overrides):
        with pytest.raises(InvalidDesignError) as raised:
            run(**overrides)
        assert raised.value.code == "invalid_design"

    @pytest.mark.parametrize(
        "cell", [{"A": 1, "C": 2}, {"A": -1, "B": 0}, {"A": 1.5, "B": 0}, {"A": True, "B": 0}]
    )
    def test_malformed_counts(self, cell):
        counts = {"visceral_metastases": {"yes": cell}}
        with pytest.raises(InvalidCountsError) as raised:
            run(counts=counts)
        assert raised.value.code == "invalid_counts"

    def test_validate_design_checks_without_a_patient(self):
        design = {"arms": ARMS, "ratio": RATIO, "factor_weights": {"f": 1}}
        assert validate_design(**design, measure="variance") is ImbalanceMeasure.VARIANCE
        with pytest.raises(InvalidDesignError):
            validate_design(**design, p_preferred=0.2)
