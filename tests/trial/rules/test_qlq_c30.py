"""EORTC QLQ-C30 v3.0 scoring: DOMAIN.md section 5 and section 7 rules 26-27.

Expected values are computed here from the manual's formulas and the item map, written out
independently of the module, and also given as 4-decimal literals worked out by hand.
"""

from statistics import mean

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trial.rules.qlq_c30 import (
    SCALES,
    SUMMARY_SCALES,
    QlqInputError,
    QlqScale,
    ScaleKind,
    score_qlq_c30,
    score_scale,
    validate_responses,
)

S = QlqScale


def functional(*items):
    return (1 - (mean(items) - 1) / 3) * 100


def symptom(*items):
    return (mean(items) - 1) / 3 * 100


def global_health(*items):
    return (mean(items) - 1) / 6 * 100


# A complete form: item number -> answer.
COMPLETE = {
    1: 2, 2: 1, 3: 1, 4: 1, 5: 1, 6: 2, 7: 2, 8: 2, 9: 2, 10: 3,
    11: 4, 12: 2, 13: 2, 14: 1, 15: 1, 16: 1, 17: 1, 18: 3, 19: 3, 20: 1,
    21: 2, 22: 3, 23: 2, 24: 1, 25: 2, 26: 1, 27: 1, 28: 3, 29: 5, 30: 4,
}  # fmt: skip


def test_worked_example_complete_form():
    r = COMPLETE
    expected = {
        S.QL2: (global_health(r[29], r[30]), 58.3333),
        S.PF2: (functional(r[1], r[2], r[3], r[4], r[5]), 93.3333),
        S.RF2: (functional(r[6], r[7]), 66.6667),
        S.EF: (functional(r[21], r[22], r[23], r[24]), 66.6667),
        S.CF: (functional(r[20], r[25]), 83.3333),
        S.SF: (functional(r[26], r[27]), 100.0),
        S.FA: (symptom(r[10], r[12], r[18]), 55.5556),
        S.NV: (symptom(r[14], r[15]), 0.0),
        S.PA: (symptom(r[9], r[19]), 50.0),
        S.DY: (symptom(r[8]), 33.3333),
        S.SL: (symptom(r[11]), 100.0),
        S.AP: (symptom(r[13]), 33.3333),
        S.CO: (symptom(r[16]), 0.0),
        S.DI: (symptom(r[17]), 0.0),
        S.FI: (symptom(r[28]), 66.6667),
    }
    scores = score_qlq_c30(COMPLETE)
    for scale, (computed, by_hand) in expected.items():
        assert round(scores.score(scale), 4) == round(computed, 4) == by_hand, scale
    functional_part = [expected[s][0] for s in (S.PF2, S.RF2, S.EF, S.CF, S.SF)]
    symptom_part = [100 - expected[s][0] for s in (S.FA, S.NV, S.PA, S.DY, S.SL, S.AP, S.CO, S.DI)]
    summary = mean(functional_part + symptom_part)
    assert round(scores.summary, 4) == round(summary, 4) == 72.1368  # 8440 / 117


def test_worked_example_with_missing_items():
    answers = {**COMPLETE, 2: None, 7: None, 12: None, 22: None, 28: None, 30: None}
    del answers[4]  # an absent item is missing too
    r = answers
    expected = {
        S.QL2: (global_health(r[29]), 66.6667),
        S.PF2: (functional(r[1], r[3], r[5]), 88.8889),
        S.RF2: (functional(r[6]), 66.6667),
        S.EF: (functional(r[21], r[23], r[24]), 77.7778),
        S.CF: (functional(r[20], r[25]), 83.3333),
        S.SF: (functional(r[26], r[27]), 100.0),
        S.FA: (symptom(r[10], r[18]), 66.6667),
        S.NV: (symptom(r[14], r[15]), 0.0),
        S.PA: (symptom(r[9], r[19]), 50.0),
        S.DY: (symptom(r[8]), 33.3333),
        S.SL: (symptom(r[11]), 100.0),
        S.AP: (symptom(r[13]), 33.3333),
        S.CO: (symptom(r[16]), 0.0),
        S.DI: (symptom(r[17]), 0.0),
    }
    scores = score_qlq_c30(answers)
    for scale, (computed, by_hand) in expected.items():
        assert round(scores.score(scale), 4) == round(computed, 4) == by_hand, scale
    assert scores.fi is None
    functional_part = [expected[s][0] for s in (S.PF2, S.RF2, S.EF, S.CF, S.SF)]
    symptom_part = [100 - expected[s][0] for s in (S.FA, S.NV, S.PA, S.DY, S.SL, S.AP, S.CO, S.DI)]
    # FI is missing but not part of the summary score.
    assert round(scores.summary, 4) == round(mean(functional_part + symptom_part), 4) == 71.7949


# -- half-items rule (rule 27) ---------------------------------------------------------------


def test_pf2_with_3_of_5_items_is_scored():
    answers = {1: 2, 2: 3, 3: 1}
    assert round(score_scale(S.PF2, answers), 4) == round(functional(2, 3, 1), 4) == 66.6667


def test_pf2_with_2_of_5_items_is_missing_not_zero():
    assert score_scale(S.PF2, {1: 2, 2: 3, 3: None, 4: None}) is None
    assert score_qlq_c30({1: 4, 2: 4}).pf2 is None


def test_rf2_with_1_of_2_items_is_scored():
    assert round(score_scale(S.RF2, {6: 3, 7: None}), 4) == round(functional(3), 4) == 33.3333
    assert score_scale(S.RF2, {7: 1}) == 100.0


def test_rf2_with_no_items_is_missing():
    assert score_scale(S.RF2, {6: None, 7: None}) is None


@pytest.mark.parametrize(
    ("scale", "answered", "scored"),
    [
        (S.EF, {21: 1, 22: 2}, True),  # 2 of 4
        (S.EF, {21: 1}, False),  # 1 of 4
        (S.FA, {10: 2, 12: 2}, True),  # 2 of 3
        (S.FA, {10: 2}, False),  # 1 of 3
        (S.QL2, {30: 7}, True),  # 1 of 2
    ],
)
def test_half_items_rule_for_other_scales(scale, answered, scored):
    assert (score_scale(scale, answered) is not None) == scored


@pytest.mark.parametrize(
    ("scale", "item"), [(S.DY, 8), (S.SL, 11), (S.AP, 13), (S.CO, 16), (S.DI, 17), (S.FI, 28)]
)
def test_single_item_scale_is_missing_when_its_item_is(scale, item):
    answers = {**COMPLETE, item: None}
    assert score_qlq_c30(answers).score(scale) is None
    assert score_qlq_c30(COMPLETE).score(scale) is not None


def test_empty_form_is_all_missing():
    scores = score_qlq_c30({})
    assert all(value is None for value in scores.as_dict().values())
    assert scores.summary is None


def test_summary_needs_all_13_scales():
    assert score_qlq_c30({**COMPLETE, 8: None}).summary is None  # DY missing
    assert score_qlq_c30({**COMPLETE, 29: None, 30: None}).summary is not None  # only QL2 missing


def test_scale_map_and_kinds():
    items = sorted(item for definition in SCALES for item in definition.items)
    assert items == list(range(1, 31))  # each item in exactly one scale
    kinds = {definition.scale: definition.kind for definition in SCALES}
    assert [s for s, k in kinds.items() if k == ScaleKind.FUNCTIONAL] == [
        S.PF2,
        S.RF2,
        S.EF,
        S.CF,
        S.SF,
    ]
    assert kinds[S.QL2] == ScaleKind.GLOBAL
    assert len(SUMMARY_SCALES) == 13
    assert S.QL2 not in SUMMARY_SCALES
    assert S.FI not in SUMMARY_SCALES


def test_extremes():
    best = {**dict.fromkeys(range(1, 29), 1), 29: 7, 30: 7}
    worst = {**dict.fromkeys(range(1, 29), 4), 29: 1, 30: 1}
    best_scores, worst_scores = score_qlq_c30(best), score_qlq_c30(worst)
    assert best_scores.summary == 100.0
    assert worst_scores.summary == 0.0
    assert best_scores.ql2 == 100.0
    assert worst_scores.ql2 == 0.0
    assert best_scores.pf2 == 100.0
    assert best_scores.fa == 0.0


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "code"),
    [
        ({0: 1}, "qol_unknown_item"),
        ({31: 1}, "qol_unknown_item"),
        ({"1": 1}, "qol_unknown_item"),
        ({True: 1}, "qol_unknown_item"),
        ({1: 0}, "qol_item_out_of_range"),
        ({1: 5}, "qol_item_out_of_range"),
        ({28: 7}, "qol_item_out_of_range"),
        ({29: 8}, "qol_item_out_of_range"),
        ({30: 0}, "qol_item_out_of_range"),
        ({1: 2.0}, "qol_item_out_of_range"),
        ({1: True}, "qol_item_out_of_range"),
        ({1: "2"}, "qol_item_out_of_range"),
        ({i: 1 for i in range(1, 32)}, "qol_too_many_items"),
    ],
)
def test_invalid_answers_raise_stable_codes(answers, code):
    with pytest.raises(QlqInputError) as excinfo:
        score_qlq_c30(answers)
    assert excinfo.value.code == code


def test_items_29_and_30_accept_7():
    assert validate_responses({29: 7, 30: 1, 1: None}) == {29: 7, 30: 1}


# -- properties ------------------------------------------------------------------------------------


def answer(item):
    return st.none() | st.integers(1, 7 if item >= 29 else 4)


forms = st.fixed_dictionaries({}, optional={item: answer(item) for item in range(1, 31)})


@given(forms)
def test_scores_are_within_0_and_100(form):
    scores = score_qlq_c30(form)
    for value in (*scores.as_dict().values(), scores.summary):
        assert value is None or 0 <= value <= 100


@given(forms)
def test_a_scale_is_missing_exactly_when_fewer_than_half_its_items_are_answered(form):
    scores = score_qlq_c30(form)
    for definition in SCALES:
        answered = sum(form.get(item) is not None for item in definition.items)
        assert (scores.score(definition.scale) is None) == (2 * answered < len(definition.items))


@given(form=forms, item=st.integers(1, 30), data=st.data())
def test_scores_are_monotone_in_each_item(form, item, data):
    current = data.draw(st.integers(1, (7 if item >= 29 else 4) - 1))
    form = {**form, item: current}
    before = score_qlq_c30(form)
    after = score_qlq_c30({**form, item: current + 1})
    for definition in SCALES:
        old, new = before.score(definition.scale), after.score(definition.scale)
        if item not in definition.items or old is None:
            assert new == old
        elif definition.kind == ScaleKind.FUNCTIONAL:
            assert new < old
        else:
            assert new > old
    if before.summary is not None and item <= 27:
        # Higher answers to items 1-27 mean worse functioning or more symptoms.
        assert after.summary < before.summary
    if item >= 28:
        assert after.summary == before.summary
