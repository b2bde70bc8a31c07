"""Interpretation and validation of ESR1 ctDNA (bESR1mut) results: pure rules.

Sources (``../shared/DOMAIN.md``):

- 1.4: PADA-1 monitors ESR1 mutations in plasma by ddPCR at baseline, C2D1, then every two
  cycles [C:S2][C:S5][C:S6]; results are reported as copies/mL of plasma and mutant allele
  fraction [C:S7]; about 3% of patients are positive at baseline [C:S12][C:S6].
- 1.4, "rising bESR1mut": "new or increased bESR1mut" [C:S2]; "increasing or appearing
  mutations" [C:S6]. No numeric threshold for "increased" is published [GAP]: the thresholds are
  protocol parameters (``ctdna.rising`` in ``trial/protocols/pada1.yaml``), passed in here.
- 7, rules 17-18: per-variant copies/mL and VAF; "rising" is a hotspot mutation absent from the
  previous sample, or a previously detected one increasing beyond the configured threshold.
- 1.5 and rule 19: a rising result needs an imaging assessment before randomisation, so the
  next action of a rising result is ``imaging_required``.

Classification of each variant of a reported sample, against the most recent previous
*reported* sample (failed samples carry no measurement and are skipped):

- ``baseline``: the patient has no previous reported sample. Nothing can have appeared or
  increased, so a positive first sample is ``detected_stable``, not ``rising``: PADA-1 counts
  appearance relative to the previous sample [I from C:S2, C:S6].
- ``new``: absent from the previous reported sample (even if it was seen in an older one).
- ``increased``: present before, and copies/mL rose by at least ``fold_change`` times *and* by
  at least ``min_absolute_increase_copies_per_ml``, *or* the VAF rose by at least
  ``fold_change`` times *and* by at least ``min_absolute_increase_vaf``. Both bounds are
  inclusive (a rise from 7 to exactly 14 copies/mL at fold 2.0 and floor 2.0 is an increase), and
  the value must actually rise. A measure missing from either sample cannot show a rise.
  Comparisons use the decimal value as written (``Decimal(str(x))``), so a value typed exactly
  on a boundary is classified exactly, without binary floating-point error.
- ``decreased``: not increased, and the mirror rule holds: a measure fell to at most
  1/``fold_change`` of its previous value *and* by at least the same absolute floor. A rise in one
  measure wins over a fall in the other (the rule errs towards imaging).
- ``stable``: anything else.

Patient-level status of a reported sample considers panel variants only (off-panel variants are
kept and flagged ``in_panel=False`` but never make the patient detected or rising):
``not_detected`` with no panel variant; ``rising`` when a panel variant is ``new`` or
``increased``; otherwise ``detected_stable``. The status describes this sample; workflow states
("awaiting imaging", randomised) belong to the services.

A failed sample has no variants, asks for a redraw and never changes the status: it carries the
status the caller passes in, or, if none is passed, the status of the most recent reported sample
recomputed from the history (``not_detected`` when there is none).

:func:`validate_result_payload` checks a result in the lab JSON contract and lists every
problem, each with the field path, a stable code (:class:`ProblemCode`) and a message. Dates may
not lie after ``today``; analysis may not precede the draw, nor the draw the enrolment (same day
is valid). VAF is a fraction in [0, 1], copies/mL a finite number >= 0, and a variant carries at
least one of the two. The gene is ESR1; protein changes must be valid HGVS substitutions and
appear once per result. A failed sample needs a failure reason and has no variants; a reported
one has no failure reason and always carries its variants list. Off-panel variants are valid.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple

from monitoring.rules.hgvs import HgvsError, normalize_protein_change

SUPPORTED_GENE = "ESR1"


class SampleStatus(StrEnum):
    REPORTED = "reported"
    FAILED = "failed"


class VariantChange(StrEnum):
    BASELINE = "baseline"
    NEW = "new"
    INCREASED = "increased"
    STABLE = "stable"
    DECREASED = "decreased"


class PatientStatus(StrEnum):
    NOT_DETECTED = "not_detected"
    DETECTED_STABLE = "detected_stable"
    RISING = "rising"


class NextAction(StrEnum):
    NONE = "none"
    REDRAW_REQUESTED = "redraw_requested"
    IMAGING_REQUIRED = "imaging_required"


class ProblemCode(StrEnum):
    """Stable codes of :func:`validate_result_payload` problems (an API contract)."""

    INVALID_STATUS = "invalid_status"
    INVALID_DATE = "invalid_date"
    DATE_IN_FUTURE = "date_in_future"
    ANALYSED_BEFORE_COLLECTED = "analysed_before_collected"
    COLLECTED_BEFORE_ENROLMENT = "collected_before_enrolment"
    FAILURE_REASON_REQUIRED = "failure_reason_required"
    FAILURE_REASON_NOT_ALLOWED = "failure_reason_not_allowed"
    FAILED_WITH_VARIANTS = "failed_with_variants"
    INVALID_VARIANTS = "invalid_variants"
    GENE_NOT_SUPPORTED = "gene_not_supported"
    INVALID_HGVS = "invalid_hgvs"
    DUPLICATE_VARIANT = "duplicate_variant"
    VAF_OUT_OF_RANGE = "vaf_out_of_range"
    NEGATIVE_COPIES = "negative_copies"
    MISSING_MEASUREMENT = "missing_measurement"


class Problem(NamedTuple):
    """One validation problem: ``field`` is a path such as ``variants[1].vaf``."""

    field: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class RisingThresholds:
    """Protocol parameters of an ``increased`` variant (``ctdna.rising`` in the protocol file).

    ``fold_change`` >= 1; both absolute floors >= 0; VAF as a fraction (0.001 = 0.1%).
    """

    fold_change: float
    min_absolute_increase_copies_per_ml: float
    min_absolute_increase_vaf: float

    def __post_init__(self) -> None:
        values = (
            self.fold_change,
            self.min_absolute_increase_copies_per_ml,
            self.min_absolute_increase_vaf,
        )
        if any(_finite(v) is None for v in values):
            raise ValueError("Rising thresholds must be finite numbers.")
        if self.fold_change < 1:
            raise ValueError("fold_change must be at least 1.")
        if self.min_absolute_increase_copies_per_ml < 0 or self.min_absolute_increase_vaf < 0:
            raise ValueError("Absolute increase floors must not be negative.")

    @classmethod
    def from_protocol(cls, rising: Mapping[str, Any]) -> RisingThresholds:
        """Build from the protocol's ``ctdna.rising`` mapping.

        Raises ``ValueError`` when the protocol asks for a confirmation sample: these rules
        classify one sample against the previous one and cannot honour that setting.
        """
        if rising.get("confirmation_sample_required", False):
            raise ValueError("confirmation_sample_required is not supported by these rules.")
        return cls(
            fold_change=rising["fold_change"],
            min_absolute_increase_copies_per_ml=rising["min_absolute_increase_copies_per_ml"],
            min_absolute_increase_vaf=rising["min_absolute_increase_vaf"],
        )


@dataclass(frozen=True, slots=True)
class VariantMeasurement:
    """One detected variant: HGVS protein change (any accepted spelling), VAF (0-1), copies/mL.

    Either measure may be ``None`` when the lab did not report it.
    """

    protein_change: str
    vaf: float | None = None
    copies_per_ml: float | None = None


@dataclass(frozen=True, slots=True)
class CtdnaResult:
    """One sample's result; ``variants`` empty means no ESR1 mutation detected."""

    status: SampleStatus
    variants: tuple[VariantMeasurement, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", SampleStatus(self.status))
        object.__setattr__(self, "variants", tuple(self.variants))

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> CtdnaResult:
        """Build from a result in the lab JSON contract (already validated)."""
        return cls(
            status=SampleStatus(payload["status"]),
            variants=tuple(
                VariantMeasurement(
                    protein_change=v["protein_change"],
                    vaf=v.get("vaf"),
                    copies_per_ml=v.get("copies_per_ml"),
                )
                for v in payload.get("variants") or ()
            ),
        )


@dataclass(frozen=True, slots=True)
class VariantInterpretation:
    """A variant of the interpreted sample, with the previous sample's values when present."""

    protein_change: str
    change: VariantChange
    in_panel: bool
    reason: str
    vaf: float | None = None
    copies_per_ml: float | None = None
    previous_vaf: float | None = None
    previous_copies_per_ml: float | None = None

    @property
    def triggers_rising(self) -> bool:
        return self.in_panel and self.change in (VariantChange.NEW, VariantChange.INCREASED)


@dataclass(frozen=True, slots=True)
class Interpretation:
    """The outcome for one sample.

    ``no_longer_detected`` lists the canonical changes of the previous reported sample that this
    sample does not report. ``compared_with_previous`` is false for a baseline or failed sample.
    """

    status: PatientStatus
    next_action: NextAction
    reason: str
    variants: tuple[VariantInterpretation, ...] = ()
    no_longer_detected: tuple[str, ...] = ()
    compared_with_previous: bool = False
    off_panel: tuple[str, ...] = ()

    @property
    def rising_variants(self) -> tuple[VariantInterpretation, ...]:
        return tuple(v for v in self.variants if v.triggers_rising)


def interpret_result(
    *,
    result: CtdnaResult,
    previous: Sequence[CtdnaResult],
    panel: Iterable[str],
    thresholds: RisingThresholds,
    previous_status: PatientStatus | None = None,
) -> Interpretation:
    """Interpret ``result`` against the patient's earlier results (most recent first).

    ``previous`` should hold reported results only; failed ones are ignored. ``panel`` is the
    protocol's list of hotspot changes in any accepted HGVS spelling. ``previous_status`` is the
    patient's current status, used only for a failed sample (see the module docstring).

    Preconditions (``ValueError`` otherwise): a failed result has no variants; a result does not
    report the same change twice. Raises :class:`~monitoring.rules.hgvs.HgvsError` for a panel
    entry or a variant that is not a valid protein change.
    """
    reported = [r for r in previous if r.status is SampleStatus.REPORTED]
    if result.status is SampleStatus.FAILED:
        return _interpret_failed(result, reported, panel, thresholds, previous_status)
    panel_set = frozenset(normalize_protein_change(p) for p in panel)
    current = _by_change(result.variants)
    if not reported:
        variants = tuple(_baseline_variant(c, v, c in panel_set) for c, v in current.items())
        return _summarise(variants, compared=False, no_longer_detected=())
    before = _by_change(reported[0].variants)
    variants = tuple(
        _compare_variant(c, v, before.get(c), c in panel_set, thresholds)
        for c, v in current.items()
    )
    gone = tuple(c for c in before if c not in current)
    return _summarise(variants, compared=True, no_longer_detected=gone)


def _interpret_failed(
    result: CtdnaResult,
    reported: list[CtdnaResult],
    panel: Iterable[str],
    thresholds: RisingThresholds,
    previous_status: PatientStatus | None,
) -> Interpretation:
    if result.variants:
        raise ValueError("A failed result cannot report variants.")
    if previous_status is not None:
        status = PatientStatus(previous_status)
    elif reported:
        status = interpret_result(
            result=reported[0], previous=reported[1:], panel=panel, thresholds=thresholds
        ).status
    else:
        status = PatientStatus.NOT_DETECTED
    return Interpretation(
        status=status,
        next_action=NextAction.REDRAW_REQUESTED,
        reason="The sample failed: a redraw is requested and the status is unchanged.",
    )


def _by_change(variants: Iterable[VariantMeasurement]) -> dict[str, VariantMeasurement]:
    by_change: dict[str, VariantMeasurement] = {}
    for variant in variants:
        change = normalize_protein_change(variant.protein_change)
        if change in by_change:
            raise ValueError(f"{change} is reported twice in one result.")
        by_change[change] = variant
    return by_change


def _baseline_variant(
    change: str, variant: VariantMeasurement, in_panel: bool
) -> VariantInterpretation:
    return VariantInterpretation(
        protein_change=change,
        change=VariantChange.BASELINE,
        in_panel=in_panel,
        reason="First reported sample: there is no previous sample to compare with.",
        vaf=variant.vaf,
        copies_per_ml=variant.copies_per_ml,
    )


def _compare_variant(
    change: str,
    variant: VariantMeasurement,
    before: VariantMeasurement | None,
    in_panel: bool,
    thresholds: RisingThresholds,
) -> VariantInterpretation:
    if before is None:
        kind, reason = VariantChange.NEW, "Absent from the previous reported sample."
    else:
        kind, reason = _classify_change(variant, before, thresholds)
    return VariantInterpretation(
        protein_change=change,
        change=kind,
        in_panel=in_panel,
        reason=reason,
        vaf=variant.vaf,
        copies_per_ml=variant.copies_per_ml,
        previous_vaf=None if before is None else before.vaf,
        previous_copies_per_ml=None if before is None else before.copies_per_ml,
    )


def _classify_change(
    now: VariantMeasurement, before: VariantMeasurement, thresholds: RisingThresholds
) -> tuple[VariantChange, str]:
    fold = thresholds.fold_change
    measures = (
        (
            "copies/mL",
            before.copies_per_ml,
            now.copies_per_ml,
            thresholds.min_absolute_increase_copies_per_ml,
        ),
        ("VAF", before.vaf, now.vaf, thresholds.min_absolute_increase_vaf),
    )
    rises = [_describe(m, a, b, fold, f) for m, a, b, f in measures if _rose(a, b, fold, f)]
    if rises:
        return VariantChange.INCREASED, "; ".join(rises) + "."
    falls = [_describe(m, a, b, fold, f) for m, a, b, f in measures if _rose(b, a, fold, f)]
    if falls:
        return VariantChange.DECREASED, "; ".join(falls) + "."
    return VariantChange.STABLE, "No change beyond the thresholds since the previous sample."


def _rose(before: float | None, after: float | None, fold: float, floor: float) -> bool:
    """True when ``after`` exceeds ``before``, by at least ``fold`` times and ``floor``."""
    if before is None or after is None:
        return False
    a, b = _decimal(before), _decimal(after)
    return b > a and b >= a * _decimal(fold) and b - a >= _decimal(floor)


def _decimal(value: float) -> Decimal:
    return Decimal(str(value))


def _describe(name: str, before: object, after: object, fold: float, floor: float) -> str:
    return f"{name} went from {before} to {after} (thresholds: x{fold} and {floor})"


def _summarise(
    variants: tuple[VariantInterpretation, ...],
    *,
    compared: bool,
    no_longer_detected: tuple[str, ...],
) -> Interpretation:
    in_panel = [v for v in variants if v.in_panel]
    rising = [v.protein_change for v in variants if v.triggers_rising]
    if rising:
        status, action = PatientStatus.RISING, NextAction.IMAGING_REQUIRED
        reason = "Rising bESR1mut: " + ", ".join(rising) + " new or increased."
    elif in_panel:
        status, action = PatientStatus.DETECTED_STABLE, NextAction.NONE
        reason = "Panel mutation detected, neither new nor increased since the previous sample."
        if not compared:
            reason = "Panel mutation detected in the first reported sample (baseline)."
    else:
        status, action = PatientStatus.NOT_DETECTED, NextAction.NONE
        reason = "No panel mutation detected."
    return Interpretation(
        status=status,
        next_action=action,
        reason=reason,
        variants=variants,
        no_longer_detected=no_longer_detected,
        compared_with_previous=compared,
        off_panel=tuple(v.protein_change for v in variants if not v.in_panel),
    )


# Validation of a result payload (the lab JSON contract) ----------------------------------------


def validate_result_payload(
    payload: Mapping[str, Any], *, today: date, enrolled_on: date | None = None
) -> list[Problem]:
    """Every problem of a result in the lab JSON contract, in field order; empty when valid.

    ``payload`` has the contract's keys; dates are ``datetime.date`` or ISO ``YYYY-MM-DD``
    strings. ``today`` is the current date (these rules read no clock); ``enrolled_on`` is the
    patient's enrolment date, ``None`` to skip that check. Same-day collection and analysis, and
    collection on the enrolment day, are valid. Types beyond these are the serializer's concern.
    """
    status = payload.get("status")
    problems: list[Problem] = []
    if status not in (SampleStatus.REPORTED, SampleStatus.FAILED):
        problems.append(
            Problem("status", ProblemCode.INVALID_STATUS, "Status must be reported or failed.")
        )
    problems += _date_problems(payload, today=today, enrolled_on=enrolled_on)
    problems += _failure_problems(payload, status)
    problems += _variants_problems(payload.get("variants"), status)
    return problems


def _date_problems(
    payload: Mapping[str, Any], *, today: date, enrolled_on: date | None
) -> list[Problem]:
    problems: list[Problem] = []
    dates: dict[str, date] = {}
    for name in ("collected_on", "analysed_on"):
        value = _as_date(payload.get(name))
        if value is None:
            problems.append(
                Problem(name, ProblemCode.INVALID_DATE, "A YYYY-MM-DD date is required.")
            )
            continue
        dates[name] = value
        if value > today:
            problems.append(Problem(name, ProblemCode.DATE_IN_FUTURE, f"{value} is in the future."))
    collected, analysed = dates.get("collected_on"), dates.get("analysed_on")
    if collected and analysed and analysed < collected:
        problems.append(
            Problem(
                "analysed_on",
                ProblemCode.ANALYSED_BEFORE_COLLECTED,
                f"Analysed on {analysed}, before the blood draw on {collected}.",
            )
        )
    if collected and enrolled_on:
        problems += enrolment_problems(collected, enrolled_on=enrolled_on)
    return problems


def enrolment_problems(collected_on: date, *, enrolled_on: date) -> list[Problem]:
    """The problem of a sample drawn before the patient's enrolment (the day itself is valid),
    as :func:`validate_result_payload` reports it with ``enrolled_on``."""
    if collected_on >= enrolled_on:
        return []
    return [
        Problem(
            "collected_on",
            ProblemCode.COLLECTED_BEFORE_ENROLMENT,
            f"Collected on {collected_on}, before enrolment on {enrolled_on}.",
        )
    ]


def _as_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _failure_problems(payload: Mapping[str, Any], status: object) -> list[Problem]:
    reason = payload.get("failure_reason")
    blank = reason is None or (isinstance(reason, str) and not reason.strip())
    problems: list[Problem] = []
    if status == SampleStatus.FAILED and (blank or not isinstance(reason, str)):
        problems.append(
            Problem(
                "failure_reason",
                ProblemCode.FAILURE_REASON_REQUIRED,
                "A failed sample needs a failure reason.",
            )
        )
    if status == SampleStatus.FAILED and payload.get("variants"):
        problems.append(
            Problem(
                "variants",
                ProblemCode.FAILED_WITH_VARIANTS,
                "A failed sample cannot report variants.",
            )
        )
    if status == SampleStatus.REPORTED and not blank:
        problems.append(
            Problem(
                "failure_reason",
                ProblemCode.FAILURE_REASON_NOT_ALLOWED,
                "A reported sample has no failure reason.",
            )
        )
    return problems


def _variants_problems(variants: object, status: object) -> list[Problem]:
    if variants is None and status != SampleStatus.REPORTED:
        return []
    if not isinstance(variants, list | tuple):
        # A reported result without its list must not read as "nothing detected".
        return [
            Problem(
                "variants",
                ProblemCode.INVALID_VARIANTS,
                "Variants must be a list; an empty list means no mutation detected.",
            )
        ]
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, variant in enumerate(variants):
        prefix = f"variants[{index}]"
        if not isinstance(variant, Mapping):
            problems.append(Problem(prefix, ProblemCode.INVALID_VARIANTS, "Must be an object."))
            continue
        problems += _variant_problems(prefix, variant, seen)
    return problems


def _variant_problems(prefix: str, variant: Mapping[str, Any], seen: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    gene = variant.get("gene")
    if gene != SUPPORTED_GENE:
        problems.append(
            Problem(
                f"{prefix}.gene",
                ProblemCode.GENE_NOT_SUPPORTED,
                f"Gene {gene!r} is not supported: only {SUPPORTED_GENE} is monitored.",
            )
        )
    try:
        change = normalize_protein_change(variant.get("protein_change"))
    except HgvsError as error:
        problems.append(
            Problem(f"{prefix}.protein_change", ProblemCode.INVALID_HGVS, error.message)
        )
    else:
        if change in seen:
            problems.append(
                Problem(
                    f"{prefix}.protein_change",
                    ProblemCode.DUPLICATE_VARIANT,
                    f"{change} is reported more than once.",
                )
            )
        seen.add(change)
    problems += _measurement_problems(prefix, variant.get("vaf"), variant.get("copies_per_ml"))
    return problems


def _measurement_problems(prefix: str, vaf: object, copies: object) -> list[Problem]:
    if vaf is None and copies is None:
        return [
            Problem(
                prefix,
                ProblemCode.MISSING_MEASUREMENT,
                "A variant needs its VAF, its copies/mL, or both.",
            )
        ]
    problems: list[Problem] = []
    vaf_value = _finite(vaf)
    if vaf is not None and (vaf_value is None or not 0 <= vaf_value <= 1):
        problems.append(
            Problem(
                f"{prefix}.vaf",
                ProblemCode.VAF_OUT_OF_RANGE,
                "VAF must be a fraction between 0 and 1 (0.0123 for 1.23%).",
            )
        )
    copies_value = _finite(copies)
    if copies is not None and (copies_value is None or copies_value < 0):
        problems.append(
            Problem(
                f"{prefix}.copies_per_ml",
                ProblemCode.NEGATIVE_COPIES,
                "Copies/mL must be a finite number of at least 0.",
            )
        )
    return problems


def _finite(value: object) -> float | None:
    """The value as a float when it is a finite real number (``bool`` excluded), else None."""
    if not _is_number(value):
        return None
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def _is_number(value: object) -> bool:
    """An int, float or Decimal, ``bool`` excluded."""
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)
