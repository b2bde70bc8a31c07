"""Cross-site and cross-role matrix over every dashboard page, table CSV, export and export job,
generated from the URLconf.

Every route under /dashboard/ must be in ``POLICY`` (or be the public login and logout). The
tables of each page are found by reading the page as the statistician (who sees them all), so
a new chart table is covered too. For each persona:

- anonymous visitors are sent to the dashboard login; a role without access gets 403;
- site staff asking for another site (``?site=FR02``) get 404, and see only their own site's
  patients in every page, CSV and export;
- an export job is its requester's alone (404 for everyone else);
- nobody but the data manager sees a screening number (pseudonymised roles never do).

tests/monitoring/dashboard/test_access.py pins the same policy route by route, with the
htmx fragments; this matrix makes sure no route is left out of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.test import Client

from monitoring.dashboard.models import ExportKind

from .access import CENTRAL, DATA_MONITORING, PERSONAS, READERS, Verdicts, leaks
from .known_bugs import conclude
from .routes import dashboard_routes
from .world import World


@dataclass(frozen=True)
class PageAccess:
    roles: frozenset[str]
    why: str


OPERATIONAL = PageAccess(READERS, "operational views: site staff (own sites) and central roles")
CENTRAL_ONLY = PageAccess(CENTRAL, "trial-wide analyses: central roles only")

POLICY: dict[str, PageAccess] = {
    "dashboard:overview": OPERATIONAL,
    "dashboard:enrolment": OPERATIONAL,
    "dashboard:enrolment_csv": OPERATIONAL,
    "dashboard:operations": OPERATIONAL,
    "dashboard:operations_csv": OPERATIONAL,
    "dashboard:flow": CENTRAL_ONLY,
    "dashboard:flow_csv": CENTRAL_ONLY,
    "dashboard:ctdna": CENTRAL_ONLY,
    "dashboard:ctdna_csv": CENTRAL_ONLY,
    "dashboard:safety": CENTRAL_ONLY,
    "dashboard:safety_csv": CENTRAL_ONLY,
    "dashboard:efficacy": CENTRAL_ONLY,
    "dashboard:efficacy_csv": CENTRAL_ONLY,
    "dashboard:qol": CENTRAL_ONLY,
    "dashboard:qol_csv": CENTRAL_ONLY,
    "dashboard:efficacy_by_arm": PageAccess(
        DATA_MONITORING, "efficacy by arm: statistician and data manager, never the sponsor"
    ),
    "dashboard:efficacy_by_arm_csv": PageAccess(DATA_MONITORING, "as its page"),
    "dashboard:exports": PageAccess(READERS, "exports: site staff (own sites) and central"),
    "dashboard:export_download": PageAccess(READERS, "streamed exports, site-scoped"),
    "dashboard:export_job_create": PageAccess(READERS, "background exports, site-scoped"),
    "dashboard:export_job_status": PageAccess(READERS, "a job: its requester only"),
    "dashboard:export_job_download": PageAccess(READERS, "a job's file: its requester only"),
}
PUBLIC = {"dashboard:login": "the login form", "dashboard:logout": "ends one's own session"}
JOB_ROUTES = {"dashboard:export_job_status", "dashboard:export_job_download"}
JOB_OWNER = "inv_a"
#: Routes that read no filters: the menu and one job (its filters were fixed when requested).
UNFILTERED = {"dashboard:overview", *JOB_ROUTES}
_CSV_LINK = re.compile(r'href="/dashboard/(?P<prefix>[a-z/-]*?)csv/(?P<table>[a-z0-9_-]+)/')


def test_every_dashboard_route_has_a_policy():
    names = {route.name for route in dashboard_routes()}
    assert names == set(POLICY) | set(PUBLIC)


def _content(response) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return raw.decode(errors="replace")


def _tables(world: World, route) -> list[str]:
    """The table keys a page links to, read from the page as the statistician sees it."""
    client = Client()
    client.force_login(world.persona("stat").user)
    page = route.template.removesuffix("csv/<slug:table>/")
    html = _content(client.get("/" + page))
    prefix = page.removeprefix("dashboard/")
    return sorted({m["table"] for m in _CSV_LINK.finditer(html) if m["prefix"] == prefix})


def _requests(world: World) -> list[tuple[str, str, str, dict]]:
    """(route name, method, url, POST data) of every dashboard request the matrix makes."""
    requests = []
    for route in dashboard_routes():
        if route.name in PUBLIC:
            continue
        if route.name == "dashboard:export_job_create":
            requests.append((route.name, "POST", route.url(), {"kind": "patients"}))
        elif "table" in route.params:
            tables = _tables(world, route)
            assert tables, f"{route.name}: the page links to no table"
            requests += [(route.name, "GET", route.url(table=t), {}) for t in tables]
        elif "kind" in route.params:
            requests += [(route.name, "GET", route.url(kind=k), {}) for k in ExportKind.values]
        elif "pk" in route.params:
            requests.append((route.name, "GET", route.url(pk=world.export_job_id), {}))
        else:
            requests.append((route.name, "GET", route.url(), {}))
    return requests


def _expected(persona, name: str) -> set[int]:
    if persona is None:
        return {302}
    if persona.role not in POLICY[name].roles:
        return {403}
    if name in JOB_ROUTES and persona.name != JOB_OWNER:
        return {404}
    if name == "dashboard:export_job_download":
        return {409}  # the owner's job is still queued: export_not_ready
    if name == "dashboard:export_job_create":
        return {302}  # back to the exports page
    return {200}


@pytest.mark.parametrize("name", [*PERSONAS, None], ids=[*PERSONAS, "anonymous"])
def test_dashboard_matrix(in_world, name):
    world = in_world
    persona = None if name is None else world.persona(name)
    client = Client(raise_request_exception=False)
    if persona is not None:
        client.force_login(persona.user)
    verdicts = Verdicts()
    for route_name, method, url, data in _requests(world):
        response = client.post(url, data) if method == "POST" else client.get(url)
        expected = _expected(persona, route_name)
        what = f"{method} {url}"
        if response.status_code not in expected:
            why = POLICY[route_name].why
            verdicts.add(what, response.status_code, f"{sorted(expected)}: {why}")
        elif persona is None and "/dashboard/login/" not in response["Location"]:
            verdicts.add(what, 302, "a redirect to the dashboard login")
        found = leaks(world, persona, _content(response), url)
        if found:
            verdicts.add(what, response.status_code, f"no other site's data, found {found}")
        if (
            persona is not None
            and not persona.central
            and method == "GET"
            and expected == {200}
            and route_name not in UNFILTERED
        ):
            other = "FR02" if persona.site == "FR01" else "FR01"
            filtered = client.get(f"{url}?site={other}")
            if filtered.status_code != 404:
                verdicts.add(f"{what}?site={other}", filtered.status_code, "404: not their site")
    conclude("dashboard", name or "anonymous", verdicts.rows)
