"""FHIR R4 Bundles of Genomics Reporting variant Observations (monitoring.fhir_parse).

Bundles are built with fhir.resources (R4B) objects and serialised with
``model_dump(mode="json")``, as a lab's FHIR client would send them.
"""

from datetime import date
from decimal import Decimal

import pytest
from fhir.resources.R4B.bundle import Bundle, BundleEntry, BundleEntryRequest
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.observation import Observation, ObservationComponent
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.quantity import Quantity
from fhir.resources.R4B.reference import Reference
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring.fhir_parse import (
    COPIES_PER_ML_CODE,
    CTDNA_SYSTEM,
    ISSUE_SYSTEM,
    ISSUE_TYPES,
    EntryOutcome,
    FhirProblem,
    ParsedResult,
    build_operation_outcome,
    build_transaction_response,
    parse_bundle,
)
from monitoring.rules.ctdna import validate_result_payload

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
HGVS = "http://varnomen.hgvs.org"
HGNC = "http://www.genenames.org/geneid"
PATIENT = "PADA1-FR01-0007"
SAMPLE = "S-000123"

# FHIR R4 IssueType value set (http://hl7.org/fhir/issue-type).
FHIR_ISSUE_TYPES = {
    "invalid",
    "structure",
    "required",
    "value",
    "invariant",
    "security",
    "login",
    "unknown",
    "expired",
    "forbidden",
    "suppressed",
    "processing",
    "not-supported",
    "duplicate",
    "multiple-matches",
    "not-found",
    "deleted",
    "too-long",
    "code-invalid",
    "extension",
    "too-costly",
    "business-rule",
    "conflict",
    "transient",
    "lock-error",
    "no-store",
    "exception",
    "timeout",
    "incomplete",
    "throttled",
    "informational",
}


def concept(system, code, display=None):
    return CodeableConcept(coding=[Coding(system=system, code=code, display=display)])


def gene(system=HGNC, code="HGNC:3467"):
    return ObservationComponent(
        code=concept(LOINC, "48018-6", "Gene studied [ID]"),
        valueCodeableConcept=concept(system, code, "ESR1"),
    )


def amino_acid_change(value="NP_000116.2:p.Asp538Gly", system=HGVS):
    return ObservationComponent(
        code=concept(LOINC, "48005-3", "Amino acid change (pHGVS)"),
        valueCodeableConcept=concept(system, value),
    )


def allelic_frequency(value=1.23, unit="%", system=UCUM, comparator=None):
    quantity = Quantity(value=value, unit=unit, system=system, code=unit, comparator=comparator)
    return ObservationComponent(
        code=concept(LOINC, "81258-6", "Sample variant allelic frequency [NFr]"),
        valueQuantity=quantity,
    )


def copies_per_ml(value=14.0, unit="/mL"):
    return ObservationComponent(
        code=concept(CTDNA_SYSTEM, COPIES_PER_ML_CODE, "ESR1 mutant copies per mL of plasma"),
        valueQuantity=Quantity(value=value, unit=unit, system=UCUM, code=unit),
    )


def observation(
    *,
    sample=SAMPLE,
    patient=PATIENT,
    present=True,
    components=None,
    status="final",
    collected="2027-03-02",
    analysed="2027-03-14T09:30:00+01:00",
    **extra,
):
    if components is None:
        components = [gene(), amino_acid_change(), allelic_frequency(), copies_per_ml()]
    value = concept(
        LOINC, "LA9633-4" if present else "LA9634-2", "Present" if present else "Absent"
    )
    return Observation(
        status=status,
        category=[
            concept("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory")
        ],
        code=concept(LOINC, "69548-6", "Genetic variant assessment"),
        subject=Reference(reference=f"Patient/{patient}"),
        specimen=Reference(reference=f"Specimen/{sample}"),
        effectiveDateTime=collected,
        issued=analysed,
        valueCodeableConcept=value,
        component=components,
        **extra,
    )


def absent(change="NP_000116.2:p.Tyr537Ser", **kwargs):
    return observation(present=False, components=[gene(), amino_acid_change(change)], **kwargs)


def failed(reason="insufficient cfDNA", **kwargs):
    return Observation(
        status="cancelled",
        code=concept(LOINC, "69548-6"),
        subject=Reference(reference=f"Patient/{kwargs.get('patient', PATIENT)}"),
        specimen=Reference(reference=f"Specimen/{kwargs.get('sample', 'S-000124')}"),
        effectiveDateTime="2027-04-27",
        issued="2027-05-06T10:00:00Z",
        dataAbsentReason=CodeableConcept(
            coding=[
                Coding(
                    system="http://terminology.hl7.org/CodeSystem/data-absent-reason",
                    code="error",
                    display="Error",
                )
            ],
            text=reason,
        ),
        component=[gene()],
    )


def bundle(*resources, bundle_type="transaction"):
    entries = []
    for index, resource in enumerate(resources):
        entry = BundleEntry(
            fullUrl=f"urn:uuid:00000000-0000-4000-8000-{index:012d}", resource=resource
        )
        if bundle_type == "transaction":
            entry.request = BundleEntryRequest(method="POST", url=resource.get_resource_type())
        entries.append(entry)
    return Bundle(type=bundle_type, entry=entries).model_dump(mode="json")


def parse(data):
    return parse_bundle(data, default_assay="ddPCR")


def problem_codes(problems):
    return [(p.expression, p.code) for p in problems]


def only_payload(data):
    results, problems = parse(data)
    assert problems == []
    (result,) = results
    return result.payload


# Parsing ---------------------------------------------------------------------------------------


def test_transaction_bundle_is_grouped_by_specimen_into_contract_payloads():
    e380q = observation(
        components=[
            gene(),
            amino_acid_change("p.Glu380Gln"),
            allelic_frequency(0.004, unit="1"),
        ]
    )
    data = bundle(observation(), absent(), e380q, failed())

    results, problems = parse(data)

    assert problems == []
    assert results == [
        ParsedResult(
            payload={
                "sample_id": SAMPLE,
                "patient_id": PATIENT,
                "collected_on": "2027-03-02",
                "analysed_on": "2027-03-14",
                "assay": "ddPCR",
                "status": "reported",
                "failure_reason": None,
                "variants": [
                    {
                        "gene": "ESR1",
                        "protein_change": "p.D538G",
                        "vaf": 0.0123,
                        "copies_per_ml": 14.0,
                    },
                    {
                        "gene": "ESR1",
                        "protein_change": "p.E380Q",
                        "vaf": 0.004,
                        "copies_per_ml": None,
                    },
                ],
            },
            entry_indexes=(0, 1, 2),
        ),
        ParsedResult(
            payload={
                "sample_id": "S-000124",
                "patient_id": PATIENT,
                "collected_on": "2027-04-27",
                "analysed_on": "2027-05-06",
                "assay": "ddPCR",
                "status": "failed",
                "failure_reason": "insufficient cfDNA",
                "variants": [],
            },
            entry_indexes=(3,),
        ),
    ]


def test_parsed_payloads_pass_the_json_contract_validation():
    results, _ = parse(bundle(observation(), absent(), failed()))

    for result in results:
        assert validate_result_payload(result.payload, today=date(2027, 6, 1)) == []


def test_all_absent_specimen_has_no_variants():
    payload = only_payload(bundle(absent(), absent("p.Asp538Gly"), absent("p.L536H")))

    assert payload["status"] == "reported"
    assert payload["variants"] == []


def test_collection_bundle_needs_no_requests():
    payload = only_payload(bundle(observation(), bundle_type="collection"))

    assert payload["variants"][0]["protein_change"] == "p.D538G"


@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
def test_final_amended_and_corrected_mean_reported(status):
    assert only_payload(bundle(observation(status=status)))["status"] == "reported"


@pytest.mark.parametrize(
    "component",
    [
        amino_acid_change("p.D538G"),
        amino_acid_change("NP_000116.2:p.(Asp538Gly)"),
        amino_acid_change("ENSP00000206249.3:p.Asp538Gly"),
        ObservationComponent(code=concept(LOINC, "48005-3"), valueString="NP_000116.2:p.Asp538Gly"),
        ObservationComponent(code=concept(LOINC, "48005-3"), valueString="D538G"),
        ObservationComponent(
            code=concept(LOINC, "48005-3"), valueCodeableConcept=CodeableConcept(text="p.D538G")
        ),
    ],
)
def test_amino_acid_change_spellings(component):
    components = [gene(), component, allelic_frequency()]

    payload = only_payload(bundle(observation(components=components)))

    assert payload["variants"][0]["protein_change"] == "p.D538G"


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (1.23, "%", 0.0123),
        (0, "%", 0.0),
        (100, "%", 1.0),
        (0.11, "%", 0.0011),
        (0.0123, "1", 0.0123),
        (1, "1", 1.0),
        (0.35, None, 0.35),
    ],
)
def test_allelic_frequency_units(value, unit, expected):
    frequency = allelic_frequency(value, unit=unit, system=UCUM if unit else None)
    components = [gene(), amino_acid_change(), frequency]

    payload = only_payload(bundle(observation(components=components)))

    assert payload["variants"][0]["vaf"] == expected


def test_unit_text_is_used_when_the_quantity_has_no_code():
    frequency = ObservationComponent(
        code=concept(LOINC, "81258-6"), valueQuantity=Quantity(value=50, unit="%")
    )

    payload = only_payload(bundle(observation(components=[gene(), amino_acid_change(), frequency])))

    assert payload["variants"][0]["vaf"] == 0.5


@pytest.mark.parametrize("unit", ["/mL", "{copies}/mL", None])
def test_copies_units(unit):
    copies = ObservationComponent(
        code=concept(CTDNA_SYSTEM, COPIES_PER_ML_CODE),
        valueQuantity=Quantity(value=1225, code=unit, system=UCUM if unit else None),
    )
    components = [gene(), amino_acid_change(), allelic_frequency(), copies]

    payload = only_payload(bundle(observation(components=components)))

    assert payload["variants"][0]["copies_per_ml"] == 1225.0


@pytest.mark.parametrize(
    "system",
    [
        "http://www.genenames.org/geneid",
        "http://www.genenames.org/geneId",
        "http://www.genenames.org",
    ],
)
def test_hgnc_system_spellings_of_the_genomics_ig_versions(system):
    components = [gene(system=system), amino_acid_change(), allelic_frequency()]

    assert only_payload(bundle(observation(components=components)))["variants"][0]["gene"] == "ESR1"


def test_other_components_of_the_genomics_ig_are_ignored():
    extra = [
        ObservationComponent(
            code=concept(LOINC, "48004-6", "DNA change (c.HGVS)"),
            valueCodeableConcept=concept(HGVS, "NM_000125.4:c.1613A>G"),
        ),
        ObservationComponent(
            code=concept(LOINC, "48002-0", "Genomic source class"),
            valueCodeableConcept=concept(LOINC, "LA6684-0", "Somatic"),
        ),
    ]
    components = [*extra, gene(), amino_acid_change(), allelic_frequency(), copies_per_ml()]

    payload = only_payload(bundle(observation(components=components)))

    assert payload["variants"][0]["copies_per_ml"] == 14.0


def test_identifiers_and_absolute_references():
    obs = observation()
    obs.subject = Reference(identifier=Identifier(system="urn:trial:patient", value=PATIENT))
    obs.specimen = Reference(identifier=Identifier(system="urn:lab:tube", value="TUBE/42"))
    other = observation()
    other.subject = Reference(reference=f"https://trial.example/fhir/Patient/{PATIENT}")
    other.specimen = Reference(reference="https://lab.example/fhir/Specimen/S-9")

    results, problems = parse(bundle(obs, other))

    assert problems == []
    assert [(r.payload["sample_id"], r.payload["patient_id"]) for r in results] == [
        ("TUBE/42", PATIENT),
        ("S-9", PATIENT),
    ]


def test_dates_are_taken_as_written_without_time_zone_conversion():
    obs = observation(collected="2027-03-02T23:30:00-05:00", analysed="2027-03-14T00:15:00+14:00")

    payload = only_payload(bundle(obs))

    assert (payload["collected_on"], payload["analysed_on"]) == ("2027-03-02", "2027-03-14")


def test_method_gives_the_assay():
    obs = observation(method=CodeableConcept(text="ddPCR (Bio-Rad QX200)"))

    assert only_payload(bundle(obs))["assay"] == "ddPCR (Bio-Rad QX200)"


def test_failure_reason_falls_back_to_the_coding_code():
    obs = failed()
    obs.dataAbsentReason = CodeableConcept(coding=[Coding(code="not-performed")])

    assert only_payload(bundle(obs))["failure_reason"] == "not-performed"


def test_failure_reason_falls_back_to_the_coding_display():
    obs = failed()
    obs.dataAbsentReason = concept(
        "http://terminology.hl7.org/CodeSystem/data-absent-reason", "error", "Error"
    )

    assert only_payload(bundle(obs))["failure_reason"] == "Error"


# Problems: the Bundle --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [None, [], "Bundle", {"resourceType": "Observation"}, Patient(id="x").model_dump(mode="json")],
)
def test_not_a_bundle(data):
    assert problem_codes(parse(data)[1]) == [("Bundle", "invalid_bundle")]


@pytest.mark.parametrize("bundle_type", ["batch", "searchset", "document", "message", None])
def test_unsupported_bundle_types(bundle_type):
    data = bundle(observation(), bundle_type="collection")
    data["type"] = bundle_type

    results, problems = parse(data)

    assert results == []
    assert problem_codes(problems) == [("Bundle.type", "unsupported_bundle_type")]


@pytest.mark.parametrize("entries", [[], None, "x"])
def test_empty_bundle(entries):
    data = {"resourceType": "Bundle", "type": "transaction", "entry": entries}

    assert problem_codes(parse(data)[1]) == [("Bundle.entry", "empty_bundle")]


def test_bundle_structure_is_validated():
    data = bundle(observation())
    data["timestamp"] = "yesterday"

    assert problem_codes(parse(data)[1]) == [("Bundle.timestamp", "invalid_structure")]


def test_resource_other_than_observation_is_rejected_and_others_still_parse():
    data = bundle(Patient(id=PATIENT), observation())

    results, problems = parse(data)

    assert problem_codes(problems) == [("Bundle.entry[0].resource", "unsupported_resource")]
    assert [r.entry_indexes for r in results] == [(1,)]


def test_entry_must_be_an_object():
    data = bundle(observation())
    data["entry"][0] = "Observation"

    assert problem_codes(parse(data)[1]) == [("Bundle.entry[0]", "invalid_structure")]


def test_entry_structure_is_validated():
    data = bundle(observation())
    data["entry"][0]["fullUrl"] = 5

    assert problem_codes(parse(data)[1]) == [("Bundle.entry[0].fullUrl", "invalid_structure")]


def test_entry_without_resource():
    data = bundle(observation())
    del data["entry"][0]["resource"]

    assert problem_codes(parse(data)[1]) == [("Bundle.entry[0].resource", "missing_element")]


def test_transaction_entries_need_a_post_or_put_request():
    data = bundle(observation(), observation(sample="S-2"), observation(sample="S-3"))
    del data["entry"][0]["request"]
    data["entry"][1]["request"]["method"] = "DELETE"
    data["entry"][2]["request"]["method"] = "PUT"

    results, problems = parse(data)

    assert problem_codes(problems) == [
        ("Bundle.entry[0].request", "missing_element"),
        ("Bundle.entry[1].request.method", "unsupported_request"),
    ]
    assert [r.payload["sample_id"] for r in results] == ["S-3"]


# Problems: the Observation ---------------------------------------------------------------------


def test_structural_errors_are_located():
    data = bundle(observation())
    data["entry"][0]["resource"]["component"][2]["valueQuantity"]["value"] = "1.2%"
    data["entry"][0]["resource"]["unknownElement"] = True

    assert problem_codes(parse(data)[1]) == [
        ("Bundle.entry[0].resource.component[2].valueQuantity.value", "invalid_structure"),
        ("Bundle.entry[0].resource.unknownElement", "invalid_structure"),
    ]


def test_missing_required_fhir_element_is_located():
    data = bundle(observation())
    del data["entry"][0]["resource"]["status"]

    assert problem_codes(parse(data)[1]) == [("Bundle.entry[0].resource.status", "missing_element")]


@pytest.mark.parametrize(
    ("coding", "expected"),
    [
        ({"system": LOINC, "code": "69547-8"}, ("code.coding", "wrong_code")),
        (
            {"system": "http://snomed.info/sct", "code": "69548-6"},
            ("code.coding[0].system", "wrong_system"),
        ),
    ],
)
def test_observation_code_is_validated(coding, expected):
    data = bundle(observation())
    data["entry"][0]["resource"]["code"] = {"coding": [coding]}

    expression, code = expected
    assert problem_codes(parse(data)[1]) == [(f"Bundle.entry[0].resource.{expression}", code)]


@pytest.mark.parametrize(
    ("coding", "expected"),
    [
        ({"system": LOINC, "code": "LA9635-9"}, ("valueCodeableConcept.coding", "wrong_code")),
        (
            {"system": "http://example.org", "code": "LA9633-4"},
            ("valueCodeableConcept.coding[0].system", "wrong_system"),
        ),
    ],
)
def test_presence_value_is_validated(coding, expected):
    data = bundle(observation())
    data["entry"][0]["resource"]["valueCodeableConcept"] = {"coding": [coding]}

    expression, code = expected
    assert problem_codes(parse(data)[1]) == [(f"Bundle.entry[0].resource.{expression}", code)]


def test_reported_observation_needs_a_presence_value():
    data = bundle(observation())
    del data["entry"][0]["resource"]["valueCodeableConcept"]

    assert problem_codes(parse(data)[1]) == [
        ("Bundle.entry[0].resource.valueCodeableConcept", "missing_element")
    ]


@pytest.mark.parametrize(
    "status", ["preliminary", "registered", "entered-in-error", "unknown", "bogus"]
)
def test_unsupported_observation_status(status):
    assert problem_codes(parse(bundle(observation(status=status)))[1]) == [
        ("Bundle.entry[0].resource.status", "unsupported_status")
    ]


def test_gene_other_than_esr1():
    components = [gene(code="HGNC:8975"), amino_acid_change(), allelic_frequency()]

    assert problem_codes(parse(bundle(observation(components=components)))[1]) == [
        ("Bundle.entry[0].resource.component[0].valueCodeableConcept", "gene_not_supported")
    ]


def test_gene_in_another_code_system():
    components = [
        gene(system="http://www.ncbi.nlm.nih.gov/gene", code="2099"),
        amino_acid_change(),
        allelic_frequency(),
    ]

    assert problem_codes(parse(bundle(observation(components=components)))[1]) == [
        ("Bundle.entry[0].resource.component[0].valueCodeableConcept.coding", "wrong_system")
    ]


def test_gene_component_needs_a_coded_value():
    text_gene = ObservationComponent(code=concept(LOINC, "48018-6"), valueString="ESR1")
    components = [text_gene, amino_acid_change(), allelic_frequency()]

    assert problem_codes(parse(bundle(observation(components=components)))[1]) == [
        ("Bundle.entry[0].resource.component[0].valueCodeableConcept", "missing_element")
    ]


def test_copies_component_needs_a_quantity():
    text_copies = ObservationComponent(
        code=concept(CTDNA_SYSTEM, COPIES_PER_ML_CODE), valueString="14 copies/mL"
    )
    components = [gene(), amino_acid_change(), allelic_frequency(), text_copies]

    assert problem_codes(parse(bundle(observation(components=components)))[1]) == [
        ("Bundle.entry[0].resource.component[3].valueQuantity", "missing_element")
    ]


def test_gene_component_is_required():
    components = [amino_acid_change(), allelic_frequency()]

    assert problem_codes(parse(bundle(observation(components=components)))[1]) == [
        ("Bundle.entry[0].resource.component", "missing_element")
    ]


def test_component_code_in_the_wrong_system():
    wrong = ObservationComponent(
        code=concept("http://snomed.info/sct", "48018-6"),
        valueCodeableConcept=concept(HGNC, "HGNC:3467"),
    )
    components = [wrong, amino_acid_change(), allelic_frequency()]

    assert problem_codes(parse(bundle(observation(components=components)))[1]) == [
        ("Bundle.entry[0].resource.component[0].code.coding[0].system", "wrong_system"),
        ("Bundle.entry[0].resource.component", "missing_element"),
    ]


@pytest.mark.parametrize("value", ["p.Asp538del", "c.1613A>G", "p.Asp538Asp", "p.Xaa538Gly"])
def test_invalid_hgvs(value):
    components = [gene(), amino_acid_change(value), allelic_frequency()]

    problems = parse(bundle(observation(components=components)))[1]

    assert problem_codes(problems) == [
        (
            "Bundle.entry[0].resource.component[1].valueCodeableConcept.coding[0].code",
            "invalid_hgvs",
        )
    ]


def test_invalid_hgvs_as_a_string():
    change = ObservationComponent(code=concept(LOINC, "48005-3"), valueString="D538")
    components = [gene(), change, allelic_frequency()]

    assert problem_codes(parse(bundle(observation(components=components)))[1]) == [
        ("Bundle.entry[0].resource.component[1].valueString", "invalid_hgvs")
    ]


def test_hgvs_in_another_code_system():
    components = [gene(), amino_acid_change(system="http://example.org"), allelic_frequency()]

    assert problem_codes(parse(bundle(observation(components=components)))[1]) == [
        ("Bundle.entry[0].resource.component[1].valueCodeableConcept.coding", "wrong_system")
    ]


@pytest.mark.parametrize(
    ("value", "expression", "code"),
    [
        (
            {"valueCodeableConcept": {"coding": [{"system": HGVS}]}},
            "valueCodeableConcept.coding[0].code",
            "missing_element",
        ),
        ({}, "value[x]", "missing_element"),
        (
            {"valueCodeableConcept": {"text": "see report"}},
            "valueCodeableConcept.text",
            "invalid_hgvs",
        ),
    ],
)
def test_amino_acid_change_without_a_usable_value(value, expression, code):
    data = bundle(observation())
    component = data["entry"][0]["resource"]["component"][1]
    del component["valueCodeableConcept"]
    component.update(value)

    assert problem_codes(parse(data)[1]) == [
        (f"Bundle.entry[0].resource.component[1].{expression}", code)
    ]


@pytest.mark.parametrize("missing", ["48005-3", "81258-6"])
def test_present_variant_needs_change_and_frequency(missing):
    components = [
        c
        for c in [gene(), amino_acid_change(), allelic_frequency()]
        if c.code.coding[0].code != missing
    ]

    assert problem_codes(parse(bundle(observation(components=components)))[1]) == [
        ("Bundle.entry[0].resource.component", "missing_element")
    ]


def test_absent_variant_needs_neither_change_nor_frequency():
    payload = only_payload(bundle(observation(present=False, components=[gene()])))

    assert payload["variants"] == []


def test_duplicate_component():
    components = [gene(), amino_acid_change(), allelic_frequency(), allelic_frequency(2.0)]

    assert problem_codes(parse(bundle(observation(components=components)))[1]) == [
        ("Bundle.entry[0].resource.component[3]", "duplicate_component")
    ]


@pytest.mark.parametrize(
    ("frequency", "expected"),
    [
        (allelic_frequency(150, unit="%"), ("valueQuantity.value", "vaf_out_of_range")),
        (allelic_frequency(1.23, unit="1"), ("valueQuantity.value", "vaf_out_of_range")),
        (
            allelic_frequency(12, unit=None, system=None),
            ("valueQuantity.value", "vaf_out_of_range"),
        ),
        (allelic_frequency(1.23, unit="mg"), ("valueQuantity.code", "unsupported_unit")),
        (
            allelic_frequency(1.23, unit="%", system="http://example.org/units"),
            ("valueQuantity.system", "wrong_system"),
        ),
        (
            allelic_frequency(0.1, comparator="<"),
            ("valueQuantity.comparator", "unsupported_comparator"),
        ),
        (
            ObservationComponent(code=concept(LOINC, "81258-6"), valueString="1.23%"),
            ("valueQuantity", "missing_element"),
        ),
    ],
)
def test_allelic_frequency_problems(frequency, expected):
    components = [gene(), amino_acid_change(), frequency]

    expression, code = expected
    assert problem_codes(parse(bundle(observation(components=components)))[1]) == [
        (f"Bundle.entry[0].resource.component[2].{expression}", code)
    ]


@pytest.mark.parametrize(
    ("copies", "expected"),
    [
        (copies_per_ml(-1.0), ("valueQuantity.value", "negative_copies")),
        (copies_per_ml(14.0, unit="/L"), ("valueQuantity.code", "unsupported_unit")),
    ],
)
def test_copies_problems(copies, expected):
    components = [gene(), amino_acid_change(), allelic_frequency(), copies]

    expression, code = expected
    assert problem_codes(parse(bundle(observation(components=components)))[1]) == [
        (f"Bundle.entry[0].resource.component[3].{expression}", code)
    ]


def test_cancelled_observation_needs_a_data_absent_reason():
    obs = failed()
    obs.dataAbsentReason = None

    assert problem_codes(parse(bundle(obs))[1]) == [
        ("Bundle.entry[0].resource.dataAbsentReason", "failure_reason_required")
    ]


@pytest.mark.parametrize(
    ("element", "value"),
    [("valueCodeableConcept", concept(LOINC, "LA9633-4")), ("valueString", "Present")],
)
def test_cancelled_observation_carries_no_value(element, value):
    obs = failed()
    setattr(obs, element, value)

    assert problem_codes(parse(bundle(obs))[1]) == [
        ("Bundle.entry[0].resource.value[x]", "failed_with_variants")
    ]


@pytest.mark.parametrize("element", ["subject", "specimen", "effectiveDateTime", "issued"])
def test_required_elements(element):
    data = bundle(observation())
    del data["entry"][0]["resource"][element]

    assert problem_codes(parse(data)[1]) == [
        (f"Bundle.entry[0].resource.{element}", "missing_element")
    ]


@pytest.mark.parametrize(
    ("element", "reference"),
    [
        ("subject", {"reference": "Group/1"}),
        ("specimen", {"reference": "Patient/1"}),
        ("subject", {"display": "x"}),
    ],
)
def test_invalid_references(element, reference):
    data = bundle(observation())
    data["entry"][0]["resource"][element] = reference

    assert problem_codes(parse(data)[1]) == [
        (f"Bundle.entry[0].resource.{element}", "invalid_reference")
    ]


@pytest.mark.parametrize("collected", ["2027", "2027-03"])
def test_partial_collection_date(collected):
    assert problem_codes(parse(bundle(observation(collected=collected)))[1]) == [
        ("Bundle.entry[0].resource.effectiveDateTime", "invalid_date")
    ]


# Problems: the specimen ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "element"),
    [
        ({"patient": "PADA1-FR01-0008"}, "subject"),
        ({"collected": "2027-03-03"}, "effectiveDateTime"),
        ({"analysed": "2027-03-15T10:00:00Z"}, "issued"),
        ({"method": CodeableConcept(text="NGS")}, "method"),
    ],
)
def test_observations_of_one_specimen_must_agree(changes, element):
    data = bundle(observation(), absent(**changes), observation(sample="S-2"))

    results, problems = parse(data)

    assert problem_codes(problems) == [
        (f"Bundle.entry[1].resource.{element}", "inconsistent_specimen")
    ]
    assert [r.payload["sample_id"] for r in results] == ["S-2"]


def test_failed_and_reported_observations_of_one_specimen_conflict():
    data = bundle(observation(), failed(sample=SAMPLE))

    results, problems = parse(data)

    assert ("Bundle.entry[1].resource.status", "inconsistent_specimen") in problem_codes(problems)
    assert results == []


def test_same_variant_twice_in_one_specimen():
    data = bundle(
        observation(),
        observation(components=[gene(), amino_acid_change("p.D538G"), allelic_frequency()]),
    )

    assert problem_codes(parse(data)[1]) == [
        ("Bundle.entry[1].resource.component[1]", "duplicate_variant")
    ]


def test_one_bad_observation_withholds_its_whole_specimen_only():
    bad = observation(components=[gene(), amino_acid_change("p.Y537S"), allelic_frequency(150)])
    data = bundle(observation(), bad, observation(sample="S-2"))

    results, problems = parse(data)

    assert [p.code for p in problems] == ["vaf_out_of_range"]
    assert [(r.payload["sample_id"], r.entry_indexes) for r in results] == [("S-2", (2,))]


def test_a_structurally_invalid_observation_also_withholds_its_specimen():
    data = bundle(observation(), absent())
    data["entry"][1]["resource"]["status"] = 5

    results, problems = parse(data)

    assert [p.code for p in problems] == ["invalid_structure"]
    assert results == []


def test_every_problem_of_an_observation_is_reported():
    obs = observation(
        status="preliminary",
        components=[gene(code="HGNC:1100"), amino_acid_change("p.D538"), allelic_frequency(2, "1")],
    )
    obs.subject = None

    assert [p.code for p in parse(bundle(obs))[1]] == [
        "unsupported_status",
        "missing_element",
        "gene_not_supported",
        "invalid_hgvs",
        "vaf_out_of_range",
    ]


@settings(deadline=None, max_examples=50)
@given(st.decimals(min_value=0, max_value=100, places=3))
def test_percent_and_fraction_agree(percent):
    as_percent = allelic_frequency(float(percent), unit="%")
    as_fraction = allelic_frequency(float(percent / 100), unit="1")

    vafs = [
        only_payload(bundle(observation(components=[gene(), amino_acid_change(), f])))["variants"][
            0
        ]["vaf"]
        for f in (as_percent, as_fraction)
    ]

    assert vafs[0] == vafs[1] == float(percent / 100)
    assert Decimal(str(vafs[0])) <= 1


# Answers ---------------------------------------------------------------------------------------


def test_operation_outcome_is_valid_fhir_and_names_each_problem():
    problems = [
        FhirProblem(
            "Bundle.entry[2].resource.component[0].valueCodeableConcept",
            "gene_not_supported",
            "Gene HGNC:8975 is not supported.",
        ),
        FhirProblem("Bundle.type", "unsupported_bundle_type", "Use transaction."),
        FhirProblem("", "sample_conflict", "Sample already reported.", issue_type="conflict"),
        FhirProblem("Bundle.entry[0]", "unknown_patient", "No such patient."),
    ]

    outcome = build_operation_outcome(problems)

    OperationOutcome.model_validate(outcome)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0] == {
        "severity": "error",
        "code": "not-supported",
        "details": {
            "coding": [{"system": ISSUE_SYSTEM, "code": "gene_not_supported"}],
            "text": "Gene HGNC:8975 is not supported.",
        },
        "expression": ["Bundle.entry[2].resource.component[0].valueCodeableConcept"],
    }
    assert [i["code"] for i in outcome["issue"]] == [
        "not-supported",
        "not-supported",
        "conflict",
        "processing",
    ]
    assert "expression" not in outcome["issue"][2]


def test_operation_outcome_of_parse_problems_is_valid_fhir():
    data = bundle(Patient(id="x"), observation(status="bogus"))

    outcome = build_operation_outcome(parse(data)[1])

    parsed = OperationOutcome.model_validate(outcome)
    assert [i.expression for i in parsed.issue] == [
        ["Bundle.entry[0].resource"],
        ["Bundle.entry[1].resource.status"],
    ]


def test_operation_outcome_without_problems_is_informational():
    outcome = build_operation_outcome([])

    OperationOutcome.model_validate(outcome)
    assert outcome["issue"] == [
        {
            "severity": "information",
            "code": "informational",
            "details": {"text": "No problems found."},
        }
    ]


def test_every_issue_type_is_a_fhir_issue_type():
    assert set(ISSUE_TYPES.values()) <= FHIR_ISSUE_TYPES


def test_transaction_response_answers_every_entry_in_order():
    outcomes = [
        EntryOutcome(entry_indexes=(2,), status=200, location="/api/v1/ctdna/results/8/"),
        EntryOutcome(entry_indexes=(0, 1), status=201, location="/api/v1/ctdna/results/9/"),
    ]

    response = build_transaction_response(outcomes, entry_count=3)

    Bundle.model_validate(response)
    assert response == {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [
            {"response": {"status": "201 Created", "location": "/api/v1/ctdna/results/9/"}},
            {"response": {"status": "201 Created", "location": "/api/v1/ctdna/results/9/"}},
            {"response": {"status": "200 OK", "location": "/api/v1/ctdna/results/8/"}},
        ],
    }


def test_batch_response_may_carry_an_outcome_per_entry():
    problem = FhirProblem("Bundle.entry[0]", "sample_conflict", "Different payload.", "conflict")
    outcomes = [EntryOutcome(entry_indexes=(0,), status=409, problems=(problem,))]

    response = build_transaction_response(outcomes, entry_count=1, bundle_type="batch-response")

    parsed = Bundle.model_validate(response)
    assert parsed.entry[0].response.status == "409 Conflict"
    assert parsed.entry[0].response.outcome.issue[0].code == "conflict"


@pytest.mark.parametrize(
    ("outcomes", "count"),
    [
        ([EntryOutcome((0,), 201)], 2),
        ([EntryOutcome((0,), 201), EntryOutcome((0,), 201)], 1),
        ([EntryOutcome((0, 1), 201)], 1),
        ([EntryOutcome((-1,), 201)], 1),
        ([EntryOutcome((0,), 799)], 1),
    ],
)
def test_transaction_response_rejects_incomplete_or_invalid_outcomes(outcomes, count):
    with pytest.raises(ValueError):
        build_transaction_response(outcomes, entry_count=count)


def test_transaction_response_rejects_a_request_bundle_type():
    with pytest.raises(ValueError):
        build_transaction_response(
            [EntryOutcome((0,), 201)], entry_count=1, bundle_type="transaction"
        )


def test_parse_and_respond_round_trip():
    data = bundle(observation(), absent(), failed())
    results, problems = parse(data)
    outcomes = [
        EntryOutcome(r.entry_indexes, 201, f"/api/v1/ctdna/results/{n}/")
        for n, r in enumerate(results)
    ]

    response = build_transaction_response(outcomes, entry_count=len(data["entry"]))

    assert problems == []
    assert len(Bundle.model_validate(response).entry) == 3
