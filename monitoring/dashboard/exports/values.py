"""Value formatting and arm masking shared by the CSV and ODM exports."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any

#: Patient steps that reveal the randomized arm (Step 3 is the Arm A crossover).
ARM_STEPS = frozenset({"step2_arm_a", "step2_arm_b", "step3", "step2"})
RANDOMIZED = "randomized"
MASKED = "masked"
#: Leading characters a spreadsheet would run as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def subject_key(trial_number: str | None, patient_id: int) -> str:
    """The pseudonymous subject identifier: the trial number, ``NE-<id>`` if never enrolled."""
    return trial_number or f"NE-{patient_id}"


def mask_step(value: Any) -> Any:
    return RANDOMIZED if value in ARM_STEPS else value


_ARM_IN_TEXT = re.compile(
    r"randomized_arm_[a-z]+|step2_arm_[a-z]+|\bstep3\b|\barm [A-Z]\b|Step 3|crossover",
    re.IGNORECASE,
)


def mask_reason(value: Any) -> Any:
    """A free-text reason with the arm taken out ("randomized to arm B" -> "randomized to
    [masked]"): audit reasons of the allocation and of the crossover name the arm."""
    if not isinstance(value, str):
        return value
    return _ARM_IN_TEXT.sub("[masked]", value)


def mask_end_reason(value: Any) -> Any:
    """A line's end reason: ``randomized_arm_b`` says which arm the patient went to."""
    if isinstance(value, str) and value.startswith("randomized_arm_"):
        return RANDOMIZED
    return value


def masked_unless_step1(value: Any, line_step: Any) -> Any:
    """A treatment detail of a line after randomization (its regimen shows the arm)."""
    return value if line_step in (None, "", "step1") else MASKED


def plain(value: Any) -> str:
    """A value as text: ISO dates and datetimes, fixed-point decimals (never exponents),
    ``true``/``false``, compact JSON; None is the empty string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return (
            format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
        )
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def csv_cell(value: Any) -> str:
    """``plain`` text, with free text that a spreadsheet would run as a formula prefixed by a
    quote (numbers are never prefixed: their text does not come from a user)."""
    text = plain(value)
    if isinstance(value, str) and text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text
