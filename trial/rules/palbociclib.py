"""Palbociclib (IBRANCE) dose modification rules from the prescribing information.

Source: IBRANCE prescribing information section 2.2, Tables 1-3, the ILD/pneumonitis rule and
"Dose Modifications for Use with Strong CYP3A Inhibitors" [C:L1][C:L2]. L2 is the Malaysian
label of 4 Aug 2020, stated to be aligned to the US PI of 13 Sep 2019; the current US label has
dosage and administration changes dated 4/2025 [C:L4] that have not been re-read: re-verify the
tables against the current label before release. DOMAIN.md section 3 and section 7 rules 2, 3,
5-11.

- Table 1 (dose levels): 125 -> 100 -> 75 mg/day; a reduction below 75 mg/day means
  discontinuation. Reductions move exactly one level and are never re-escalated automatically;
  the only exception is the strong-CYP3A-inhibitor reduction to 75 mg/day, reversed 3-5
  inhibitor half-lives after the inhibitor is stopped.
- Table 2 (haematological, CTCAE graded; lymphopenia only when associated with a clinical
  event): grade 1-2 no change; grade 3 on D1 withhold and repeat the CBC within 1 week, then the
  next cycle at the same dose once grade <= 2; grade 3 on D15 of cycles 1-2 continue and repeat
  the CBC on D22 (grade 4 on D22 -> grade 4 rule); consider a reduction for prolonged (> 1 week)
  recovery from grade 3 neutropenia or recurrent grade 3 neutropenia on D1; grade 3 neutropenia
  with fever >= 38.5 C and/or infection, or any grade 4: withhold until grade <= 2 and resume one
  level lower.
- Table 3 (non-haematological): grade 1-2 no change; grade >= 3 persisting despite optimal
  medical treatment: withhold until grade <= 1 (<= 2 if not a safety risk), resume one level
  lower. Severe ILD/pneumonitis: discontinue permanently.

The label's fever threshold (38.5 C) is not the CTCAE febrile-neutropenia definition; it is a
parameter with the label value as default. ``propose_dose_decision`` proposes; the investigator
decides and records the decision.

Adverse events (``adverse_event_kind``): an event whose CTCAE term is one a blood count grades
(neutrophil, white cell, platelet or lymphocyte count decreased, anaemia, febrile neutropenia,
and their usual synonyms) is haematological: Table 2 applies to it from the blood count, which
carries the grade, the day of the cycle, fever and infection, so the event itself proposes
nothing [I]. Pneumonitis and interstitial lung disease of grade >= 3 ("severe" in CTCAE terms
[I]) are the ILD rule. Every other term is non-haematological (Table 3), including the other
terms of the CTCAE "Blood and lymphatic system disorders" class (e.g. haemolysis), which no
blood count grades: proposing for them errs towards a review [I].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from trial.rules.ctcae import DOSE_RULE_TERMS, CtcaeTerm

__all__ = [
    "BLOOD_COUNT_AE_TERMS",
    "DOSE_LEVELS_MG",
    "FEVER_THRESHOLD_C",
    "ILD_PNEUMONITIS_AE_TERMS",
    "SEVERE_ILD_MIN_GRADE",
    "STRONG_CYP3A_INHIBITOR_DOSE_MG",
    "AdverseEventKind",
    "CbcFrequency",
    "Cyp3aInhibitorDose",
    "DoseAction",
    "DoseChangeKind",
    "DoseDecision",
    "DoseReason",
    "DoseRuleInputError",
    "Grade3OtherDayPolicy",
    "adverse_event_kind",
    "cbc_frequency_after_cycle_6",
    "check_dose_change",
    "dose_after_strong_cyp3a_inhibitor_stopped",
    "dose_with_strong_cyp3a_inhibitor",
    "next_lower_dose_mg",
    "propose_dose_decision",
]

# Table 1 [C:L2]: starting dose, first and second reduction (mg/day).
DOSE_LEVELS_MG: tuple[int, ...] = (125, 100, 75)
# Table 2 [C:L2]: "Grade 3 neutropenia with fever >= 38.5 C and/or infection".
FEVER_THRESHOLD_C = Decimal("38.5")
# Section 2.2, strong CYP3A inhibitors [C:L2].
STRONG_CYP3A_INHIBITOR_DOSE_MG = 75
CYP3A_RESTORE_MIN_HALF_LIVES = 3
CYP3A_RESTORE_MAX_HALF_LIVES = 5
# Table 2 header [C:L2]: maximum grade 1-2 neutropenia in the first 6 cycles -> CBC every 3
# months. Grade 0 also qualifies (DOMAIN.md section 7 rule 5: "<= 2").
CBC_REDUCED_FREQUENCY_MAX_NEUTROPENIA_GRADE = 2

SOURCE_TABLE_1 = "[C:L2] IBRANCE PI section 2.2 Table 1 (dose levels)"
SOURCE_TABLE_2 = "[C:L2] IBRANCE PI section 2.2 Table 2 (haematologic toxicities)"
SOURCE_TABLE_3 = "[C:L2] IBRANCE PI section 2.2 Table 3 (non-haematologic toxicities)"
SOURCE_ILD = "[C:L2] IBRANCE PI section 2.2 and 5.2 (ILD/pneumonitis)"
SOURCE_CYP3A = "[C:L2] IBRANCE PI section 2.2 (strong CYP3A inhibitors)"
SOURCE_GRADE_3_OTHER_DAY = (
    "[I] Table 2 gives no action for grade 3 outside D1 and D15 of cycles 1-2; "
    "protocol policy applied ([C:L2] IBRANCE PI section 2.2 Table 2)"
)

MAX_GRADE = 4

# Adverse event terms (casefolded, single spaces) of the toxicities a blood count grades: CTCAE
# v4.03/v5.0 names of ``trial.rules.ctcae.CtcaeTerm``, febrile neutropenia (Table 2's
# "neutropenia with fever"), the v6.0 name "thrombocytopenia" (DOMAIN.md section 4) and the
# usual synonyms and British spellings [I].
BLOOD_COUNT_AE_TERMS: frozenset[str] = frozenset(
    {
        "neutrophil count decreased",
        "neutropenia",
        "febrile neutropenia",
        "white blood cell decreased",
        "white blood cell count decreased",
        "leukopenia",
        "leucopenia",
        "platelet count decreased",
        "thrombocytopenia",
        "anemia",
        "anaemia",
        "lymphocyte count decreased",
        "lymphopenia",
    }
)
# Section 5.2 [C:L2] "ILD/pneumonitis"; CTCAE reports ILD under "Pneumonitis" [M].
ILD_PNEUMONITIS_AE_TERMS: frozenset[str] = frozenset(
    {"pneumonitis", "interstitial lung disease", "ild", "ild/pneumonitis"}
)
# "Severe" ILD/pneumonitis: CTCAE grade 3 is "severe" [I].
SEVERE_ILD_MIN_GRADE = 3


class DoseRuleInputError(ValueError):
    """Inputs the dose rules cannot evaluate. ``code`` is stable (snake_case)."""

    def __init__(self, message: str, *, code: str, details=None):
        super().__init__(message)
        self.code = code
        self.details = dict(details or {})


class DoseAction(StrEnum):
    CONTINUE = "continue"
    WITHHOLD_REPEAT_CBC_7_DAYS = "withhold_repeat_cbc_7_days"
    CONTINUE_REPEAT_CBC_D22 = "continue_repeat_cbc_d22"
    WITHHOLD_UNTIL_RECOVERY_THEN_REDUCE = "withhold_until_recovery_then_reduce"
    WITHHOLD_UNTIL_RECOVERY_SAME_DOSE = "withhold_until_recovery_same_dose"
    DISCONTINUE = "discontinue"
    CONSIDER_REDUCTION = "consider_reduction"


# Higher wins when several rules apply to the same assessment.
_ACTION_SEVERITY: dict[DoseAction, int] = {
    DoseAction.CONTINUE: 0,
    DoseAction.CONTINUE_REPEAT_CBC_D22: 1,
    DoseAction.WITHHOLD_REPEAT_CBC_7_DAYS: 2,
    DoseAction.WITHHOLD_UNTIL_RECOVERY_SAME_DOSE: 2,
    DoseAction.CONSIDER_REDUCTION: 3,
    DoseAction.WITHHOLD_UNTIL_RECOVERY_THEN_REDUCE: 4,
    DoseAction.DISCONTINUE: 5,
}


class DoseReason(StrEnum):
    NO_TOXICITY = "no_toxicity"
    HAEM_GRADE_1_2 = "haem_grade_1_2"
    HAEM_GRADE_3_DAY_1 = "haem_grade_3_day_1"
    HAEM_GRADE_3_DAY_15 = "haem_grade_3_day_15"
    HAEM_GRADE_3_DAY_22_REPEAT = "haem_grade_3_day_22_repeat"
    HAEM_GRADE_3_OTHER_DAY = "haem_grade_3_other_day"
    NEUTROPENIA_GRADE_3_PROLONGED_RECOVERY = "neutropenia_grade_3_prolonged_recovery"
    NEUTROPENIA_GRADE_3_RECURRENT_DAY_1 = "neutropenia_grade_3_recurrent_day_1"
    NEUTROPENIA_GRADE_3_FEVER_OR_INFECTION = "neutropenia_grade_3_fever_or_infection"
    HAEM_GRADE_4 = "haem_grade_4"
    NON_HAEM_GRADE_1_2 = "non_haem_grade_1_2"
    NON_HAEM_GRADE_3_PERSISTING = "non_haem_grade_3_persisting"
    NON_HAEM_GRADE_3_NOT_PERSISTING = "non_haem_grade_3_not_persisting"
    SEVERE_ILD_PNEUMONITIS = "severe_ild_pneumonitis"


class Grade3OtherDayPolicy(StrEnum):
    """What to do with haematological grade 3 found outside D1 and D15 of cycles 1-2.

    The label is silent ([I]); WITHHOLD_SAME_DOSE applies the D1 row (withhold until grade
    <= 2, same dose) as the conservative reading. A protocol may choose CONTINUE.
    """

    WITHHOLD_SAME_DOSE = "withhold_same_dose"
    CONTINUE = "continue"


class AdverseEventKind(StrEnum):
    """Which palbociclib rule an adverse event's term falls under (module docstring)."""

    HAEMATOLOGICAL = "haematological"
    ILD_PNEUMONITIS = "ild_pneumonitis"
    NON_HAEMATOLOGICAL = "non_haematological"


def adverse_event_kind(term: str) -> AdverseEventKind:
    """The rule an adverse event term falls under. Case, underscores and repeated spaces are
    ignored ("Neutrophil_count_decreased" is "neutrophil count decreased")."""
    key = " ".join(term.replace("_", " ").casefold().split())
    if key in BLOOD_COUNT_AE_TERMS:
        return AdverseEventKind.HAEMATOLOGICAL
    if key in ILD_PNEUMONITIS_AE_TERMS:
        return AdverseEventKind.ILD_PNEUMONITIS
    return AdverseEventKind.NON_HAEMATOLOGICAL


class CbcFrequency(StrEnum):
    STANDARD = "standard"
    EVERY_3_MONTHS = "every_3_months"


@dataclass(frozen=True)
class DoseDecision:
    """A proposed palbociclib dose decision.

    ``next_dose_mg`` is the dose to continue or resume at; None means discontinue. For
    ``CONSIDER_REDUCTION`` it is the reduced dose the investigator may choose (None when the
    reduction would mean discontinuation); keeping ``current_dose_mg`` is the alternative.
    ``resume_max_grade`` is the grade the toxicity must be at or below before resuming (None
    when nothing is withheld, or on discontinuation). ``other_decisions`` are the other rules
    that applied to the same assessment, most severe first; each resume condition must hold.
    """

    action: DoseAction
    current_dose_mg: int
    next_dose_mg: int | None
    resume_max_grade: int | None
    reason_code: DoseReason
    reason: str
    source: str
    other_decisions: tuple[DoseDecision, ...] = field(default=())


@dataclass(frozen=True)
class _Assessment:
    current_dose_mg: int
    dose_levels_mg: tuple[int, ...]
    cycle_number: int
    cycle_day: int
    haem_grade: int
    haem_term: CtcaeTerm | None
    fever_c: Decimal | None
    fever_threshold_c: Decimal
    infection: bool
    repeat_cbc_d22_after_d15_grade3: bool
    prolonged_grade3_neutropenia_recovery: bool
    previous_day1_grade3_neutropenia: bool
    non_haem_grade: int
    non_haem_persisting_despite_treatment: bool
    non_haem_no_safety_risk: bool
    severe_ild_pneumonitis: bool
    grade3_other_day_policy: Grade3OtherDayPolicy

    @property
    def neutropenia_grade_3(self) -> bool:
        return self.haem_grade == 3 and self.haem_term == CtcaeTerm.NEUTROPHIL_COUNT_DECREASED

    @property
    def term_text(self) -> str:
        return "" if self.haem_term is None else self.haem_term.value.replace("_", " ")

    @property
    def fever(self) -> bool:
        return self.fever_c is not None and self.fever_c >= self.fever_threshold_c


# ---------------------------------------------------------------------------------------------
# Validation


def _validated_dose_levels(dose_levels_mg: Sequence[int]) -> tuple[int, ...]:
    levels = tuple(dose_levels_mg)
    valid = (
        len(levels) > 0
        and all(isinstance(level, int) and not isinstance(level, bool) for level in levels)
        and all(level > 0 for level in levels)
        and all(higher > lower for higher, lower in zip(levels, levels[1:], strict=False))
    )
    if not valid:
        raise DoseRuleInputError(
            "dose levels must be positive integers in strictly decreasing order",
            code="dose_levels_invalid",
            details={"dose_levels_mg": list(levels)},
        )
    return levels


def _check_dose_level(dose_mg: int, levels: tuple[int, ...], *, name: str) -> None:
    if isinstance(dose_mg, bool) or dose_mg not in levels:
        raise DoseRuleInputError(
            f"{name} is not a protocol dose level",
            code="dose_level_unknown",
            details={name: dose_mg, "dose_levels_mg": list(levels)},
        )


def _check_grade(grade: int, *, name: str) -> None:
    if isinstance(grade, bool) or not isinstance(grade, int) or not 0 <= grade <= MAX_GRADE:
        raise DoseRuleInputError(
            f"{name} must be an integer grade 0-4",
            code="grade_out_of_range",
            details={name: grade},
        )


def _check_positive(value: int, *, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DoseRuleInputError(
            f"{name} must be an integer >= 1", code="cycle_out_of_range", details={name: value}
        )


def _finite_decimal(value: object) -> Decimal | None:
    """``value`` as a finite Decimal (floats through ``repr``), or None if it is not one."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float):
        return None
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    result = Decimal(value)
    return result if result.is_finite() else None


def _temperature_c(value: Decimal | int | float, *, name: str) -> Decimal:
    result = _finite_decimal(value)
    if result is None:
        raise DoseRuleInputError(
            f"{name} must be a finite number (degrees C)",
            code="temperature_invalid",
            details={name: str(value)},
        )
    return result


def _effective_haem(
    haem_grade: int,
    haem_term: CtcaeTerm | None,
    lymphocyte_grade: int,
    lymphopenia_clinical_event: bool,
) -> tuple[int, CtcaeTerm | None]:
    """The haematological toxicity Table 2 acts on (lymphopenia only with a clinical event)."""
    _check_grade(haem_grade, name="haem_grade")
    _check_grade(lymphocyte_grade, name="lymphocyte_grade")
    # A StrEnum hashes and compares like its value, so plain strings are accepted too.
    if haem_grade > 0 and haem_term not in DOSE_RULE_TERMS:
        raise DoseRuleInputError(
            "haem_term must name the non-lymphocyte term with the worst grade",
            code="haem_term_invalid",
            details={"haem_term": haem_term},
        )
    if lymphopenia_clinical_event and lymphocyte_grade > haem_grade:
        return lymphocyte_grade, CtcaeTerm.LYMPHOCYTE_COUNT_DECREASED
    return haem_grade, (CtcaeTerm(haem_term) if haem_grade > 0 and haem_term else None)


# ---------------------------------------------------------------------------------------------
# Dose levels


def next_lower_dose_mg(
    current_dose_mg: int, dose_levels_mg: Sequence[int] = DOSE_LEVELS_MG
) -> int | None:
    """The dose one level below ``current_dose_mg``; None means discontinue (Table 1 footnote).

    Raises ``DoseRuleInputError`` (``dose_levels_invalid``, ``dose_level_unknown``).
    """
    levels = _validated_dose_levels(dose_levels_mg)
    _check_dose_level(current_dose_mg, levels, name="current_dose_mg")
    index = levels.index(current_dose_mg)
    return levels[index + 1] if index + 1 < len(levels) else None


class DoseChangeKind(StrEnum):
    REDUCTION = "reduction"
    STRONG_CYP3A_INHIBITOR_START = "strong_cyp3a_inhibitor_start"
    STRONG_CYP3A_INHIBITOR_STOP = "strong_cyp3a_inhibitor_stop"


def check_dose_change(
    *,
    from_dose_mg: int,
    to_dose_mg: int,
    kind: DoseChangeKind,
    dose_levels_mg: Sequence[int] = DOSE_LEVELS_MG,
    dose_before_inhibitor_mg: int | None = None,
) -> None:
    """Raise ``DoseRuleInputError`` unless the dose change is allowed by the label.

    - REDUCTION: exactly one level down (``dose_re_escalation`` if up or unchanged,
      ``dose_reduction_skips_level`` if more than one level).
    - STRONG_CYP3A_INHIBITOR_START: to 75 mg/day (``dose_cyp3a_inhibitor_requires_75_mg``).
    - STRONG_CYP3A_INHIBITOR_STOP: back up to at most ``dose_before_inhibitor_mg``
      (``dose_re_escalation`` above it, ``dose_cyp3a_restore_invalid`` if lower than now,
      ``dose_before_inhibitor_required`` if missing).
    Discontinuation is not a dose change; see ``next_lower_dose_mg``.
    """
    levels = _validated_dose_levels(dose_levels_mg)
    _check_dose_level(from_dose_mg, levels, name="from_dose_mg")
    _check_dose_level(to_dose_mg, levels, name="to_dose_mg")
    checks: dict[DoseChangeKind, Callable[[], None]] = {
        DoseChangeKind.REDUCTION: lambda: _check_reduction(from_dose_mg, to_dose_mg, levels),
        DoseChangeKind.STRONG_CYP3A_INHIBITOR_START: lambda: _check_cyp3a_start(to_dose_mg),
        DoseChangeKind.STRONG_CYP3A_INHIBITOR_STOP: lambda: _check_cyp3a_stop(
            from_dose_mg, to_dose_mg, dose_before_inhibitor_mg, levels
        ),
    }
    checks[DoseChangeKind(kind)]()


def _check_reduction(from_dose_mg: int, to_dose_mg: int, levels: tuple[int, ...]) -> None:
    details = {"from_dose_mg": from_dose_mg, "to_dose_mg": to_dose_mg}
    if to_dose_mg >= from_dose_mg:
        raise DoseRuleInputError(
            "a reduction must lower the dose; re-escalation is not allowed",
            code="dose_re_escalation",
            details=details,
        )
    if levels.index(to_dose_mg) - levels.index(from_dose_mg) != 1:
        raise DoseRuleInputError(
            "a reduction moves exactly one dose level",
            code="dose_reduction_skips_level",
            details=details,
        )


def _check_cyp3a_start(to_dose_mg: int) -> None:
    if to_dose_mg != STRONG_CYP3A_INHIBITOR_DOSE_MG:
        raise DoseRuleInputError(
            "with a strong CYP3A inhibitor the dose is 75 mg/day",
            code="dose_cyp3a_inhibitor_requires_75_mg",
            details={"to_dose_mg": to_dose_mg},
        )


def _check_cyp3a_stop(
    from_dose_mg: int,
    to_dose_mg: int,
    dose_before_inhibitor_mg: int | None,
    levels: tuple[int, ...],
) -> None:
    if dose_before_inhibitor_mg is None:
        raise DoseRuleInputError(
            "the dose before the inhibitor is needed to restore it",
            code="dose_before_inhibitor_required",
        )
    _check_dose_level(dose_before_inhibitor_mg, levels, name="dose_before_inhibitor_mg")
    details = {
        "from_dose_mg": from_dose_mg,
        "to_dose_mg": to_dose_mg,
        "dose_before_inhibitor_mg": dose_before_inhibitor_mg,
    }
    if to_dose_mg > dose_before_inhibitor_mg:
        raise DoseRuleInputError(
            "after a strong CYP3A inhibitor the dose returns at most to the dose used before it",
            code="dose_re_escalation",
            details=details,
        )
    if to_dose_mg < from_dose_mg:
        raise DoseRuleInputError(
            "stopping a strong CYP3A inhibitor never lowers the dose; use a reduction",
            code="dose_cyp3a_restore_invalid",
            details=details,
        )


# ---------------------------------------------------------------------------------------------
# Strong CYP3A inhibitors and CBC frequency


@dataclass(frozen=True)
class Cyp3aInhibitorDose:
    """Dose while a strong CYP3A inhibitor cannot be avoided, and the dose to restore later."""

    dose_mg: int
    dose_to_restore_mg: int
    restore_after_half_lives_min: int
    restore_after_half_lives_max: int
    source: str


def dose_with_strong_cyp3a_inhibitor(
    current_dose_mg: int, *, dose_levels_mg: Sequence[int] = DOSE_LEVELS_MG
) -> Cyp3aInhibitorDose:
    """75 mg/day while on a strong CYP3A inhibitor; the current dose is restored 3-5 inhibitor
    half-lives after it stops (the label's only re-escalation) [C:L2]."""
    levels = _validated_dose_levels(dose_levels_mg)
    _check_dose_level(current_dose_mg, levels, name="current_dose_mg")
    return Cyp3aInhibitorDose(
        dose_mg=min(current_dose_mg, STRONG_CYP3A_INHIBITOR_DOSE_MG),
        dose_to_restore_mg=current_dose_mg,
        restore_after_half_lives_min=CYP3A_RESTORE_MIN_HALF_LIVES,
        restore_after_half_lives_max=CYP3A_RESTORE_MAX_HALF_LIVES,
        source=SOURCE_CYP3A,
    )


def dose_after_strong_cyp3a_inhibitor_stopped(
    *,
    current_dose_mg: int,
    dose_before_inhibitor_mg: int,
    half_lives_since_stop: Decimal | int | float,
    restore_after_half_lives: Decimal | int = CYP3A_RESTORE_MIN_HALF_LIVES,
    dose_levels_mg: Sequence[int] = DOSE_LEVELS_MG,
) -> int:
    """The dose once a strong CYP3A inhibitor has been stopped.

    The label says "after 3 to 5 half-lives of the inhibitor"; the point inside that range is
    the prescriber's, so it is a parameter (default 3). Before it, the current dose is kept.
    ``current_dose_mg`` is returned if it is already at or above the pre-inhibitor dose.
    """
    levels = _validated_dose_levels(dose_levels_mg)
    _check_dose_level(current_dose_mg, levels, name="current_dose_mg")
    _check_dose_level(dose_before_inhibitor_mg, levels, name="dose_before_inhibitor_mg")
    if not CYP3A_RESTORE_MIN_HALF_LIVES <= restore_after_half_lives <= CYP3A_RESTORE_MAX_HALF_LIVES:
        raise DoseRuleInputError(
            "restore_after_half_lives must be within the label's 3-5 half-lives",
            code="cyp3a_half_lives_out_of_range",
            details={"restore_after_half_lives": str(restore_after_half_lives)},
        )
    elapsed = _half_lives(half_lives_since_stop)
    if elapsed >= Decimal(restore_after_half_lives):
        return max(current_dose_mg, dose_before_inhibitor_mg)
    return current_dose_mg


def _half_lives(value: Decimal | int | float) -> Decimal:
    result = _finite_decimal(value)
    if result is None or result < 0:
        raise DoseRuleInputError(
            "half_lives_since_stop must be a finite number >= 0",
            code="cyp3a_half_lives_out_of_range",
            details={"half_lives_since_stop": str(value)},
        )
    return result


def cbc_frequency_after_cycle_6(
    *,
    max_neutropenia_grade_cycles_1_to_6: int,
    max_grade_for_reduced_frequency: int = CBC_REDUCED_FREQUENCY_MAX_NEUTROPENIA_GRADE,
) -> CbcFrequency:
    """CBC frequency from cycle 7: every 3 months (before a cycle start) if the worst
    neutropenia grade over cycles 1-6 is at most the threshold, else the standard D1 CBC
    (Table 2 header [C:L2]; DOMAIN.md section 7 rule 5)."""
    _check_grade(max_neutropenia_grade_cycles_1_to_6, name="max_neutropenia_grade_cycles_1_to_6")
    _check_grade(max_grade_for_reduced_frequency, name="max_grade_for_reduced_frequency")
    if max_neutropenia_grade_cycles_1_to_6 <= max_grade_for_reduced_frequency:
        return CbcFrequency.EVERY_3_MONTHS
    return CbcFrequency.STANDARD


# ---------------------------------------------------------------------------------------------
# Table 2 and Table 3 rules. Each returns a decision when it applies, else None.


def _decision(
    a: _Assessment,
    action: DoseAction,
    reason_code: DoseReason,
    reason: str,
    source: str,
    *,
    resume_max_grade: int | None = None,
) -> DoseDecision:
    next_dose = None if action == DoseAction.DISCONTINUE else a.current_dose_mg
    return DoseDecision(
        action, a.current_dose_mg, next_dose, resume_max_grade, reason_code, reason, source
    )


def _reduce(
    a: _Assessment,
    reason_code: DoseReason,
    reason: str,
    source: str,
    *,
    resume_max_grade: int,
    action: DoseAction = DoseAction.WITHHOLD_UNTIL_RECOVERY_THEN_REDUCE,
) -> DoseDecision:
    """One level down; below the lowest level a firm reduction becomes discontinuation."""
    lower = next_lower_dose_mg(a.current_dose_mg, a.dose_levels_mg)
    if lower is None and action == DoseAction.WITHHOLD_UNTIL_RECOVERY_THEN_REDUCE:
        return DoseDecision(
            DoseAction.DISCONTINUE,
            a.current_dose_mg,
            None,
            None,
            reason_code,
            f"{reason}; no level below {a.current_dose_mg} mg/day: discontinue",
            f"{source}; {SOURCE_TABLE_1}",
        )
    if lower is None:
        reason = f"{reason}; a reduction below {a.current_dose_mg} mg/day means discontinuation"
    return DoseDecision(
        action, a.current_dose_mg, lower, resume_max_grade, reason_code, reason, source
    )


def _rule_severe_ild(a: _Assessment) -> DoseDecision | None:
    if not a.severe_ild_pneumonitis:
        return None
    return _decision(
        a,
        DoseAction.DISCONTINUE,
        DoseReason.SEVERE_ILD_PNEUMONITIS,
        "severe ILD/pneumonitis: discontinue palbociclib permanently",
        SOURCE_ILD,
    )


def _rule_haem_grade_4(a: _Assessment) -> DoseDecision | None:
    if a.haem_grade != MAX_GRADE:
        return None
    when = " on the D22 repeat CBC" if a.repeat_cbc_d22_after_d15_grade3 else ""
    return _reduce(
        a,
        DoseReason.HAEM_GRADE_4,
        f"grade 4 {a.term_text}{when}: withhold until grade <= 2, resume at the next lower dose",
        SOURCE_TABLE_2,
        resume_max_grade=2,
    )


def _rule_neutropenia_fever_or_infection(a: _Assessment) -> DoseDecision | None:
    if not (a.neutropenia_grade_3 and (a.fever or a.infection)):
        return None
    findings = [f"fever {a.fever_c} C" if a.fever else "", "infection" if a.infection else ""]
    return _reduce(
        a,
        DoseReason.NEUTROPENIA_GRADE_3_FEVER_OR_INFECTION,
        f"grade 3 neutropenia with {' and '.join(f for f in findings if f)}: "
        "withhold until grade <= 2, resume at the next lower dose",
        SOURCE_TABLE_2,
        resume_max_grade=2,
    )


def _rule_haem_grade_3(a: _Assessment) -> DoseDecision | None:
    if a.haem_grade != 3:
        return None
    if a.repeat_cbc_d22_after_d15_grade3:
        return _decision(
            a,
            DoseAction.CONTINUE,
            DoseReason.HAEM_GRADE_3_DAY_22_REPEAT,
            f"grade 3 {a.term_text} on the D22 repeat CBC (not grade 4): no dose change; "
            "the next cycle's D1 CBC applies",
            SOURCE_TABLE_2,
        )
    if a.cycle_day == 1:
        return _decision(
            a,
            DoseAction.WITHHOLD_REPEAT_CBC_7_DAYS,
            DoseReason.HAEM_GRADE_3_DAY_1,
            f"grade 3 {a.term_text} on D1: withhold, repeat the CBC within 1 week; "
            "start the cycle at the same dose once grade <= 2",
            SOURCE_TABLE_2,
            resume_max_grade=2,
        )
    if a.cycle_day == 15 and a.cycle_number in (1, 2):
        return _decision(
            a,
            DoseAction.CONTINUE_REPEAT_CBC_D22,
            DoseReason.HAEM_GRADE_3_DAY_15,
            f"grade 3 {a.term_text} on D15 of cycle {a.cycle_number}: continue the current dose to "
            "complete the cycle, repeat the CBC on D22",
            SOURCE_TABLE_2,
        )
    return _rule_haem_grade_3_other_day(a)


def _rule_haem_grade_3_other_day(a: _Assessment) -> DoseDecision:
    where = f"C{a.cycle_number}D{a.cycle_day}"
    if a.grade3_other_day_policy == Grade3OtherDayPolicy.CONTINUE:
        return _decision(
            a,
            DoseAction.CONTINUE,
            DoseReason.HAEM_GRADE_3_OTHER_DAY,
            f"grade 3 {a.term_text} on {where}: continue (protocol policy)",
            SOURCE_GRADE_3_OTHER_DAY,
        )
    return _decision(
        a,
        DoseAction.WITHHOLD_UNTIL_RECOVERY_SAME_DOSE,
        DoseReason.HAEM_GRADE_3_OTHER_DAY,
        f"grade 3 {a.term_text} on {where}: withhold until grade <= 2, resume at the same dose "
        "(protocol policy)",
        SOURCE_GRADE_3_OTHER_DAY,
        resume_max_grade=2,
    )


def _rule_neutropenia_prolonged_or_recurrent(a: _Assessment) -> DoseDecision | None:
    recurrent = a.neutropenia_grade_3 and a.cycle_day == 1 and a.previous_day1_grade3_neutropenia
    if recurrent:
        code, what = DoseReason.NEUTROPENIA_GRADE_3_RECURRENT_DAY_1, "recurrent grade 3 on D1"
    elif a.prolonged_grade3_neutropenia_recovery:
        code, what = DoseReason.NEUTROPENIA_GRADE_3_PROLONGED_RECOVERY, "recovery > 1 week"
    else:
        return None
    return _reduce(
        a,
        code,
        f"grade 3 neutropenia, {what}: withhold until grade <= 2, consider resuming at the next "
        "lower dose",
        SOURCE_TABLE_2,
        resume_max_grade=2,
        action=DoseAction.CONSIDER_REDUCTION,
    )


def _rule_haem_grade_1_2(a: _Assessment) -> DoseDecision | None:
    if a.haem_grade not in (1, 2):
        return None
    return _decision(
        a,
        DoseAction.CONTINUE,
        DoseReason.HAEM_GRADE_1_2,
        f"grade {a.haem_grade} {a.term_text}: no dose adjustment",
        SOURCE_TABLE_2,
    )


def _rule_non_haem(a: _Assessment) -> DoseDecision | None:
    if a.non_haem_grade == 0:
        return None
    if a.non_haem_grade < 3:
        return _decision(
            a,
            DoseAction.CONTINUE,
            DoseReason.NON_HAEM_GRADE_1_2,
            f"non-haematological grade {a.non_haem_grade}: no dose adjustment",
            SOURCE_TABLE_3,
        )
    if not a.non_haem_persisting_despite_treatment:
        return _decision(
            a,
            DoseAction.CONTINUE,
            DoseReason.NON_HAEM_GRADE_3_NOT_PERSISTING,
            f"non-haematological grade {a.non_haem_grade}: give optimal medical treatment; "
            "Table 3 applies if it persists despite it",
            SOURCE_TABLE_3,
        )
    resume = 2 if a.non_haem_no_safety_risk else 1
    return _reduce(
        a,
        DoseReason.NON_HAEM_GRADE_3_PERSISTING,
        f"non-haematological grade {a.non_haem_grade} persisting despite optimal medical "
        f"treatment: withhold until grade <= {resume}, resume at the next lower dose",
        SOURCE_TABLE_3,
        resume_max_grade=resume,
    )


_RULES: tuple[Callable[[_Assessment], DoseDecision | None], ...] = (
    _rule_severe_ild,
    _rule_haem_grade_4,
    _rule_neutropenia_fever_or_infection,
    _rule_non_haem,
    _rule_neutropenia_prolonged_or_recurrent,
    _rule_haem_grade_3,
    _rule_haem_grade_1_2,
)


def _evaluate(a: _Assessment) -> DoseDecision:
    fired = [decision for rule in _RULES if (decision := rule(a)) is not None]
    if not fired:
        return _decision(
            a, DoseAction.CONTINUE, DoseReason.NO_TOXICITY, "no toxicity: no change", SOURCE_TABLE_2
        )
    # Most severe action first; on equal severity the stricter resume grade, then rule order.
    ranked = sorted(
        enumerate(fired),
        key=lambda item: (
            -_ACTION_SEVERITY[item[1].action],
            item[1].resume_max_grade if item[1].resume_max_grade is not None else MAX_GRADE + 1,
            item[0],
        ),
    )
    first, *others = (decision for _, decision in ranked)
    return DoseDecision(
        first.action,
        first.current_dose_mg,
        first.next_dose_mg,
        first.resume_max_grade,
        first.reason_code,
        first.reason,
        first.source,
        tuple(others),
    )


def propose_dose_decision(
    *,
    current_dose_mg: int,
    cycle_number: int,
    cycle_day: int,
    haem_grade: int = 0,
    haem_term: CtcaeTerm | None = None,
    dose_levels_mg: Sequence[int] = DOSE_LEVELS_MG,
    fever_c: Decimal | int | float | None = None,
    infection: bool = False,
    lymphocyte_grade: int = 0,
    lymphopenia_clinical_event: bool = False,
    repeat_cbc_d22_after_d15_grade3: bool = False,
    prolonged_grade3_neutropenia_recovery: bool = False,
    previous_day1_grade3_neutropenia: bool = False,
    non_haem_grade: int = 0,
    non_haem_persisting_despite_treatment: bool = False,
    non_haem_no_safety_risk: bool = False,
    severe_ild_pneumonitis: bool = False,
    fever_threshold_c: Decimal = FEVER_THRESHOLD_C,
    grade3_other_day_policy: Grade3OtherDayPolicy = Grade3OtherDayPolicy.WITHHOLD_SAME_DOSE,
) -> DoseDecision:
    """Propose the palbociclib dose decision for one assessment (Tables 1-3 [C:L2]).

    Preconditions: ``current_dose_mg`` is one of ``dose_levels_mg`` (protocol levels, highest
    first); ``haem_grade`` is the worst CTCAE grade over the non-lymphocyte terms and
    ``haem_term`` that term (``BloodCountGrades.worst_grade`` / ``worst_term``); lymphopenia is
    passed separately as ``lymphocyte_grade`` and only counts with
    ``lymphopenia_clinical_event``. ``cycle_day`` is the nominal day of the visit (1 for a D1
    CBC, also while the start of that cycle is delayed). ``repeat_cbc_d22_after_d15_grade3``
    marks the D22 CBC that follows a D15 grade 3. ``prolonged_grade3_neutropenia_recovery``:
    recovery from grade 3 neutropenia has taken more than 1 week;
    ``previous_day1_grade3_neutropenia``: an earlier cycle also had grade 3 neutropenia on D1.
    ``non_haem_grade`` is the worst non-haematological CTCAE grade.

    When several rules apply, the most severe action wins and the rest are in
    ``other_decisions``. Raises ``DoseRuleInputError`` with codes ``dose_levels_invalid``,
    ``dose_level_unknown``, ``grade_out_of_range``, ``haem_term_invalid``,
    ``cycle_out_of_range``, ``temperature_invalid``.
    """
    levels = _validated_dose_levels(dose_levels_mg)
    _check_dose_level(current_dose_mg, levels, name="current_dose_mg")
    _check_positive(cycle_number, name="cycle_number")
    _check_positive(cycle_day, name="cycle_day")
    _check_grade(non_haem_grade, name="non_haem_grade")
    grade, term = _effective_haem(
        haem_grade, haem_term, lymphocyte_grade, lymphopenia_clinical_event
    )
    assessment = _Assessment(
        current_dose_mg=current_dose_mg,
        dose_levels_mg=levels,
        cycle_number=cycle_number,
        cycle_day=cycle_day,
        haem_grade=grade,
        haem_term=term,
        fever_c=None if fever_c is None else _temperature_c(fever_c, name="fever_c"),
        fever_threshold_c=_temperature_c(fever_threshold_c, name="fever_threshold_c"),
        infection=bool(infection),
        repeat_cbc_d22_after_d15_grade3=bool(repeat_cbc_d22_after_d15_grade3),
        prolonged_grade3_neutropenia_recovery=bool(prolonged_grade3_neutropenia_recovery),
        previous_day1_grade3_neutropenia=bool(previous_day1_grade3_neutropenia),
        non_haem_grade=non_haem_grade,
        non_haem_persisting_despite_treatment=bool(non_haem_persisting_despite_treatment),
        non_haem_no_safety_risk=bool(non_haem_no_safety_risk),
        severe_ild_pneumonitis=bool(severe_ild_pneumonitis),
        grade3_other_day_policy=Grade3OtherDayPolicy(grade3_other_day_policy),
    )
    return _evaluate(assessment)
