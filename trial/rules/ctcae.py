"""CTCAE haematology grading for laboratory values, in SI units.

Source: NCI CTCAE v5.0 (27 Nov 2017), "Investigations" and "Blood and lymphatic system
disorders" terms, as implemented by the PharmaForest/ctcae5_grader SAS macros
(``ctcae5_neut.sas``, ``ctcae5_wbc.sas``, ``ctcae5_plat.sas``, ``ctcae5_hgb.sas``,
``ctcae5_lym.sas``) [C:C1] and corroborated by public code tables [C:C2]; DOMAIN.md section 4
table. CTCAE v4.03 (used by PADA-1 [C:S8] and by the IBRANCE label [C:L2]) has the same
thresholds for these terms [M]: both versions are accepted, and the version string is part of
every result (DOMAIN.md section 7 rule 15).

Grades (G/L = 10^9/L; "<A - B" means B <= value < A):

======================================  ==========  ==========  ==========  ========
Term                                    Grade 1     Grade 2     Grade 3     Grade 4
======================================  ==========  ==========  ==========  ========
Neutrophil count decreased (G/L)        <LLN - 1.5  <1.5 - 1.0  <1.0 - 0.5  <0.5
White blood cell decreased (G/L)        <LLN - 3.0  <3.0 - 2.0  <2.0 - 1.0  <1.0
Platelet count decreased (G/L)          <LLN - 75   <75 - 50    <50 - 25    <25
Anemia, haemoglobin (g/L)               <LLN - 100  <100 - 80   <80         clinical
Lymphocyte count decreased (G/L)        <LLN - 0.8  <0.8 - 0.5  <0.5 - 0.2  <0.2
======================================  ==========  ==========  ==========  ========

Decisions taken here:

- Exact arithmetic. Values are graded as ``Decimal``. ``float`` inputs are converted through
  their shortest round-trip representation (``Decimal(repr(x))``), so a float typed as 0.999
  is exactly 0.999 and 1.0 is exactly 1; bounds are compared half-open (``lower <= value``),
  so 1.0 G/L of neutrophils is grade 2 and 0.999 is grade 3 (DOMAIN.md section 7 rule 12).
- LLN below the grade-2 upper bound (e.g. ANC LLN 1.4 G/L, value 1.45 G/L): the absolute
  ranges win and the value is grade 2, as in the reference SAS macros [C:C1]. The result's
  ``basis`` is ``GradeBasis.ABSOLUTE_RANGE_AT_OR_ABOVE_LLN`` so that the case can be reviewed.
  Grade 1 needs the LLN, so the LLN is a required input.
- Anaemia grade 4 ("life-threatening; urgent intervention indicated") is clinical: a
  haemoglobin value alone is graded at most 3 (``TermGrade.max_lab_grade``) [C:C2].
- Lymphocyte count decreased is graded, but ``TermGrade.counts_for_dose_rules`` is False and it
  is excluded from ``BloodCountGrades.worst_grade``: the IBRANCE label's haematological table
  excludes lymphopenia unless associated with clinical events [C:L2].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

__all__ = [
    "DOSE_RULE_TERMS",
    "GRADING_TABLES",
    "TERM_UNITS",
    "BloodCount",
    "BloodCountGrades",
    "CtcaeInputError",
    "CtcaeTerm",
    "CtcaeVersion",
    "GradeBasis",
    "LabValue",
    "TermGrade",
    "TermThresholds",
    "grade_blood_count",
    "grade_lab_value",
    "to_decimal",
]


class CtcaeInputError(ValueError):
    """A value cannot be graded. ``code`` is stable: ``ctcae_value_invalid``,
    ``ctcae_version_unknown``, ``ctcae_term_unknown``."""

    def __init__(self, message: str, *, code: str = "ctcae_value_invalid", details=None):
        super().__init__(message)
        self.code = code
        self.details = dict(details or {})


class CtcaeVersion(StrEnum):
    V5_0 = "5.0"
    V4_03 = "4.03"


class CtcaeTerm(StrEnum):
    """CTCAE term names (CTCAE spelling: "Anemia")."""

    NEUTROPHIL_COUNT_DECREASED = "neutrophil_count_decreased"
    WHITE_BLOOD_CELL_DECREASED = "white_blood_cell_decreased"
    PLATELET_COUNT_DECREASED = "platelet_count_decreased"
    ANEMIA = "anemia"
    LYMPHOCYTE_COUNT_DECREASED = "lymphocyte_count_decreased"


class GradeBasis(StrEnum):
    """Why a value got its grade; kept with the grade for review."""

    AT_OR_ABOVE_LLN = "at_or_above_lln"
    BELOW_LLN = "below_lln"
    ABSOLUTE_RANGE = "absolute_range"
    ABSOLUTE_RANGE_AT_OR_ABOVE_LLN = "absolute_range_at_or_above_lln"


G_PER_L = "G/L"
GRAMS_PER_L = "g/L"

TERM_UNITS: dict[CtcaeTerm, str] = {
    CtcaeTerm.NEUTROPHIL_COUNT_DECREASED: G_PER_L,
    CtcaeTerm.WHITE_BLOOD_CELL_DECREASED: G_PER_L,
    CtcaeTerm.PLATELET_COUNT_DECREASED: G_PER_L,
    CtcaeTerm.ANEMIA: GRAMS_PER_L,
    CtcaeTerm.LYMPHOCYTE_COUNT_DECREASED: G_PER_L,
}

# Terms that the palbociclib haematological table acts on (lymphopenia only with a clinical
# event, handled by the dose rules themselves) [C:L2].
DOSE_RULE_TERMS: frozenset[CtcaeTerm] = frozenset(TERM_UNITS) - {
    CtcaeTerm.LYMPHOCYTE_COUNT_DECREASED
}


@dataclass(frozen=True)
class TermThresholds:
    """Lower bounds (inclusive) of each lab-derived grade, in the term's unit.

    ``floors`` is ordered from grade 1 down: ``floors[0]`` is the grade-1 floor (the grade-2
    upper bound), ``floors[i]`` is the lowest value still graded ``i + 1``. A value below the
    last floor gets the last grade plus one, which is the highest lab-derived grade.
    """

    term: CtcaeTerm
    unit: str
    floors: tuple[Decimal, ...]

    @property
    def max_lab_grade(self) -> int:
        return len(self.floors) + 1


_V5_TABLE: dict[CtcaeTerm, TermThresholds] = {
    CtcaeTerm.NEUTROPHIL_COUNT_DECREASED: TermThresholds(
        CtcaeTerm.NEUTROPHIL_COUNT_DECREASED,
        G_PER_L,
        (Decimal("1.5"), Decimal("1.0"), Decimal("0.5")),
    ),
    CtcaeTerm.WHITE_BLOOD_CELL_DECREASED: TermThresholds(
        CtcaeTerm.WHITE_BLOOD_CELL_DECREASED,
        G_PER_L,
        (Decimal("3.0"), Decimal("2.0"), Decimal("1.0")),
    ),
    CtcaeTerm.PLATELET_COUNT_DECREASED: TermThresholds(
        CtcaeTerm.PLATELET_COUNT_DECREASED, G_PER_L, (Decimal("75"), Decimal("50"), Decimal("25"))
    ),
    # Grade 4 anaemia is clinical; the lab-derived grade stops at 3 [C:C2].
    CtcaeTerm.ANEMIA: TermThresholds(
        CtcaeTerm.ANEMIA, GRAMS_PER_L, (Decimal("100"), Decimal("80"))
    ),
    CtcaeTerm.LYMPHOCYTE_COUNT_DECREASED: TermThresholds(
        CtcaeTerm.LYMPHOCYTE_COUNT_DECREASED,
        G_PER_L,
        (Decimal("0.8"), Decimal("0.5"), Decimal("0.2")),
    ),
}

# v4.03 thresholds equal v5.0 for these terms [M]; kept as a separate entry so that a future
# divergence is a one-line change.
GRADING_TABLES: dict[CtcaeVersion, dict[CtcaeTerm, TermThresholds]] = {
    CtcaeVersion.V5_0: _V5_TABLE,
    CtcaeVersion.V4_03: dict(_V5_TABLE),
}


def to_decimal(value: Decimal | int | float, *, field: str = "value") -> Decimal:
    """Return ``value`` as a finite, non-negative ``Decimal``.

    Floats go through ``repr`` so that 0.999 stays 0.999 (not 0.99899999999999999911...).
    Raises ``CtcaeInputError`` for bools, strings, NaN, infinities and negative numbers.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float):
        raise CtcaeInputError(f"{field} must be a number", details={"field": field})
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CtcaeInputError(f"{field} must be finite", details={"field": field})
        value = Decimal(repr(value))
    result = Decimal(value)
    if not result.is_finite() or result < 0:
        raise CtcaeInputError(
            f"{field} must be finite and >= 0", details={"field": field, "value": str(value)}
        )
    return result


def _version(version: CtcaeVersion | str) -> CtcaeVersion:
    try:
        return CtcaeVersion(version)
    except ValueError as exc:
        raise CtcaeInputError(
            "unknown CTCAE version", code="ctcae_version_unknown", details={"version": version}
        ) from exc


def _term(term: CtcaeTerm | str) -> CtcaeTerm:
    try:
        return CtcaeTerm(term)
    except ValueError as exc:
        raise CtcaeInputError(
            "not a graded haematology term", code="ctcae_term_unknown", details={"term": term}
        ) from exc


@dataclass(frozen=True)
class TermGrade:
    """The CTCAE grade of one lab value; ``value`` and ``lln`` are in ``unit``."""

    term: CtcaeTerm
    grade: int
    basis: GradeBasis
    value: Decimal
    lln: Decimal
    unit: str
    ctcae_version: CtcaeVersion
    max_lab_grade: int
    counts_for_dose_rules: bool


def _absolute_grade(value: Decimal, floors: tuple[Decimal, ...]) -> int:
    """Grade >= 2 from the absolute ranges; the value is below ``floors[0]``."""
    for index, floor in enumerate(floors[1:], start=2):
        if value >= floor:
            return index
    return len(floors) + 1


def grade_lab_value(
    term: CtcaeTerm | str,
    value: Decimal | int | float,
    *,
    lln: Decimal | int | float,
    version: CtcaeVersion | str = CtcaeVersion.V5_0,
) -> TermGrade:
    """Grade one "decreased" lab value (``value`` and ``lln`` in ``TERM_UNITS[term]``).

    Grade 0 when ``value >= floors[0]`` and ``value >= lln``; grade 1 when
    ``value >= floors[0]`` and ``value < lln``; otherwise the absolute ranges decide, even if
    the value is at or above an unusually low LLN (see the module docstring).
    Raises ``CtcaeInputError`` for invalid numbers, terms and versions.
    """
    version = _version(version)
    thresholds = GRADING_TABLES[version][_term(term)]
    value_d = to_decimal(value, field="value")
    lln_d = to_decimal(lln, field="lln")
    grade_1_floor = thresholds.floors[0]
    if value_d >= grade_1_floor:
        grade, basis = (
            (0, GradeBasis.AT_OR_ABOVE_LLN) if value_d >= lln_d else (1, GradeBasis.BELOW_LLN)
        )
    else:
        grade = _absolute_grade(value_d, thresholds.floors)
        basis = (
            GradeBasis.ABSOLUTE_RANGE_AT_OR_ABOVE_LLN
            if value_d >= lln_d
            else GradeBasis.ABSOLUTE_RANGE
        )
    return TermGrade(
        term=thresholds.term,
        grade=grade,
        basis=basis,
        value=value_d,
        lln=lln_d,
        unit=thresholds.unit,
        ctcae_version=version,
        max_lab_grade=thresholds.max_lab_grade,
        counts_for_dose_rules=thresholds.term in DOSE_RULE_TERMS,
    )


@dataclass(frozen=True)
class LabValue:
    """A lab value and the lab's lower limit of normal, both in the term's SI unit."""

    value: Decimal
    lln: Decimal

    def __post_init__(self) -> None:
        for name in ("value", "lln"):
            attribute = getattr(self, name)
            if not isinstance(attribute, Decimal):
                raise CtcaeInputError(
                    f"LabValue.{name} must be a Decimal (use LabValue.of for int/float)",
                    details={"field": name},
                )
            to_decimal(attribute, field=name)

    @classmethod
    def of(cls, value: Decimal | int | float, lln: Decimal | int | float) -> LabValue:
        return cls(value=to_decimal(value, field="value"), lln=to_decimal(lln, field="lln"))


@dataclass(frozen=True)
class BloodCount:
    """One complete blood count in SI units (counts in G/L, haemoglobin in g/L).

    A term that was not measured is None.
    """

    anc_g_per_l: LabValue | None = None
    wbc_g_per_l: LabValue | None = None
    platelets_g_per_l: LabValue | None = None
    haemoglobin_g_per_l: LabValue | None = None
    lymphocytes_g_per_l: LabValue | None = None


# Field order is also the tie-break order for the worst grade: neutrophils first because the
# palbociclib fever/infection rule applies to grade 3 neutropenia only [C:L2].
_BLOOD_COUNT_FIELDS: tuple[tuple[str, CtcaeTerm], ...] = (
    ("anc_g_per_l", CtcaeTerm.NEUTROPHIL_COUNT_DECREASED),
    ("platelets_g_per_l", CtcaeTerm.PLATELET_COUNT_DECREASED),
    ("wbc_g_per_l", CtcaeTerm.WHITE_BLOOD_CELL_DECREASED),
    ("haemoglobin_g_per_l", CtcaeTerm.ANEMIA),
    ("lymphocytes_g_per_l", CtcaeTerm.LYMPHOCYTE_COUNT_DECREASED),
)


@dataclass(frozen=True)
class BloodCountGrades:
    """Per-term grades of one blood count.

    ``worst_grade`` and ``worst_term`` cover the terms that count for dose rules (lymphocytes
    excluded). ``worst_term`` is None when ``worst_grade`` is 0; ties go to neutrophils, then
    platelets, white cells, haemoglobin.
    """

    ctcae_version: CtcaeVersion
    grades: tuple[TermGrade, ...]
    worst_grade: int
    worst_term: CtcaeTerm | None

    def grade_for(self, term: CtcaeTerm) -> TermGrade | None:
        for term_grade in self.grades:
            if term_grade.term == term:
                return term_grade
        return None

    @property
    def lymphocyte_grade(self) -> int | None:
        term_grade = self.grade_for(CtcaeTerm.LYMPHOCYTE_COUNT_DECREASED)
        return None if term_grade is None else term_grade.grade


def grade_blood_count(
    count: BloodCount, *, version: CtcaeVersion | str = CtcaeVersion.V5_0
) -> BloodCountGrades:
    """Grade every measured term of ``count`` and find the worst dose-relevant grade."""
    version = _version(version)
    grades = tuple(
        grade_lab_value(term, lab.value, lln=lab.lln, version=version)
        for field, term in _BLOOD_COUNT_FIELDS
        if (lab := getattr(count, field)) is not None
    )
    worst_grade, worst_term = 0, None
    for term_grade in grades:
        if term_grade.counts_for_dose_rules and term_grade.grade > worst_grade:
            worst_grade, worst_term = term_grade.grade, term_grade.term
    return BloodCountGrades(
        ctcae_version=version,
        grades=grades,
        worst_grade=worst_grade,
        worst_term=worst_term,
    )
