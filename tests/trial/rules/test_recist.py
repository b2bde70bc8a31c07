"""RECIST 1.1 time-point response (target lesions, non-target lesions, new lesions)."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trial.rules.recist import (
    NonTargetStatus,
    RecistInputError,
    RecistReason,
    Response,
    TargetLesion,
    assess_overall_response,
)

NT = NonTargetStatus


def lesions(*diameters_mm, nodes=()):
    return [
        TargetLesion(diameter_mm=None if d is None else Decimal(str(d)), is_lymph_node=i in nodes)
        for i, d in enumerate(diameters_mm)
    ]


def assess(target_lesions, baseline, nadir=None, *, new_lesions=False, non_target=NT.NON_CR_NON_PD):
    return assess_overall_response(
        target_lesions=target_lesions,
        baseline_sum_mm=Decimal(str(baseline)),
        nadir_sum_mm=Decimal(str(baseline if nadir is None else nadir)),
        new_lesions=new_lesions,
        non_target=non_target,
    )


# -- progression boundaries --------------------------------------------------------------------


def test_exactly_20_percent_and_5_mm_above_nadir_is_pd():
    result = assess(lesions(18, 12), baseline=40, nadir=25)  # 30 = 1.2 x 25, +5 mm
    assert result.sum_mm == Decimal(30)
    assert result.target_response == Response.PD
    assert result.overall_response == Response.PD
    assert result.reason_code == RecistReason.TARGET_SUM_INCREASE
    assert result.change_from_nadir_pct == Decimal(20)


def test_19_9_percent_above_nadir_is_not_pd():
    result = assess(lesions("59.95"), baseline=60, nadir=50)  # +19.9 %, +9.95 mm
    assert result.target_response == Response.SD
    assert result.overall_response == Response.SD
    assert result.change_from_nadir_pct == Decimal("19.9")


def test_20_percent_but_only_4_mm_is_not_pd():
    result = assess(lesions(24), baseline=30, nadir=20)  # +20 %, +4 mm
    assert result.target_response == Response.SD


def test_5_mm_but_under_20_percent_is_not_pd():
    result = assess(lesions(105), baseline=100)  # +5 %, +5 mm
    assert result.target_response == Response.SD


def test_pd_is_measured_from_the_nadir_not_the_baseline():
    result = assess(lesions(60), baseline=100, nadir=50)  # still 40 % below baseline
    assert result.overall_response == Response.PD
    assert result.change_from_baseline_pct == Decimal(-40)


def test_regrowth_after_a_zero_nadir_is_pd_from_5_mm():
    assert assess(lesions(5), baseline=30, nadir=0).target_response == Response.PD
    assert assess(lesions(4), baseline=30, nadir=0).target_response == Response.PR


# -- partial response boundaries ----------------------------------------------------------------


def test_exactly_30_percent_below_baseline_is_pr():
    result = assess(lesions(20, 15), baseline=50)
    assert result.sum_mm == Decimal(35)
    assert result.change_from_baseline_pct == Decimal(-30)
    assert result.target_response == Response.PR
    assert result.overall_response == Response.PR
    assert result.reason_code == RecistReason.TARGET_SUM_DECREASE


def test_29_8_percent_below_baseline_is_sd():
    result = assess(lesions("35.1"), baseline=50)
    assert result.target_response == Response.SD
    assert result.reason_code == RecistReason.TARGET_STABLE


def test_float_inputs_are_exact():
    result = assess_overall_response(
        target_lesions=[TargetLesion(20.1), TargetLesion(14.9)],
        baseline_sum_mm=50.0,
        nadir_sum_mm=50.0,
        new_lesions=False,
        non_target=NT.ABSENT,
    )
    assert result.sum_mm == Decimal(35)
    assert result.target_response == Response.PR


# -- complete response and lymph nodes ---------------------------------------------------------


def test_all_targets_gone_and_non_target_cr_is_cr():
    result = assess(lesions(0, 0), baseline=40, nadir=10, non_target=NT.CR)
    assert result.overall_response == Response.CR
    assert result.reason_code == RecistReason.TARGET_ALL_DISAPPEARED
    assert result.sum_mm == 0


def test_cr_with_no_non_target_lesions():
    assert assess(lesions(0), baseline=20, non_target=NT.ABSENT).overall_response == Response.CR


def test_lymph_nodes_under_10_mm_are_normal_so_cr_sum_may_be_positive():
    result = assess(lesions(0, "9.9", 7, nodes=(1, 2)), baseline=60, non_target=NT.CR)
    assert result.target_response == Response.CR
    assert result.overall_response == Response.CR
    assert result.sum_mm == Decimal("16.9")


def test_lymph_node_of_10_mm_is_not_normal():
    result = assess(lesions(0, 10, nodes=(1,)), baseline=60, non_target=NT.CR)
    assert result.target_response == Response.PR


def test_non_nodal_lesion_under_10_mm_is_not_cr():
    result = assess(lesions(3), baseline=60, non_target=NT.CR)
    assert result.target_response == Response.PR


@pytest.mark.parametrize("non_target", [NT.NON_CR_NON_PD, NT.NE])
def test_target_cr_with_non_target_not_cr_is_pr(non_target):
    result = assess(lesions(0), baseline=30, non_target=non_target)
    assert result.target_response == Response.CR
    assert result.overall_response == Response.PR
    assert result.reason_code == RecistReason.TARGET_CR_NON_TARGET_NOT_CR


# -- RECIST Table 1 (target and non-target lesions) -------------------------------------------


@pytest.mark.parametrize(
    ("diameters", "non_target", "new", "expected"),
    [
        ((0,), NT.CR, False, Response.CR),
        ((0,), NT.NON_CR_NON_PD, False, Response.PR),
        ((0,), NT.NE, False, Response.PR),
        ((30,), NT.NON_CR_NON_PD, False, Response.PR),
        ((30,), NT.NE, False, Response.PR),
        ((30,), NT.CR, False, Response.PR),
        ((50,), NT.NON_CR_NON_PD, False, Response.SD),
        ((50,), NT.NE, False, Response.SD),
        ((None,), NT.NON_CR_NON_PD, False, Response.NE),
        ((70,), NT.NON_CR_NON_PD, False, Response.PD),
        ((0,), NT.PD, False, Response.PD),
        ((30,), NT.PD, False, Response.PD),
        ((0,), NT.CR, True, Response.PD),
        ((50,), NT.NE, True, Response.PD),
        ((None,), NT.NE, True, Response.PD),
    ],
)
def test_recist_table_1(diameters, non_target, new, expected):
    result = assess(lesions(*diameters), baseline=50, new_lesions=new, non_target=non_target)
    assert result.overall_response == expected


def test_new_lesion_reason():
    result = assess(lesions(10), baseline=50, new_lesions=True)
    assert (result.overall_response, result.reason_code) == (Response.PD, RecistReason.NEW_LESION)
    assert result.target_response == Response.PR


def test_non_target_progression_reason():
    result = assess(lesions(50), baseline=50, non_target=NT.PD)
    assert result.reason_code == RecistReason.NON_TARGET_PROGRESSION


# -- not evaluable --------------------------------------------------------------------------------


def test_unassessed_target_lesion_is_ne():
    result = assess(lesions(10, None), baseline=50)
    assert result.target_response == Response.NE
    assert result.overall_response == Response.NE
    assert result.reason_code == RecistReason.TARGET_NOT_ALL_ASSESSED
    assert result.sum_mm == Decimal(10)


def test_unassessed_lesion_does_not_hide_pd_from_the_assessed_ones():
    result = assess(lesions(65, None), baseline=50)
    assert result.overall_response == Response.PD


def test_unassessed_lesion_does_not_hide_a_new_lesion():
    assert assess(lesions(None), baseline=50, new_lesions=True).overall_response == Response.PD


# -- non-target disease only (RECIST Table 2) ----------------------------------------------


@pytest.mark.parametrize(
    ("non_target", "new", "expected", "reason"),
    [
        (NT.CR, False, Response.CR, RecistReason.NON_TARGET_ONLY_CR),
        (
            NT.NON_CR_NON_PD,
            False,
            Response.NON_CR_NON_PD,
            RecistReason.NON_TARGET_ONLY_NON_CR_NON_PD,
        ),
        (NT.NE, False, Response.NE, RecistReason.NON_TARGET_ONLY_NE),
        (NT.PD, False, Response.PD, RecistReason.NON_TARGET_PROGRESSION),
        (NT.CR, True, Response.PD, RecistReason.NEW_LESION),
    ],
)
def test_recist_table_2_non_target_only(non_target, new, expected, reason):
    result = assess([], baseline=0, new_lesions=new, non_target=non_target)
    assert (result.overall_response, result.reason_code) == (expected, reason)
    assert result.sum_mm is None
    assert result.target_response is None


# -- input errors ----------------------------------------------------------------------------------


def test_no_lesions_at_all_is_an_error():
    with pytest.raises(RecistInputError) as excinfo:
        assess([], baseline=0, non_target=NT.ABSENT)
    assert excinfo.value.code == "recist_no_lesions"


@pytest.mark.parametrize("bad", [-1, Decimal("-0.1"), float("nan"), float("inf"), True, "10"])
def test_invalid_diameters_are_rejected(bad):
    with pytest.raises(RecistInputError) as excinfo:
        TargetLesion(diameter_mm=bad)
    assert excinfo.value.code == "recist_invalid_measurement"


@pytest.mark.parametrize(("baseline", "nadir"), [(40, 50), (0, 0)])
def test_inconsistent_reference_sums_are_rejected(baseline, nadir):
    with pytest.raises(RecistInputError) as excinfo:
        assess(lesions(10), baseline=baseline, nadir=nadir)
    assert excinfo.value.code == "recist_invalid_reference_sum"


def test_negative_reference_sum_is_rejected():
    with pytest.raises(RecistInputError) as excinfo:
        assess(lesions(10), baseline=50, nadir=-1)
    assert excinfo.value.code == "recist_invalid_measurement"


# -- properties ----------------------------------------------------------------------------------

diameters = st.lists(st.decimals(0, 200, places=1), min_size=1, max_size=5)


@given(diameters=diameters, baseline=st.decimals(10, 500, places=1), data=st.data())
def test_target_pd_iff_20_percent_and_5_mm_over_nadir(diameters, baseline, data):
    nadir = data.draw(st.decimals(0, baseline, places=1))
    result = assess(lesions(*diameters), baseline=baseline, nadir=nadir)
    total = sum(diameters, Decimal(0))
    expected_pd = total >= nadir * Decimal("1.2") and total - nadir >= 5
    assert result.sum_mm == total
    assert (result.target_response == Response.PD) == expected_pd


@given(diameters=diameters, baseline=st.decimals(10, 500, places=1), data=st.data())
def test_response_categories_are_consistent(diameters, baseline, data):
    nadir = data.draw(st.decimals(0, baseline, places=1))
    result = assess(lesions(*diameters), baseline=baseline, nadir=nadir, non_target=NT.ABSENT)
    total = sum(diameters, Decimal(0))
    if result.target_response == Response.PR:
        assert total <= baseline * Decimal("0.7")
    if result.target_response == Response.CR:
        assert total == 0
    if result.target_response == Response.SD:
        assert total > baseline * Decimal("0.7")


@given(diameters=diameters, baseline=st.decimals(10, 500, places=1), grow=st.decimals(0, 100))
def test_growing_a_lesion_never_undoes_progression(diameters, baseline, grow):
    before = assess(lesions(*diameters), baseline=baseline)
    bigger = [diameters[0] + grow, *diameters[1:]]
    after = assess(lesions(*bigger), baseline=baseline)
    if before.overall_response == Response.PD:
        assert after.overall_response == Response.PD
