"""Cross-site and cross-role matrix over every API route, generated from the URLconf.

Every route and method under /api/v1/ must have an entry in ``POLICY`` (a new route fails
``test_every_api_route_has_a_policy`` until someone states who may use it). Each persona then
calls every route with real token authentication, on site A's objects:

- a persona the policy refuses gets 403 or 404 (401 when anonymous), never a 2xx;
- a persona the policy admits is not refused (any 2xx, or 400/409/422 about the data);
- no response carries another site's data, nor a screening number to a pseudonymised role
  (sponsor monitor, statistician, lab).

Write routes receive a body the serializers accept, so that the role checks inside the
services are reached too (a refusal answered as 400 would prove nothing). The feature suites
test each error code; this matrix tests that no route was forgotten.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.conftest import PASSWORD
from tests.trial.factories import ELIGIBLE_PADA1

from .access import (
    DATA_MANAGER,
    DATA_MONITORING,
    INVESTIGATOR,
    LAB,
    PERSONAS,
    READERS,
    SITE_STAFF,
    Verdicts,
    leaks,
    may,
)
from .known_bugs import conclude
from .routes import api_routes
from .world import TODAY, World, result_body

DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Access:
    """Who may call one route and method. ``target`` names the site A object the URL points
    to (see ``_targets``); ``scoped`` is False for routes whose URL names no site's object."""

    roles: frozenset[str]
    why: str
    target: str = "patient"
    scoped: bool = True
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def _date(days: int = 0) -> str:
    return (TODAY + days * DAY).isoformat()


# --- the allow-list ---------------------------------------------------------------------------

POLICY: dict[tuple[str, str], Access] = {
    ("sites-list", "GET"): Access(
        READERS, "humans of the trial list sites; site staff see their own", scoped=False
    ),
    ("patients", "GET"): Access(
        READERS, "site staff list their sites' patients, central roles all sites", scoped=False
    ),
    ("patients", "POST"): Access(
        SITE_STAFF,
        "site staff register patients at their own site only (the body names site A)",
        body={
            "site": "FR01",
            "protocol": "PADA1",
            "screening_number": "NEWSCR1",
            "year_of_birth": 1960,
            "sex": "female",
            "menopausal_status": "postmenopausal",
        },
    ),
    ("patient-detail", "GET"): Access(READERS, "read: site staff of the site, central roles"),
    ("patient-detail", "PATCH"): Access(
        SITE_STAFF,
        "corrections by the site's staff, with a reason; central roles read only",
        body={"year_of_birth": 1961, "reason": "transcription error"},
    ),
    ("patient-screening", "POST"): Access(
        SITE_STAFF,
        "screening data entered by the site",
        target="screening",
        body={"screening_date": _date(), "values": ELIGIBLE_PADA1},
    ),
    ("patient-consents", "GET"): Access(READERS, "consents are read by the trial's humans"),
    ("patient-consents", "POST"): Access(
        SITE_STAFF,
        "consent is recorded by the site",
        target="screening",
        body={"form_version": "ICF-1.0", "consented_on": _date(), "taken_by": "inv_a"},
    ),
    ("patient-enrol", "POST"): Access(
        SITE_STAFF,
        "enrolment by the site's staff",
        target="screening",
        body={"endocrine_drug": "letrozole", "planned_c1d1": _date(7)},
    ),
    ("patient-screen-failure", "POST"): Access(
        SITE_STAFF,
        "a screen failure is recorded by the site",
        target="screening",
        body={"reason": "withdrew before screening"},
    ),
    ("patient-audit", "GET"): Access(READERS, "the audit trail is read by the trial's humans"),
    ("consent-withdraw", "POST"): Access(
        SITE_STAFF,
        "withdrawal is recorded by the site",
        target="consent",
        body={"withdrawn_on": _date(), "reason": "patient's decision"},
    ),
    ("patient-schedule", "GET"): Access(READERS, "the calendar is read by the trial's humans"),
    ("schedule-due", "GET"): Access(
        READERS, "due lists: site staff their sites, central roles all", scoped=False
    ),
    ("patient-cycles", "GET"): Access(READERS, "cycles are read by the trial's humans"),
    ("patient-cycle-start", "POST"): Access(
        SITE_STAFF, "cycle starts are recorded by the site", body={"started_on": _date()}
    ),
    ("patient-cycle-hold", "POST"): Access(
        SITE_STAFF, "holds by the site", body={"on": _date(), "reason": "neutropenia"}
    ),
    ("patient-cycle-release", "POST"): Access(
        SITE_STAFF, "releases by the site", body={"on": _date(), "reason": "recovered"}
    ),
    ("patient-cycle-delay", "POST"): Access(
        SITE_STAFF, "delays by the site", body={"planned_d1": _date(7), "reason": "holiday"}
    ),
    ("patient-fulvestrant-injections", "POST"): Access(
        SITE_STAFF, "injections are recorded by the site", body={"given_on": _date()}
    ),
    ("patient-blood-counts", "GET"): Access(READERS, "blood counts are read by the humans"),
    ("patient-blood-counts", "POST"): Access(
        SITE_STAFF,
        "blood counts are entered by the site",
        body={
            "drawn_on": _date(),
            "cycle": 1,
            "day": 15,
            "values": {"anc": {"value": "3.0", "unit": "G/L"}},
        },
    ),
    ("patient-dose-decisions", "GET"): Access(READERS, "dose decisions are read by the humans"),
    ("dose-decision-confirm", "POST"): Access(
        INVESTIGATOR,
        "only the site's investigator signs a dose decision",
        target="dose_decision",
        body={"password": PASSWORD},
    ),
    ("patient-adverse-events", "GET"): Access(READERS, "adverse events are read by the humans"),
    ("patient-adverse-events", "POST"): Access(
        SITE_STAFF,
        "adverse events are reported by the site",
        body={
            "term": "Nausea",
            "grade": 1,
            "onset_on": _date(),
            "attribution": "unrelated",
            "serious": False,
        },
    ),
    ("adverse-event-sae-report", "POST"): Access(
        SITE_STAFF | DATA_MANAGER,
        "the SAE clock is stopped by the site or the data manager",
        target="adverse_event",
    ),
    ("adverse-event-resolve", "POST"): Access(
        SITE_STAFF | DATA_MANAGER,
        "resolution recorded by the site or corrected by the data manager",
        target="adverse_event",
        body={"resolved_on": _date(), "reason": "resolved"},
    ),
    ("adverse-event-regrade", "POST"): Access(
        SITE_STAFF | DATA_MANAGER,
        "a grade change is recorded by the site or corrected by the data manager",
        target="adverse_event",
        body={"grade": 1, "reason": "improved"},
    ),
    ("patient-tumour-assessments", "GET"): Access(READERS, "RECIST is read by the humans"),
    ("patient-tumour-assessments", "POST"): Access(
        SITE_STAFF,
        "imaging is recorded by the site",
        body={
            "assessed_on": _date(),
            "modality": "CT",
            "target_lesions": [
                {"lesion_number": 1, "location": "liver", "is_lymph_node": False, "diameter_mm": 30}
            ],
            "new_lesions": False,
            "non_target": "non_cr_non_pd",
        },
    ),
    ("patient-qol", "GET"): Access(READERS, "questionnaires are read by the humans"),
    ("patient-qol", "POST"): Access(
        SITE_STAFF,
        "questionnaires are entered by the site",
        body={"completed_on": _date(), "responses": {"1": 2}},
    ),
    ("patient-locoregional-treatments", "GET"): Access(READERS, "read by the humans"),
    ("patient-locoregional-treatments", "POST"): Access(
        SITE_STAFF,
        "PALATINE treatment of the primary, recorded by the site",
        body={"treatment_modality": "radiotherapy", "radiotherapy_start_on": _date()},
    ),
    ("patient-survival-contacts", "GET"): Access(READERS, "read by the humans"),
    ("patient-survival-contacts", "POST"): Access(
        SITE_STAFF,
        "survival follow-up recorded by the site",
        body={"contacted_on": _date(), "contact_method": "phone", "vital_status": "alive"},
    ),
    ("haematological-toxicities", "GET"): Access(
        READERS, "toxicity listing, site-scoped for site staff", scoped=False
    ),
    ("patient-randomize", "POST"): Access(
        INVESTIGATOR,
        "only the site's investigator randomizes, confirming with the password",
        target="randomized",
        body={"password": PASSWORD},
        headers={"Idempotency-Key": "matrix-1"},
    ),
    ("patient-crossover", "POST"): Access(
        INVESTIGATOR,
        "only the site's investigator crosses over, confirming with the password",
        target="randomized",
        body={"password": PASSWORD},
    ),
    ("patient-allocation", "GET"): Access(
        SITE_STAFF | DATA_MONITORING,
        "the arm once allocated: the site and the data-monitoring roles; not the sponsor",
        target="randomized",
    ),
    ("randomization-balance", "GET"): Access(
        DATA_MONITORING | {"sponsor_monitor"},
        "counts per arm: statistician, data manager and the sponsor; never site staff",
        scoped=False,
    ),
    ("randomization-designs", "GET"): Access(
        DATA_MONITORING,
        "concealment: designs only for the statistician and data manager",
        scoped=False,
    ),
    ("randomization-design-detail", "GET"): Access(
        DATA_MONITORING, "concealment: as the design list", target="design", scoped=False
    ),
    ("randomization-design-list", "GET"): Access(
        DATA_MONITORING, "concealment: the sealed list itself", target="design", scoped=False
    ),
    ("ctdna-results", "GET"): Access(LAB, "a lab reads back what it posted", scoped=False),
    ("ctdna-results", "POST"): Access(
        LAB, "labs post results (the sites they serve: tests/monitoring/api)", scoped=False
    ),
    ("ctdna-results-batch", "POST"): Access(LAB, "labs post batches", scoped=False),
    ("ctdna-result-detail", "GET"): Access(
        LAB, "one result, for the lab that posted it only", target="result"
    ),
    ("ctdna-result-amend", "POST"): Access(
        LAB,
        "amendments by the lab that posted the result",
        target="result",
        body=lambda world: {"reason": "re-run", "result": result_body(world, assay="NGS")},
    ),
    ("fhir-bundle", "POST"): Access(LAB, "labs post FHIR Bundles", scoped=False),
    ("patient-samples", "GET"): Access(READERS, "ctDNA draws are read by the humans"),
    ("patient-samples", "POST"): Access(
        SITE_STAFF,
        "draws are recorded by the site",
        body={"sample_id": "TUBEN1", "drawn_on": _date()},
    ),
    ("patient-ctdna-results", "GET"): Access(READERS, "results are read by the humans"),
}

#: Statuses that mean "refused": 403 role or permission, 404 another site's object.
REFUSED = {403, 404}


def _targets(world: World) -> dict[str, dict[str, int]]:
    """URL parameter values for each target name."""
    a = world.sites["FR01"]
    return {
        "patient": {"patient_id": a.patient.pk},
        "screening": {"patient_id": a.screening.pk},
        "randomized": {"patient_id": a.randomized.pk},
        "consent": {"consent_id": a.consent.pk},
        "dose_decision": {"decision_id": a.dose_decision.pk},
        "adverse_event": {"event_id": a.adverse_event.pk},
        "result": {"result_id": a.result.pk},
        "design": {"design_id": world.design.pk},
    }


def _client(world: World, name: str | None) -> APIClient:
    client = APIClient()
    if name is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {world.persona(name).token}")
    return client


def _operations():
    for route in api_routes():
        for method in route.methods:
            yield route, method


def test_every_api_route_has_a_policy():
    operations = {(route.name, method) for route, method in _operations()}
    assert not operations - set(POLICY), "routes without a policy in POLICY"
    assert not set(POLICY) - operations, "POLICY entries for routes that no longer exist"


def _check(verdicts, world, persona, route, method, response, sent: str) -> None:
    access = POLICY[(route.name, method)]
    what = f"{method} {route.name}"
    allowed = may(persona, access.roles, scoped=access.scoped)
    status = response.status_code
    if status >= 500:
        verdicts.add(what, status, "no server error")
    elif persona is None and status != 401:
        verdicts.add(what, status, "401 for an anonymous request")
    elif persona is not None and not allowed and status not in REFUSED:
        verdicts.add(what, status, f"refused (403/404): {access.why}")
    elif persona is not None and allowed and (status in REFUSED or status in {401, 405}):
        verdicts.add(what, status, f"admitted: {access.why}")
    found = leaks(world, persona, response.content.decode(errors="replace"), sent)
    if found:
        verdicts.add(what, status, f"no other site's or identifying data, found {found}")


@pytest.mark.parametrize("name", [*PERSONAS, None], ids=[*PERSONAS, "anonymous"])
def test_api_matrix(in_world, name):
    world = in_world
    persona = None if name is None else world.persona(name)
    client = _client(world, name)
    targets = _targets(world)
    verdicts = Verdicts()
    for route, method in _operations():
        access = POLICY[(route.name, method)]
        url = route.url(**targets.get(access.target, {})) if route.params else route.url()
        body = access.body(world) if callable(access.body) else access.body
        body = json.dumps(body if body is not None else {})
        response = client.generic(
            method, url, body, content_type="application/json", headers=access.headers
        )
        _check(verdicts, world, persona, route, method, response, sent=url + body)
    conclude("api", name or "anonymous", verdicts.rows)


@pytest.mark.parametrize(
    ("name", "found"),
    [("inv_a", 1), ("dm", 1), ("inv_b", 0), ("sponsor", 0), ("stat", 0)],
)
def test_a_screening_number_finds_a_patient_only_for_who_may_see_it(in_world, name, found):
    """The screening number links a trial number to the site's identity file: a search by it
    must not answer pseudonymised roles (nor another site) with the patient."""
    number = in_world.sites["FR01"].patient.screening_number
    response = _client(in_world, name).get("/api/v1/patients/", {"search": number})
    assert response.status_code == 200
    rows = [] if response.json()["count"] == found else ["GET patients?search: found the patient"]
    conclude("search", name, rows)
