"""EORTC QLQ-C30 (version 3.0) scale scores and the QLQ-C30 summary score.

Source: EORTC QLQ-C30 Scoring Manual, 3rd edition (Fayers et al., EORTC 2001) [C:E1] for the
formulas [M: exact wording not re-read]; item-to-scale map, item ranges, the 50 % missing-item
rule and the summary score as implemented in raybaser/PROscorer ``R/qlq_c30.R`` [C:E2] and the
MII PROMs scoring guide [C:E3]; summary score: Giesinger JM et al., J Clin Epidemiol
2016;69:79-88. DOMAIN.md section 5 and section 7 rules 26-27.

- 30 items: items 1-28 are answered 1-4, items 29-30 are answered 1-7; a missing answer is
  None or absent. Only item numbers are handled here, never item wording (EORTC copyright).
- Raw score RS = mean of the answered items of a scale; range = 3 (items 1-28) or 6 (29-30).
- Functional scales: S = (1 - (RS - 1) / range) x 100.
  Symptom scales and global health status: S = (RS - 1) / range x 100.
- A scale is scored if at least half of its items are answered, otherwise it is missing
  (None, never 0); a single-item scale is missing when its item is.
- Summary score: mean of the 13 scales other than QL2 and FI, with 100 - S for the symptom
  scales; only when all 13 are present.

Arithmetic is exact (``fractions.Fraction``) and converted to ``float`` once at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

__all__ = [
    "ITEM_COUNT",
    "SCALES",
    "SUMMARY_SCALES",
    "QlqC30Scores",
    "QlqInputError",
    "QlqScale",
    "ScaleDefinition",
    "ScaleKind",
    "item_max",
    "score_qlq_c30",
    "score_scale",
    "validate_responses",
]

ITEM_COUNT = 30
ITEM_MIN = 1
_SEVEN_POINT_ITEMS = frozenset({29, 30})


class QlqInputError(ValueError):
    """Invalid questionnaire answers. ``code`` is stable: ``qol_item_out_of_range``,
    ``qol_unknown_item``, ``qol_too_many_items``."""

    def __init__(self, message: str, *, code: str, details=None):
        super().__init__(message)
        self.code = code
        self.details = dict(details or {})


class QlqScale(StrEnum):
    """EORTC scale abbreviations (Scoring Manual, 3rd ed.)."""

    QL2 = "QL2"
    PF2 = "PF2"
    RF2 = "RF2"
    EF = "EF"
    CF = "CF"
    SF = "SF"
    FA = "FA"
    NV = "NV"
    PA = "PA"
    DY = "DY"
    SL = "SL"
    AP = "AP"
    CO = "CO"
    DI = "DI"
    FI = "FI"


class ScaleKind(StrEnum):
    GLOBAL = "global"
    FUNCTIONAL = "functional"
    SYMPTOM = "symptom"


@dataclass(frozen=True)
class ScaleDefinition:
    scale: QlqScale
    items: tuple[int, ...]
    kind: ScaleKind

    @property
    def item_range(self) -> int:
        return item_max(self.items[0]) - ITEM_MIN


# DOMAIN.md section 5 scale table [C:E2][C:E3], in the Scoring Manual's order.
SCALES: tuple[ScaleDefinition, ...] = (
    ScaleDefinition(QlqScale.QL2, (29, 30), ScaleKind.GLOBAL),
    ScaleDefinition(QlqScale.PF2, (1, 2, 3, 4, 5), ScaleKind.FUNCTIONAL),
    ScaleDefinition(QlqScale.RF2, (6, 7), ScaleKind.FUNCTIONAL),
    ScaleDefinition(QlqScale.EF, (21, 22, 23, 24), ScaleKind.FUNCTIONAL),
    ScaleDefinition(QlqScale.CF, (20, 25), ScaleKind.FUNCTIONAL),
    ScaleDefinition(QlqScale.SF, (26, 27), ScaleKind.FUNCTIONAL),
    ScaleDefinition(QlqScale.FA, (10, 12, 18), ScaleKind.SYMPTOM),
    ScaleDefinition(QlqScale.NV, (14, 15), ScaleKind.SYMPTOM),
    ScaleDefinition(QlqScale.PA, (9, 19), ScaleKind.SYMPTOM),
    ScaleDefinition(QlqScale.DY, (8,), ScaleKind.SYMPTOM),
    ScaleDefinition(QlqScale.SL, (11,), ScaleKind.SYMPTOM),
    ScaleDefinition(QlqScale.AP, (13,), ScaleKind.SYMPTOM),
    ScaleDefinition(QlqScale.CO, (16,), ScaleKind.SYMPTOM),
    ScaleDefinition(QlqScale.DI, (17,), ScaleKind.SYMPTOM),
    ScaleDefinition(QlqScale.FI, (28,), ScaleKind.SYMPTOM),
)
_BY_SCALE: dict[QlqScale, ScaleDefinition] = {definition.scale: definition for definition in SCALES}

# Giesinger 2016 summary score: all scales except QL2 and FI [C:E2].
SUMMARY_SCALES: tuple[QlqScale, ...] = tuple(
    definition.scale for definition in SCALES if definition.scale not in {QlqScale.QL2, QlqScale.FI}
)


def item_max(item: int) -> int:
    """Highest answer of ``item``: 7 for items 29-30, 4 otherwise."""
    return 7 if item in _SEVEN_POINT_ITEMS else 4


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_responses(responses: Mapping[int, int | None]) -> dict[int, int]:
    """Check answers keyed by item number and return the answered ones.

    Raises ``QlqInputError``: ``qol_too_many_items`` (more than 30 entries),
    ``qol_unknown_item`` (item number not an integer 1-30), ``qol_item_out_of_range``
    (answer not an integer within the item's range).
    """
    if len(responses) > ITEM_COUNT:
        raise QlqInputError(
            f"at most {ITEM_COUNT} items",
            code="qol_too_many_items",
            details={"count": len(responses)},
        )
    answered: dict[int, int] = {}
    for item, value in responses.items():
        if not _is_int(item) or not ITEM_MIN <= item <= ITEM_COUNT:
            raise QlqInputError(
                "item numbers are 1-30", code="qol_unknown_item", details={"item": repr(item)}
            )
        if value is None:
            continue
        if not _is_int(value) or not ITEM_MIN <= value <= item_max(item):
            raise QlqInputError(
                f"item {item} is answered {ITEM_MIN}-{item_max(item)}",
                code="qol_item_out_of_range",
                details={"item": item, "value": repr(value)},
            )
        answered[item] = value
    return answered


def _scale_fraction(definition: ScaleDefinition, answered: Mapping[int, int]) -> Fraction | None:
    values = [answered[item] for item in definition.items if item in answered]
    if not values or 2 * len(values) < len(definition.items):
        return None
    raw = Fraction(sum(values), len(values))
    position = (raw - ITEM_MIN) / definition.item_range
    if definition.kind == ScaleKind.FUNCTIONAL:
        return (1 - position) * 100
    return position * 100


def score_scale(scale: QlqScale, responses: Mapping[int, int | None]) -> float | None:
    """Score one scale (0-100), or None when fewer than half its items are answered."""
    score = _scale_fraction(_BY_SCALE[QlqScale(scale)], validate_responses(responses))
    return None if score is None else float(score)


@dataclass(frozen=True)
class QlqC30Scores:
    """The 15 QLQ-C30 scale scores (0-100, None = missing) and the summary score."""

    ql2: float | None
    pf2: float | None
    rf2: float | None
    ef: float | None
    cf: float | None
    sf: float | None
    fa: float | None
    nv: float | None
    pa: float | None
    dy: float | None
    sl: float | None
    ap: float | None
    co: float | None
    di: float | None
    fi: float | None
    summary: float | None

    def score(self, scale: QlqScale) -> float | None:
        return getattr(self, QlqScale(scale).value.lower())

    def as_dict(self) -> dict[QlqScale, float | None]:
        return {definition.scale: self.score(definition.scale) for definition in SCALES}


def _summary(scores: Mapping[QlqScale, Fraction | None]) -> Fraction | None:
    parts = []
    for scale in SUMMARY_SCALES:
        score = scores[scale]
        if score is None:
            return None
        parts.append(100 - score if _BY_SCALE[scale].kind == ScaleKind.SYMPTOM else score)
    return sum(parts, Fraction(0)) / len(parts)


def score_qlq_c30(responses: Mapping[int, int | None]) -> QlqC30Scores:
    """Score a QLQ-C30 v3.0 form given as ``{item_number: answer or None}``.

    Absent items count as missing. Raises ``QlqInputError`` (see ``validate_responses``).
    """
    answered = validate_responses(responses)
    exact = {definition.scale: _scale_fraction(definition, answered) for definition in SCALES}
    summary = _summary(exact)
    as_float = {
        scale.value.lower(): (None if score is None else float(score))
        for scale, score in exact.items()
    }
    return QlqC30Scores(**as_float, summary=None if summary is None else float(summary))
