"""POST /api/v1/fhir/: real R4 Bundles built with fhir.resources (R4B), through the same
ingestion as the JSON contract; answers are transaction-response Bundles or OperationOutcomes."""

from __future__ import annotations

import json

import pytest
from fhir.resources.R4B.bundle import Bundle, BundleEntry, BundleEntryRequest
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.observation import Observation, ObservationComponent
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.quantity import Quantity
from fhir.resources.R4B.reference import Reference

from monitoring.models import CtdnaResult, LabSubmission, TriggerOutbox
from tests.monitoring.conftest import assert_error, day, draw, payload, variant

pytestmark = pytest.mark.django_db

URL = "/api/v1/fhir/"
FHIR_JSON = "application/fhir+json"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def concept(system, code, display=None):
    return CodeableConcept(coding=[Coding(system=system, code=code, display=display)])


def component(system, code, **value):
    return ObservationComponent(code=concept(system, code), **value)


def observation(sample, *, change=None, vaf_percent=1.23, copies=14.0, code="69548-6", **extra):
    """A Genomics Reporting variant Observation for ``sample`` (Present when ``change``)."""
    components = [
        component(
            LOINC,
            "48018-6",
            valueCodeableConcept=concept("http://www.genenames.org/geneId", "HGNC:3467", "ESR1"),
        )
    ]
    if change is not None:
        components += [
            component(
                LOINC,
                "48005-3",
                valueCodeableConcept=concept("http://varnomen.hgvs.org", f"NP_000116.2:{change}"),
            ),
            component(
                LOINC,
                "81258-6",
                valueQuantity=Quantity(value=vaf_percent, unit="%", system=UCUM, code="%"),
            ),
            component(
                "urn:trial:ctdna",
                "copies-per-ml",
                valueQuantity=Quantity(value=copies, unit="/mL", system=UCUM, code="/mL"),
            ),
        ]
    fields = {
        "status": "final",
        "code": concept(LOINC, code, "Genetic variant assessment"),
        "subject": Reference(reference=f"Patient/{sample.patient.trial_number}"),
        "specimen": Reference(reference=f"Specimen/{sample.sample_id}"),
        "effectiveDateTime": sample.drawn_on.isoformat(),
        "issued": "2027-05-20T09:30:00+02:00",
        "method": CodeableConcept(text="ddPCR"),
        "valueCodeableConcept": concept(
            LOINC, "LA9633-4" if change else "LA9634-2", "Present" if change else "Absent"
        ),
        "component": components,
    }
    fields.update(extra)
    return Observation(**fields)


def bundle(*observations, kind="transaction") -> dict:
    entries = [
        BundleEntry(
            fullUrl=f"urn:uuid:00000000-0000-4000-8000-{index:012d}",
            resource=obs,
            request=BundleEntryRequest(method="POST", url="Observation")
            if kind == "transaction"
            else None,
        )
        for index, obs in enumerate(observations)
    ]
    return Bundle(type=kind, entry=entries).model_dump(mode="json")


def post(client, body, content_type=FHIR_JSON):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(URL, data, content_type=content_type, HTTP_ACCEPT=FHIR_JSON)


def outcome_codes(response) -> list[str]:
    assert response["Content-Type"].startswith(FHIR_JSON)
    outcome = OperationOutcome.model_validate(response.json())
    return [issue.details.coding[0].code for issue in outcome.issue]


@pytest.fixture
def samples(patient_a, investigator_a):
    return [draw(patient_a, f"S-{n:03d}", day(42 * n), investigator_a) for n in range(3)]


def test_a_transaction_bundle_is_stored_and_answered_per_entry(client_a, samples):
    body = bundle(
        observation(samples[0]),
        observation(samples[1], change="p.Asp538Gly"),
        observation(samples[1], change="p.Tyr537Ser", vaf_percent=0.5, copies=6.0),
    )
    r = post(client_a, body)
    assert r.status_code == 200, r.content
    assert r["Content-Type"].startswith(FHIR_JSON)
    answer = Bundle.model_validate(r.json())
    assert answer.type == "transaction-response"
    statuses = [entry.response.status for entry in answer.entry]
    assert statuses == ["201 Created"] * 3
    first, second = CtdnaResult.objects.order_by("collected_on")
    assert answer.entry[0].response.location == f"/api/v1/ctdna/results/{first.pk}/"
    assert answer.entry[1].response.location == answer.entry[2].response.location
    assert first.variants.count() == 0 and first.patient_status == "not_detected"
    assert [(v.protein_change, v.vaf, v.copies_per_ml) for v in second.variants.all()] == [
        ("p.D538G", 0.0123, 14.0),
        ("p.Y537S", 0.005, 6.0),
    ]
    assert second.patient_status == "rising" and second.compared_with == first
    assert second.entry_indexes == [1, 2]
    assert TriggerOutbox.objects.get().result == second
    submission = second.submission
    assert submission.channel == "fhir" and submission.media_type == FHIR_JSON
    assert json.loads(submission.body) == body


def test_replaying_the_bundle_answers_200_per_entry(client_a, samples):
    body = bundle(observation(samples[0]), observation(samples[1], change="p.D538G"))
    assert post(client_a, body).status_code == 200
    r = post(client_a, body)
    assert [e["response"]["status"] for e in r.json()["entry"]] == ["200 OK", "200 OK"]
    assert CtdnaResult.objects.count() == 2


def test_a_collection_bundle_is_accepted_and_plain_json_too(client_a, samples):
    r = post(client_a, bundle(observation(samples[0]), kind="collection"), "application/json")
    assert r.status_code == 200, r.content
    assert r.json()["type"] == "transaction-response"


def test_a_failed_analysis_is_a_cancelled_observation(client_a, samples):
    failed = observation(
        samples[0],
        status="cancelled",
        valueCodeableConcept=None,
        dataAbsentReason=CodeableConcept(text="insufficient cfDNA"),
    )
    assert post(client_a, bundle(failed)).status_code == 200
    result = CtdnaResult.objects.get()
    assert (result.status, result.failure_reason) == ("failed", "insufficient cfDNA")
    assert result.next_action == "redraw_requested"


def test_the_same_result_in_json_and_fhir_is_one_result(client_a, samples):
    body = payload(samples[1], variants=[variant("p.D538G", 0.0123, 14.0)])
    body["analysed_on"] = "2027-05-20"
    assert client_a.post("/api/v1/ctdna/results/", body, format="json").status_code == 201
    r = post(client_a, bundle(observation(samples[1], change="p.Asp538Gly")))
    assert r.json()["entry"][0]["response"]["status"] == "200 OK"


def test_wrong_codes_are_named_in_an_operation_outcome(client_a, samples):
    r = post(client_a, bundle(observation(samples[0], code="12345-6")))
    assert r.status_code == 400
    assert outcome_codes(r) == ["wrong_code"]
    assert r.json()["issue"][0]["expression"] == ["Bundle.entry[0].resource.code.coding"]
    assert not CtdnaResult.objects.exists()


def test_every_problem_is_named(client_a, samples):
    body = bundle(
        observation(samples[0], change="p.Asp538del"),
        observation(samples[1], change="p.D538G", vaf_percent=150),
    )
    body["entry"][1]["resource"]["status"] = "preliminary"
    codes = outcome_codes(post(client_a, body))
    assert sorted(codes) == ["invalid_hgvs", "unsupported_status", "vaf_out_of_range"]


def test_a_bundle_of_the_wrong_type_or_not_json_is_refused(client_a, samples):
    assert outcome_codes(post(client_a, bundle(observation(samples[0]), kind="batch"))) == [
        "unsupported_bundle_type"
    ]
    r = post(client_a, b'{"resourceType": "Bundle", ')
    assert r.status_code == 400 and outcome_codes(r) == ["invalid_bundle"]
    assert LabSubmission.objects.count() == 2


def test_an_unknown_sample_rejects_the_whole_transaction(client_a, samples):
    stray = observation(samples[0], specimen=Reference(reference="Specimen/S-404"))
    r = post(client_a, bundle(observation(samples[1], change="p.D538G"), stray))
    assert r.status_code == 422
    assert outcome_codes(r) == ["unknown_sample"]
    issue = r.json()["issue"][0]
    assert issue["code"] == "business-rule"
    assert issue["expression"] == ["Bundle.entry[1].resource.specimen"]
    assert not CtdnaResult.objects.exists() and not TriggerOutbox.objects.exists()


def test_a_result_rule_violation_names_the_fhir_element(client_a, samples):
    late = observation(samples[0], issued="2027-12-01T10:00:00+01:00")
    r = post(client_a, bundle(late))
    assert r.status_code == 422
    assert outcome_codes(r) == ["date_in_future"]
    assert r.json()["issue"][0]["expression"] == ["Bundle.entry[0].resource.issued"]


def test_a_lab_posting_for_a_site_it_does_not_serve_gets_403(client_b, samples):
    r = post(client_b, bundle(observation(samples[0])))
    assert r.status_code == 403
    assert outcome_codes(r) == ["site_not_served"]
    assert r.json()["issue"][0]["code"] == "forbidden"


def test_a_conflicting_result_is_409(client_a, samples):
    assert post(client_a, bundle(observation(samples[1], change="p.D538G"))).status_code == 200
    r = post(client_a, bundle(observation(samples[1], change="p.D538G", copies=99.0)))
    assert r.status_code == 409
    assert outcome_codes(r) == ["sample_conflict"]
    assert r.json()["issue"][0]["code"] == "conflict"


def test_mixed_problems_are_a_400(client_a, client_b, samples, investigator_b, patient_b):
    other = draw(patient_b, "B-000", day(0), investigator_b)
    r = post(
        client_a,
        bundle(
            observation(other),
            observation(samples[0], specimen=Reference(reference="Specimen/S-404")),
        ),
    )
    assert r.status_code == 400
    assert sorted(outcome_codes(r)) == ["site_not_served", "unknown_sample"]


def test_other_media_types_are_refused(client_a, samples):
    r = client_a.post(URL, "hello", content_type="text/plain")
    assert_error(r, 415, "unsupported_media_type")


def test_people_cannot_post_bundles(api, investigator_a, samples):
    r = api(investigator_a).post(
        URL, json.dumps(bundle(observation(samples[0]))), content_type=FHIR_JSON
    )
    assert r.status_code == 403
    assert r.json()["code"] == "permission_denied"
