"""Measured quantities: canonical units, unit conversion and plausibility limits.

Conversions [C:DOMAIN.md section 7 rule 14; section 4 note]: G/L = 10^9/L; 1 G/L = 1000/mm3
(= /uL); haemoglobin 1 g/dL = 10 g/L; 1 g/dL = 0.6206 mmol/L (so g/L = mmol/L x 16.113).
Plausibility limits are not clinical thresholds: they reject values no human can have (a
negative count, haemoglobin of 2000 g/L, ER of 140 %) so they are never evaluated.
Values are Decimal so that boundaries (1.0 vs 0.999) compare exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation


class UnitError(ValueError):
    """A value that cannot be converted; ``code`` is a stable error code."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class Quantity:
    code: str
    canonical_unit: str
    factors: dict[str, Decimal]  # unit -> multiply to get the canonical unit
    minimum: Decimal  # inclusive
    maximum: Decimal  # inclusive
    integer: bool = False


_COUNT_UNITS = {
    "G/L": Decimal(1),
    "10^9/L": Decimal(1),
    "10*9/L": Decimal(1),
    "/mm3": Decimal("0.001"),
    "/uL": Decimal("0.001"),
    "/µL": Decimal("0.001"),
    "cells/uL": Decimal("0.001"),
}

QUANTITIES: dict[str, Quantity] = {
    q.code: q
    for q in (
        Quantity(
            "haemoglobin",
            "g/L",
            {"g/L": Decimal(1), "g/dL": Decimal(10), "mmol/L": Decimal("1") / Decimal("0.06206")},
            Decimal(20),
            Decimal(250),
        ),
        Quantity("anc", "G/L", _COUNT_UNITS, Decimal(0), Decimal(100)),
        Quantity("wbc", "G/L", _COUNT_UNITS, Decimal(0), Decimal(500)),
        Quantity("platelets", "G/L", _COUNT_UNITS, Decimal(0), Decimal(3000)),
        Quantity("lymphocytes", "G/L", _COUNT_UNITS, Decimal(0), Decimal(500)),
        Quantity("er_positive_cells", "%", {"%": Decimal(1)}, Decimal(0), Decimal(100)),
        Quantity("age", "years", {"years": Decimal(1)}, Decimal(0), Decimal(120), integer=True),
        Quantity("ecog", "score", {"score": Decimal(1)}, Decimal(0), Decimal(5), integer=True),
        Quantity("life_expectancy", "months", {"months": Decimal(1)}, Decimal(0), Decimal(600)),
        Quantity("temperature", "C", {"C": Decimal(1)}, Decimal(30), Decimal(45)),
    )
}


def to_decimal(value: object) -> Decimal:
    if isinstance(value, bool):
        raise UnitError("invalid_number", f"{value!r} is not a number")
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise UnitError("invalid_number", f"{value!r} is not a number") from exc
    if not number.is_finite():
        raise UnitError("invalid_number", f"{value!r} is not a finite number")
    return number


def convert(quantity_code: str, value: object, unit: str) -> Decimal:
    """Return ``value`` in the canonical unit of ``quantity_code``.

    Raises UnitError with code ``unknown_quantity``, ``unknown_unit``, ``invalid_number`` or
    ``implausible_value`` (outside the quantity's physical limits, checked after conversion).
    """
    quantity = QUANTITIES.get(quantity_code)
    if quantity is None:
        raise UnitError("unknown_quantity", f"unknown quantity {quantity_code!r}")
    factor = quantity.factors.get(unit)
    if factor is None:
        allowed = ", ".join(sorted(quantity.factors))
        raise UnitError("unknown_unit", f"unit {unit!r} is not one of: {allowed}")
    number = to_decimal(value)
    canonical = number * factor
    if quantity.integer and canonical != canonical.to_integral_value():
        raise UnitError("implausible_value", f"{quantity_code} must be a whole number")
    if not (quantity.minimum <= canonical <= quantity.maximum):
        raise UnitError(
            "implausible_value",
            f"{quantity_code} {number} {unit} is outside the plausible range "
            f"{quantity.minimum}-{quantity.maximum} {quantity.canonical_unit}",
        )
    return canonical
