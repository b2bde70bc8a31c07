"""Unit conversion and plausibility (DOMAIN.md section 7 rule 14)."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trial.rules.units import UnitError, convert


@pytest.mark.parametrize(
    ("quantity", "value", "unit", "expected"),
    [
        ("haemoglobin", "12.1", "g/dL", Decimal("121.0")),
        ("haemoglobin", "90", "g/L", Decimal("90")),
        ("wbc", "1500", "/mm3", Decimal("1.500")),
        ("platelets", "100", "10^9/L", Decimal("100")),
        ("anc", "999", "/uL", Decimal("0.999")),
        ("er_positive_cells", "9.9", "%", Decimal("9.9")),
    ],
)
def test_converts_to_canonical_units(quantity, value, unit, expected):
    assert convert(quantity, value, unit) == expected


def test_mmol_per_litre_haemoglobin():
    assert convert("haemoglobin", "5.586", "mmol/L").quantize(Decimal("0.1")) == Decimal("90.0")


@pytest.mark.parametrize(
    ("quantity", "value", "unit"),
    [
        ("platelets", -1, "G/L"),
        ("haemoglobin", 2000, "g/L"),
        ("haemoglobin", 200, "g/dL"),
        ("er_positive_cells", 140, "%"),
        ("age", 17.5, "years"),
        ("ecog", 6, "score"),
    ],
)
def test_impossible_values_are_refused(quantity, value, unit):
    with pytest.raises(UnitError) as info:
        convert(quantity, value, unit)
    assert info.value.code == "implausible_value"


@pytest.mark.parametrize("value", ["abc", "NaN", "Infinity", True])
def test_non_numbers_are_refused(value):
    with pytest.raises(UnitError) as info:
        convert("wbc", value, "G/L")
    assert info.value.code == "invalid_number"


def test_unknown_unit_is_refused():
    with pytest.raises(UnitError) as info:
        convert("haemoglobin", 12, "mg/dL")
    assert info.value.code == "unknown_unit"


@given(st.integers(min_value=0, max_value=500_000))
def test_per_mm3_and_g_per_l_agree(count_per_mm3):
    assert convert("wbc", count_per_mm3, "/mm3") == convert(
        "wbc", Decimal(count_per_mm3) / 1000, "G/L"
    )
