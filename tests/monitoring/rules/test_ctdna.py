"""ESR1 ctDNA interpretation and payload validation (monitoring.rules.ctdna).

Rules 17-18 of DOMAIN.md section 7; thresholds from the ``ctdna.rising`` block of the PADA-1
protocol file (fold change 2.0, +2 copies/mL, +0.001 VAF).
"""

import dataclasses
import math
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

from monitoring.rules.ctdna import (
    CtdnaResult,
    NextAction,
    PatientStatus,
    Problem,
    ProblemCode,
    RisingThresholds,
    SampleStatus,
    VariantChange,
    VariantMeasurement,
    enrolment_problems,
    interpret_result,
    validate_result_payload,
)
from monitoring.rules.hgvs import HgvsError

PROTOCOL = yaml.safe_load(
    (Path(__file__).parents[3] / "trial" / "protocols" / "pada1.yaml").read_text()
)
PANEL = PROTOCOL["ctdna"]["panel"]
THRESHOLDS = RisingThresholds.from_protocol(PROTOCOL["ctdna"]["rising"])


def reported(*variants):
    return CtdnaResult(status=SampleStatus.REPORTED, variants=variants)


def failed():
    return CtdnaResult(status=SampleStatus.FAILED)


def d538g(copies=None, vaf=None):
    return VariantMeasurement("p.D538G", vaf=vaf, copies_per_ml=copies)


def interpret(result, *previous, previous_status=None, thresholds=THRESHOLDS):
    return interpret_result(
        result=result,
        previous=list(previous),
        panel=PANEL,
        thresholds=thresholds,
        previous_status=previous_status,
    )


def only_change(interpretation):
    (variant,) = interpretation.variants
    return variant.change


# Thresholds ------------------------------------------------------------------------------------


def test_thresholds_come_from_the_protocol_file():
    assert (
        RisingThresholds(
            fold_change=2.0,
            min_absolute_increase_copies_per_ml=2.0,
            min_absolute_increase_vaf=0.001,
        )
        == THRESHOLDS
    )


def test_protocol_panel_is_the_confirmed_hotspot_alleles():
    assert PANEL == [
        "p.E380Q",
        "p.L536H",
        "p.L536P",
        "p.L536R",
        "p.Y537C",
        "p.Y537N",
        "p.Y537S",
        "p.D538G",
    ]


def test_a_confirmation_sample_requirement_is_refused_rather_than_ignored():
    rising = dict(PROTOCOL["ctdna"]["rising"], confirmation_sample_required=True)

    with pytest.raises(ValueError, match="confirmation_sample_required"):
        RisingThresholds.from_protocol(rising)


@pytest.mark.parametrize(
    ("fold", "copies", "vaf"),
    [
        (0.99, 2.0, 0.001),
        (2.0, -0.1, 0.001),
        (2.0, 2.0, -0.001),
        (math.nan, 2.0, 0.001),
        (math.inf, 2.0, 0.001),
        ("2", 2.0, 0.001),
        (None, 2.0, 0.001),
    ],
)
def test_invalid_thresholds_are_rejected(fold, copies, vaf):
    with pytest.raises(ValueError):
        RisingThresholds(fold, copies, vaf)


def test_fold_one_and_zero_floors_are_allowed():
    assert RisingThresholds(1, 0, 0).fold_change == 1


# Classification --------------------------------------------------------------------------------


def test_first_sample_negative_is_not_detected():
    result = interpret(reported())

    assert result.status is PatientStatus.NOT_DETECTED
    assert result.next_action is NextAction.NONE
    assert result.variants == ()
    assert result.compared_with_previous is False


def test_first_sample_positive_is_detected_stable_not_rising():
    result = interpret(reported(d538g(copies=40.0, vaf=0.012)))

    assert result.status is PatientStatus.DETECTED_STABLE
    assert result.next_action is NextAction.NONE
    assert only_change(result) is VariantChange.BASELINE
    assert result.rising_variants == ()
    assert result.compared_with_previous is False
    assert "baseline" in result.reason


def test_previous_failed_samples_only_do_not_make_a_comparison():
    result = interpret(reported(d538g(copies=40.0, vaf=0.012)), failed(), failed())

    assert result.status is PatientStatus.DETECTED_STABLE
    assert only_change(result) is VariantChange.BASELINE


def test_mutation_absent_from_the_previous_sample_is_new_and_rising():
    result = interpret(reported(d538g(copies=14.0, vaf=0.0083)), reported())

    assert only_change(result) is VariantChange.NEW
    assert result.status is PatientStatus.RISING
    assert result.next_action is NextAction.IMAGING_REQUIRED
    assert [v.protein_change for v in result.rising_variants] == ["p.D538G"]
    assert result.variants[0].previous_copies_per_ml is None
    assert result.compared_with_previous is True


def test_new_is_judged_against_the_previous_sample_only():
    older = reported(d538g(copies=10.0, vaf=0.005))

    result = interpret(reported(d538g(copies=10.0, vaf=0.005)), reported(), older)

    assert only_change(result) is VariantChange.NEW
    assert result.status is PatientStatus.RISING


def test_a_tiny_new_mutation_still_triggers():
    """Appearance has no threshold: DOMAIN.md 1.4 trigger (a)."""
    result = interpret(reported(d538g(copies=0.5, vaf=0.0001)), reported())

    assert result.status is PatientStatus.RISING


def test_failed_samples_in_between_are_skipped():
    result = interpret(
        reported(d538g(copies=12.0, vaf=0.006)), failed(), reported(d538g(10.0, 0.005))
    )

    assert only_change(result) is VariantChange.STABLE
    assert result.status is PatientStatus.DETECTED_STABLE
    assert result.variants[0].previous_copies_per_ml == 10.0


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (7.0, 14.0, VariantChange.INCREASED),  # exactly x2, +7
        (7.0, 13.99, VariantChange.STABLE),  # just under x2
        (2.0, 4.0, VariantChange.INCREASED),  # exactly x2 and exactly +2
        (1.0, 2.0, VariantChange.STABLE),  # x2 but only +1
        (1.5, 3.5, VariantChange.INCREASED),  # x2.33, +2
        (1.6, 3.5, VariantChange.STABLE),  # +1.9
        (0.1, 2.1, VariantChange.INCREASED),  # x21, exactly +2.0 in decimal
        (14.0, 20.0, VariantChange.STABLE),
        (14.0, 14.0, VariantChange.STABLE),
        (14.0, 7.0, VariantChange.DECREASED),  # exactly /2, -7
        (14.0, 7.01, VariantChange.STABLE),
        (4.0, 2.0, VariantChange.DECREASED),  # exactly /2 and -2
        (2.0, 1.0, VariantChange.STABLE),  # /2 but only -1
    ],
)
def test_copies_per_ml_threshold_boundaries(before, after, expected):
    result = interpret(reported(d538g(copies=after)), reported(d538g(copies=before)))

    assert only_change(result) is expected
    expected_status = (
        PatientStatus.RISING
        if expected is VariantChange.INCREASED
        else PatientStatus.DETECTED_STABLE
    )
    assert result.status is expected_status


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (0.001, 0.002, VariantChange.INCREASED),  # exactly x2 and exactly +0.001
        (0.001, 0.00199, VariantChange.STABLE),
        (0.0005, 0.001, VariantChange.STABLE),  # x2 but only +0.0005
        (0.0005, 0.0015, VariantChange.INCREASED),  # x3, +0.001
        (0.1, 0.2, VariantChange.INCREASED),
        (0.1, 0.1999, VariantChange.STABLE),
        (0.2, 0.1, VariantChange.DECREASED),
        (0.002, 0.001, VariantChange.DECREASED),
        (0.001, 0.0005, VariantChange.STABLE),
    ],
)
def test_vaf_threshold_boundaries(before, after, expected):
    result = interpret(reported(d538g(vaf=after)), reported(d538g(vaf=before)))

    assert only_change(result) is expected


def test_either_measure_rising_is_enough():
    result = interpret(
        reported(d538g(copies=10.0, vaf=0.004)), reported(d538g(copies=10.0, vaf=0.002))
    )

    assert only_change(result) is VariantChange.INCREASED
    assert "VAF" in result.variants[0].reason


def test_a_rise_in_one_measure_wins_over_a_fall_in_the_other():
    result = interpret(
        reported(d538g(copies=30.0, vaf=0.001)), reported(d538g(copies=10.0, vaf=0.01))
    )

    assert only_change(result) is VariantChange.INCREASED
    assert result.status is PatientStatus.RISING


def test_a_measure_missing_from_either_sample_cannot_show_a_rise():
    before = reported(d538g(copies=None, vaf=0.01))

    result = interpret(reported(d538g(copies=100.0, vaf=0.011)), before)

    assert only_change(result) is VariantChange.STABLE


def test_variant_interpretation_carries_both_samples_values():
    result = interpret(
        reported(d538g(copies=30.0, vaf=0.02)), reported(d538g(copies=10.0, vaf=0.01))
    )

    variant = result.variants[0]
    assert (variant.copies_per_ml, variant.vaf) == (30.0, 0.02)
    assert (variant.previous_copies_per_ml, variant.previous_vaf) == (10.0, 0.01)
    assert variant.in_panel is True
    assert "copies/mL went from 10.0 to 30.0" in variant.reason


def test_spellings_are_normalised_before_comparison():
    current = reported(VariantMeasurement("p.(Asp538Gly)", vaf=0.01, copies_per_ml=10.0))
    previous = reported(VariantMeasurement("D538G", vaf=0.01, copies_per_ml=10.0))

    result = interpret(current, previous)

    assert result.variants[0].protein_change == "p.D538G"
    assert only_change(result) is VariantChange.STABLE


def test_panel_may_be_written_in_three_letter_form():
    result = interpret_result(
        result=reported(d538g(copies=5.0)),
        previous=[reported()],
        panel=["p.Asp538Gly"],
        thresholds=THRESHOLDS,
    )

    assert result.variants[0].in_panel is True
    assert result.status is PatientStatus.RISING


def test_an_invalid_panel_entry_raises():
    with pytest.raises(HgvsError):
        interpret_result(
            result=reported(), previous=[], panel=["p.Asp538del"], thresholds=THRESHOLDS
        )


# Off-panel variants ----------------------------------------------------------------------------


def test_new_off_panel_variant_is_kept_and_flagged_but_never_rising():
    s463p = VariantMeasurement("p.Ser463Pro", vaf=0.02, copies_per_ml=30.0)

    result = interpret(reported(s463p), reported())

    (variant,) = result.variants
    assert variant.protein_change == "p.S463P"
    assert variant.change is VariantChange.NEW
    assert variant.in_panel is False
    assert variant.triggers_rising is False
    assert result.off_panel == ("p.S463P",)
    assert result.status is PatientStatus.NOT_DETECTED
    assert result.next_action is NextAction.NONE


def test_increased_off_panel_variant_does_not_make_the_patient_rising():
    before = reported(d538g(10.0, 0.005), VariantMeasurement("p.S463P", 0.01, 10.0))
    after = reported(d538g(10.0, 0.005), VariantMeasurement("p.S463P", 0.1, 100.0))

    result = interpret(after, before)

    changes = {v.protein_change: (v.change, v.in_panel) for v in result.variants}
    assert changes == {
        "p.D538G": (VariantChange.STABLE, True),
        "p.S463P": (VariantChange.INCREASED, False),
    }
    assert result.status is PatientStatus.DETECTED_STABLE


def test_off_panel_variant_alongside_a_new_panel_variant():
    after = reported(VariantMeasurement("p.S463P", 0.01, 10.0), d538g(4.0, 0.002))

    result = interpret(after, reported())

    assert result.status is PatientStatus.RISING
    assert [v.protein_change for v in result.rising_variants] == ["p.D538G"]
    assert [v.protein_change for v in result.variants] == ["p.S463P", "p.D538G"]


# Disappearance, several variants ---------------------------------------------------------------


def test_cleared_mutation_is_listed_as_no_longer_detected():
    result = interpret(reported(), reported(d538g(10.0, 0.005)))

    assert result.status is PatientStatus.NOT_DETECTED
    assert result.no_longer_detected == ("p.D538G",)


def test_a_second_hotspot_appearing_makes_the_patient_rising():
    y537s = VariantMeasurement("p.Y537S", vaf=0.003, copies_per_ml=3.0)

    result = interpret(reported(d538g(10.0, 0.005), y537s), reported(d538g(10.0, 0.005)))

    changes = [(v.protein_change, v.change) for v in result.variants]
    assert changes == [("p.D538G", VariantChange.STABLE), ("p.Y537S", VariantChange.NEW)]
    assert result.status is PatientStatus.RISING


def test_the_same_change_twice_in_one_result_is_a_precondition_error():
    twice = reported(d538g(10.0, 0.01), VariantMeasurement("p.Asp538Gly", 0.01, 10.0))

    with pytest.raises(ValueError, match="twice"):
        interpret(twice)


# Failed samples --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", list(PatientStatus))
def test_failed_sample_requests_a_redraw_and_keeps_the_passed_status(status):
    result = interpret(failed(), reported(d538g(10.0, 0.005)), previous_status=status)

    assert result.status is status
    assert result.next_action is NextAction.REDRAW_REQUESTED
    assert result.variants == ()


def test_failed_sample_without_a_passed_status_keeps_the_history_status():
    history = [reported(d538g(10.0, 0.005)), failed(), reported()]

    result = interpret(failed(), *history)

    assert result.status is PatientStatus.RISING
    assert result.next_action is NextAction.REDRAW_REQUESTED


def test_failed_first_sample_is_not_detected():
    result = interpret(failed())

    assert result.status is PatientStatus.NOT_DETECTED
    assert result.next_action is NextAction.REDRAW_REQUESTED


def test_failed_sample_with_variants_is_a_precondition_error():
    result = CtdnaResult(status="failed", variants=[d538g(1.0, 0.001)])

    with pytest.raises(ValueError, match="failed"):
        interpret(result)


# Value objects ---------------------------------------------------------------------------------


def test_result_coerces_status_and_variants():
    result = CtdnaResult(status="reported", variants=[d538g(1.0, 0.001)])

    assert result.status is SampleStatus.REPORTED
    assert isinstance(result.variants, tuple)


def test_unknown_result_status_is_rejected():
    with pytest.raises(ValueError):
        CtdnaResult(status="pending")


def test_result_from_payload_of_the_json_contract():
    payload = {
        "sample_id": "S-000123",
        "patient_id": "PADA1-FR01-0007",
        "collected_on": "2027-03-02",
        "analysed_on": "2027-03-14",
        "assay": "ddPCR",
        "status": "reported",
        "failure_reason": None,
        "variants": [
            {"gene": "ESR1", "protein_change": "p.D538G", "vaf": 0.0123, "copies_per_ml": 14.0}
        ],
    }

    assert CtdnaResult.from_payload(payload) == reported(d538g(copies=14.0, vaf=0.0123))


def test_interpretation_is_frozen():
    result = interpret(reported())

    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = PatientStatus.RISING  # type: ignore[misc]


def test_enum_values_are_the_api_codes():
    assert [s.value for s in PatientStatus] == ["not_detected", "detected_stable", "rising"]
    assert [a.value for a in NextAction] == ["none", "redraw_requested", "imaging_required"]
    assert {c.value for c in VariantChange} == {
        "baseline",
        "new",
        "increased",
        "stable",
        "decreased",
    }


# Properties ------------------------------------------------------------------------------------

amounts = st.decimals(min_value=0, max_value=10_000, places=2).map(float)


@given(amounts, amounts, amounts)
def test_increase_is_monotonic_in_the_new_value(before, after, higher):
    assume(higher >= after)
    first = interpret(reported(d538g(copies=after)), reported(d538g(copies=before)))
    second = interpret(reported(d538g(copies=higher)), reported(d538g(copies=before)))

    if only_change(first) is VariantChange.INCREASED:
        assert only_change(second) is VariantChange.INCREASED


@given(amounts, amounts)
def test_decrease_mirrors_increase(before, after):
    up = interpret(reported(d538g(copies=after)), reported(d538g(copies=before)))
    down = interpret(reported(d538g(copies=before)), reported(d538g(copies=after)))

    assert (only_change(up) is VariantChange.INCREASED) == (
        only_change(down) is VariantChange.DECREASED
    )


@given(amounts, amounts)
def test_increase_matches_the_documented_rule(before, after):
    result = interpret(reported(d538g(copies=after)), reported(d538g(copies=before)))
    b, a = Decimal(str(before)), Decimal(str(after))
    expected = a > b and a >= 2 * b and a - b >= 2

    assert (only_change(result) is VariantChange.INCREASED) == expected


@given(amounts, st.decimals(min_value=0, max_value=1, places=4).map(float))
def test_baseline_is_never_rising(copies, vaf):
    result = interpret(reported(d538g(copies=copies, vaf=vaf)))

    assert result.status is PatientStatus.DETECTED_STABLE


@given(st.sampled_from(list(PatientStatus)), st.lists(st.sampled_from([True, False]), max_size=4))
def test_failed_sample_never_changes_a_passed_status(status, history_flags):
    history = [reported(d538g(10.0, 0.01)) if flag else reported() for flag in history_flags]

    assert interpret(failed(), *history, previous_status=status).status is status


# Validation ------------------------------------------------------------------------------------

TODAY = date(2027, 3, 20)
ENROLLED = date(2027, 1, 5)


def payload(**changes):
    base = {
        "sample_id": "S-000123",
        "patient_id": "PADA1-FR01-0007",
        "collected_on": "2027-03-02",
        "analysed_on": "2027-03-14",
        "assay": "ddPCR",
        "status": "reported",
        "failure_reason": None,
        "variants": [
            {"gene": "ESR1", "protein_change": "p.D538G", "vaf": 0.0123, "copies_per_ml": 14.0}
        ],
    }
    return base | changes


def variant(**changes):
    base = {"gene": "ESR1", "protein_change": "p.D538G", "vaf": 0.0123, "copies_per_ml": 14.0}
    return base | changes


def codes(problems):
    return [(p.field, p.code) for p in problems]


def check(data, today=TODAY, enrolled_on=ENROLLED):
    return validate_result_payload(data, today=today, enrolled_on=enrolled_on)


def test_valid_payload_has_no_problems():
    assert check(payload()) == []


def test_dates_may_be_date_objects_or_datetimes():
    data = payload(collected_on=date(2027, 3, 2), analysed_on=datetime(2027, 3, 14, 9, 30))

    assert check(data) == []


def test_problems_are_field_code_message_tuples():
    (problem,) = check(payload(collected_on="2027-03-21", analysed_on="2027-03-21"))[:1]

    field, code, message = problem
    assert isinstance(problem, Problem)
    assert (field, code) == ("collected_on", "date_in_future")
    assert "2027-03-21" in message


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"collected_on": "2027-03-20", "analysed_on": "2027-03-20"}, []),
        (
            {"collected_on": "2027-03-20", "analysed_on": "2027-03-21"},
            [("analysed_on", "date_in_future")],
        ),
        (
            {"collected_on": "2027-03-21", "analysed_on": "2027-03-21"},
            [("collected_on", "date_in_future"), ("analysed_on", "date_in_future")],
        ),
        ({"collected_on": "2027-03-02", "analysed_on": "2027-03-02"}, []),
        (
            {"collected_on": "2027-03-02", "analysed_on": "2027-03-01"},
            [("analysed_on", "analysed_before_collected")],
        ),
        ({"collected_on": "2027-01-05"}, []),
        ({"collected_on": "2027-01-04"}, [("collected_on", "collected_before_enrolment")]),
        ({"collected_on": "2027-02-30"}, [("collected_on", "invalid_date")]),
        ({"collected_on": "02/03/2027"}, [("collected_on", "invalid_date")]),
        ({"analysed_on": None}, [("analysed_on", "invalid_date")]),
        ({"collected_on": 20270302}, [("collected_on", "invalid_date")]),
    ],
)
def test_date_rules(changes, expected):
    assert codes(check(payload(**changes))) == expected


def test_enrolment_check_is_skipped_without_an_enrolment_date():
    assert check(payload(collected_on="2020-01-01"), enrolled_on=None) == []


@pytest.mark.parametrize("vaf", [0, 0.0, 1, 1.0, 0.5, Decimal("0.0123")])
def test_vaf_bounds_are_inclusive(vaf):
    assert check(payload(variants=[variant(vaf=vaf)])) == []


@pytest.mark.parametrize("vaf", [-0.0001, 1.0001, 12.3, math.nan, math.inf, "0.1", True])
def test_vaf_out_of_range(vaf):
    assert codes(check(payload(variants=[variant(vaf=vaf)]))) == [
        ("variants[0].vaf", "vaf_out_of_range")
    ]


@pytest.mark.parametrize("copies", [0, 0.0, 1225.0, 3959])
def test_copies_zero_and_above_are_valid(copies):
    assert check(payload(variants=[variant(copies_per_ml=copies)])) == []


@pytest.mark.parametrize("copies", [-0.01, -1, math.inf, math.nan, "14", False])
def test_negative_or_non_finite_copies(copies):
    assert codes(check(payload(variants=[variant(copies_per_ml=copies)]))) == [
        ("variants[0].copies_per_ml", "negative_copies")
    ]


def test_one_measurement_is_enough_but_not_none():
    only_vaf = variant(copies_per_ml=None)
    only_copies = variant(vaf=None)
    neither = {"gene": "ESR1", "protein_change": "p.D538G"}

    assert check(payload(variants=[only_vaf])) == []
    assert check(payload(variants=[only_copies])) == []
    assert codes(check(payload(variants=[neither]))) == [("variants[0]", "missing_measurement")]


@pytest.mark.parametrize("gene", ["PIK3CA", "esr1", "HGNC:3467", None, ""])
def test_gene_other_than_esr1(gene):
    assert codes(check(payload(variants=[variant(gene=gene)]))) == [
        ("variants[0].gene", "gene_not_supported")
    ]


@pytest.mark.parametrize("change", ["p.Asp538del", "D538", "c.1613A>G", None, "p.X538G"])
def test_invalid_hgvs(change):
    problems = check(payload(variants=[variant(protein_change=change)]))

    assert codes(problems) == [("variants[0].protein_change", "invalid_hgvs")]
    assert problems[0].message


def test_off_panel_variant_is_valid():
    assert check(payload(variants=[variant(protein_change="p.S463P")])) == []


def test_duplicate_variant_in_any_spelling():
    data = payload(variants=[variant(), variant(protein_change="p.(Asp538Gly)")])

    assert codes(check(data)) == [("variants[1].protein_change", "duplicate_variant")]


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_failed_requires_a_reason(reason):
    data = payload(status="failed", failure_reason=reason, variants=[])

    assert codes(check(data)) == [("failure_reason", "failure_reason_required")]


def test_failed_with_a_reason_and_no_variants_is_valid():
    assert check(payload(status="failed", failure_reason="insufficient cfDNA", variants=[])) == []


def test_failed_with_variants():
    data = payload(status="failed", failure_reason="insufficient cfDNA")

    assert codes(check(data)) == [("variants", "failed_with_variants")]


def test_reported_with_a_failure_reason():
    data = payload(failure_reason="insufficient cfDNA")

    assert codes(check(data)) == [("failure_reason", "failure_reason_not_allowed")]


def test_reported_with_an_empty_failure_reason_is_valid():
    assert check(payload(failure_reason="")) == []


@pytest.mark.parametrize("status", ["pending", None, "REPORTED"])
def test_invalid_status(status):
    assert codes(check(payload(status=status))) == [("status", "invalid_status")]


@pytest.mark.parametrize("variants", ["p.D538G", {"gene": "ESR1"}, 3, None])
def test_variants_must_be_a_list(variants):
    assert codes(check(payload(variants=variants))) == [("variants", "invalid_variants")]


def test_failed_result_may_omit_variants():
    data = payload(status="failed", failure_reason="insufficient cfDNA")
    del data["variants"]

    assert check(data) == []


def test_variant_must_be_an_object():
    assert codes(check(payload(variants=["p.D538G"]))) == [("variants[0]", "invalid_variants")]


def test_every_problem_is_reported_not_just_the_first():
    data = payload(
        status="failed",
        failure_reason=None,
        collected_on="2027-03-25",
        analysed_on="2027-03-01",
        variants=[
            variant(gene="PIK3CA", vaf=1.5, copies_per_ml=-1),
            variant(protein_change="p.Asp538Gly"),
        ],
    )

    assert codes(check(data)) == [
        ("collected_on", "date_in_future"),
        ("analysed_on", "analysed_before_collected"),
        ("failure_reason", "failure_reason_required"),
        ("variants", "failed_with_variants"),
        ("variants[0].gene", "gene_not_supported"),
        ("variants[0].vaf", "vaf_out_of_range"),
        ("variants[0].copies_per_ml", "negative_copies"),
        ("variants[1].protein_change", "duplicate_variant"),
    ]


def test_problem_codes_are_the_documented_contract():
    assert {c.value for c in ProblemCode} == {
        "invalid_status",
        "invalid_date",
        "date_in_future",
        "analysed_before_collected",
        "collected_before_enrolment",
        "failure_reason_required",
        "failure_reason_not_allowed",
        "failed_with_variants",
        "invalid_variants",
        "gene_not_supported",
        "invalid_hgvs",
        "duplicate_variant",
        "vaf_out_of_range",
        "negative_copies",
        "missing_measurement",
    }


def test_enrolment_problems_refuse_a_draw_before_enrolment_not_on_the_day():
    enrolled = date(2027, 1, 4)
    assert enrolment_problems(date(2027, 1, 4), enrolled_on=enrolled) == []
    (problem,) = enrolment_problems(date(2027, 1, 3), enrolled_on=enrolled)
    assert (problem.field, problem.code) == ("collected_on", "collected_before_enrolment")
    # The same problem as the full validation reports.
    payload = {"collected_on": "2027-01-03", "analysed_on": "2027-01-05", "status": "failed"}
    full = validate_result_payload(payload, today=date(2027, 6, 1), enrolled_on=enrolled)
    assert problem in full
