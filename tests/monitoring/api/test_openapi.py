"""The OpenAPI schema documents the lab endpoints with examples."""

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def test_the_json_result_endpoint_has_request_and_response_examples(schema):
    post = schema["paths"]["/api/v1/ctdna/results/"]["post"]
    request_examples = post["requestBody"]["content"]["application/json"]["examples"]
    assert request_examples["ReportedWithAnESR1Mutation"]["value"]["sample_id"] == "S-000123"
    assert "FailedSample" in request_examples
    responses = post["responses"]
    created = responses["201"]["content"]["application/json"]["examples"]
    assert any(e["value"]["interpretation"]["patient_status"] == "rising" for e in created.values())
    assert "200" in responses and "409" in responses and "429" in responses
    conflict = responses["409"]["content"]["application/json"]["examples"]
    assert next(iter(conflict.values()))["value"]["code"] == "sample_conflict"
    assert "sample_conflict" in post["description"] and "site_not_served" in post["description"]


def test_the_fhir_endpoint_has_a_bundle_and_its_answers(schema):
    post = schema["paths"]["/api/v1/fhir/"]["post"]
    bundle = post["requestBody"]["content"]["application/fhir+json"]["examples"]
    value = next(iter(bundle.values()))["value"]
    assert value["resourceType"] == "Bundle" and value["type"] == "transaction"
    ok = post["responses"]["200"]["content"]["application/fhir+json"]["examples"]
    assert next(iter(ok.values()))["value"]["type"] == "transaction-response"
    bad = post["responses"]["400"]["content"]["application/fhir+json"]["examples"]
    assert next(iter(bad.values()))["value"]["resourceType"] == "OperationOutcome"


def test_every_ctdna_operation_is_documented(schema):
    paths = schema["paths"]
    assert set(paths["/api/v1/ctdna/results/"]) >= {"get", "post"}
    assert "post" in paths["/api/v1/ctdna/results/batch/"]
    assert "get" in paths["/api/v1/ctdna/results/{result_id}/"]
    assert "post" in paths["/api/v1/ctdna/results/{result_id}/amendments/"]
    assert set(paths["/api/v1/patients/{patient_id}/samples/"]) >= {"get", "post"}
    assert "get" in paths["/api/v1/patients/{patient_id}/ctdna-results/"]
