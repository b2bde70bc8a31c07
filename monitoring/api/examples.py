"""OpenAPI examples of the lab endpoints (what labs integrate against)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

FHIR_JSON = "application/fhir+json"

RESULT = {
    "sample_id": "S-000123",
    "patient_id": "PADA1-FR01-0007",
    "collected_on": "2027-03-02",
    "analysed_on": "2027-03-14",
    "assay": "ddPCR",
    "status": "reported",
    "failure_reason": None,
    "variants": [
        {"gene": "ESR1", "protein_change": "p.D538G", "vaf": 0.0123, "copies_per_ml": 14.0}
    ],
}

FAILED = {
    "sample_id": "S-000124",
    "patient_id": "PADA1-FR01-0007",
    "collected_on": "2027-05-04",
    "analysed_on": "2027-05-15",
    "assay": "ddPCR",
    "status": "failed",
    "failure_reason": "insufficient cfDNA",
    "variants": [],
}

STORED = {
    "id": 17,
    "lab": "CURIE-GEN",
    "sample_id": "S-000123",
    "patient_id": "PADA1-FR01-0007",
    "collected_on": "2027-03-02",
    "analysed_on": "2027-03-14",
    "assay": "ddPCR",
    "status": "reported",
    "failure_reason": None,
    "variants": [
        {
            "gene": "ESR1",
            "protein_change": "p.D538G",
            "protein_change_reported": "p.D538G",
            "vaf": 0.0123,
            "copies_per_ml": 14.0,
            "in_panel": True,
            "change": "new",
            "previous_vaf": None,
            "previous_copies_per_ml": None,
            "reason": "Absent from the previous reported sample.",
        }
    ],
    "interpretation": {
        "patient_status": "rising",
        "next_action": "imaging_required",
        "next_action_detail": (
            "Rising bESR1mut: the site is notified and must record an imaging assessment within "
            "the protocol's window; without progression the patient becomes eligible for Step 2 "
            "randomization, with progression they are not randomizable."
        ),
        "reason": "Rising bESR1mut: p.D538G new or increased.",
        "compared_with_result_id": 9,
        "no_longer_detected": [],
        "off_panel": [],
    },
    "turnaround_days": 12,
    "version": 1,
    "amends": None,
    "amendment_reason": "",
    "is_current": True,
    "received_at": "2027-03-14T10:02:11.120000+01:00",
    "submission_id": 41,
    "entry_indexes": [],
    "raw_sha256": "5d0e6c1bb0f5d8d86e2c3a0c0b8a2f6b2f4a7d7c2b8e4d1c9f3a6b5e4d3c2b1a",
    "content_sha256": "0c9b1a2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
}

RESULT_POST_DESCRIPTION = """\
The lab contract. `sample_id` is the tube label the site recorded, `patient_id` the trial
number. `protein_change` accepts one-letter (`p.D538G`, `D538G`) and three-letter HGVS
(`p.Asp538Gly`, `p.(Asp538Gly)`) and is stored normalised; `vaf` is a fraction 0-1;
`copies_per_ml` >= 0; an empty `variants` list means no ESR1 mutation detected. `assay` may be
omitted (the protocol's assay). Variants outside the protocol's panel are stored and flagged
(`in_panel: false`), never make the patient rising.

Idempotent: the laboratory and the sample id identify a result. 201 = stored and interpreted;
200 = the identical content was already stored (the stored result is returned); 409
`sample_conflict` = different content for the same sample (send an amendment).

Interpretation against the patient's previous reported result: each variant is `baseline`
(first reported sample), `new`, `increased`, `stable` or `decreased`; the patient is
`not_detected`, `detected_stable` or `rising`; `next_action` is `none`, `redraw_requested`
(failed sample; status unchanged) or `imaging_required` (rising: the Step 2 trigger opens).

Errors (`{code, message, details}`; `details.field` and `details.problems[]` name the fields):
400 `required`, `unknown_field`, `invalid_type`, `invalid_format`, `invalid_status`,
`invalid_date`, `failure_reason_required`, `failure_reason_not_allowed`,
`failed_with_variants`, `invalid_variants`, `gene_not_supported`, `invalid_hgvs`,
`duplicate_variant`, `vaf_out_of_range`, `negative_copies`, `missing_measurement`,
`parse_error`; 401 `not_authenticated`, `invalid_token`, `token_expired`, `token_revoked`;
403 `permission_denied` (not a lab), `lab_not_configured`, `site_not_served`; 409
`sample_conflict`; 422 `date_in_future`, `analysed_before_collected`,
`collected_before_enrolment`, `unknown_patient`, `unknown_sample`, `sample_patient_mismatch`,
`collected_on_mismatch`, `ctdna_not_monitored`; 429 `rate_limited`.
"""

RESULT_POST_EXAMPLES = [
    OpenApiExample("Reported with an ESR1 mutation", value=RESULT, request_only=True),
    OpenApiExample("Failed sample", value=FAILED, request_only=True),
    OpenApiExample(
        "Stored: a new mutation makes the patient rising",
        value=STORED,
        response_only=True,
        status_codes=["201"],
    ),
    OpenApiExample("Identical replay", value=STORED, response_only=True, status_codes=["200"]),
    OpenApiExample(
        "Conflict",
        value={
            "code": "sample_conflict",
            "message": (
                "Your laboratory already posted a different result for this sample; send a "
                "correction as an amendment."
            ),
            "details": {"sample_id": "S-000123", "result_id": 17},
        },
        response_only=True,
        status_codes=["409"],
    ),
    OpenApiExample(
        "Invalid value",
        value={
            "code": "vaf_out_of_range",
            "message": "VAF must be a fraction between 0 and 1 (0.0123 for 1.23%).",
            "details": {
                "field": "variants[0].vaf",
                "problems": [
                    {
                        "field": "variants[0].vaf",
                        "code": "vaf_out_of_range",
                        "message": "VAF must be a fraction between 0 and 1 (0.0123 for 1.23%).",
                    }
                ],
            },
        },
        response_only=True,
        status_codes=["400"],
    ),
    OpenApiExample(
        "Site not served",
        value={
            "code": "site_not_served",
            "message": "Your laboratory does not serve the patient's site.",
            "details": {"field": "patient_id", "patient_id": "PADA1-FR02-0001"},
        },
        response_only=True,
        status_codes=["403"],
    ),
]

BATCH_EXAMPLES = [
    OpenApiExample("Two results", value=[RESULT, FAILED], request_only=True),
    OpenApiExample(
        "Mixed answer",
        value={
            "created": 1,
            "replayed": 0,
            "failed": 1,
            "results": [
                {"index": 0, "status": 201, "result": STORED},
                {
                    "index": 1,
                    "status": 422,
                    "error": {
                        "code": "unknown_sample",
                        "message": "No sample with this id has been recorded by the site.",
                        "details": {"field": "sample_id", "sample_id": "S-000124"},
                    },
                },
            ],
        },
        response_only=True,
        status_codes=["200"],
    ),
]

AMENDMENT_EXAMPLES = [
    OpenApiExample(
        "Correct a VAF",
        value={
            "reason": "VAF transcribed as 0.123 instead of 0.0123",
            "result": RESULT,
        },
        request_only=True,
    ),
]


def _component(system: str, code: str, display: str, **value: object) -> dict:
    return {"code": {"coding": [{"system": system, "code": code, "display": display}]}, **value}


FHIR_OBSERVATION = {
    "resourceType": "Observation",
    "status": "final",
    "code": {
        "coding": [
            {
                "system": "http://loinc.org",
                "code": "69548-6",
                "display": "Genetic variant assessment",
            }
        ]
    },
    "subject": {"reference": "Patient/PADA1-FR01-0007"},
    "specimen": {"reference": "Specimen/S-000123"},
    "effectiveDateTime": "2027-03-02",
    "issued": "2027-03-14T09:30:00+01:00",
    "method": {"text": "ddPCR"},
    "valueCodeableConcept": {
        "coding": [{"system": "http://loinc.org", "code": "LA9633-4", "display": "Present"}]
    },
    "component": [
        _component(
            "http://loinc.org",
            "48018-6",
            "Gene studied [ID]",
            valueCodeableConcept={
                "coding": [
                    {
                        "system": "http://www.genenames.org/geneId",
                        "code": "HGNC:3467",
                        "display": "ESR1",
                    }
                ]
            },
        ),
        _component(
            "http://loinc.org",
            "48005-3",
            "Amino acid change (pHGVS)",
            valueCodeableConcept={
                "coding": [
                    {"system": "http://varnomen.hgvs.org", "code": "NP_000116.2:p.Asp538Gly"}
                ]
            },
        ),
        _component(
            "http://loinc.org",
            "81258-6",
            "Sample variant allelic frequency [NFr]",
            valueQuantity={
                "value": 1.23,
                "unit": "%",
                "system": "http://unitsofmeasure.org",
                "code": "%",
            },
        ),
        _component(
            "urn:trial:ctdna",
            "copies-per-ml",
            "ESR1 mutant copies per mL of plasma",
            valueQuantity={
                "value": 14.0,
                "unit": "/mL",
                "system": "http://unitsofmeasure.org",
                "code": "/mL",
            },
        ),
    ],
}

FHIR_BUNDLE = {
    "resourceType": "Bundle",
    "type": "transaction",
    "entry": [
        {
            "fullUrl": "urn:uuid:6f1c9a52-4b1e-4c36-9a9e-0d3f1b7f2a10",
            "resource": FHIR_OBSERVATION,
            "request": {"method": "POST", "url": "Observation"},
        }
    ],
}

FHIR_DESCRIPTION = """\
`Content-Type: application/fhir+json` (plain `application/json` is accepted too). A Bundle of
type `transaction` or `collection` of HL7 Genomics Reporting variant Observations: code LOINC
69548-6, value LOINC LA9633-4 Present / LA9634-2 Absent, components gene studied 48018-6
(HGNC:3467), amino-acid change p.HGVS 48005-3, sample allelic frequency 81258-6 (% or
fraction), optionally copies/mL (`urn:trial:ctdna#copies-per-ml`); `specimen` references the
sample id, `subject` the trial number, `effectiveDateTime` is the draw and `issued` the
analysis; a failed analysis is `status: cancelled` with a `dataAbsentReason`. Observations of
one specimen make one result, ingested exactly like the JSON contract.

All or nothing: 200 with a `transaction-response` Bundle (each entry `201 Created` or `200 OK`
for an identical replay, with the result's location), or an OperationOutcome naming every
problem (`issue.details.coding` carries the stable code, `expression` the element) and nothing
stored: 400 for structure, codes and values; 403, 409 or 422 when every problem is a
`site_not_served`, a `sample_conflict` or a rule violation respectively.
"""

FHIR_EXAMPLES = [
    OpenApiExample(
        "transaction Bundle", value=FHIR_BUNDLE, request_only=True, media_type=FHIR_JSON
    ),
    OpenApiExample(
        "transaction-response",
        value={
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [
                {"response": {"status": "201 Created", "location": "/api/v1/ctdna/results/17/"}}
            ],
        },
        response_only=True,
        status_codes=["200"],
        media_type=FHIR_JSON,
    ),
    OpenApiExample(
        "OperationOutcome",
        value={
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": "code-invalid",
                    "details": {
                        "coding": [{"system": "urn:trial:issue", "code": "wrong_code"}],
                        "text": "Expected LOINC 69548-6.",
                    },
                    "expression": ["Bundle.entry[0].resource.code.coding"],
                }
            ],
        },
        response_only=True,
        status_codes=["400"],
        media_type=FHIR_JSON,
    ),
]
