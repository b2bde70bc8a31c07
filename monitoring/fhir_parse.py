"""Reading ESR1 ctDNA results from FHIR R4 Bundles, and FHIR answers to the lab.

Labs may post a Bundle (type ``transaction`` or ``collection``) of variant Observations instead
of the JSON contract (FHIR R4). This module turns such a Bundle into result payloads
of the JSON contract, validating codes and systems rather than only the structure, and builds
the transaction-response Bundle and OperationOutcome answers. It imports no Django: the API view
calls it and passes the payloads to the same service as the JSON endpoint.

Sources:

- HL7 FHIR R4 (4.0.1): Bundle, Observation (invariant obs-6: ``dataAbsentReason`` only when no
  ``value[x]``), OperationOutcome and its IssueType codes. Structure and datatypes are checked
  with ``fhir.resources.R4B`` 8.3.0 (its Observation matches R4, see ``../shared/ECOSYSTEM.md``),
  which does not check code values; this module does.
- HL7 Genomics Reporting IG (STU2 2.0.0, STU3 3.0.0), profile "Variant": ``Observation.code``
  LOINC 69548-6 "Genetic variant assessment"; value LOINC LA9633-4 Present / LA9634-2 Absent;
  components gene studied LOINC 48018-6 (HGNC code), amino-acid change p.HGVS LOINC 48005-3
  (system ``http://varnomen.hgvs.org``, often prefixed with the protein reference sequence as in
  ``NP_000116.2:p.Asp538Gly``), sample variant allelic frequency LOINC 81258-6.
- HGVS nomenclature for the protein change: :mod:`monitoring.rules.hgvs`.
- ``../shared/DOMAIN.md`` 1.4: copies/mL and allele fraction are both reported [C:S7].

Decisions:

- HGNC gene codes are accepted under ``http://www.genenames.org/geneId`` (STU1/STU2 examples),
  ``http://www.genenames.org`` (STU3, HL7 terminology) and ``http://www.genenames.org/geneid``.
  Only ESR1 (``HGNC:3467``) is supported.
- Allelic frequency: UCUM (``http://unitsofmeasure.org``) code ``%`` is divided by 100; code
  ``1`` or no unit is a fraction. The IG examples use both. Other units, and a comparator (``<``,
  an inexact value), are rejected. If the quantity has no ``code``, its ``unit`` text is used.
- Copies per mL of plasma have no LOINC code: they travel as an optional component coded
  ``urn:trial:ctdna#copies-per-ml`` (:data:`CTDNA_SYSTEM`, :data:`COPIES_PER_ML_CODE`), with
  UCUM ``/mL``, ``{copies}/mL`` or no unit.
- ``status`` ``final``, ``amended`` or ``corrected`` means reported; ``cancelled`` with a
  ``dataAbsentReason`` (its text, else its coding's display or code) means the analysis failed;
  any other status is rejected. A cancelled Observation carries no value (obs-6).
- ``effectiveDateTime`` is the blood draw and ``issued`` the analysis: the calendar date as
  written, without time-zone conversion. A partial date is rejected.
- ``subject`` is ``Patient/<trial number>`` (a relative or absolute reference) or an identifier;
  ``specimen`` is ``Specimen/<sample id>`` or an identifier (its ``value``, any system).
- The assay is ``Observation.method`` (text, else the first coding's display or code), and the
  caller's default (the protocol's assay) when absent.
- Observations are grouped by specimen into one payload; variants keep the Bundle's order. An
  Absent Observation adds no variant, so an all-Absent specimen has an empty variants list.
  Components other than the four above (the IG defines many) are ignored.
- A specimen with any problem yields no payload at all: dropping one of its Observations would
  store an incomplete result, and a missing variant reads as "not detected".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from http import HTTPStatus
from typing import Any, NamedTuple

import pydantic
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.observation import Observation, ObservationComponent
from fhir.resources.R4B.quantity import Quantity
from fhir.resources.R4B.reference import Reference

from monitoring.rules.hgvs import HgvsError, normalize_protein_change

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
HGVS_SYSTEM = "http://varnomen.hgvs.org"
HGNC_SYSTEMS = frozenset(
    {
        "http://www.genenames.org/geneId",
        "http://www.genenames.org",
        "http://www.genenames.org/geneid",
    }
)
ESR1_HGNC = "HGNC:3467"
ESR1 = "ESR1"
VARIANT_ASSESSMENT = "69548-6"
PRESENT = "LA9633-4"
ABSENT = "LA9634-2"
GENE_STUDIED = "48018-6"
AMINO_ACID_CHANGE = "48005-3"
ALLELIC_FREQUENCY = "81258-6"
CTDNA_SYSTEM = "urn:trial:ctdna"
COPIES_PER_ML_CODE = "copies-per-ml"
#: System of the stable problem codes in ``OperationOutcome.issue.details``.
ISSUE_SYSTEM = "urn:trial:issue"

ACCEPTED_BUNDLE_TYPES = ("transaction", "collection")
REPORTED_STATUSES = ("final", "amended", "corrected")
FAILED_STATUS = "cancelled"
TRANSACTION_METHODS = ("POST", "PUT")
RESPONSE_BUNDLE_TYPES = ("transaction-response", "batch-response")

# Stable problem codes (an API contract).
INVALID_BUNDLE = "invalid_bundle"
UNSUPPORTED_BUNDLE_TYPE = "unsupported_bundle_type"
EMPTY_BUNDLE = "empty_bundle"
INVALID_STRUCTURE = "invalid_structure"
MISSING_ELEMENT = "missing_element"
UNSUPPORTED_RESOURCE = "unsupported_resource"
UNSUPPORTED_REQUEST = "unsupported_request"
UNSUPPORTED_STATUS = "unsupported_status"
WRONG_CODE = "wrong_code"
WRONG_SYSTEM = "wrong_system"
GENE_NOT_SUPPORTED = "gene_not_supported"
INVALID_HGVS = "invalid_hgvs"
UNSUPPORTED_UNIT = "unsupported_unit"
UNSUPPORTED_COMPARATOR = "unsupported_comparator"
VAF_OUT_OF_RANGE = "vaf_out_of_range"
NEGATIVE_COPIES = "negative_copies"
INVALID_DATE = "invalid_date"
INVALID_REFERENCE = "invalid_reference"
FAILURE_REASON_REQUIRED = "failure_reason_required"
FAILED_WITH_VARIANTS = "failed_with_variants"
DUPLICATE_COMPONENT = "duplicate_component"
DUPLICATE_VARIANT = "duplicate_variant"
INCONSISTENT_SPECIMEN = "inconsistent_specimen"

#: FHIR IssueType of each stable code; other codes default to ``processing``.
ISSUE_TYPES: dict[str, str] = {
    INVALID_BUNDLE: "structure",
    INVALID_STRUCTURE: "structure",
    UNSUPPORTED_BUNDLE_TYPE: "not-supported",
    UNSUPPORTED_RESOURCE: "not-supported",
    UNSUPPORTED_REQUEST: "not-supported",
    UNSUPPORTED_STATUS: "not-supported",
    UNSUPPORTED_UNIT: "not-supported",
    UNSUPPORTED_COMPARATOR: "not-supported",
    GENE_NOT_SUPPORTED: "not-supported",
    EMPTY_BUNDLE: "required",
    MISSING_ELEMENT: "required",
    FAILURE_REASON_REQUIRED: "required",
    WRONG_CODE: "code-invalid",
    WRONG_SYSTEM: "code-invalid",
    INVALID_HGVS: "value",
    VAF_OUT_OF_RANGE: "value",
    NEGATIVE_COPIES: "value",
    INVALID_DATE: "value",
    INVALID_REFERENCE: "value",
    FAILED_WITH_VARIANTS: "invariant",
    DUPLICATE_COMPONENT: "duplicate",
    DUPLICATE_VARIANT: "duplicate",
    INCONSISTENT_SPECIMEN: "business-rule",
    # Codes of monitoring.rules.ctdna.validate_result_payload, when the caller reports them.
    "date_in_future": "business-rule",
    "analysed_before_collected": "business-rule",
    "collected_before_enrolment": "business-rule",
    "missing_measurement": "required",
}

_FHIR_ID = r"[A-Za-z0-9\-.]{1,64}"
_REFERENCE = {
    "Patient": re.compile(rf"(?:.*/)?Patient/({_FHIR_ID})"),
    "Specimen": re.compile(rf"(?:.*/)?Specimen/({_FHIR_ID})"),
}
_SEQUENCE_PREFIX = re.compile(r"(?:[A-Z]{2}_[0-9]+|ENSP[0-9]+)(?:\.[0-9]+)?:")
_COPIES_UNITS = ("/mL", "{copies}/mL")
_VALUE_ELEMENTS = tuple(
    name for name in Observation.model_fields if name.startswith("value") and "__" not in name
)


class FhirProblem(NamedTuple):
    """A problem at a FHIRPath-style ``expression``, with a stable ``code``.

    ``issue_type`` overrides the OperationOutcome IssueType looked up in :data:`ISSUE_TYPES`.
    """

    expression: str
    code: str
    message: str
    issue_type: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedResult:
    """One specimen's result in the lab JSON contract, and the Bundle entries it came from."""

    payload: dict[str, Any]
    entry_indexes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class EntryOutcome:
    """What happened to the Bundle entries of one result, for the transaction response.

    ``status`` is the HTTP status (201 stored, 200 identical replay, ...); ``location`` the URL
    of the stored result; ``problems`` become the entry's ``response.outcome``.
    """

    entry_indexes: tuple[int, ...]
    status: int
    location: str | None = None
    problems: tuple[FhirProblem, ...] = ()


@dataclass(slots=True)
class _ObservationValues:
    """One Observation, reduced to the values of the JSON contract."""

    index: int
    sample_id: str
    patient_id: str
    collected_on: date
    analysed_on: date
    status: str
    assay: str
    failure_reason: str | None = None
    variant: dict[str, Any] | None = None
    change_expression: str = ""


@dataclass(slots=True)
class _Problems:
    items: list[FhirProblem] = field(default_factory=list)

    def add(self, expression: str, code: str, message: str) -> None:
        self.items.append(FhirProblem(expression, code, message))

    def add_validation_error(self, path: str, error: pydantic.ValidationError) -> None:
        for detail in error.errors():
            location = path + "".join(
                f"[{part}]" if isinstance(part, int) else f".{part}" for part in detail["loc"]
            )
            missing = str(detail["type"]).endswith("missing")
            self.add(location, MISSING_ELEMENT if missing else INVALID_STRUCTURE, detail["msg"])


# Parsing --------------------------------------------------------------------------------------


def parse_bundle(
    bundle: object, *, default_assay: str
) -> tuple[list[ParsedResult], list[FhirProblem]]:
    """Parse a Bundle (a JSON object) of Genomics Reporting variant Observations.

    Returns the payloads of the specimens without problems, each with the indexes of its
    entries, and every problem found (FHIRPath-style expression, stable code, message).
    ``default_assay`` is the protocol's assay, used when an Observation has no method.
    """
    problems = _Problems()
    entries = _bundle_entries(bundle, problems)
    bundle_type = bundle.get("type") if isinstance(bundle, Mapping) else None
    observations: list[_ObservationValues] = []
    failed_samples: set[str] = set()
    for index, entry in enumerate(entries):
        entry_problems = _Problems()
        path = f"Bundle.entry[{index}]"
        parsed = _parse_entry(entry, path, index, bundle_type, default_assay, entry_problems)
        problems.items += entry_problems.items
        if parsed is None or entry_problems.items:
            failed_samples.add(_sample_id_of(entry))
        else:
            observations.append(parsed)
    results = []
    for sample_id, group in _by_specimen(observations).items():
        group_problems = _group_problems(group)
        problems.items += group_problems
        if sample_id not in failed_samples and not group_problems:
            results.append(_payload(group))
    return results, problems.items


def _bundle_entries(bundle: object, problems: _Problems) -> list[Any]:
    if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
        problems.add("Bundle", INVALID_BUNDLE, "The body must be a FHIR Bundle resource.")
        return []
    bundle_type = bundle.get("type")
    if bundle_type not in ACCEPTED_BUNDLE_TYPES:
        problems.add(
            "Bundle.type",
            UNSUPPORTED_BUNDLE_TYPE,
            f"Bundle type {bundle_type!r} is not accepted: use transaction or collection.",
        )
        return []
    shell = {key: value for key, value in bundle.items() if key != "entry"}
    try:
        Bundle.model_validate(shell)
    except pydantic.ValidationError as error:
        problems.add_validation_error("Bundle", error)
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        problems.add("Bundle.entry", EMPTY_BUNDLE, "The Bundle has no entries.")
        return []
    return entries


def _parse_entry(
    entry: object,
    path: str,
    index: int,
    bundle_type: object,
    default_assay: str,
    problems: _Problems,
) -> _ObservationValues | None:
    if not isinstance(entry, Mapping):
        problems.add(path, INVALID_STRUCTURE, "A Bundle entry must be an object.")
        return None
    _check_entry_shell(entry, path, bundle_type, problems)
    resource = entry.get("resource")
    if not isinstance(resource, Mapping):
        problems.add(f"{path}.resource", MISSING_ELEMENT, "The entry has no resource.")
        return None
    path = f"{path}.resource"
    if resource.get("resourceType") != "Observation":
        problems.add(
            path,
            UNSUPPORTED_RESOURCE,
            f"Only Observation resources are accepted, not {resource.get('resourceType')!r}.",
        )
        return None
    try:
        observation = Observation.model_validate(resource)
    except pydantic.ValidationError as error:
        problems.add_validation_error(path, error)
        return None
    return _ObservationReader(observation, path, index, default_assay, problems).read()


def _check_entry_shell(
    entry: Mapping[str, Any], path: str, bundle_type: object, problems: _Problems
) -> None:
    shell = {key: value for key, value in entry.items() if key != "resource"}
    try:
        parsed = BundleEntry.model_validate(shell)
    except pydantic.ValidationError as error:
        problems.add_validation_error(path, error)
        return
    if bundle_type != "transaction":
        return
    if parsed.request is None:
        problems.add(f"{path}.request", MISSING_ELEMENT, "A transaction entry needs a request.")
    elif parsed.request.method not in TRANSACTION_METHODS:
        problems.add(
            f"{path}.request.method",
            UNSUPPORTED_REQUEST,
            f"Request method {parsed.request.method!r} is not accepted: use POST or PUT.",
        )


def _sample_id_of(entry: object) -> str:
    """Best-effort specimen id of an entry that failed, so its specimen yields no payload."""
    try:
        specimen = entry["resource"]["specimen"]  # type: ignore[index]
        reference = Reference.model_validate(specimen)
    except (KeyError, TypeError, pydantic.ValidationError):
        return ""
    return _reference_id(reference, "Specimen") or ""


class _ObservationReader:
    """Reads one validated Observation into :class:`_ObservationValues`, noting each problem."""

    def __init__(
        self,
        observation: Observation,
        path: str,
        index: int,
        default_assay: str,
        problems: _Problems,
    ) -> None:
        self.observation = observation
        self.path = path
        self.index = index
        self.default_assay = default_assay
        self.problems = problems

    def read(self) -> _ObservationValues | None:
        observation, path = self.observation, self.path
        status = self._status()
        self._check_code()
        patient_id = self._reference(observation.subject, "subject", "Patient")
        sample_id = self._reference(observation.specimen, "specimen", "Specimen")
        collected_on = self._date(observation.effectiveDateTime, "effectiveDateTime")
        analysed_on = self._date(observation.issued, "issued")
        components = _ComponentReader(observation.component or [], path, self.problems).read()
        if status == "failed":
            failure_reason, variant = self._failure(), None
        else:
            failure_reason, variant = None, self._variant(components)
        if (
            self.problems.items
            or status is None
            or patient_id is None
            or sample_id is None
            or collected_on is None
            or analysed_on is None
        ):
            return None
        return _ObservationValues(
            index=self.index,
            sample_id=sample_id,
            patient_id=patient_id,
            collected_on=collected_on,
            analysed_on=analysed_on,
            status=status,
            assay=_concept_text(observation.method) or self.default_assay,
            failure_reason=failure_reason,
            variant=variant,
            change_expression=components.get("change_expression", ""),
        )

    def _status(self) -> str | None:
        status = self.observation.status
        if status in REPORTED_STATUSES:
            return "reported"
        if status == FAILED_STATUS:
            return "failed"
        self.problems.add(
            f"{self.path}.status",
            UNSUPPORTED_STATUS,
            f"Status {status!r} is not accepted: use final, amended, corrected or cancelled.",
        )
        return None

    def _check_code(self) -> None:
        codings = self.observation.code.coding or []
        _check_coding(
            codings, LOINC, (VARIANT_ASSESSMENT,), f"{self.path}.code", "LOINC", self.problems
        )

    def _reference(self, reference: Reference | None, element: str, kind: str) -> str | None:
        expression = f"{self.path}.{element}"
        if reference is None:
            self.problems.add(expression, MISSING_ELEMENT, f"The {element} is required.")
            return None
        value = _reference_id(reference, kind)
        if value is None:
            self.problems.add(
                expression,
                INVALID_REFERENCE,
                f"The {element} must be a reference {kind}/<id> or an identifier with a value.",
            )
        return value

    def _date(self, value: object, element: str) -> date | None:
        expression = f"{self.path}.{element}"
        if value is None:
            self.problems.add(expression, MISSING_ELEMENT, f"{element} is required.")
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        self.problems.add(expression, INVALID_DATE, f"{element} must be a full date.")
        return None

    def _failure(self) -> str | None:
        observation, path = self.observation, self.path
        if any(getattr(observation, name) is not None for name in _VALUE_ELEMENTS):
            self.problems.add(
                f"{path}.value[x]",
                FAILED_WITH_VARIANTS,
                "A cancelled Observation carries no value (obs-6).",
            )
        reason = _concept_text(observation.dataAbsentReason)
        if reason is None:
            self.problems.add(
                f"{path}.dataAbsentReason",
                FAILURE_REASON_REQUIRED,
                "A cancelled Observation needs a dataAbsentReason saying why the analysis failed.",
            )
        return reason

    def _variant(self, components: dict[str, Any]) -> dict[str, Any] | None:
        present = self._presence()
        if present is not True:
            return None
        for key, name, code in (
            ("protein_change", "amino acid change", AMINO_ACID_CHANGE),
            ("vaf", "sample allelic frequency", ALLELIC_FREQUENCY),
        ):
            if key not in components:
                self.problems.add(
                    f"{self.path}.component",
                    MISSING_ELEMENT,
                    f"A Present variant needs the {name} component (LOINC {code}).",
                )
        return {
            "gene": ESR1,
            "protein_change": components.get("protein_change"),
            "vaf": components.get("vaf"),
            "copies_per_ml": components.get("copies_per_ml"),
        }

    def _presence(self) -> bool | None:
        expression = f"{self.path}.valueCodeableConcept"
        value = self.observation.valueCodeableConcept
        if value is None:
            self.problems.add(
                expression, MISSING_ELEMENT, "valueCodeableConcept Present or Absent is required."
            )
            return None
        code = _check_coding(
            value.coding or [], LOINC, (PRESENT, ABSENT), expression, "LOINC", self.problems
        )
        return None if code is None else code == PRESENT


class _ComponentReader:
    """Reads the gene, amino-acid change, allelic frequency and copies/mL components."""

    _KINDS = {
        (LOINC, GENE_STUDIED): "gene",
        (LOINC, AMINO_ACID_CHANGE): "protein_change",
        (LOINC, ALLELIC_FREQUENCY): "vaf",
        (CTDNA_SYSTEM, COPIES_PER_ML_CODE): "copies_per_ml",
    }
    _SYSTEM_OF_CODE = {code: system for system, code in _KINDS}

    def __init__(
        self, components: Sequence[ObservationComponent], path: str, problems: _Problems
    ) -> None:
        self.components = components
        self.path = path
        self.problems = problems

    def read(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for index, component in enumerate(self.components):
            path = f"{self.path}.component[{index}]"
            kind = self._kind(component, path)
            if kind is None:
                continue
            if kind in values:
                self.problems.add(
                    path, DUPLICATE_COMPONENT, f"The {kind} component appears more than once."
                )
                continue
            values[kind] = getattr(self, f"_{kind}")(component, path)
            if kind == "protein_change":
                values["change_expression"] = path
        if "gene" not in values:
            self.problems.add(
                f"{self.path}.component",
                MISSING_ELEMENT,
                f"The gene studied component (LOINC {GENE_STUDIED}, {ESR1_HGNC}) is required.",
            )
        return values

    def _kind(self, component: ObservationComponent, path: str) -> str | None:
        codings = component.code.coding or []
        for coding in codings:
            kind = self._KINDS.get((coding.system, coding.code))
            if kind is not None:
                return kind
        for index, coding in enumerate(codings):
            expected = self._SYSTEM_OF_CODE.get(coding.code)
            if expected is not None:
                self.problems.add(
                    f"{path}.code.coding[{index}].system",
                    WRONG_SYSTEM,
                    f"Code {coding.code} belongs to {expected}, not {coding.system!r}.",
                )
        return None

    def _gene(self, component: ObservationComponent, path: str) -> str | None:
        expression = f"{path}.valueCodeableConcept"
        value = component.valueCodeableConcept
        if value is None:
            self.problems.add(expression, MISSING_ELEMENT, f"The gene must be coded {ESR1_HGNC}.")
            return None
        codings = value.coding or []
        for coding in codings:
            if coding.system in HGNC_SYSTEMS:
                if coding.code == ESR1_HGNC:
                    return ESR1
                self.problems.add(
                    expression,
                    GENE_NOT_SUPPORTED,
                    f"Gene {coding.code} is not supported: only {ESR1} ({ESR1_HGNC}) is monitored.",
                )
                return None
        self.problems.add(
            f"{expression}.coding",
            WRONG_SYSTEM,
            f"The gene must be coded in HGNC ({sorted(HGNC_SYSTEMS)[0]}), e.g. {ESR1_HGNC}.",
        )
        return None

    def _protein_change(self, component: ObservationComponent, path: str) -> str | None:
        expression, text = self._hgvs_text(component, path)
        if text is None:
            return None
        text = _SEQUENCE_PREFIX.sub("", text.strip(), count=1)
        try:
            return normalize_protein_change(text)
        except HgvsError as error:
            self.problems.add(expression, INVALID_HGVS, error.message)
            return None

    def _hgvs_text(self, component: ObservationComponent, path: str) -> tuple[str, str | None]:
        if component.valueString is not None:
            return f"{path}.valueString", component.valueString
        value = component.valueCodeableConcept
        expression = f"{path}.valueCodeableConcept"
        if value is None:
            self.problems.add(
                f"{path}.value[x]", MISSING_ELEMENT, "The amino acid change needs a value."
            )
            return expression, None
        for index, coding in enumerate(value.coding or []):
            if coding.system == HGVS_SYSTEM:
                code_expression = f"{expression}.coding[{index}].code"
                if not coding.code:
                    self.problems.add(code_expression, MISSING_ELEMENT, "The HGVS code is empty.")
                return code_expression, coding.code
        if value.coding:
            self.problems.add(
                f"{expression}.coding",
                WRONG_SYSTEM,
                f"The amino acid change must be coded in HGVS ({HGVS_SYSTEM}).",
            )
            return expression, None
        if not value.text:
            self.problems.add(expression, MISSING_ELEMENT, "The amino acid change needs a value.")
        return f"{expression}.text", value.text

    def _vaf(self, component: ObservationComponent, path: str) -> float | None:
        quantity = self._quantity(component, path)
        if quantity is None:
            return None
        unit = quantity.code if quantity.code is not None else quantity.unit
        expression = f"{path}.valueQuantity"
        if unit not in ("%", "1", None):
            self.problems.add(
                f"{expression}.code",
                UNSUPPORTED_UNIT,
                f"Allelic frequency unit {unit!r}: use % or 1.",
            )
            return None
        fraction = Decimal(quantity.value) / (100 if unit == "%" else 1)
        if not 0 <= fraction <= 1:
            self.problems.add(
                f"{expression}.value",
                VAF_OUT_OF_RANGE,
                "The allelic frequency must lie between 0 and 1 (0% and 100%).",
            )
            return None
        return float(fraction)

    def _copies_per_ml(self, component: ObservationComponent, path: str) -> float | None:
        quantity = self._quantity(component, path)
        if quantity is None:
            return None
        unit = quantity.code if quantity.code is not None else quantity.unit
        expression = f"{path}.valueQuantity"
        if unit is not None and unit not in _COPIES_UNITS:
            self.problems.add(
                f"{expression}.code", UNSUPPORTED_UNIT, f"Copies unit {unit!r}: use /mL."
            )
            return None
        if quantity.value < 0:
            self.problems.add(
                f"{expression}.value", NEGATIVE_COPIES, "Copies/mL must not be negative."
            )
            return None
        return float(quantity.value)

    def _quantity(self, component: ObservationComponent, path: str) -> Quantity | None:
        quantity = component.valueQuantity
        expression = f"{path}.valueQuantity"
        if quantity is None or quantity.value is None:
            self.problems.add(
                expression, MISSING_ELEMENT, "A valueQuantity with a value is needed."
            )
            return None
        if quantity.comparator is not None:
            self.problems.add(
                f"{expression}.comparator",
                UNSUPPORTED_COMPARATOR,
                "Only exact quantities are accepted, without a comparator.",
            )
            return None
        if quantity.system is not None and quantity.system != UCUM:
            self.problems.add(
                f"{expression}.system", WRONG_SYSTEM, f"Quantity units must be UCUM ({UCUM})."
            )
            return None
        return quantity


def _check_coding(
    codings: Sequence[Any],
    system: str,
    accepted: tuple[str, ...],
    expression: str,
    system_name: str,
    problems: _Problems,
) -> str | None:
    """The accepted code among ``codings``; records wrong_system / wrong_code otherwise."""
    for coding in codings:
        if coding.system == system and coding.code in accepted:
            return coding.code
    for index, coding in enumerate(codings):
        if coding.code in accepted:
            problems.add(
                f"{expression}.coding[{index}].system",
                WRONG_SYSTEM,
                f"Code {coding.code} must use the {system_name} system {system}.",
            )
            return None
    problems.add(
        f"{expression}.coding",
        WRONG_CODE,
        f"Expected {system_name} {' or '.join(accepted)}.",
    )
    return None


def _reference_id(reference: Reference, kind: str) -> str | None:
    if reference.reference is not None:
        match = _REFERENCE[kind].fullmatch(reference.reference)
        return match.group(1) if match else None
    identifier = reference.identifier
    if identifier is not None and identifier.value and identifier.value.strip():
        return identifier.value.strip()
    return None


def _concept_text(concept: CodeableConcept | None) -> str | None:
    if concept is None:
        return None
    if concept.text and concept.text.strip():
        return concept.text.strip()
    for coding in concept.coding or []:
        label = coding.display or coding.code
        if label and label.strip():
            return label.strip()
    return None


# Grouping by specimen --------------------------------------------------------------------------

_AGREEING_ELEMENTS = (
    ("patient_id", "subject"),
    ("collected_on", "effectiveDateTime"),
    ("analysed_on", "issued"),
    ("status", "status"),
    ("assay", "method"),
)


def _by_specimen(observations: Iterable[_ObservationValues]) -> dict[str, list[_ObservationValues]]:
    groups: dict[str, list[_ObservationValues]] = {}
    for observation in observations:
        groups.setdefault(observation.sample_id, []).append(observation)
    return groups


def _group_problems(group: list[_ObservationValues]) -> list[FhirProblem]:
    first = group[0]
    problems = _Problems()
    seen: set[str] = set()
    for other in group:
        path = f"Bundle.entry[{other.index}].resource"
        for attribute, element in _AGREEING_ELEMENTS:
            if getattr(other, attribute) != getattr(first, attribute):
                problems.add(
                    f"{path}.{element}",
                    INCONSISTENT_SPECIMEN,
                    f"Specimen {first.sample_id}: {element} differs from entry {first.index}.",
                )
        change = other.variant["protein_change"] if other.variant else None
        if change in seen:
            problems.add(
                other.change_expression,
                DUPLICATE_VARIANT,
                f"Specimen {first.sample_id}: {change} is reported more than once.",
            )
        if change is not None:
            seen.add(change)
    return problems.items


def _payload(group: list[_ObservationValues]) -> ParsedResult:
    first = group[0]
    reasons = list(dict.fromkeys(o.failure_reason for o in group if o.failure_reason))
    payload = {
        "sample_id": first.sample_id,
        "patient_id": first.patient_id,
        "collected_on": first.collected_on.isoformat(),
        "analysed_on": first.analysed_on.isoformat(),
        "assay": first.assay,
        "status": first.status,
        "failure_reason": "; ".join(reasons) if reasons else None,
        "variants": [o.variant for o in group if o.variant is not None],
    }
    return ParsedResult(payload=payload, entry_indexes=tuple(o.index for o in group))


# Answers ---------------------------------------------------------------------------------------


def build_operation_outcome(problems: Iterable[FhirProblem]) -> dict[str, Any]:
    """An OperationOutcome (a JSON object) with one error issue per problem.

    Each issue carries the FHIR IssueType, the stable code in ``details.coding`` (system
    :data:`ISSUE_SYSTEM`), the message as ``details.text`` and the location as ``expression``.
    With no problems, a single ``information`` issue says so (FHIR requires at least one issue).
    """
    issues = [_issue(problem) for problem in problems]
    if not issues:
        issues = [
            {
                "severity": "information",
                "code": "informational",
                "details": {"text": "No problems found."},
            }
        ]
    return {"resourceType": "OperationOutcome", "issue": issues}


def _issue(problem: FhirProblem) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "severity": "error",
        "code": problem.issue_type or ISSUE_TYPES.get(problem.code, "processing"),
        "details": {
            "coding": [{"system": ISSUE_SYSTEM, "code": problem.code}],
            "text": problem.message,
        },
    }
    if problem.expression:
        issue["expression"] = [problem.expression]
    return issue


def build_transaction_response(
    outcomes: Iterable[EntryOutcome],
    *,
    entry_count: int,
    bundle_type: str = "transaction-response",
) -> dict[str, Any]:
    """A transaction-response (or batch-response) Bundle answering a request Bundle.

    FHIR requires one response entry per request entry, in the same order: the outcomes must
    cover each index in ``range(entry_count)`` exactly once (``ValueError`` otherwise, and for an
    unknown HTTP status or Bundle type).
    """
    if bundle_type not in RESPONSE_BUNDLE_TYPES:
        raise ValueError(f"Bundle type {bundle_type!r} is not a response type.")
    responses: dict[int, dict[str, Any]] = {}
    for outcome in outcomes:
        response = _response(outcome)
        for index in outcome.entry_indexes:
            if index in responses or not 0 <= index < entry_count:
                raise ValueError(f"Entry {index} is answered twice or does not exist.")
            responses[index] = response
    if len(responses) != entry_count:
        raise ValueError("Every request entry needs exactly one response.")
    entries = [{"response": dict(responses[index])} for index in range(entry_count)]
    return {"resourceType": "Bundle", "type": bundle_type, "entry": entries}


def _response(outcome: EntryOutcome) -> dict[str, Any]:
    status = HTTPStatus(outcome.status)
    response: dict[str, Any] = {"status": f"{status.value} {status.phrase}"}
    if outcome.location:
        response["location"] = outcome.location
    if outcome.problems:
        response["outcome"] = build_operation_outcome(outcome.problems)
    return response
