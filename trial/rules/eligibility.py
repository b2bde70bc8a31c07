"""Eligibility criteria as data, evaluated one by one.

Each criterion of a protocol file (DOMAIN.md section 6) is one of four kinds:
- ``attestation``: a yes/no statement by the investigator (for an exclusion, "yes" excludes);
- ``numeric``: a measured quantity in canonical units compared with a threshold
  (haemoglobin >= 90 g/L, platelets >= 100 G/L, ER >= 10 %, age >= 18, ECOG <= 2);
- ``choice``: a categorical field in a set of allowed values (sex, HER2 status, stage);
- ``date``: an interval rule between a date field and a reference date (major surgery not
  within 14 days of screening; relapse more than 365 days after the end of adjuvant AI).

Every criterion is evaluated separately and every failure is reported with its reason
(DOMAIN.md section 7 rule 28); a missing value is a failure of its own kind, never a pass,
unless the criterion says ``allow_missing`` (the event never happened). Comparisons are on
Decimal so that ER 9.9 % fails and 10 % passes exactly (rule 29).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    ATTESTATION = "attestation"
    NUMERIC = "numeric"
    CHOICE = "choice"
    DATE = "date"


class Section(StrEnum):
    INCLUSION = "inclusion"
    EXCLUSION = "exclusion"


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    MISSING = "missing"


_NUMERIC_OPS = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
DATE_OPS = ("within_days", "more_than_days_before")


@dataclass(frozen=True)
class Criterion:
    id: str
    section: Section
    kind: Kind
    text: str
    quantity: str | None = None
    field: str | None = None
    op: str | None = None
    value: Decimal | None = None
    values: tuple[str, ...] = ()
    unit: str | None = None
    reference: str | None = None
    days: int | None = None
    allow_missing: bool = False

    @property
    def input_key(self) -> str:
        """The screening-data key this criterion reads."""
        if self.kind is Kind.NUMERIC:
            return str(self.quantity)
        if self.kind in (Kind.CHOICE, Kind.DATE):
            return str(self.field)
        return self.id


@dataclass(frozen=True)
class CriterionResult:
    id: str
    section: Section
    outcome: Outcome
    reason: str

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED


@dataclass(frozen=True)
class EligibilityResult:
    results: tuple[CriterionResult, ...]

    @property
    def eligible(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> tuple[CriterionResult, ...]:
        return tuple(r for r in self.results if not r.passed)


def criteria_from_protocol(eligibility: Mapping[str, Any]) -> tuple[Criterion, ...]:
    """Build typed criteria from a validated protocol ``eligibility`` mapping."""
    criteria = []
    for section in Section:
        for raw in eligibility.get(section.value, []):
            criteria.append(
                Criterion(
                    id=raw["id"],
                    section=section,
                    kind=Kind(raw["kind"]),
                    text=raw["text"],
                    quantity=raw.get("quantity"),
                    field=raw.get("field"),
                    op=raw.get("op"),
                    value=Decimal(str(raw["value"])) if "value" in raw else None,
                    values=tuple(str(v) for v in raw.get("values", ())),
                    unit=raw.get("unit"),
                    reference=raw.get("reference"),
                    days=raw.get("days"),
                    allow_missing=bool(raw.get("allow_missing", False)),
                )
            )
    return tuple(criteria)


def _numeric(c: Criterion, value: Decimal) -> tuple[bool, str]:
    ok = _NUMERIC_OPS[str(c.op)](value, c.value)
    return ok, f"{value} {c.unit} {'meets' if ok else 'does not meet'} {c.op} {c.value} {c.unit}"


def _choice(c: Criterion, value: str) -> tuple[bool, str]:
    inside = value in c.values
    ok = inside if c.op == "in" else not inside
    allowed = ", ".join(c.values)
    return ok, f"{value!r} {'is' if inside else 'is not'} one of: {allowed}"


def _date(c: Criterion, value: date, reference: date) -> tuple[bool, str]:
    elapsed = (reference - value).days
    if c.op == "within_days":
        hit = 0 <= elapsed < int(c.days or 0)
        return hit, f"{elapsed} days before {c.reference} (limit {c.days} days)"
    hit = elapsed > int(c.days or 0)
    return hit, f"{elapsed} days before {c.reference} (must be more than {c.days} days)"


def _condition(c: Criterion, raw: Any, values: Mapping[str, Any]) -> tuple[bool, str] | None:
    """Whether the criterion's condition holds; None when the reference date is missing."""
    if c.kind is Kind.ATTESTATION:
        return bool(raw), "attested yes" if raw else "attested no"
    if c.kind is Kind.NUMERIC:
        return _numeric(c, raw)
    if c.kind is Kind.CHOICE:
        return _choice(c, str(raw))
    reference = values.get(str(c.reference))
    if reference is None:
        return None
    return _date(c, raw, reference)


def evaluate_criterion(c: Criterion, values: Mapping[str, Any]) -> CriterionResult:
    raw = values.get(c.input_key)
    if raw is None:
        if c.kind is Kind.DATE and c.allow_missing:
            return CriterionResult(c.id, c.section, Outcome.PASSED, "not applicable (no date)")
        return CriterionResult(c.id, c.section, Outcome.MISSING, f"{c.input_key} is missing")
    condition = _condition(c, raw, values)
    if condition is None:
        return CriterionResult(c.id, c.section, Outcome.MISSING, f"{c.reference} is missing")
    holds, detail = condition
    # An inclusion passes when its condition holds; an exclusion passes when it does not.
    passed = holds if c.section is Section.INCLUSION else not holds
    return CriterionResult(c.id, c.section, Outcome.PASSED if passed else Outcome.FAILED, detail)


def evaluate(criteria: Sequence[Criterion], values: Mapping[str, Any]) -> EligibilityResult:
    """Evaluate every criterion against canonical ``values`` (Decimal, str, date, bool)."""
    return EligibilityResult(tuple(evaluate_criterion(c, values) for c in criteria))


def age_consistent(*, age_years: int, year_of_birth: int, on: date) -> bool:
    """A declared age must match the year of birth: year - yob - 1 or year - yob."""
    return on.year - year_of_birth - 1 <= age_years <= on.year - year_of_birth
