"""RECIST 1.1 overall response at one time point.

Source: Eisenhauer EA et al., "New response evaluation criteria in solid tumours: revised
RECIST guideline (version 1.1)", Eur J Cancer 2009;45:228-247, section 4.3 (target and
non-target response) and Tables 1-2 (time-point response) [M]; PD wording as quoted in
registry text [C:R1]. DOMAIN.md section 7 rules 23-24 rely on it.

Target lesions (section 4.3.1):

- PD: the sum of diameters is >= 120 % of the nadir (smallest sum on study, baseline included)
  AND has increased by >= 5 mm in absolute terms.
- CR: every non-nodal target lesion has disappeared (0 mm) and every nodal target lesion has a
  short axis < 10 mm. The sum can be > 0 at CR, since nodes are measured by short axis and a
  node < 10 mm is normal.
- PR: the sum is >= 30 % below the baseline sum.
- SD: neither PR nor PD.
- NE: some target lesion was not assessed, unless the assessed ones already show PD (missing
  lesions can only add to the sum).

Overall response (Table 1; Table 2 when there are no target lesions): a new lesion or
unequivocal non-target progression is PD whatever the targets; target CR needs non-target CR
(or no non-target lesions) for an overall CR, otherwise PR. Non-target disease only: CR,
NON_CR_NON_PD, PD or NE.

Arithmetic is exact: diameters are ``Decimal`` (floats go through ``repr``) and the 20 % / 30 %
comparisons are done as ``sum * 10 >= nadir * 12`` and ``sum * 10 <= baseline * 7``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

__all__ = [
    "LYMPH_NODE_NORMAL_SHORT_AXIS_MM",
    "PD_MIN_ABSOLUTE_INCREASE_MM",
    "NonTargetStatus",
    "RecistAssessment",
    "RecistInputError",
    "RecistReason",
    "Response",
    "TargetLesion",
    "assess_overall_response",
    "to_mm",
]

# RECIST 1.1 section 4.3.1 [M].
PD_MIN_ABSOLUTE_INCREASE_MM = Decimal(5)
PD_RELATIVE_INCREASE_TENTHS = 12  # sum >= 1.2 x nadir
PR_RELATIVE_SUM_TENTHS = 7  # sum <= 0.7 x baseline
# Section 3.1 / 4.3.1: a lymph node with a short axis < 10 mm is normal [M].
LYMPH_NODE_NORMAL_SHORT_AXIS_MM = Decimal(10)


class RecistInputError(ValueError):
    """Invalid RECIST input. ``code`` is stable: ``recist_invalid_measurement``,
    ``recist_invalid_reference_sum``, ``recist_no_lesions``."""

    def __init__(self, message: str, *, code: str, details=None):
        super().__init__(message)
        self.code = code
        self.details = dict(details or {})


class NonTargetStatus(StrEnum):
    CR = "cr"
    NON_CR_NON_PD = "non_cr_non_pd"
    PD = "pd"
    NE = "ne"
    ABSENT = "absent"


class RecistReason(StrEnum):
    TARGET_SUM_INCREASE = "target_sum_increase"
    TARGET_NOT_ALL_ASSESSED = "target_not_all_assessed"
    TARGET_ALL_DISAPPEARED = "target_all_disappeared"
    TARGET_SUM_DECREASE = "target_sum_decrease"
    TARGET_STABLE = "target_stable"
    TARGET_CR_NON_TARGET_NOT_CR = "target_cr_non_target_not_cr"
    NEW_LESION = "new_lesion"
    NON_TARGET_PROGRESSION = "non_target_progression"
    NON_TARGET_ONLY_CR = "non_target_only_cr"
    NON_TARGET_ONLY_NON_CR_NON_PD = "non_target_only_non_cr_non_pd"
    NON_TARGET_ONLY_NE = "non_target_only_ne"


class Response(StrEnum):
    CR = "cr"
    PR = "pr"
    SD = "sd"
    PD = "pd"
    NE = "ne"
    # Only with non-target disease and no target lesions (Table 2).
    NON_CR_NON_PD = "non_cr_non_pd"


def to_mm(value: Decimal | int | float, *, field: str = "diameter_mm") -> Decimal:
    """``value`` as a finite Decimal >= 0 (floats through ``repr``)."""
    result: Decimal | None = None
    if isinstance(value, float) and math.isfinite(value):
        result = Decimal(repr(value))
    elif isinstance(value, Decimal | int) and not isinstance(value, bool):
        result = Decimal(value) if Decimal(value).is_finite() else None
    if result is None or result < 0:
        raise RecistInputError(
            f"{field} must be a finite number of millimetres >= 0",
            code="recist_invalid_measurement",
            details={"field": field, "value": str(value)},
        )
    return result


@dataclass(frozen=True)
class TargetLesion:
    """One target lesion at this assessment.

    ``diameter_mm`` is the longest diameter, or the short axis for a lymph node; None when the
    lesion was not assessed. A lesion that disappeared is 0. An int or float diameter is
    converted to an exact Decimal (floats through ``repr``).
    """

    diameter_mm: Decimal | None
    is_lymph_node: bool = False

    def __post_init__(self) -> None:
        if self.diameter_mm is not None:
            object.__setattr__(self, "diameter_mm", to_mm(self.diameter_mm))

    @property
    def normalised(self) -> bool:
        """Disappeared (non-nodal) or back to normal size (nodal, short axis < 10 mm)."""
        if self.diameter_mm is None:
            return False
        if self.is_lymph_node:
            return self.diameter_mm < LYMPH_NODE_NORMAL_SHORT_AXIS_MM
        return self.diameter_mm == 0


@dataclass(frozen=True)
class RecistAssessment:
    """Time-point response. ``sum_mm`` is the sum over the assessed target lesions (None
    without target lesions); ``target_response`` is None without target lesions; the changes
    are percentages relative to the baseline and nadir sums (None when undefined)."""

    sum_mm: Decimal | None
    target_response: Response | None
    overall_response: Response
    reason_code: RecistReason
    reason: str
    change_from_baseline_pct: Decimal | None
    change_from_nadir_pct: Decimal | None


@dataclass(frozen=True)
class _TargetResult:
    response: Response
    reason_code: RecistReason
    reason: str


def _target_response(
    lesions: Sequence[TargetLesion],
    sum_mm: Decimal,
    baseline_sum_mm: Decimal,
    nadir_sum_mm: Decimal,
) -> _TargetResult:
    increase_mm = sum_mm - nadir_sum_mm
    if sum_mm * 10 >= nadir_sum_mm * PD_RELATIVE_INCREASE_TENTHS and (
        increase_mm >= PD_MIN_ABSOLUTE_INCREASE_MM
    ):
        return _TargetResult(
            Response.PD,
            RecistReason.TARGET_SUM_INCREASE,
            f"sum {sum_mm} mm is >= 120 % of the nadir {nadir_sum_mm} mm and "
            f"{increase_mm} mm (>= 5 mm) above it",
        )
    if any(lesion.diameter_mm is None for lesion in lesions):
        return _TargetResult(
            Response.NE,
            RecistReason.TARGET_NOT_ALL_ASSESSED,
            "not all target lesions were assessed",
        )
    if all(lesion.normalised for lesion in lesions):
        return _TargetResult(
            Response.CR,
            RecistReason.TARGET_ALL_DISAPPEARED,
            "all target lesions disappeared (lymph nodes < 10 mm short axis)",
        )
    if sum_mm * 10 <= baseline_sum_mm * PR_RELATIVE_SUM_TENTHS:
        return _TargetResult(
            Response.PR,
            RecistReason.TARGET_SUM_DECREASE,
            f"sum {sum_mm} mm is >= 30 % below the baseline {baseline_sum_mm} mm",
        )
    return _TargetResult(
        Response.SD,
        RecistReason.TARGET_STABLE,
        "neither a 30 % decrease nor a progression of the sum",
    )


# Table 1: overall response from the target response (not PD) and the non-target status
# (not PD), without new lesions.
_TABLE_1: dict[tuple[Response, NonTargetStatus], Response] = {
    (Response.CR, NonTargetStatus.CR): Response.CR,
    (Response.CR, NonTargetStatus.ABSENT): Response.CR,
    (Response.CR, NonTargetStatus.NON_CR_NON_PD): Response.PR,
    (Response.CR, NonTargetStatus.NE): Response.PR,
    **{(Response.PR, status): Response.PR for status in NonTargetStatus},
    **{(Response.SD, status): Response.SD for status in NonTargetStatus},
    **{(Response.NE, status): Response.NE for status in NonTargetStatus},
}

# Table 2: non-target disease only (not PD), without new lesions.
_TABLE_2: dict[NonTargetStatus, Response] = {
    NonTargetStatus.CR: Response.CR,
    NonTargetStatus.NON_CR_NON_PD: Response.NON_CR_NON_PD,
    NonTargetStatus.NE: Response.NE,
}
_TABLE_2_REASONS: dict[NonTargetStatus, RecistReason] = {
    NonTargetStatus.CR: RecistReason.NON_TARGET_ONLY_CR,
    NonTargetStatus.NON_CR_NON_PD: RecistReason.NON_TARGET_ONLY_NON_CR_NON_PD,
    NonTargetStatus.NE: RecistReason.NON_TARGET_ONLY_NE,
}


def _reference_sums(
    baseline_sum_mm: Decimal | int | float, nadir_sum_mm: Decimal | int | float, has_targets: bool
) -> tuple[Decimal, Decimal]:
    baseline = to_mm(baseline_sum_mm, field="baseline_sum_mm")
    nadir = to_mm(nadir_sum_mm, field="nadir_sum_mm")
    if nadir > baseline or (has_targets and baseline == 0):
        raise RecistInputError(
            "the nadir includes the baseline (nadir <= baseline) and a baseline with target "
            "lesions has a positive sum",
            code="recist_invalid_reference_sum",
            details={"baseline_sum_mm": str(baseline), "nadir_sum_mm": str(nadir)},
        )
    return baseline, nadir


def _pct_change(value: Decimal, reference: Decimal) -> Decimal | None:
    return None if reference == 0 else (value - reference) * 100 / reference


def assess_overall_response(
    *,
    target_lesions: Sequence[TargetLesion],
    baseline_sum_mm: Decimal | int | float,
    nadir_sum_mm: Decimal | int | float,
    new_lesions: bool,
    non_target: NonTargetStatus,
) -> RecistAssessment:
    """RECIST 1.1 response at one assessment.

    ``target_lesions`` are all baseline target lesions (``diameter_mm`` None if not assessed
    this time); ``nadir_sum_mm`` is the smallest sum recorded before this assessment, baseline
    included; ``non_target`` is ``ABSENT`` if there were no non-target lesions at baseline.
    With no target lesions, ``baseline_sum_mm`` and ``nadir_sum_mm`` are 0. Raises
    ``RecistInputError`` for negative or non-finite measurements and inconsistent sums.
    """
    lesions = tuple(target_lesions)
    non_target = NonTargetStatus(non_target)
    baseline, nadir = _reference_sums(baseline_sum_mm, nadir_sum_mm, bool(lesions))
    if not lesions:
        return _non_target_only(non_target, new_lesions)
    sum_mm = sum(
        (lesion.diameter_mm for lesion in lesions if lesion.diameter_mm is not None), Decimal(0)
    )
    target = _target_response(lesions, sum_mm, baseline, nadir)
    overall, code, reason = _combine(target, non_target, new_lesions)
    return RecistAssessment(
        sum_mm=sum_mm,
        target_response=target.response,
        overall_response=overall,
        reason_code=code,
        reason=reason,
        change_from_baseline_pct=_pct_change(sum_mm, baseline),
        change_from_nadir_pct=_pct_change(sum_mm, nadir),
    )


def _progression_outside_targets(
    non_target: NonTargetStatus, new_lesions: bool
) -> tuple[RecistReason, str] | None:
    if new_lesions:
        return RecistReason.NEW_LESION, "new lesion"
    if non_target == NonTargetStatus.PD:
        return RecistReason.NON_TARGET_PROGRESSION, "unequivocal progression of non-target lesions"
    return None


def _combine(
    target: _TargetResult, non_target: NonTargetStatus, new_lesions: bool
) -> tuple[Response, RecistReason, str]:
    if target.response == Response.PD:
        return Response.PD, target.reason_code, target.reason
    progression = _progression_outside_targets(non_target, new_lesions)
    if progression is not None:
        return Response.PD, *progression
    overall = _TABLE_1[(target.response, non_target)]
    if overall == target.response:
        return overall, target.reason_code, target.reason
    return (
        overall,
        RecistReason.TARGET_CR_NON_TARGET_NOT_CR,
        f"{target.reason}; non-target lesions {non_target.value}: overall PR",
    )


def _non_target_only(non_target: NonTargetStatus, new_lesions: bool) -> RecistAssessment:
    progression = _progression_outside_targets(non_target, new_lesions)
    if progression is not None:
        overall, (code, reason) = Response.PD, progression
    elif non_target == NonTargetStatus.ABSENT:
        raise RecistInputError(
            "no target and no non-target lesions: nothing to assess",
            code="recist_no_lesions",
        )
    else:
        overall = _TABLE_2[non_target]
        code = _TABLE_2_REASONS[non_target]
        reason = f"non-target disease only, non-target lesions {non_target.value}"
    return RecistAssessment(
        sum_mm=None,
        target_response=None,
        overall_response=overall,
        reason_code=code,
        reason=reason,
        change_from_baseline_pct=None,
        change_from_nadir_pct=None,
    )
