"""CTCAE haematology grading: DOMAIN.md section 4 table and section 7 rules 12, 13, 15."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trial.rules.ctcae import (
    DOSE_RULE_TERMS,
    TERM_UNITS,
    BloodCount,
    CtcaeInputError,
    CtcaeTerm,
    CtcaeVersion,
    GradeBasis,
    LabValue,
    grade_blood_count,
    grade_lab_value,
    to_decimal,
)

ANC = CtcaeTerm.NEUTROPHIL_COUNT_DECREASED
WBC = CtcaeTerm.WHITE_BLOOD_CELL_DECREASED
PLT = CtcaeTerm.PLATELET_COUNT_DECREASED
HB = CtcaeTerm.ANEMIA
LYM = CtcaeTerm.LYMPHOCYTE_COUNT_DECREASED

# Written out again from DOMAIN.md section 4 (independently of the module's table):
# (grade, lower bound inclusive, upper bound exclusive) for grades >= 2; None = unbounded.
REFERENCE_RANGES = {
    ANC: [(2, "1.0", "1.5"), (3, "0.5", "1.0"), (4, None, "0.5")],
    WBC: [(2, "2.0", "3.0"), (3, "1.0", "2.0"), (4, None, "1.0")],
    PLT: [(2, "50", "75"), (3, "25", "50"), (4, None, "25")],
    HB: [(2, "80", "100"), (3, None, "80")],
    LYM: [(2, "0.5", "0.8"), (3, "0.2", "0.5"), (4, None, "0.2")],
}
GRADE_1_FLOOR = {ANC: "1.5", WBC: "3.0", PLT: "75", HB: "100", LYM: "0.8"}
# Typical adult LLNs, all above the grade-1 floor.
TYPICAL_LLN = {ANC: "1.8", WBC: "4.0", PLT: "150", HB: "120", LYM: "1.0"}


def grade(term, value, lln=None, **kwargs):
    lln = Decimal(TYPICAL_LLN[term]) if lln is None else lln
    return grade_lab_value(term, value, lln=lln, **kwargs).grade


@pytest.mark.parametrize(
    ("term", "value", "expected"),
    [
        # Rule 12: ANC half-open bounds.
        (ANC, Decimal("1.5"), 1),
        (ANC, Decimal("1.499"), 2),
        (ANC, Decimal("1.0"), 2),
        (ANC, Decimal("0.999"), 3),
        (ANC, Decimal("0.5"), 3),
        (ANC, Decimal("0.499"), 4),
        (ANC, Decimal("0"), 4),
        # WBC.
        (WBC, Decimal("3.0"), 1),
        (WBC, Decimal("2.999"), 2),
        (WBC, Decimal("2.0"), 2),
        (WBC, Decimal("1.999"), 3),
        (WBC, Decimal("1.0"), 3),
        (WBC, Decimal("0.999"), 4),
        # Rule 13: platelets.
        (PLT, Decimal("75"), 1),
        (PLT, Decimal("74.9"), 2),
        (PLT, Decimal("50"), 2),
        (PLT, Decimal("49.9"), 3),
        (PLT, Decimal("25"), 3),
        (PLT, Decimal("24.9"), 4),
        # Rule 13: haemoglobin (g/L), lab grade capped at 3.
        (HB, Decimal("100"), 1),
        (HB, Decimal("99.9"), 2),
        (HB, Decimal("80"), 2),
        (HB, Decimal("79"), 3),
        (HB, Decimal("79.9"), 3),
        (HB, Decimal("30"), 3),
        (HB, Decimal("0"), 3),
        # Lymphocyte count decreased (CTCAE v5.0).
        (LYM, Decimal("0.8"), 1),
        (LYM, Decimal("0.79"), 2),
        (LYM, Decimal("0.5"), 2),
        (LYM, Decimal("0.499"), 3),
        (LYM, Decimal("0.2"), 3),
        (LYM, Decimal("0.199"), 4),
    ],
)
def test_boundaries_from_the_ctcae_table(term, value, expected):
    assert grade(term, value) == expected


@pytest.mark.parametrize(
    ("term", "value", "expected"),
    [
        (ANC, 1.0, 2),
        (ANC, 0.999, 3),
        (ANC, 0.5, 3),
        (ANC, 0.499, 4),
        (PLT, 75, 1),
        (PLT, 74.9, 2),
        (PLT, 25, 3),
        (PLT, 24.9, 4),
        (HB, 80, 2),
        (HB, 79, 3),
        (LYM, 0.8, 1),
        (LYM, 0.2, 3),
        (LYM, 0.19999999999999998, 4),
    ],
)
def test_float_and_int_inputs_behave_like_the_typed_decimal(term, value, expected):
    assert grade(term, value) == expected


def test_float_is_converted_through_its_shortest_repr():
    assert to_decimal(0.999) == Decimal("0.999")
    assert to_decimal(1.0) == Decimal("1")
    assert to_decimal(74.9) == Decimal("74.9")
    assert grade_lab_value(ANC, 0.999, lln=1.8).value == Decimal("0.999")


@pytest.mark.parametrize("term", list(CtcaeTerm))
def test_value_at_or_above_lln_is_grade_0(term):
    lln = Decimal(TYPICAL_LLN[term])
    result = grade_lab_value(term, lln, lln=lln)
    assert (result.grade, result.basis) == (0, GradeBasis.AT_OR_ABOVE_LLN)
    assert grade(term, lln + 1, lln) == 0


@pytest.mark.parametrize("term", list(CtcaeTerm))
def test_grade_1_needs_a_value_below_lln(term):
    lln = Decimal(TYPICAL_LLN[term])
    result = grade_lab_value(term, lln - Decimal("0.001"), lln=lln)
    assert (result.grade, result.basis) == (1, GradeBasis.BELOW_LLN)


def test_lln_below_grade_2_bound_absolute_range_wins():
    # LLN 1.4 G/L, ANC 1.45: at or above LLN but < 1.5 -> grade 2, as in the SAS macros.
    result = grade_lab_value(ANC, Decimal("1.45"), lln=Decimal("1.4"))
    assert result.grade == 2
    assert result.basis == GradeBasis.ABSOLUTE_RANGE_AT_OR_ABOVE_LLN
    # Below that unusually low LLN it is an ordinary absolute-range grade.
    below = grade_lab_value(ANC, Decimal("1.3"), lln=Decimal("1.4"))
    assert (below.grade, below.basis) == (2, GradeBasis.ABSOLUTE_RANGE)
    # And >= 1.5 with LLN 1.4 is normal.
    assert grade(ANC, Decimal("1.5"), Decimal("1.4")) == 0


def test_lln_below_grade_2_bound_for_haemoglobin():
    result = grade_lab_value(HB, Decimal("98"), lln=Decimal("95"))
    assert (result.grade, result.basis) == (2, GradeBasis.ABSOLUTE_RANGE_AT_OR_ABOVE_LLN)


def test_anaemia_lab_grade_is_capped_at_3():
    result = grade_lab_value(HB, Decimal("40"), lln=Decimal("120"))
    assert result.grade == 3
    assert result.max_lab_grade == 3
    assert grade_lab_value(ANC, Decimal("0.1"), lln=Decimal("1.8")).max_lab_grade == 4


def test_result_carries_version_unit_and_inputs():
    result = grade_lab_value(PLT, Decimal("60"), lln=Decimal("150"), version=CtcaeVersion.V4_03)
    assert result.ctcae_version == CtcaeVersion.V4_03
    assert str(result.ctcae_version) == "4.03"
    assert result.unit == "G/L"
    assert (result.value, result.lln, result.term) == (Decimal("60"), Decimal("150"), PLT)
    assert grade_lab_value(HB, 90, lln=120).unit == "g/L"
    assert grade_lab_value(HB, 90, lln=120).ctcae_version == CtcaeVersion.V5_0


def test_version_accepts_the_protocol_string():
    assert grade_lab_value(ANC, 0.7, lln=1.8, version="4.03").ctcae_version == "4.03"


def test_unknown_version_and_term_raise_stable_codes():
    with pytest.raises(CtcaeInputError) as excinfo:
        grade_lab_value(ANC, 1, lln=2, version="3.0")
    assert excinfo.value.code == "ctcae_version_unknown"
    with pytest.raises(CtcaeInputError) as excinfo:
        grade_lab_value("neutrophils", 1, lln=2)
    assert excinfo.value.code == "ctcae_term_unknown"
    with pytest.raises(CtcaeInputError):
        grade_blood_count(BloodCount(), version="6.0")


def test_only_lymphocytes_are_outside_dose_rules():
    assert {ANC, WBC, PLT, HB} == DOSE_RULE_TERMS
    assert grade_lab_value(LYM, 0.1, lln=1.0).counts_for_dose_rules is False
    assert grade_lab_value(ANC, 0.1, lln=1.8).counts_for_dose_rules is True


@pytest.mark.parametrize(
    "bad", [Decimal("-0.1"), -1, float("nan"), float("inf"), Decimal("NaN"), True, "1.0", None]
)
def test_invalid_values_are_rejected_with_a_stable_code(bad):
    with pytest.raises(CtcaeInputError) as excinfo:
        grade_lab_value(ANC, bad, lln=Decimal("1.8"))
    assert excinfo.value.code == "ctcae_value_invalid"
    with pytest.raises(CtcaeInputError):
        grade_lab_value(ANC, Decimal("1.0"), lln=bad)


# -- properties --------------------------------------------------------------------------------

values = st.decimals(min_value=0, max_value=500, places=3, allow_nan=False, allow_infinity=False)


def reference_grade(term, value, lln):
    if value >= Decimal(GRADE_1_FLOOR[term]):
        return 0 if value >= lln else 1
    matches = [
        g
        for g, low, high in REFERENCE_RANGES[term]
        if (low is None or value >= Decimal(low)) and value < Decimal(high)
    ]
    assert len(matches) == 1  # the reference ranges have no gaps and no overlaps
    return matches[0]


@given(term=st.sampled_from(list(CtcaeTerm)), value=values, lln=values)
def test_matches_the_reference_ranges_for_any_value_and_lln(term, value, lln):
    assert grade(term, value, lln) == reference_grade(term, value, lln)


@given(term=st.sampled_from(list(CtcaeTerm)), low=values, high=values, lln=values)
def test_grade_never_increases_with_the_value(term, low, high, lln):
    low, high = sorted((low, high))
    assert grade(term, high, lln) <= grade(term, low, lln)


@given(term=st.sampled_from(list(CtcaeTerm)), value=values, lln=values)
def test_v4_03_and_v5_0_agree(term, value, lln):
    v5 = grade_lab_value(term, value, lln=lln, version=CtcaeVersion.V5_0)
    v4 = grade_lab_value(term, value, lln=lln, version=CtcaeVersion.V4_03)
    assert v5.grade == v4.grade
    assert 0 <= v5.grade <= v5.max_lab_grade


@given(
    term=st.sampled_from(list(CtcaeTerm)),
    value=st.floats(min_value=0, max_value=500, allow_nan=False),
)
def test_float_grades_like_its_repr(term, value):
    lln = Decimal(TYPICAL_LLN[term])
    assert grade(term, value, lln) == grade(term, Decimal(repr(value)), lln)


# -- blood count --------------------------------------------------------------------------------


def full_count(anc="3.0", wbc="6.0", plt="250", hb="130", lym="1.5"):
    return BloodCount(
        anc_g_per_l=LabValue.of(Decimal(anc), Decimal("1.8")),
        wbc_g_per_l=LabValue.of(Decimal(wbc), Decimal("4.0")),
        platelets_g_per_l=LabValue.of(Decimal(plt), Decimal("150")),
        haemoglobin_g_per_l=LabValue.of(Decimal(hb), Decimal("120")),
        lymphocytes_g_per_l=LabValue.of(Decimal(lym), Decimal("1.0")),
    )


def test_normal_count_has_worst_grade_0():
    result = grade_blood_count(full_count())
    assert result.worst_grade == 0
    assert result.worst_term is None
    assert {g.term for g in result.grades} == set(CtcaeTerm)
    assert all(g.grade == 0 for g in result.grades)


def test_per_term_grades_and_worst():
    result = grade_blood_count(full_count(anc="0.9", plt="60", hb="85", wbc="2.5"))
    assert result.grade_for(ANC).grade == 3
    assert result.grade_for(PLT).grade == 2
    assert result.grade_for(HB).grade == 2
    assert result.grade_for(WBC).grade == 2
    assert (result.worst_grade, result.worst_term) == (3, ANC)


def test_lymphocytes_are_graded_but_not_the_worst_grade():
    result = grade_blood_count(full_count(lym="0.1"))
    assert result.lymphocyte_grade == 4
    assert result.grade_for(LYM).counts_for_dose_rules is False
    assert (result.worst_grade, result.worst_term) == (0, None)


def test_worst_grade_tie_goes_to_neutrophils():
    result = grade_blood_count(full_count(anc="0.7", plt="40", wbc="1.5"))
    assert (result.worst_grade, result.worst_term) == (3, ANC)


def test_worst_grade_tie_without_neutropenia_goes_to_platelets():
    result = grade_blood_count(full_count(plt="40", wbc="1.5", hb="70"))
    assert (result.worst_grade, result.worst_term) == (3, PLT)


def test_higher_grade_beats_neutrophils():
    result = grade_blood_count(full_count(anc="0.7", plt="20"))
    assert (result.worst_grade, result.worst_term) == (4, PLT)


def test_unmeasured_terms_are_absent():
    count = BloodCount(anc_g_per_l=LabValue.of(0.4, 1.8))
    result = grade_blood_count(count, version=CtcaeVersion.V4_03)
    assert [g.term for g in result.grades] == [ANC]
    assert result.grade_for(PLT) is None
    assert result.lymphocyte_grade is None
    assert (result.worst_grade, result.worst_term) == (4, ANC)
    assert result.ctcae_version == CtcaeVersion.V4_03
    assert result.grades[0].ctcae_version == CtcaeVersion.V4_03


def test_empty_count():
    result = grade_blood_count(BloodCount())
    assert (result.grades, result.worst_grade, result.worst_term) == ((), 0, None)


def test_lab_value_requires_decimals_or_of():
    with pytest.raises(CtcaeInputError):
        LabValue(value=1.0, lln=Decimal("1.8"))
    with pytest.raises(CtcaeInputError):
        LabValue(value=Decimal("-1"), lln=Decimal("1.8"))
    assert LabValue.of(0.999, 2) == LabValue(Decimal("0.999"), Decimal("2"))


def test_units_are_si():
    assert TERM_UNITS[HB] == "g/L"
    assert {TERM_UNITS[t] for t in (ANC, WBC, PLT, LYM)} == {"G/L"}
