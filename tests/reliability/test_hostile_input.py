"""Hostile input that schemathesis meets only by chance, tried on every route deterministically.

- A NUL byte in any documented query parameter of any API operation, and in any dashboard
  filter: PostgreSQL text cannot hold it, so an unchecked value reaches the database as a
  DataError. The answer must be a 4xx, never a 500.
- A NUL character in a key or a value of any JSON body, at any depth, on every write operation
  of the API, in both JSON media types: a free-form JSON field (``stratification``) would carry
  it to a jsonb column. The answer must be a 4xx, never a 500, and a 400 is ``invalid_input``.
- An id that the URL pattern does not accept (``-1``, ``abc``) under /api/v1/: the answer
  must be the API's JSON error envelope, as for every other API error, not an HTML page.
"""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from .known_bugs import conclude
from .routes import api_routes, dashboard_routes
from .world import World

NUL = "a\x00b"
DASHBOARD_FILTERS = ("site", "protocol", "enrolled_from", "enrolled_to", "by")


def _own_ids(world: World, persona) -> dict[str, int]:
    data = world.sites[persona.site or "FR01"]
    return {
        "patient_id": data.patient.pk,
        "consent_id": data.consent.pk,
        "event_id": data.adverse_event.pk,
        "decision_id": data.dose_decision.pk,
        "result_id": data.result.pk,
        "design_id": world.design.pk,
    }


def _token_client(world: World, name: str) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.persona(name).token}")
    return client


def _documented_queries() -> list[tuple[str, str]]:
    """(path template, query parameter) of every GET operation in the OpenAPI schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    found = []
    for path, operations in schema["paths"].items():
        for parameter in operations.get("get", {}).get("parameters", []):
            if parameter["in"] == "query":
                found.append((path, parameter["name"]))
    assert found, "no documented query parameter"
    return found


@pytest.mark.parametrize("name", ["inv_a", "stat", "lab_a"])
def test_a_nul_byte_in_any_query_parameter_is_refused(in_world, name):
    persona = in_world.persona(name)
    client = _token_client(in_world, name)
    ids = _own_ids(in_world, persona)
    rows = []
    for path, parameter in _documented_queries():
        url = re.sub(r"\{(\w+)\}", lambda m: str(ids[m[1]]), path)
        response = client.get(url, {parameter: NUL})
        if response.status_code >= 500:
            rows.append(f"GET {path}?{parameter}=<NUL>: {response.status_code}")
    if persona.role != "lab":
        dashboard = Client(raise_request_exception=False)
        dashboard.force_login(persona.user)
        for route in dashboard_routes():
            if route.params or route.name in {"dashboard:login", "dashboard:logout"}:
                continue
            for parameter in DASHBOARD_FILTERS:
                response = dashboard.get(route.url(), {parameter: NUL})
                if response.status_code >= 500:
                    rows.append(f"GET /{route.template}?{parameter}=<NUL>: {response.status_code}")
    conclude("nul", name, rows)


JSON_MEDIA_TYPES = ("application/json", "application/fhir+json")


def _error_code(body: dict) -> str | None:
    """The envelope's code; the FHIR endpoint answers with an OperationOutcome instead."""
    if body.get("resourceType") == "OperationOutcome":
        text = json.dumps(body)
        return "invalid_input" if "NUL character" in text else text
    return body.get("code")


@pytest.mark.parametrize("name", ["inv_a", "dm", "lab_a"])
def test_a_nul_character_in_any_json_body_is_refused(in_world, name):
    persona = in_world.persona(name)
    client = _token_client(in_world, name)
    ids = _own_ids(in_world, persona)
    bodies = (
        {"stratification": {"visceral\x00": "yes"}},
        {"reason": "typo", "entries": [{"nested": {"value": NUL}}]},
    )
    rows, refused = [], 0
    for route in api_routes():
        values = {p: ids.get(p, 1) for p in route.params}
        for method in set(route.methods) & {"POST", "PUT", "PATCH"}:
            for body in bodies:
                for media_type in JSON_MEDIA_TYPES:
                    response = getattr(client, method.lower())(
                        route.url(**values), json.dumps(body), content_type=media_type
                    )
                    status = response.status_code
                    code = _error_code(response.json()) if status == 400 else None
                    refused += code == "invalid_input"
                    if status >= 500 or code not in (None, "invalid_input"):
                        rows.append(f"{method} {route.template} {media_type}: {status}")
    assert refused, f"{name}: no write operation parsed a body"
    conclude("nul_body", name, rows)


def test_a_nul_in_a_stratification_key_changes_nothing(in_world):
    patient = in_world.sites["FR01"].patient
    before = patient.stratification
    client = _token_client(in_world, "inv_a")
    response = client.patch(
        f"/api/v1/patients/{patient.pk}/",
        {"stratification": {"visceral_metastases\x00": "yes"}, "reason": "correction"},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_input"
    assert "NUL" in response.json()["message"]
    patient.refresh_from_db()
    assert patient.stratification == before


@pytest.mark.parametrize("bad", ["-1", "abc"])
def test_an_id_the_url_does_not_accept_gets_the_json_envelope(in_world, bad):
    client = _token_client(in_world, "dm")
    rows = []
    for route in api_routes():
        if not route.params:
            continue
        url = route.url(**dict.fromkeys(route.params, bad))
        response = client.get(url)
        json_error = response.get("Content-Type", "").startswith("application/json") and set(
            response.json()
        ) == {"code", "message", "details"}
        if response.status_code != 404 or not json_error:
            kind = response.get("Content-Type", "")
            rows.append(f"GET {route.name} with {bad}: {response.status_code} {kind}")
    conclude("unmatched", "dm", rows)
