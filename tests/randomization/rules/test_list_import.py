"""Import of a statistician's randomization list: every check, every problem reported at once."""

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from randomization.rules.blocks import (
    PERMUTED_BLOCKS_V1,
    BlockEntry,
    InvalidDesignError,
    canonical_csv,
    generate_block_list,
    list_digest,
)
from randomization.rules.list_import import ListImportError, ListProblem, import_block_list

ARMS = {"A": 1, "B": 1}
HEADER = "stratum,sequence_number,block_number,arm\n"
HEADER_WITH_SIZE = "stratum,sequence_number,block_number,arm,block_size\n"
GOOD = HEADER + "s1,1,1,A\ns1,2,1,B\ns1,3,2,B\ns1,4,2,A\ns1,5,2,B\ns1,6,2,A\ns2,1,1,B\ns2,2,1,A\n"


def sha(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load(text, *, declared=None, arms=ARMS, strata=None):
    return import_block_list(
        text=text,
        arms=arms,
        declared_sha256=sha(text) if declared is None else declared,
        strata=strata,
    )


def problems_of(text, **kwargs):
    with pytest.raises(ListImportError) as raised:
        load(text, **kwargs)
    assert raised.value.code == "invalid_randomization_list"
    assert raised.value.details["problems"] == [
        {"line": p.line, "code": p.code, "message": p.message} for p in raised.value.problems
    ]
    return [(p.line, p.code) for p in raised.value.problems]


class TestValidLists:
    def test_a_four_column_list_is_parsed_with_block_sizes_inferred(self):
        block_list = load(GOOD)
        assert block_list.strata() == ("s1", "s2")
        assert block_list.for_stratum("s1")[2] == BlockEntry("s1", 3, "B", 2, 4)
        assert [e.block_size for e in block_list.entries] == [2, 2, 4, 4, 4, 4, 2, 2]

    def test_a_generated_list_round_trips_through_its_canonical_csv(self):
        generated = generate_block_list(
            arms=ARMS,
            block_sizes=[2, 4, 6],
            strata=["v=yes", "v=no"],
            length_per_stratum=31,
            seed="round-trip-seed",
            algorithm_version=PERMUTED_BLOCKS_V1,
        )
        text = canonical_csv(generated)
        imported = load(text, declared=list_digest(generated), strata=["v=yes", "v=no"])
        assert sorted(imported.entries, key=_order) == sorted(generated.entries, key=_order)
        assert list_digest(imported) == list_digest(generated)

    def test_rows_may_come_in_any_order(self):
        lines = GOOD.splitlines(keepends=True)
        text = lines[0] + "".join(reversed(lines[1:]))
        assert load(text).for_stratum("s1") == load(GOOD).for_stratum("s1")

    def test_windows_line_ends_parse_and_count_in_the_digest(self):
        text = GOOD.replace("\n", "\r\n")
        assert load(text).entries == load(GOOD).entries
        assert problems_of(text, declared=sha(GOOD)) == [(None, "hash_mismatch")]

    def test_declared_digest_is_case_insensitive_and_trimmed(self):
        assert load(GOOD, declared=f" {sha(GOOD).upper()}\n").entries == load(GOOD).entries

    def test_trailing_blank_lines_and_a_byte_order_mark_are_tolerated(self):
        assert load("\ufeff" + GOOD + "\n\n").entries == load(GOOD).entries

    def test_the_last_block_of_a_stratum_may_be_cut_short(self):
        text = HEADER_WITH_SIZE + "s1,1,1,A,2\ns1,2,1,B,2\ns1,3,2,B,6\ns1,4,2,B,6\n"
        block_list = load(text)
        assert [e.block_size for e in block_list.entries] == [2, 2, 6, 6]

    def test_unequal_ratio(self):
        text = HEADER + "s,1,1,A\ns,2,1,B\ns,3,1,A\ns,4,2,B\ns,5,2,A\ns,6,2,A\n"
        assert len(load(text, arms={"A": 2, "B": 1}).entries) == 6


def _order(entry):
    return (entry.stratum, entry.sequence_number)


class TestRejectedLists:
    @pytest.mark.parametrize(
        "header",
        [
            "stratum,sequence,block_number,arm",
            "sequence_number,stratum,block_number,arm",
            "stratum,sequence_number,block_number,arm,block_size,note",
            "Stratum,Sequence_Number,Block_Number,Arm",
            "stratum, sequence_number, block_number, arm",
            "stratum;sequence_number;block_number;arm",
        ],
    )
    def test_bad_header(self, header):
        text = GOOD.replace(GOOD.splitlines()[0], header, 1)
        assert problems_of(text) == [(1, "bad_header")]

    def test_duplicate_sequence_number(self):
        text = GOOD + "s1,2,1,A\n"
        assert problems_of(text) == [(10, "duplicate_sequence")]

    def test_gap_in_sequence_numbers(self):
        text = HEADER + "s1,1,1,A\ns1,2,1,B\ns1,5,2,A\ns1,6,2,B\n"
        problems = problems_of(text)
        assert problems == [(4, "sequence_gap")]

    def test_sequence_must_start_at_one(self):
        assert problems_of(HEADER + "s1,2,1,A\ns1,3,1,B\n") == [(2, "sequence_gap")]

    def test_unbalanced_block(self):
        text = HEADER + "s1,1,1,A\ns1,2,1,A\ns1,3,2,B\ns1,4,2,B\n"
        assert problems_of(text) == [(2, "unbalanced_block"), (4, "unbalanced_block")]

    def test_wrong_hash(self):
        assert problems_of(GOOD, declared=sha(GOOD + " ")) == [(None, "hash_mismatch")]

    def test_declared_hash_must_look_like_sha256(self):
        assert problems_of(GOOD, declared="md5:abc") == [(None, "invalid_declared_hash")]

    def test_unknown_arm_and_bad_numbers(self):
        text = HEADER + "s1,1,1,C\ns1,x,1,A\ns1,3,0,A\ns1,-4,1,B\n"
        assert problems_of(text) == [
            (2, "unknown_arm"),
            (3, "bad_integer"),
            (4, "bad_integer"),
            (5, "bad_integer"),
        ]

    def test_wrong_field_count_and_blank_line_inside(self):
        text = HEADER + "s1,1,1,A\n\ns1,2,1\ns1,2,1,B\n"
        assert problems_of(text) == [(3, "blank_line"), (4, "wrong_field_count")]

    def test_blocks_must_be_contiguous_and_numbered_from_one(self):
        text = HEADER + "s1,1,1,A\ns1,2,1,B\ns1,3,3,A\ns1,4,3,B\n"
        assert problems_of(text) == [(4, "block_order")]
        interleaved = HEADER + "s1,1,1,A\ns1,2,2,B\ns1,3,1,B\ns1,4,2,A\n"
        assert problems_of(interleaved) == [(4, "block_order")]

    def test_block_size_column_checks(self):
        mismatch = HEADER_WITH_SIZE + "s,1,1,A,2\ns,2,1,B,4\n"
        assert problems_of(mismatch) == [(2, "block_size_mismatch")]
        odd = HEADER_WITH_SIZE + "s,1,1,A,3\ns,2,1,B,3\ns,3,1,A,3\n"
        assert problems_of(odd) == [(2, "block_size_not_multiple")]
        overfull = HEADER_WITH_SIZE + "s,1,1,A,2\ns,2,1,B,2\ns,3,1,A,2\n"
        assert problems_of(overfull) == [(2, "block_overfull")]
        cut_inside = HEADER_WITH_SIZE + "s,1,1,A,4\ns,2,1,B,4\ns,3,2,A,2\ns,4,2,B,2\n"
        assert problems_of(cut_inside) == [(2, "incomplete_block")]
        cut_but_too_many = HEADER_WITH_SIZE + "s,1,1,A,4\ns,2,1,A,4\ns,3,1,A,4\n"
        assert problems_of(cut_but_too_many) == [(2, "unbalanced_block")]

    def test_blocks_without_size_column_must_all_be_balanced(self):
        assert problems_of(HEADER + "s,1,1,A\ns,2,1,B\ns,3,2,A\n") == [
            (4, "block_size_not_multiple")
        ]

    def test_expected_strata(self):
        problems = problems_of(GOOD, strata=["s1", "s3"])
        assert problems == [(None, "missing_stratum")] + [
            (line, "unknown_stratum") for line in (8, 9)
        ]

    def test_stratum_keys_must_be_safe_tokens(self):
        text = HEADER + "s 1,1,1,A\n,2,1,B\n"
        assert problems_of(text) == [(2, "invalid_stratum"), (3, "invalid_stratum")]

    def test_empty_files(self):
        assert problems_of("") == [(None, "empty_list")]
        assert problems_of(HEADER) == [(None, "empty_list")]

    def test_malformed_csv_quoting(self):
        assert problems_of(HEADER + 's1,1,1,"A\n') == [(2, "malformed_csv")]

    def test_every_problem_is_listed_with_its_line(self):
        text = (
            HEADER
            + "s1,1,1,A\n"  # 2
            + "s1,2,1,B\n"  # 3
            + "s1,2,2,A\n"  # 4 duplicate of line 3
            + "s2,1,1,A\n"  # 5
            + "s2,3,2,B\n"  # 6 gap: 2 missing
            + "s3,1,1,A\n"  # 7
            + "s3,2,1,A\n"  # 8 block unbalanced (reported on its first line, 7)
            + "s4,1,1,X\n"  # 9 unknown arm
            + "s4,one,1,A\n"  # 10 bad integer
        )
        problems = problems_of(text, declared=sha("another file"))
        assert problems == [
            (None, "hash_mismatch"),
            (4, "duplicate_sequence"),
            (6, "sequence_gap"),
            (7, "unbalanced_block"),
            (9, "unknown_arm"),
            (10, "bad_integer"),
        ]

    def test_error_message_names_lines(self):
        with pytest.raises(ListImportError) as raised:
            load(GOOD + "s1,2,1,A\n")
        assert "line 10: duplicate sequence_number 2 in stratum 's1' (first on line 3)" in str(
            raised.value
        )
        assert raised.value.problems[0] == ListProblem(
            10,
            "duplicate_sequence",
            "duplicate sequence_number 2 in stratum 's1' (first on line 3)",
        )

    def test_malformed_arms_are_a_design_error(self):
        with pytest.raises(InvalidDesignError):
            load(GOOD, arms={"A": 0, "B": 1})


class TestProperties:
    @settings(max_examples=30, deadline=None)
    @given(
        length=st.integers(min_value=2, max_value=40),
        seed=st.text(alphabet="abcdef0123456789", min_size=4, max_size=20),
        pick=st.integers(min_value=0, max_value=10_000),
    )
    def test_flipping_one_arm_of_a_complete_block_is_caught(self, length, seed, pick):
        generated = generate_block_list(
            arms=ARMS,
            block_sizes=[2, 4, 6],
            strata=["s"],
            length_per_stratum=length,
            seed=seed,
            algorithm_version=PERMUTED_BLOCKS_V1,
        )
        text = canonical_csv(generated)
        assert load(text, declared=list_digest(generated)).entries == generated.entries
        rows = text.splitlines(keepends=True)
        complete = [
            i
            for i, e in enumerate(generated.entries)
            if sum(o.block_number == e.block_number for o in generated.entries) == e.block_size
        ]
        if not complete:
            return
        index = complete[pick % len(complete)]
        stratum, number, block, arm, size = rows[index + 1].strip().split(",")
        flipped = "B" if arm == "A" else "A"
        rows[index + 1] = f"{stratum},{number},{block},{flipped},{size}\n"
        codes = {code for _, code in problems_of("".join(rows))}
        assert codes == {"unbalanced_block"}
