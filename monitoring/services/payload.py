"""The shape of a result in the lab JSON contract, and its canonical content.

The value rules (dates, VAF, HGVS, failure reason...) are ``monitoring.rules.ctdna``'s; this
module checks what they take for granted: an object with the contract's keys and string
identifiers. The canonical content decides whether a re-posted result is identical: key order,
spacing, the spelling of a protein change (``p.Asp538Gly`` = ``D538G``), ``14`` vs ``14.0`` and
the order of variants do not matter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from monitoring.rules.ctdna import Problem
from monitoring.rules.hgvs import normalize_protein_change

from ..models.samples import SAMPLE_ID_PATTERN

REQUIRED = "required"
UNKNOWN_FIELD = "unknown_field"
INVALID_TYPE = "invalid_type"
INVALID_FORMAT = "invalid_format"

RESULT_FIELDS = (
    "sample_id",
    "patient_id",
    "collected_on",
    "analysed_on",
    "assay",
    "status",
    "failure_reason",
    "variants",
)
REQUIRED_FIELDS = ("sample_id", "patient_id", "collected_on", "analysed_on", "status")
VARIANT_FIELDS = ("gene", "protein_change", "vaf", "copies_per_ml")
_LIMITS = {"patient_id": 40, "assay": 32, "failure_reason": 500}
_SAMPLE_ID = re.compile(SAMPLE_ID_PATTERN)


def shape_problems(payload: object) -> list[Problem]:
    """Problems of structure: not an object, missing or unknown keys, non-string identifiers.

    ``assay`` may be omitted, null or empty: the protocol's assay applies.
    """
    if not isinstance(payload, Mapping):
        return [Problem("", INVALID_TYPE, "A result must be a JSON object.")]
    problems = [
        Problem(name, REQUIRED, "This field is required.")
        for name in REQUIRED_FIELDS
        if payload.get(name) is None
    ]
    problems += [
        Problem(str(name), UNKNOWN_FIELD, "This field is not part of the result contract.")
        for name in payload
        if name not in RESULT_FIELDS
    ]
    problems += _string_problems(payload)
    variants = payload.get("variants")
    if isinstance(variants, list):
        for index, variant in enumerate(variants):
            if isinstance(variant, Mapping):
                problems += [
                    Problem(
                        f"variants[{index}].{name}",
                        UNKNOWN_FIELD,
                        "This field is not part of the variant contract.",
                    )
                    for name in variant
                    if name not in VARIANT_FIELDS
                ]
    return problems


def _string_problems(payload: Mapping[str, Any]) -> list[Problem]:
    problems = []
    for name in ("sample_id", "patient_id", "assay", "failure_reason"):
        value = payload.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            problems.append(Problem(name, INVALID_TYPE, "This field must be a string."))
        elif name == "sample_id" and not _SAMPLE_ID.match(value):
            problems.append(
                Problem(
                    name,
                    INVALID_FORMAT,
                    "A sample id is 1 to 64 letters, digits, dots, hyphens or underscores.",
                )
            )
        elif name in _LIMITS and len(value) > _LIMITS[name]:
            problems.append(Problem(name, INVALID_FORMAT, f"At most {_LIMITS[name]} characters."))
    return problems


def canonical_content(payload: Mapping[str, Any], *, assay: str) -> dict[str, Any]:
    """The result's meaning as plain JSON values (payload already validated)."""
    reason = payload.get("failure_reason")
    variants = [
        {
            "gene": variant["gene"],
            "protein_change": normalize_protein_change(variant["protein_change"]),
            "vaf": _number(variant.get("vaf")),
            "copies_per_ml": _number(variant.get("copies_per_ml")),
        }
        for variant in payload.get("variants") or ()
    ]
    return {
        "sample_id": payload["sample_id"],
        "patient_id": payload["patient_id"],
        "collected_on": iso_date(payload["collected_on"]),
        "analysed_on": iso_date(payload["analysed_on"]),
        "assay": assay,
        "status": payload["status"],
        "failure_reason": reason.strip() if isinstance(reason, str) and reason.strip() else None,
        "variants": sorted(variants, key=lambda v: v["protein_change"]),
    }


def content_sha256(content: Mapping[str, Any]) -> str:
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _number(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def iso_date(value: object) -> str:
    """A validated date (``date``, ``datetime`` or ISO string) as ``YYYY-MM-DD``."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
