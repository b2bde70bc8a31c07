"""The OpenAPI schema documents what the API answers: pages as pages, CSV as CSV, and the
error responses of every operation in the one error format (REL-9, REL-11, REL-12)."""

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db

ERROR = "#/components/schemas/Error"
PAGES = [
    "/api/v1/patients/",
    "/api/v1/patients/{patient_id}/samples/",
    "/api/v1/patients/{patient_id}/ctdna-results/",
    "/api/v1/ctdna/results/",
    "/api/v1/randomization/designs/",
]
CSV = ["/api/v1/patients/{patient_id}/audit/", "/api/v1/randomization/designs/{design_id}/list/"]


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def _error_ref(response) -> str:
    return response["content"]["application/json"]["schema"]["$ref"]


def test_the_routes_this_file_names_exist(schema):
    assert set(PAGES + CSV) <= set(schema["paths"])


@pytest.mark.parametrize("path", PAGES)
def test_a_paginated_list_is_documented_as_a_page(schema, path):
    operation = schema["paths"][path]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(page["properties"]) == {"count", "next", "previous", "results"}
    assert page["properties"]["results"]["type"] == "array"
    names = [p["name"] for p in operation["parameters"]]
    assert names.count("limit") == names.count("offset") == 1


@pytest.mark.parametrize("path", CSV)
def test_the_csv_answer_is_documented_beside_the_json_one(schema, path):
    operation = schema["paths"][path]["get"]
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    [fmt] = [p for p in operation["parameters"] if p["name"] == "format"]
    assert fmt["in"] == "query" and fmt["schema"]["enum"] == ["csv", "json"]


def test_every_operation_documents_401_and_403(schema):
    missing = [
        label
        for label, operation in _operations(schema)
        if not {"401", "403"} <= set(operation["responses"])
    ]
    assert missing == []


@pytest.mark.parametrize(
    "path", ["/api/v1/sites/", "/api/v1/patients/", "/api/v1/patients/{patient_id}/consents/"]
)
def test_list_errors_are_in_the_one_error_format(schema, path):
    responses = schema["paths"][path]["get"]["responses"]
    assert {_error_ref(responses[code]) for code in ("401", "403")} == {ERROR}


def test_every_operation_on_an_object_documents_404(schema):
    missing = [
        label
        for label, operation in _operations(schema)
        if any(p["in"] == "path" for p in operation.get("parameters", []))
        and "404" not in operation["responses"]
    ]
    assert missing == []


def test_400_is_documented_where_input_is_taken_and_not_for_a_page_alone(schema):
    assert "400" in schema["paths"]["/api/v1/patients/"]["post"]["responses"]
    assert "400" in schema["paths"]["/api/v1/patients/"]["get"]["responses"]  # ?site= ...
    assert "400" not in schema["paths"]["/api/v1/sites/"]["get"]["responses"]  # limit, offset


def test_codes_an_operation_documents_itself_are_kept(schema):
    fhir = schema["paths"]["/api/v1/fhir/"]["post"]["responses"]
    assert "$ref" not in fhir["422"]["content"]["application/fhir+json"]["schema"]
    assert "429" in schema["paths"]["/api/v1/ctdna/results/"]["get"]["responses"]
