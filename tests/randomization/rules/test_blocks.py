"""Stratified permuted blocks: balance, determinism, the documented random source, strata."""

import hashlib
import itertools
from collections import Counter

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from randomization.rules.blocks import (
    PERMUTED_BLOCKS_V1,
    UNSTRATIFIED_KEY,
    BlockList,
    InvalidBlockSizesError,
    InvalidDesignError,
    Sha256CounterDrbg,
    StratumIncompleteError,
    StratumInvalidLevelError,
    UnsupportedAlgorithmVersionError,
    all_strata,
    canonical_csv,
    derive_key,
    generate_block_list,
    iter_stratum_allocations,
    list_digest,
    seed_digest,
    stratum_key,
)

FACTORS = ("visceral_metastases", "time_on_step1")
LEVELS = {
    "visceral_metastases": ("yes", "no"),
    "time_on_step1": ("lt_12_months", "ge_12_months"),
}
PADA1_STRATA = all_strata(FACTORS, levels=LEVELS)
ONE_TO_ONE = {"A": 1, "B": 1}
GOLDEN_SEED = "pada1-golden-seed-0123456789abcdef"

seeds = st.text(alphabet="0123456789abcdef", min_size=8, max_size=40)
size_sets = st.sets(st.sampled_from([2, 4, 6, 8]), min_size=1, max_size=4).map(sorted)
FAST = settings(max_examples=40, deadline=None)


def make_list(**overrides):
    arguments = {
        "arms": ONE_TO_ONE,
        "block_sizes": [2, 4, 6],
        "strata": PADA1_STRATA,
        "length_per_stratum": 24,
        "seed": GOLDEN_SEED,
        "algorithm_version": PERMUTED_BLOCKS_V1,
    }
    arguments.update(overrides)
    return generate_block_list(**arguments)


def reference_stratum(seed, stratum, sizes, arms, length):
    """Independent re-implementation of the documented algorithm, straight from hashlib."""

    def field(text):
        raw = text.encode()
        return len(raw).to_bytes(8, "big") + raw

    fields = ("adaptive-trial/randomization", "permuted-blocks", PERMUTED_BLOCKS_V1, seed, stratum)
    key = hashlib.sha256(b"".join(field(f) for f in fields)).digest()
    stream = b"".join(hashlib.sha256(key + i.to_bytes(8, "big")).digest() for i in range(64))
    words = iter(int.from_bytes(stream[i : i + 8], "big") for i in range(0, len(stream), 8))

    def below(n):
        if n == 1:
            return 0
        limit = 2**64 - 2**64 % n
        while (word := next(words)) >= limit:
            pass
        return word % n

    result = []
    while len(result) < length:
        size = sorted(sizes)[below(len(sizes))]
        slots = [arm for arm in sorted(arms) for _ in range(arms[arm] * size // sum(arms.values()))]
        for i in range(len(slots) - 1, 0, -1):
            j = below(i + 1)
            slots[i], slots[j] = slots[j], slots[i]
        result.extend((arm, size) for arm in slots)
    return result[:length]


class TestDocumentedRandomSource:
    def test_the_generator_is_sha256_of_key_and_counter(self):
        key = derive_key("purpose", "field")
        drbg = Sha256CounterDrbg(key)
        block0 = hashlib.sha256(key + bytes(8)).digest()
        block1 = hashlib.sha256(key + (1).to_bytes(8, "big")).digest()
        expected = [int.from_bytes((block0 + block1)[i : i + 8], "big") for i in range(0, 64, 8)]
        assert [drbg.next_u64() for _ in range(8)] == expected
        assert drbg.block(1) == block1

    def test_key_fields_are_length_prefixed_so_boundaries_matter(self):
        assert derive_key("p", "ab", "c") != derive_key("p", "a", "bc")
        assert derive_key("p", "ab") == derive_key("p", "ab")

    def test_generated_stratum_matches_an_independent_implementation_of_the_docstring(self):
        stratum = PADA1_STRATA[0]
        entries = make_list().for_stratum(stratum)
        expected = reference_stratum(GOLDEN_SEED, stratum, [2, 4, 6], ONE_TO_ONE, 24)
        assert [(e.arm, e.block_size) for e in entries] == expected

    def test_unequal_ratio_matches_the_independent_implementation(self):
        arms = {"A": 2, "B": 1}
        entries = make_list(arms=arms, block_sizes=[3, 6], strata=["all"]).for_stratum("all")
        assert [(e.arm, e.block_size) for e in entries] == reference_stratum(
            GOLDEN_SEED, "all", [3, 6], arms, 24
        )

    def test_golden_list_digest_is_stable_across_releases(self):
        block_list = make_list()
        assert list_digest(block_list) == (
            "c937d008a38d89f887b62b10712d1745479b75dfe5bf80479e49dd5bc1e73238"
        )
        first = block_list.for_stratum("visceral_metastases=yes|time_on_step1=lt_12_months")
        assert "".join(e.arm for e in first) == "ABABABAABBABABABABBABAAB"

    @FAST
    @given(n=st.integers(min_value=1, max_value=1000), seed=seeds)
    def test_randbelow_stays_in_range(self, n, seed):
        drbg = Sha256CounterDrbg(derive_key("test", seed))
        assert all(0 <= drbg.randbelow(n) < n for _ in range(20))
        assert all(0.0 <= drbg.uniform() < 1.0 for _ in range(20))

    def test_randbelow_one_consumes_nothing(self):
        first, second = (Sha256CounterDrbg(derive_key("test")) for _ in range(2))
        assert first.randbelow(1) == 0
        assert first.next_u64() == second.next_u64()

    def test_key_must_be_a_sha256_digest(self):
        with pytest.raises(ValueError):
            Sha256CounterDrbg(b"short")

    def test_shuffle_gives_every_arrangement_of_a_block_of_four(self):
        drbg = Sha256CounterDrbg(derive_key("shuffle-test"))
        seen = Counter()
        for _ in range(6000):
            block = ["A", "A", "B", "B"]
            drbg.shuffle(block)
            seen["".join(block)] += 1
        assert len(seen) == 6
        assert all(850 < count < 1150 for count in seen.values())  # 1000 expected each


class TestBalance:
    @FAST
    @given(sizes=size_sets, length=st.integers(min_value=1, max_value=80), seed=seeds)
    def test_prefix_imbalance_is_bounded_and_zero_at_each_block_end(self, sizes, length, seed):
        block_list = make_list(block_sizes=sizes, length_per_stratum=length, seed=seed)
        for stratum in PADA1_STRATA:
            entries = block_list.for_stratum(stratum)
            difference = 0
            for position, entry in enumerate(entries):
                difference += 1 if entry.arm == "A" else -1
                assert abs(difference) <= max(sizes) // 2
                is_block_end = position + 1 == len(entries) or (
                    entries[position + 1].block_number != entry.block_number
                )
                if is_block_end and _block_is_complete(entries, entry.block_number):
                    assert difference == 0

    @FAST
    @given(
        ratio=st.sampled_from([{"A": 1, "B": 1}, {"A": 2, "B": 1}, {"A": 1, "B": 1, "C": 1}]),
        multiples=st.sets(st.integers(min_value=1, max_value=3), min_size=1),
        length=st.integers(min_value=1, max_value=60),
        seed=seeds,
    )
    def test_every_complete_block_holds_arms_in_the_ratio(self, ratio, multiples, length, seed):
        ratio_sum = sum(ratio.values())
        sizes = sorted(m * ratio_sum for m in multiples)
        block_list = make_list(
            arms=ratio, block_sizes=sizes, strata=["s1", "s2"], length_per_stratum=length, seed=seed
        )
        for stratum in ("s1", "s2"):
            entries = block_list.for_stratum(stratum)
            assert [e.sequence_number for e in entries] == list(range(1, length + 1))
            blocks = itertools.groupby(entries, key=lambda e: e.block_number)
            for number, (block_number, group) in enumerate(blocks, start=1):
                group = list(group)
                assert block_number == number
                size = group[0].block_size
                assert size in sizes and all(e.block_size == size for e in group)
                counts = Counter(e.arm for e in group)
                quota = {arm: r * size // ratio_sum for arm, r in ratio.items()}
                if len(group) == size:
                    assert counts == Counter(quota)
                else:
                    assert group[-1] is entries[-1]
                    assert all(counts[arm] <= share for arm, share in quota.items())

    def test_block_sizes_are_drawn_roughly_uniformly(self):
        entries = make_list(strata=["all"], length_per_stratum=12000).for_stratum("all")
        blocks = {(e.block_number, e.block_size) for e in entries}
        sizes = Counter(size for _, size in blocks)
        assert set(sizes) == {2, 4, 6}
        assert all(0.28 < count / len(blocks) < 0.39 for count in sizes.values())


def _block_is_complete(entries, block_number):
    members = [e for e in entries if e.block_number == block_number]
    return len(members) == members[0].block_size


class TestDeterminism:
    @FAST
    @given(seed=seeds, sizes=size_sets)
    def test_same_inputs_give_the_same_list_bit_for_bit(self, seed, sizes):
        first = make_list(seed=seed, block_sizes=sizes)
        second = make_list(seed=seed, block_sizes=sizes)
        assert first == second
        assert canonical_csv(first) == canonical_csv(second)

    @FAST
    @given(first_seed=seeds, second_seed=seeds)
    def test_different_seeds_give_different_lists(self, first_seed, second_seed):
        assume(first_seed != second_seed)
        assert list_digest(make_list(seed=first_seed)) != list_digest(make_list(seed=second_seed))

    def test_strata_get_different_sequences(self):
        block_list = make_list(length_per_stratum=60)
        sequences = {tuple(e.arm for e in block_list.for_stratum(s)) for s in PADA1_STRATA}
        assert len(sequences) == len(PADA1_STRATA)

    def test_a_stratum_does_not_depend_on_the_other_strata(self):
        alone = make_list(strata=[PADA1_STRATA[2]])
        together = make_list()
        assert alone.for_stratum(PADA1_STRATA[2]) == together.for_stratum(PADA1_STRATA[2])

    def test_block_size_order_does_not_matter(self):
        assert make_list(block_sizes=[6, 2, 4]) == make_list(block_sizes=[2, 4, 6])

    def test_the_stream_extends_the_list(self):
        stream = iter_stratum_allocations(
            arms=ONE_TO_ONE,
            block_sizes=[2, 4, 6],
            seed=GOLDEN_SEED,
            algorithm_version=PERMUTED_BLOCKS_V1,
            stratum=PADA1_STRATA[1],
        )
        longer = list(itertools.islice(stream, 40))
        assert tuple(longer[:24]) == make_list().for_stratum(PADA1_STRATA[1])

    def test_list_has_exactly_the_requested_length_in_the_given_stratum_order(self):
        block_list = make_list(length_per_stratum=7)
        assert len(block_list.entries) == 7 * len(PADA1_STRATA)
        assert block_list.strata() == PADA1_STRATA


class TestDigests:
    def test_list_digest_is_the_sha256_of_the_canonical_csv(self):
        block_list = make_list()
        text = canonical_csv(block_list)
        assert text.startswith("stratum,sequence_number,block_number,arm,block_size\n")
        assert list_digest(block_list) == hashlib.sha256(text.encode()).hexdigest()

    def test_list_digest_does_not_depend_on_entry_order(self):
        block_list = make_list()
        shuffled = BlockList(entries=tuple(reversed(block_list.entries)))
        assert list_digest(shuffled) == list_digest(block_list)

    def test_list_digest_changes_when_one_arm_changes(self):
        block_list = make_list()
        first, *rest = block_list.entries
        flipped = type(first)(
            first.stratum,
            first.sequence_number,
            "B" if first.arm == "A" else "A",
            first.block_number,
            first.block_size,
        )
        assert list_digest(BlockList((flipped, *rest))) != list_digest(block_list)

    def test_seed_digest_is_plain_sha256_of_the_seed(self):
        assert seed_digest("abc") == (
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        )
        assert seed_digest(GOLDEN_SEED) != seed_digest(GOLDEN_SEED + "x")


class TestValidation:
    @pytest.mark.parametrize(
        ("arms", "sizes"),
        [
            ({"A": 1, "B": 1}, [3]),
            ({"A": 1, "B": 1}, [2, 5]),
            ({"A": 2, "B": 1}, [4]),
            ({"A": 1, "B": 1}, []),
            ({"A": 1, "B": 1}, [2, 2]),
            ({"A": 1, "B": 1}, [0]),
            ({"A": 1, "B": 1}, [-2]),
        ],
    )
    def test_block_sizes_must_be_distinct_positive_multiples_of_the_ratio_sum(self, arms, sizes):
        with pytest.raises(InvalidBlockSizesError) as raised:
            make_list(arms=arms, block_sizes=sizes)
        assert raised.value.code == "invalid_block_sizes"
        assert raised.value.category == "invalid_input"

    @pytest.mark.parametrize(
        "overrides",
        [
            {"arms": {}},
            {"arms": {"A": 1}},
            {"arms": {"A": 0, "B": 1}},
            {"arms": {"A": 1.5, "B": 1}},
            {"arms": {"A": True, "B": 1}},
            {"arms": {"arm,A": 1, "B": 1}},
            {"strata": []},
            {"strata": ["s", "s"]},
            {"strata": ["has,comma"]},
            {"strata": ["has space"]},
            {"length_per_stratum": 0},
            {"seed": ""},
        ],
    )
    def test_malformed_designs_are_rejected_with_a_stable_code(self, overrides):
        with pytest.raises(InvalidDesignError) as raised:
            make_list(**overrides)
        assert raised.value.code == "invalid_design"

    def test_unknown_algorithm_version_is_rejected(self):
        with pytest.raises(UnsupportedAlgorithmVersionError) as raised:
            make_list(algorithm_version="permuted-blocks/sha256-ctr/2")
        assert raised.value.code == "unsupported_algorithm_version"
        assert raised.value.details["supported"] == [PERMUTED_BLOCKS_V1]


class TestStratumKey:
    def test_key_follows_the_given_factor_order(self):
        values = {"time_on_step1": "ge_12_months", "visceral_metastases": "yes"}
        assert (
            stratum_key(FACTORS, values, levels=LEVELS)
            == "visceral_metastases=yes|time_on_step1=ge_12_months"
        )
        assert (
            stratum_key(tuple(reversed(FACTORS)), values, levels=LEVELS)
            == "time_on_step1=ge_12_months|visceral_metastases=yes"
        )

    def test_values_of_other_factors_are_ignored(self):
        values = {"visceral_metastases": "no", "time_on_step1": "lt_12_months", "site": "FR01"}
        assert stratum_key(FACTORS, values, levels=LEVELS) == (
            "visceral_metastases=no|time_on_step1=lt_12_months"
        )

    def test_every_missing_factor_is_reported(self):
        with pytest.raises(StratumIncompleteError) as raised:
            stratum_key(FACTORS, {"visceral_metastases": ""}, levels=LEVELS)
        assert raised.value.code == "stratum_incomplete"
        assert raised.value.details["missing"] == ["visceral_metastases", "time_on_step1"]

    def test_values_outside_the_levels_are_reported(self):
        values = {"visceral_metastases": "Yes", "time_on_step1": "12_months"}
        with pytest.raises(StratumInvalidLevelError) as raised:
            stratum_key(FACTORS, values, levels=LEVELS)
        assert raised.value.code == "stratum_invalid_level"
        assert raised.value.details["invalid"] == values

    def test_no_factors_gives_the_unstratified_key(self):
        assert stratum_key((), {}, levels={}) == UNSTRATIFIED_KEY
        assert all_strata((), levels={}) == (UNSTRATIFIED_KEY,)

    def test_all_strata_cross_the_levels_first_factor_slowest(self):
        assert PADA1_STRATA == (
            "visceral_metastases=yes|time_on_step1=lt_12_months",
            "visceral_metastases=yes|time_on_step1=ge_12_months",
            "visceral_metastases=no|time_on_step1=lt_12_months",
            "visceral_metastases=no|time_on_step1=ge_12_months",
        )

    @pytest.mark.parametrize(
        ("factors", "levels"),
        [
            (("a", "a"), {"a": ("x",)}),
            (("a",), {"a": ()}),
            (("a",), {}),
            (("a|b",), {"a|b": ("x",)}),
            (("a",), {"a": ("x=y",)}),
        ],
    )
    def test_malformed_factors_are_rejected(self, factors, levels):
        with pytest.raises(InvalidDesignError):
            stratum_key(factors, dict.fromkeys(factors, "x"), levels=levels)

    @FAST
    @given(
        values=st.fixed_dictionaries(
            {factor: st.sampled_from(levels) for factor, levels in LEVELS.items()}
        )
    )
    def test_every_complete_assignment_is_one_of_the_strata(self, values):
        assert stratum_key(FACTORS, values, levels=LEVELS) in PADA1_STRATA
