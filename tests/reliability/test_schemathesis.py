"""schemathesis over the whole OpenAPI schema, with each persona's real token.

The schema is read from /api/schema/ through the WSGI application
(``schemathesis.openapi.from_wsgi``) and every operation is exercised in-process, as each
persona (investigator and coordinator at site A, investigator at site B, sponsor monitor,
statistician, data manager, laboratory), with the path parameters of objects the persona's
site owns (so requests reach the services, not only the 404 of an unknown id) and, in the
heavy run, with generated ones too. Every response must:

- never be a server error (5xx);
- have a status code the schema documents for the operation;
- have the documented content type, headers and body schema.

``make test`` runs a few derandomized examples per operation and persona; ``make
reliability`` runs many more, randomized, including generated path parameters. A failure
prints the operation, the persona and a curl command that reproduces it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from deploy.wsgi import application

from .known_bugs import conclude
from .world import World

PERSONAS = ("inv_a", "coord_a", "inv_b", "sponsor", "stat", "dm", "lab_a")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True)
class Budget:
    """How hard to try: examples per operation and persona, and whether path parameters are
    also generated (mostly unknown ids: 404s that must be documented too)."""

    examples: int
    derandomize: bool
    generated_ids: bool


FAST = Budget(examples=3, derandomize=True, generated_ids=False)
HEAVY = Budget(examples=25, derandomize=False, generated_ids=True)


@contextmanager
def in_test_transaction() -> Iterator[None]:
    """Let the WSGI handler run inside the test's transaction: like Django's test client,
    do not close the connection at the start and end of each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture(scope="module")
def api_schema(world):
    with in_test_transaction():
        return schemathesis.openapi.from_wsgi("/api/schema/", application)


def _own_ids(world: World, persona) -> dict[str, int]:
    """Path parameter values of objects the persona's site owns (site A for central roles)."""
    data = world.sites[persona.site or "FR01"]
    return {
        "patient_id": data.patient.pk,
        "consent_id": data.consent.pk,
        "event_id": data.adverse_event.pk,
        "decision_id": data.dose_decision.pk,
        "result_id": data.result.pk,
        "design_id": world.design.pk,
    }


def _operations(schema) -> list:
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40, "the schema lost its operations"
    return operations


def _exercise(operation, *, token: str, path_ids: dict | None, budget: Budget) -> list[str]:
    """Run ``budget.examples`` cases of one operation; one row per distinct failure."""
    headers = {"Authorization": f"Token {token}"}
    params = None
    if path_ids is not None:
        names = {p.name for p in operation.path_parameters}
        params = {name: value for name, value in path_ids.items() if name in names}
    strategy = operation.as_strategy(headers=headers, path_parameters=params or None)
    failing: list = []

    @settings(
        max_examples=budget.examples,
        derandomize=budget.derandomize,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case):
        failing.append(case)
        case.call_and_validate(headers=headers, checks=CHECKS)
        failing.pop()

    try:
        run()
    except (Exception, FailureGroup) as error:  # collected: one run reports every operation
        return _rows(operation, error, failing[-1] if failing else None)
    return []


def _leaves(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


def _rows(operation, error: BaseException, case) -> list[str]:
    """``<operation>: <failure>: <first line> | reproduce: <curl of the smallest case>``
    (the token is left out: use the persona's)."""
    curl = case.as_curl_command() if case is not None else "(no case)"
    rows = []
    for leaf in _leaves(error):
        title = getattr(leaf, "title", type(leaf).__name__)
        message = str(getattr(leaf, "message", leaf)).strip().splitlines()
        first = (message[0] if message else "")[:200]
        rows.append(f"{operation.label}: {title}: {first} | reproduce: {curl}")
    return rows


def _run(world: World, schema, name: str, budget: Budget) -> None:
    persona = world.persona(name)
    rows: list[str] = []
    with in_test_transaction():
        for operation in _operations(schema):
            runs = [_own_ids(world, persona)] + ([None] if budget.generated_ids else [])
            for path_ids in runs:
                rows += _exercise(operation, token=persona.token, path_ids=path_ids, budget=budget)
    conclude("schema", name, sorted(set(rows)), strict=budget.derandomize)


@pytest.mark.parametrize("name", PERSONAS)
def test_every_operation_conforms(in_world, api_schema, name):
    _run(in_world, api_schema, name, FAST)


@pytest.mark.reliability
@pytest.mark.parametrize("name", PERSONAS)
def test_every_operation_conforms_under_many_examples(in_world, api_schema, name):
    _run(in_world, api_schema, name, HEAVY)
