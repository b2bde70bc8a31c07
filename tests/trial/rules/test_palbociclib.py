"""IBRANCE dose rules: label section 2.2 Tables 1-3 and DOMAIN.md section 7 rules 2-3, 5-11.

Each label table row has a test named after it (``test_table_<n>_...``).
"""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trial.rules.ctcae import CtcaeTerm
from trial.rules.palbociclib import (
    BLOOD_COUNT_AE_TERMS,
    DOSE_LEVELS_MG,
    STRONG_CYP3A_INHIBITOR_DOSE_MG,
    AdverseEventKind,
    CbcFrequency,
    DoseAction,
    DoseChangeKind,
    DoseReason,
    DoseRuleInputError,
    Grade3OtherDayPolicy,
    adverse_event_kind,
    cbc_frequency_after_cycle_6,
    check_dose_change,
    dose_after_strong_cyp3a_inhibitor_stopped,
    dose_with_strong_cyp3a_inhibitor,
    next_lower_dose_mg,
    propose_dose_decision,
)

ANC = CtcaeTerm.NEUTROPHIL_COUNT_DECREASED
PLT = CtcaeTerm.PLATELET_COUNT_DECREASED
WBC = CtcaeTerm.WHITE_BLOOD_CELL_DECREASED
HB = CtcaeTerm.ANEMIA
HAEM_TERMS = [ANC, PLT, WBC, HB]


def decide(**kwargs):
    defaults = {"current_dose_mg": 125, "cycle_number": 3, "cycle_day": 1}
    return propose_dose_decision(**{**defaults, **kwargs})


# -- Table 1: dose levels -----------------------------------------------------------------------


def test_table_1_dose_levels_are_125_100_75():
    assert DOSE_LEVELS_MG == (125, 100, 75)


@pytest.mark.parametrize(("current", "lower"), [(125, 100), (100, 75), (75, None)])
def test_table_1_next_lower_level_and_discontinue_below_75(current, lower):
    assert next_lower_dose_mg(current) == lower


def test_table_1_protocol_levels_are_a_parameter():
    assert next_lower_dose_mg(100, (100, 75)) == 75
    assert next_lower_dose_mg(75, (100, 75)) is None


@pytest.mark.parametrize("dose", [150, 50, 0, True])
def test_unknown_dose_level_is_rejected(dose):
    with pytest.raises(DoseRuleInputError) as excinfo:
        next_lower_dose_mg(dose)
    assert excinfo.value.code == "dose_level_unknown"


@pytest.mark.parametrize("levels", [(), (75, 100, 125), (125, 125, 75), (125, -100), (125.0, 75)])
def test_invalid_dose_level_lists_are_rejected(levels):
    with pytest.raises(DoseRuleInputError) as excinfo:
        next_lower_dose_mg(125, levels)
    assert excinfo.value.code == "dose_levels_invalid"


@pytest.mark.parametrize(("from_mg", "to_mg"), [(125, 100), (100, 75)])
def test_table_1_reduction_by_one_level_is_allowed(from_mg, to_mg):
    check_dose_change(from_dose_mg=from_mg, to_dose_mg=to_mg, kind=DoseChangeKind.REDUCTION)


@pytest.mark.parametrize(
    ("from_mg", "to_mg", "code"),
    [
        (100, 125, "dose_re_escalation"),
        (75, 100, "dose_re_escalation"),
        (100, 100, "dose_re_escalation"),
        (125, 75, "dose_reduction_skips_level"),
        (125, 50, "dose_level_unknown"),
    ],
)
def test_rule_3_never_re_escalate_and_never_skip_a_level(from_mg, to_mg, code):
    with pytest.raises(DoseRuleInputError) as excinfo:
        check_dose_change(from_dose_mg=from_mg, to_dose_mg=to_mg, kind=DoseChangeKind.REDUCTION)
    assert excinfo.value.code == code


# -- Table 2: haematological toxicity ---------------------------------------------------------


@pytest.mark.parametrize("grade", [1, 2])
@pytest.mark.parametrize("term", HAEM_TERMS)
@pytest.mark.parametrize(("cycle", "day"), [(1, 1), (1, 15), (2, 15), (5, 1), (4, 22)])
def test_table_2_grade_1_2_no_dose_adjustment(grade, term, cycle, day):
    result = decide(haem_grade=grade, haem_term=term, cycle_number=cycle, cycle_day=day)
    assert result.action == DoseAction.CONTINUE
    assert result.next_dose_mg == 125
    assert result.resume_max_grade is None
    assert result.reason_code == DoseReason.HAEM_GRADE_1_2
    assert "Table 2" in result.source


def test_no_toxicity_continues():
    result = decide()
    assert (result.action, result.next_dose_mg, result.reason_code) == (
        DoseAction.CONTINUE,
        125,
        DoseReason.NO_TOXICITY,
    )
    assert result.other_decisions == ()


@pytest.mark.parametrize("term", HAEM_TERMS)
@pytest.mark.parametrize("dose", [125, 100, 75])
def test_table_2_grade_3_day_1_withhold_repeat_cbc_same_dose(term, dose):
    # Rule 6.
    result = decide(current_dose_mg=dose, haem_grade=3, haem_term=term, cycle_day=1)
    assert result.action == DoseAction.WITHHOLD_REPEAT_CBC_7_DAYS
    assert result.next_dose_mg == dose
    assert result.resume_max_grade == 2
    assert result.reason_code == DoseReason.HAEM_GRADE_3_DAY_1
    assert "Table 2" in result.source


@pytest.mark.parametrize("cycle", [1, 2])
@pytest.mark.parametrize("term", HAEM_TERMS)
def test_table_2_grade_3_day_15_cycles_1_2_continue_repeat_cbc_d22(cycle, term):
    # Rule 7.
    result = decide(haem_grade=3, haem_term=term, cycle_number=cycle, cycle_day=15)
    assert result.action == DoseAction.CONTINUE_REPEAT_CBC_D22
    assert result.next_dose_mg == 125
    assert result.resume_max_grade is None
    assert result.reason_code == DoseReason.HAEM_GRADE_3_DAY_15


@pytest.mark.parametrize("term", HAEM_TERMS)
def test_table_2_grade_4_on_the_d22_repeat_cbc_follows_the_grade_4_rule(term):
    result = decide(
        haem_grade=4,
        haem_term=term,
        cycle_number=1,
        cycle_day=22,
        repeat_cbc_d22_after_d15_grade3=True,
    )
    assert result.action == DoseAction.WITHHOLD_UNTIL_RECOVERY_THEN_REDUCE
    assert result.next_dose_mg == 100
    assert result.resume_max_grade == 2
    assert result.reason_code == DoseReason.HAEM_GRADE_4
    assert "D22" in result.reason


def test_table_2_grade_3_still_on_the_d22_repeat_cbc_changes_nothing():
    result = decide(
        haem_grade=3,
        haem_term=ANC,
        cycle_number=2,
        cycle_day=22,
        repeat_cbc_d22_after_d15_grade3=True,
    )
    assert result.action == DoseAction.CONTINUE
    assert result.next_dose_mg == 125
    assert result.reason_code == DoseReason.HAEM_GRADE_3_DAY_22_REPEAT


def test_table_2_recovered_on_the_d22_repeat_cbc():
    result = decide(
        haem_grade=2,
        haem_term=ANC,
        cycle_number=1,
        cycle_day=22,
        repeat_cbc_d22_after_d15_grade3=True,
    )
    assert (result.action, result.reason_code) == (DoseAction.CONTINUE, DoseReason.HAEM_GRADE_1_2)


@pytest.mark.parametrize(("dose", "lower"), [(125, 100), (100, 75), (75, None)])
def test_table_2_grade_3_prolonged_recovery_consider_reduction(dose, lower):
    result = decide(
        current_dose_mg=dose,
        haem_grade=3,
        haem_term=ANC,
        cycle_day=1,
        prolonged_grade3_neutropenia_recovery=True,
    )
    assert result.action == DoseAction.CONSIDER_REDUCTION
    assert result.current_dose_mg == dose
    assert result.next_dose_mg == lower
    assert result.resume_max_grade == 2
    assert result.reason_code == DoseReason.NEUTROPENIA_GRADE_3_PROLONGED_RECOVERY
    # The D1 withhold still applies underneath.
    assert [d.reason_code for d in result.other_decisions] == [DoseReason.HAEM_GRADE_3_DAY_1]


def test_table_2_prolonged_recovery_once_recovered_still_consider_reduction():
    result = decide(haem_grade=2, haem_term=ANC, prolonged_grade3_neutropenia_recovery=True)
    assert result.action == DoseAction.CONSIDER_REDUCTION
    assert result.next_dose_mg == 100


def test_table_2_recurrent_grade_3_neutropenia_on_day_1_consider_reduction():
    result = decide(
        current_dose_mg=100,
        haem_grade=3,
        haem_term=ANC,
        cycle_number=5,
        cycle_day=1,
        previous_day1_grade3_neutropenia=True,
    )
    assert result.action == DoseAction.CONSIDER_REDUCTION
    assert result.next_dose_mg == 75
    assert result.reason_code == DoseReason.NEUTROPENIA_GRADE_3_RECURRENT_DAY_1


def test_consider_reduction_at_75_mg_reports_discontinuation_as_the_reduction():
    result = decide(
        current_dose_mg=75, haem_grade=3, haem_term=ANC, previous_day1_grade3_neutropenia=True
    )
    assert result.action == DoseAction.CONSIDER_REDUCTION
    assert result.next_dose_mg is None
    assert "discontinuation" in result.reason


def test_recurrent_rule_is_for_neutropenia_only():
    result = decide(haem_grade=3, haem_term=PLT, previous_day1_grade3_neutropenia=True)
    assert result.action == DoseAction.WITHHOLD_REPEAT_CBC_7_DAYS


def test_recurrent_rule_needs_grade_3_on_this_day_1():
    result = decide(haem_grade=2, haem_term=ANC, previous_day1_grade3_neutropenia=True)
    assert result.action == DoseAction.CONTINUE


@pytest.mark.parametrize(("dose", "lower"), [(125, 100), (100, 75)])
@pytest.mark.parametrize(("cycle", "day"), [(1, 1), (1, 15), (4, 8), (7, 1)])
@pytest.mark.parametrize(
    ("fever_c", "infection"),
    [(Decimal("38.5"), False), (38.5, False), (39, False), (None, True), (Decimal("39.2"), True)],
)
def test_table_2_grade_3_neutropenia_with_fever_or_infection_reduce(
    dose, lower, cycle, day, fever_c, infection
):
    # Rule 8, second half.
    result = decide(
        current_dose_mg=dose,
        haem_grade=3,
        haem_term=ANC,
        cycle_number=cycle,
        cycle_day=day,
        fever_c=fever_c,
        infection=infection,
    )
    assert result.action == DoseAction.WITHHOLD_UNTIL_RECOVERY_THEN_REDUCE
    assert result.next_dose_mg == lower
    assert result.resume_max_grade == 2
    assert result.reason_code == DoseReason.NEUTROPENIA_GRADE_3_FEVER_OR_INFECTION


def test_table_2_grade_3_neutropenia_with_fever_at_75_mg_discontinues():
    result = decide(current_dose_mg=75, haem_grade=3, haem_term=ANC, infection=True)
    assert result.action == DoseAction.DISCONTINUE
    assert result.next_dose_mg is None
    assert result.resume_max_grade is None
    assert "Table 1" in result.source


def test_fever_below_38_5_is_not_the_label_fever():
    result = decide(haem_grade=3, haem_term=ANC, cycle_day=1, fever_c=Decimal("38.4"))
    assert result.action == DoseAction.WITHHOLD_REPEAT_CBC_7_DAYS
    # 38.3 C is the CTCAE febrile-neutropenia threshold, not the label's.
    assert decide(haem_grade=3, haem_term=ANC, fever_c=38.3).action != (
        DoseAction.WITHHOLD_UNTIL_RECOVERY_THEN_REDUCE
    )


def test_fever_threshold_is_a_parameter():
    result = decide(
        haem_grade=3, haem_term=ANC, fever_c=Decimal("38.3"), fever_threshold_c=Decimal("38.3")
    )
    assert result.action == DoseAction.WITHHOLD_UNTIL_RECOVERY_THEN_REDUCE


def test_fever_rule_is_for_neutropenia_only():
    result = decide(haem_grade=3, haem_term=PLT, cycle_day=1, fever_c=39, infection=True)
    assert result.action == DoseAction.WITHHOLD_REPEAT_CBC_7_DAYS


def test_fever_with_grade_2_neutropenia_changes_nothing():
    assert decide(haem_grade=2, haem_term=ANC, fever_c=39.5).action == DoseAction.CONTINUE


@pytest.mark.parametrize("term", HAEM_TERMS)
@pytest.mark.parametrize(("cycle", "day"), [(1, 1), (1, 8), (1, 15), (2, 15), (3, 22), (9, 1)])
@pytest.mark.parametrize(("dose", "lower"), [(125, 100), (100, 75)])
def test_table_2_grade_4_at_any_time_withhold_then_next_lower_dose(term, cycle, day, dose, lower):
    # Rule 8, first half.
    result = decide(
        current_dose_mg=dose, haem_grade=4, haem_term=term, cycle_number=cycle, cycle_day=day
    )
    assert result.action == DoseAction.WITHHOLD_UNTIL_RECOVERY_THEN_REDUCE
    assert result.next_dose_mg == lower
    assert result.resume_max_grade == 2
    assert result.reason_code == DoseReason.HAEM_GRADE_4


def test_rule_2_grade_4_at_75_mg_discontinues():
    result = decide(current_dose_mg=75, haem_grade=4, haem_term=PLT)
    assert result.action == DoseAction.DISCONTINUE
    assert result.next_dose_mg is None
    assert result.reason_code == DoseReason.HAEM_GRADE_4
    assert "discontinue" in result.reason


@pytest.mark.parametrize(("cycle", "day"), [(3, 15), (1, 8), (4, 22), (2, 10)])
def test_grade_3_on_other_days_withholds_at_same_dose_by_default(cycle, day):
    result = decide(haem_grade=3, haem_term=ANC, cycle_number=cycle, cycle_day=day)
    assert result.action == DoseAction.WITHHOLD_UNTIL_RECOVERY_SAME_DOSE
    assert result.next_dose_mg == 125
    assert result.resume_max_grade == 2
    assert result.reason_code == DoseReason.HAEM_GRADE_3_OTHER_DAY
    assert result.source.startswith("[I]")


def test_grade_3_on_other_days_policy_can_continue():
    result = decide(
        haem_grade=3,
        haem_term=ANC,
        cycle_number=3,
        cycle_day=15,
        grade3_other_day_policy=Grade3OtherDayPolicy.CONTINUE,
    )
    assert (result.action, result.next_dose_mg) == (DoseAction.CONTINUE, 125)
    assert result.reason_code == DoseReason.HAEM_GRADE_3_OTHER_DAY


# -- Table 2 footnote a: lymphopenia ---------------------------------------------------------


@pytest.mark.parametrize("grade", [1, 2, 3, 4])
def test_rule_9_lymphopenia_alone_never_modifies_the_dose(grade):
    result = decide(lymphocyte_grade=grade, cycle_day=1)
    assert (result.action, result.next_dose_mg) == (DoseAction.CONTINUE, 125)
    assert result.reason_code == DoseReason.NO_TOXICITY


def test_rule_9_lymphopenia_with_clinical_event_follows_table_2():
    grade_4 = decide(lymphocyte_grade=4, lymphopenia_clinical_event=True)
    assert grade_4.action == DoseAction.WITHHOLD_UNTIL_RECOVERY_THEN_REDUCE
    assert grade_4.next_dose_mg == 100
    assert "lymphocyte count decreased" in grade_4.reason
    grade_3 = decide(lymphocyte_grade=3, lymphopenia_clinical_event=True, cycle_day=1)
    assert grade_3.action == DoseAction.WITHHOLD_REPEAT_CBC_7_DAYS


def test_lymphopenia_with_event_does_not_mask_a_worse_other_term():
    result = decide(
        haem_grade=3,
        haem_term=ANC,
        lymphocyte_grade=3,
        lymphopenia_clinical_event=True,
        infection=True,
    )
    assert result.reason_code == DoseReason.NEUTROPENIA_GRADE_3_FEVER_OR_INFECTION


# -- Table 3: non-haematological toxicity ---------------------------------------------------


@pytest.mark.parametrize("grade", [1, 2])
def test_table_3_grade_1_2_no_dose_adjustment(grade):
    result = decide(non_haem_grade=grade, non_haem_persisting_despite_treatment=True)
    assert (result.action, result.next_dose_mg) == (DoseAction.CONTINUE, 125)
    assert result.reason_code == DoseReason.NON_HAEM_GRADE_1_2
    assert "Table 3" in result.source


@pytest.mark.parametrize("grade", [3, 4])
@pytest.mark.parametrize(("dose", "lower"), [(125, 100), (100, 75)])
def test_table_3_grade_3_or_more_persisting_withhold_to_grade_1_then_reduce(grade, dose, lower):
    # Rule 10.
    result = decide(
        current_dose_mg=dose, non_haem_grade=grade, non_haem_persisting_despite_treatment=True
    )
    assert result.action == DoseAction.WITHHOLD_UNTIL_RECOVERY_THEN_REDUCE
    assert result.next_dose_mg == lower
    assert result.resume_max_grade == 1
    assert result.reason_code == DoseReason.NON_HAEM_GRADE_3_PERSISTING
    assert "Table 3" in result.source


def test_table_3_grade_3_persisting_no_safety_risk_resumes_at_grade_2():
    result = decide(
        non_haem_grade=3, non_haem_persisting_despite_treatment=True, non_haem_no_safety_risk=True
    )
    assert result.action == DoseAction.WITHHOLD_UNTIL_RECOVERY_THEN_REDUCE
    assert result.resume_max_grade == 2
    assert result.next_dose_mg == 100


def test_table_3_grade_3_persisting_at_75_mg_discontinues():
    result = decide(
        current_dose_mg=75, non_haem_grade=3, non_haem_persisting_despite_treatment=True
    )
    assert result.action == DoseAction.DISCONTINUE
    assert result.next_dose_mg is None


def test_table_3_grade_3_not_yet_persisting_is_treated_first():
    result = decide(non_haem_grade=3)
    assert (result.action, result.next_dose_mg) == (DoseAction.CONTINUE, 125)
    assert result.reason_code == DoseReason.NON_HAEM_GRADE_3_NOT_PERSISTING


@pytest.mark.parametrize("dose", [125, 100, 75])
def test_rule_11_severe_ild_pneumonitis_discontinues_permanently(dose):
    result = decide(current_dose_mg=dose, severe_ild_pneumonitis=True)
    assert result.action == DoseAction.DISCONTINUE
    assert result.next_dose_mg is None
    assert result.resume_max_grade is None
    assert result.reason_code == DoseReason.SEVERE_ILD_PNEUMONITIS
    assert "ILD" in result.source


# -- several rules at once -------------------------------------------------------------------


def test_most_severe_rule_wins_and_the_others_are_kept():
    result = decide(
        haem_grade=3,
        haem_term=ANC,
        cycle_number=1,
        cycle_day=15,
        non_haem_grade=3,
        non_haem_persisting_despite_treatment=True,
    )
    assert result.action == DoseAction.WITHHOLD_UNTIL_RECOVERY_THEN_REDUCE
    assert result.reason_code == DoseReason.NON_HAEM_GRADE_3_PERSISTING
    assert [d.reason_code for d in result.other_decisions] == [DoseReason.HAEM_GRADE_3_DAY_15]


def test_two_reductions_reduce_one_level_and_keep_the_stricter_resume_grade():
    result = decide(
        haem_grade=4, haem_term=PLT, non_haem_grade=3, non_haem_persisting_despite_treatment=True
    )
    assert result.next_dose_mg == 100
    assert result.resume_max_grade == 1
    assert result.other_decisions[0].reason_code == DoseReason.HAEM_GRADE_4
    assert result.other_decisions[0].resume_max_grade == 2


def test_ild_beats_everything():
    result = decide(haem_grade=4, haem_term=ANC, severe_ild_pneumonitis=True)
    assert result.action == DoseAction.DISCONTINUE
    assert result.reason_code == DoseReason.SEVERE_ILD_PNEUMONITIS
    assert result.other_decisions[0].reason_code == DoseReason.HAEM_GRADE_4


DECISION_INPUTS = st.fixed_dictionaries(
    {
        "current_dose_mg": st.sampled_from(DOSE_LEVELS_MG),
        "cycle_number": st.integers(1, 30),
        "cycle_day": st.integers(1, 28),
        "haem_grade": st.integers(0, 4),
        "haem_term": st.sampled_from(HAEM_TERMS),
        "fever_c": st.none() | st.decimals(35, 42, places=1),
        "infection": st.booleans(),
        "lymphocyte_grade": st.integers(0, 4),
        "lymphopenia_clinical_event": st.booleans(),
        "repeat_cbc_d22_after_d15_grade3": st.booleans(),
        "prolonged_grade3_neutropenia_recovery": st.booleans(),
        "previous_day1_grade3_neutropenia": st.booleans(),
        "non_haem_grade": st.integers(0, 4),
        "non_haem_persisting_despite_treatment": st.booleans(),
        "non_haem_no_safety_risk": st.booleans(),
        "severe_ild_pneumonitis": st.booleans(),
    }
)


@given(DECISION_INPUTS)
def test_rule_3_a_decision_never_escalates_and_moves_at_most_one_level(inputs):
    result = propose_dose_decision(**inputs)
    current = inputs["current_dose_mg"]
    if result.action == DoseAction.DISCONTINUE:
        assert result.next_dose_mg is None
        return
    if result.next_dose_mg is None:
        # Only a considered reduction from the lowest level points at discontinuation.
        assert (result.action, current) == (DoseAction.CONSIDER_REDUCTION, 75)
        return
    assert result.next_dose_mg <= current
    assert result.next_dose_mg in (current, next_lower_dose_mg(current))


@given(DECISION_INPUTS)
def test_rule_8_grade_4_always_reduces_or_stops(inputs):
    result = propose_dose_decision(**{**inputs, "haem_grade": 4})
    assert result.action in (DoseAction.WITHHOLD_UNTIL_RECOVERY_THEN_REDUCE, DoseAction.DISCONTINUE)


@given(DECISION_INPUTS)
def test_rule_8_grade_3_neutropenia_with_infection_always_reduces_or_stops(inputs):
    result = propose_dose_decision(
        **{**inputs, "haem_grade": 3, "haem_term": ANC, "infection": True}
    )
    assert result.action in (DoseAction.WITHHOLD_UNTIL_RECOVERY_THEN_REDUCE, DoseAction.DISCONTINUE)


@given(DECISION_INPUTS)
def test_every_decision_cites_a_source_and_a_reason(inputs):
    result = propose_dose_decision(**inputs)
    for decision in (result, *result.other_decisions):
        assert decision.source and decision.reason
        assert decision.current_dose_mg == inputs["current_dose_mg"]
    assert all(other.other_decisions == () for other in result.other_decisions)


# -- input errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"current_dose_mg": 150}, "dose_level_unknown"),
        ({"current_dose_mg": 100, "dose_levels_mg": (125, 75)}, "dose_level_unknown"),
        ({"dose_levels_mg": (75, 100, 125)}, "dose_levels_invalid"),
        ({"haem_grade": 5, "haem_term": ANC}, "grade_out_of_range"),
        ({"haem_grade": -1}, "grade_out_of_range"),
        ({"non_haem_grade": 5}, "grade_out_of_range"),
        ({"lymphocyte_grade": 5}, "grade_out_of_range"),
        ({"haem_grade": 3}, "haem_term_invalid"),
        ({"haem_grade": 3, "haem_term": CtcaeTerm.LYMPHOCYTE_COUNT_DECREASED}, "haem_term_invalid"),
        ({"haem_grade": 3, "haem_term": "neutrophils"}, "haem_term_invalid"),
        ({"cycle_day": 0}, "cycle_out_of_range"),
        ({"cycle_number": 0}, "cycle_out_of_range"),
        ({"fever_c": float("nan")}, "temperature_invalid"),
        ({"fever_c": "39"}, "temperature_invalid"),
        ({"fever_threshold_c": Decimal("Infinity")}, "temperature_invalid"),
    ],
)
def test_invalid_inputs_raise_stable_codes(kwargs, code):
    with pytest.raises(DoseRuleInputError) as excinfo:
        decide(**kwargs)
    assert excinfo.value.code == code


def test_haem_term_string_is_accepted():
    result = decide(haem_grade=4, haem_term="platelet_count_decreased")
    assert result.action == DoseAction.WITHHOLD_UNTIL_RECOVERY_THEN_REDUCE


# -- CBC monitoring ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_grade", "expected"),
    [
        (0, CbcFrequency.EVERY_3_MONTHS),
        (1, CbcFrequency.EVERY_3_MONTHS),
        (2, CbcFrequency.EVERY_3_MONTHS),
        (3, CbcFrequency.STANDARD),
        (4, CbcFrequency.STANDARD),
    ],
)
def test_rule_5_cbc_every_3_months_after_max_grade_2_in_cycles_1_to_6(max_grade, expected):
    assert cbc_frequency_after_cycle_6(max_neutropenia_grade_cycles_1_to_6=max_grade) == expected


def test_cbc_reduced_frequency_threshold_is_a_parameter():
    assert (
        cbc_frequency_after_cycle_6(
            max_neutropenia_grade_cycles_1_to_6=2, max_grade_for_reduced_frequency=1
        )
        == CbcFrequency.STANDARD
    )


def test_cbc_frequency_rejects_invalid_grades():
    with pytest.raises(DoseRuleInputError) as excinfo:
        cbc_frequency_after_cycle_6(max_neutropenia_grade_cycles_1_to_6=5)
    assert excinfo.value.code == "grade_out_of_range"


# -- strong CYP3A inhibitors --------------------------------------------------------------------


@pytest.mark.parametrize("dose", [125, 100, 75])
def test_strong_cyp3a_inhibitor_means_75_mg_and_remembers_the_prior_dose(dose):
    result = dose_with_strong_cyp3a_inhibitor(dose)
    assert result.dose_mg == STRONG_CYP3A_INHIBITOR_DOSE_MG == 75
    assert result.dose_to_restore_mg == dose
    assert (result.restore_after_half_lives_min, result.restore_after_half_lives_max) == (3, 5)
    assert "CYP3A" in result.source


@pytest.mark.parametrize(
    ("half_lives", "expected"), [(0, 75), (2.9, 75), (Decimal("2.99"), 75), (3, 125), (4.5, 125)]
)
def test_prior_dose_is_restored_after_3_half_lives_by_default(half_lives, expected):
    assert (
        dose_after_strong_cyp3a_inhibitor_stopped(
            current_dose_mg=75, dose_before_inhibitor_mg=125, half_lives_since_stop=half_lives
        )
        == expected
    )


def test_restore_point_within_3_to_5_half_lives_is_a_parameter():
    kwargs = {"current_dose_mg": 75, "dose_before_inhibitor_mg": 100, "restore_after_half_lives": 5}
    assert dose_after_strong_cyp3a_inhibitor_stopped(**kwargs, half_lives_since_stop=4) == 75
    assert dose_after_strong_cyp3a_inhibitor_stopped(**kwargs, half_lives_since_stop=5) == 100
    with pytest.raises(DoseRuleInputError) as excinfo:
        dose_after_strong_cyp3a_inhibitor_stopped(
            current_dose_mg=75,
            dose_before_inhibitor_mg=100,
            half_lives_since_stop=6,
            restore_after_half_lives=6,
        )
    assert excinfo.value.code == "cyp3a_half_lives_out_of_range"


@pytest.mark.parametrize("bad", [-1, float("nan"), None])
def test_elapsed_half_lives_must_be_a_non_negative_number(bad):
    with pytest.raises(DoseRuleInputError) as excinfo:
        dose_after_strong_cyp3a_inhibitor_stopped(
            current_dose_mg=75, dose_before_inhibitor_mg=125, half_lives_since_stop=bad
        )
    assert excinfo.value.code == "cyp3a_half_lives_out_of_range"


def test_restoring_never_lowers_the_dose():
    assert (
        dose_after_strong_cyp3a_inhibitor_stopped(
            current_dose_mg=100, dose_before_inhibitor_mg=75, half_lives_since_stop=10
        )
        == 100
    )


def test_cyp3a_dose_changes_are_the_only_allowed_escalation():
    check_dose_change(
        from_dose_mg=125, to_dose_mg=75, kind=DoseChangeKind.STRONG_CYP3A_INHIBITOR_START
    )
    check_dose_change(
        from_dose_mg=75,
        to_dose_mg=125,
        kind=DoseChangeKind.STRONG_CYP3A_INHIBITOR_STOP,
        dose_before_inhibitor_mg=125,
    )


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        (
            {
                "from_dose_mg": 125,
                "to_dose_mg": 100,
                "kind": DoseChangeKind.STRONG_CYP3A_INHIBITOR_START,
            },
            "dose_cyp3a_inhibitor_requires_75_mg",
        ),
        (
            {
                "from_dose_mg": 75,
                "to_dose_mg": 125,
                "kind": DoseChangeKind.STRONG_CYP3A_INHIBITOR_STOP,
            },
            "dose_before_inhibitor_required",
        ),
        (
            {
                "from_dose_mg": 75,
                "to_dose_mg": 125,
                "kind": DoseChangeKind.STRONG_CYP3A_INHIBITOR_STOP,
                "dose_before_inhibitor_mg": 100,
            },
            "dose_re_escalation",
        ),
        (
            {
                "from_dose_mg": 100,
                "to_dose_mg": 75,
                "kind": DoseChangeKind.STRONG_CYP3A_INHIBITOR_STOP,
                "dose_before_inhibitor_mg": 125,
            },
            "dose_cyp3a_restore_invalid",
        ),
    ],
)
def test_cyp3a_dose_change_errors(kwargs, code):
    with pytest.raises(DoseRuleInputError) as excinfo:
        check_dose_change(**kwargs)
    assert excinfo.value.code == code


# -- Adverse event terms: which rule applies ---------------------------------------------------


@pytest.mark.parametrize("term", list(CtcaeTerm))
def test_every_term_a_blood_count_grades_is_haematological_as_an_adverse_event(term):
    assert adverse_event_kind(term.value) == AdverseEventKind.HAEMATOLOGICAL


@pytest.mark.parametrize(
    ("term", "kind"),
    [
        ("  Febrile   Neutropenia ", AdverseEventKind.HAEMATOLOGICAL),
        ("Anaemia", AdverseEventKind.HAEMATOLOGICAL),
        ("THROMBOCYTOPENIA", AdverseEventKind.HAEMATOLOGICAL),
        ("Pneumonitis", AdverseEventKind.ILD_PNEUMONITIS),
        ("Interstitial lung disease", AdverseEventKind.ILD_PNEUMONITIS),
        ("Diarrhea", AdverseEventKind.NON_HAEMATOLOGICAL),
        ("Hemolysis", AdverseEventKind.NON_HAEMATOLOGICAL),  # no blood count grades it
        ("Neutrophil count increased", AdverseEventKind.NON_HAEMATOLOGICAL),
        ("", AdverseEventKind.NON_HAEMATOLOGICAL),
    ],
)
def test_adverse_event_kind_ignores_case_and_spacing(term, kind):
    assert adverse_event_kind(term) == kind


def test_blood_count_terms_are_normalised():
    assert all(t == " ".join(t.casefold().split()) for t in BLOOD_COUNT_AE_TERMS)


@given(st.text(max_size=40))
def test_adverse_event_kind_is_total_and_case_insensitive(term):
    assert adverse_event_kind(term) == adverse_event_kind(term.upper().lower())
