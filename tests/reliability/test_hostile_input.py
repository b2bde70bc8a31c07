"""Hostile input that schemathesis meets only by chance, tried on every route deterministically.

- A NUL byte in any documented query parameter of any API operation, and in any dashboard
  filter: PostgreSQL text cannot hold it, so an unchecked value reaches the database as a
  DataError. The answer must be a 4xx, never a 500.
- An id that the URL pattern does not accept (``-1``, ``abc``) under /api/v1/: the answer
  must be the API's JSON error envelope, as for every other API error, not an HTML page.
"""

from __future__ import annotations

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
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {persona.token}")
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


@pytest.mark.parametrize("bad", ["-1", "abc"])
def test_an_id_the_url_does_not_accept_gets_the_json_envelope(in_world, bad):
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {in_world.persona('dm').token}")
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
