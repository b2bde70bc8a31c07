"""The protocol file schema (JSON Schema draft 2020-12) and its semantic checks.

Structure is checked by JSON Schema; cross-references (a step naming an unknown regimen, a
numeric criterion on an unknown quantity or in the wrong unit, a ratio naming unknown arms)
by ``semantic_problems``. Each problem is (path inside the file, message).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from trial.rules.units import QUANTITIES

_WINDOW = {
    "type": "object",
    "required": ["before", "after"],
    "properties": {
        "before": {"type": "integer", "minimum": 0, "maximum": 90},
        "after": {"type": "integer", "minimum": 0, "maximum": 90},
    },
    "additionalProperties": False,
}

_CRITERION = {
    "type": "object",
    "required": ["id", "kind", "text"],
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
        "kind": {"enum": ["attestation", "numeric", "choice", "date"]},
        "text": {"type": "string", "minLength": 1},
        "quantity": {"type": "string"},
        "field": {"type": "string"},
        "op": {"type": "string"},
        "value": {"type": "number"},
        "values": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "unit": {"type": "string"},
        "reference": {"type": "string"},
        "days": {"type": "integer", "minimum": 1},
        "allow_missing": {"type": "boolean"},
    },
    "additionalProperties": False,
    "allOf": [
        {
            "if": {"properties": {"kind": {"const": "numeric"}}},
            "then": {
                "required": ["quantity", "op", "value", "unit"],
                "properties": {"op": {"enum": [">=", ">", "<=", "<", "=="]}},
            },
        },
        {
            "if": {"properties": {"kind": {"const": "choice"}}},
            "then": {
                "required": ["field", "op", "values"],
                "properties": {"op": {"enum": ["in", "not_in"]}},
            },
        },
        {
            "if": {"properties": {"kind": {"const": "date"}}},
            "then": {
                "required": ["field", "reference", "op", "days"],
                "properties": {"op": {"enum": ["within_days", "more_than_days_before"]}},
            },
        },
    ],
}

_COMPONENT = {
    "type": "object",
    "properties": {
        "drug": {"type": "string"},
        "choice_of": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "doses_mg": {"type": "object", "additionalProperties": {"type": "number"}},
        "dose_mg": {"type": "number", "exclusiveMinimum": 0},
        "dose_levels_mg": {
            "type": "array",
            "items": {"type": "integer", "exclusiveMinimum": 0},
            "minItems": 1,
        },
        "cycle_days": {
            "type": "object",
            "required": ["first", "last"],
            "properties": {
                "first": {"type": "integer", "minimum": 1},
                "last": {"type": "integer", "minimum": 1},
            },
        },
        "first_cycle_days": {"type": "array", "items": {"type": "integer", "minimum": 1}},
        "cycle_days_list": {"type": "array", "items": {"type": "integer", "minimum": 1}},
        "continuous": {"type": "boolean"},
        "dose_modifiable": {"type": "boolean"},
        "keep_current_dose_level": {"type": "boolean"},
    },
    "oneOf": [{"required": ["drug"]}, {"required": ["choice_of"]}],
    "additionalProperties": False,
}

PROTOCOL_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": [
        "schema_version",
        "trial",
        "cycle_length_days",
        "drugs",
        "regimens",
        "steps",
        "schedule",
        "eligibility",
    ],
    "properties": {
        "schema_version": {"const": 1},
        "trial": {
            "type": "object",
            "required": ["code", "title", "document_version", "design", "ctcae_version"],
            "properties": {
                "code": {"type": "string", "pattern": "^[A-Z0-9]{2,16}$"},
                "title": {"type": "string", "minLength": 1},
                "registry_id": {"type": "string"},
                "document_version": {"type": "string", "minLength": 1},
                "sponsor": {"type": "string"},
                "design": {"enum": ["sequential_randomized", "single_arm", "randomized"]},
                "enrolment_target": {"type": "integer", "minimum": 1},
                "ctcae_version": {"enum": ["4.03", "5.0"]},
            },
            "additionalProperties": False,
        },
        "cycle_length_days": {"type": "integer", "minimum": 7, "maximum": 56},
        "drugs": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "object",
                "required": ["name", "route", "unit"],
                "properties": {
                    "name": {"type": "string"},
                    "route": {"enum": ["oral", "intramuscular", "intravenous", "subcutaneous"]},
                    "unit": {"type": "string"},
                },
                "additionalProperties": False,
            },
        },
        "regimens": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "object",
                "required": ["title", "components"],
                "properties": {
                    "title": {"type": "string"},
                    "components": {"type": "array", "items": _COMPONENT, "minItems": 1},
                },
                "additionalProperties": False,
            },
        },
        "steps": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["code", "title"],
                "properties": {
                    "code": {"type": "string"},
                    "title": {"type": "string"},
                    "regimen": {"type": "string"},
                    "randomized": {"type": "boolean"},
                    "arms": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["code", "title", "regimen"],
                            "properties": {
                                "code": {"type": "string"},
                                "title": {"type": "string"},
                                "regimen": {"type": "string"},
                            },
                            "additionalProperties": False,
                        },
                    },
                    "from_arm": {"type": "string"},
                    "trigger": {"enum": ["progression"]},
                },
                "additionalProperties": False,
            },
        },
        "schedule": {
            "type": "object",
            "required": ["cycle_visit", "blood_count", "imaging", "qol"],
            "properties": {
                "cycle_visit": {
                    "type": "object",
                    "required": ["cycle_day", "window_days"],
                    "properties": {
                        "cycle_day": {"type": "integer", "minimum": 1},
                        "window_days": _WINDOW,
                    },
                },
                "blood_count": {
                    "type": "object",
                    "required": ["before_c1d1", "cycle_days", "window_days"],
                },
                "ctdna": {
                    "type": "object",
                    "required": ["baseline", "first_cycle", "every_cycles", "window_days"],
                },
                "imaging": {
                    "type": "object",
                    "required": ["every_weeks", "window_days"],
                    "properties": {
                        "every_weeks": {"type": "integer", "minimum": 1, "maximum": 52},
                        "window_days": _WINDOW,
                    },
                },
                "qol": {
                    "type": "object",
                    "required": ["instrument", "every_cycles", "window_days"],
                    "properties": {
                        "instrument": {"enum": ["qlq_c30_v3"]},
                        "every_cycles": {"type": "integer", "minimum": 1},
                        "until_months_from_step1": {"type": "integer", "minimum": 1},
                        "window_days": _WINDOW,
                    },
                },
                "reminders": {
                    "type": "object",
                    "properties": {
                        "lead_days": {"type": "integer", "minimum": 0, "maximum": 30},
                        "missed_grace_days": {"type": "integer", "minimum": 0, "maximum": 90},
                        "sae_reporting_hours": {"type": "integer", "minimum": 1, "maximum": 168},
                    },
                    "additionalProperties": False,
                },
            },
        },
        "eligibility": {
            "type": "object",
            "required": ["inclusion", "exclusion"],
            "properties": {
                "inclusion": {"type": "array", "items": _CRITERION},
                "exclusion": {"type": "array", "items": _CRITERION},
            },
            "additionalProperties": False,
        },
        "stratification": {
            "type": "object",
            "required": ["factors"],
            "properties": {
                "factors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["code", "title", "levels"],
                        "properties": {
                            "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                            "title": {"type": "string"},
                            "levels": {
                                "type": "array",
                                "items": {"type": "string"},
                                "minItems": 2,
                                "uniqueItems": True,
                            },
                        },
                        "additionalProperties": False,
                    },
                }
            },
        },
        "randomization": {
            "type": "object",
            "required": ["ratio", "method"],
            "properties": {
                "ratio": {
                    "type": "object",
                    "additionalProperties": {"type": "integer", "minimum": 1},
                    "minProperties": 2,
                },
                "method": {"enum": ["permuted_blocks", "minimization"]},
                "block_sizes": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 2},
                    "minItems": 1,
                },
                "minimization": {
                    "type": "object",
                    "properties": {
                        "imbalance": {"enum": ["range", "variance"]},
                        "p_preferred": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                        "weights": {"type": "object", "additionalProperties": {"type": "number"}},
                    },
                },
            },
        },
        "ctdna": {
            "type": "object",
            "required": ["gene", "panel", "rising", "windows"],
            "properties": {
                "gene": {"const": "ESR1"},
                "panel": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "rising": {
                    "type": "object",
                    "required": ["fold_change", "min_absolute_increase_copies_per_ml"],
                    "properties": {
                        "fold_change": {"type": "number", "exclusiveMinimum": 1},
                        "min_absolute_increase_copies_per_ml": {"type": "number", "minimum": 0},
                        "min_absolute_increase_vaf": {"type": "number", "minimum": 0},
                    },
                },
                "windows": {
                    "type": "object",
                    "additionalProperties": {"type": "integer", "minimum": 0},
                },
            },
        },
        "locoregional_treatment": {
            "type": "object",
            "required": ["planned_after_weeks", "window_days", "modalities"],
            "properties": {
                "planned_after_weeks": {"type": "integer", "minimum": 1, "maximum": 104},
                "window_days": _WINDOW,
                "modalities": {
                    "type": "array",
                    "items": {"enum": ["surgery", "radiotherapy", "surgery_and_radiotherapy"]},
                    "minItems": 1,
                    "uniqueItems": True,
                },
            },
            "additionalProperties": False,
        },
        "follow_up": {
            "type": "object",
            "required": ["overall_survival_months", "contact_every_weeks"],
            "properties": {
                "overall_survival_months": {"type": "integer", "minimum": 1, "maximum": 240},
                "contact_every_weeks": {"type": "integer", "minimum": 1, "maximum": 52},
                "window_days": _WINDOW,
            },
            "additionalProperties": False,
        },
        "lab_reference": {
            "type": "object",
            "required": ["lln"],
            "properties": {
                "lln": {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": {
                        "type": "object",
                        "required": ["value", "unit"],
                        "properties": {
                            "value": {"type": "number", "exclusiveMinimum": 0},
                            "unit": {"type": "string"},
                        },
                        "additionalProperties": False,
                    },
                }
            },
            "additionalProperties": False,
        },
        "endpoints": {"type": "object"},
    },
    "additionalProperties": False,
}


def _regimen_problems(doc: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    regimens = doc.get("regimens", {})
    drugs = doc.get("drugs", {})
    for name, regimen in regimens.items():
        for i, comp in enumerate(regimen.get("components", [])):
            for drug in [comp.get("drug")] if comp.get("drug") else comp.get("choice_of", []):
                if drug not in drugs:
                    yield f"regimens.{name}.components[{i}]", f"unknown drug {drug!r}"
            levels = comp.get("dose_levels_mg")
            if levels and levels != sorted(levels, reverse=True):
                yield f"regimens.{name}.components[{i}].dose_levels_mg", "must be decreasing"
    for i, step in enumerate(doc.get("steps", [])):
        names = [step["regimen"]] if "regimen" in step else []
        names += [arm["regimen"] for arm in step.get("arms", [])]
        for regimen in names:
            if regimen not in regimens:
                yield f"steps[{i}]", f"unknown regimen {regimen!r}"


def _criterion_problems(doc: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    seen: set[str] = set()
    for section in ("inclusion", "exclusion"):
        for i, crit in enumerate(doc.get("eligibility", {}).get(section, [])):
            path = f"eligibility.{section}[{i}]"
            if crit["id"] in seen:
                yield path + ".id", f"duplicate criterion id {crit['id']!r}"
            seen.add(crit["id"])
            if crit["kind"] != "numeric":
                continue
            quantity = QUANTITIES.get(crit.get("quantity", ""))
            if quantity is None:
                yield path + ".quantity", f"unknown quantity {crit.get('quantity')!r}"
            elif crit.get("unit") != quantity.canonical_unit:
                yield (
                    path + ".unit",
                    f"unit must be the canonical {quantity.canonical_unit!r} for {quantity.code}",
                )


def _randomization_problems(doc: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    rando = doc.get("randomization")
    arms = {arm["code"] for step in doc.get("steps", []) for arm in step.get("arms", [])}
    if rando is None:
        if arms:
            yield "randomization", "a step has arms but the protocol has no randomization"
        return
    if set(rando["ratio"]) != arms:
        yield (
            "randomization.ratio",
            f"ratio arms {sorted(rando['ratio'])} != step arms {sorted(arms)}",
        )
    total = sum(rando["ratio"].values())
    for j, size in enumerate(rando.get("block_sizes", [])):
        if size % total:
            yield f"randomization.block_sizes[{j}]", f"{size} is not a multiple of {total}"
    factors = {f["code"] for f in doc.get("stratification", {}).get("factors", [])}
    for factor in rando.get("minimization", {}).get("weights", {}):
        if factor not in factors:
            yield "randomization.minimization.weights", f"unknown factor {factor!r}"


# Blood count terms whose lower limit of normal the protocol may give (CTCAE grade 1).
LLN_QUANTITIES = ("anc", "wbc", "platelets", "haemoglobin", "lymphocytes")


def _lab_reference_problems(doc: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for code, entry in doc.get("lab_reference", {}).get("lln", {}).items():
        path = f"lab_reference.lln.{code}"
        if code not in LLN_QUANTITIES:
            yield path, f"unknown blood count quantity {code!r}"
        elif entry.get("unit") != QUANTITIES[code].canonical_unit:
            yield path + ".unit", f"unit must be the canonical {QUANTITIES[code].canonical_unit!r}"


def semantic_problems(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        *_regimen_problems(doc),
        *_criterion_problems(doc),
        *_randomization_problems(doc),
        *_lab_reference_problems(doc),
    ]
