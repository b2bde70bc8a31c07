"""Dashboard pages and admin lists at 50k patients: server time and query count.

Each page is requested in-process through Django's test client, so the time is the server's
whole handling of the request (middleware, view, queries, template), without the network or a
load generator. The dashboards are read as a data manager (every page, efficacy by arm
included), the admin lists as a superuser (every site): both see all 50k patients. One request
warms each page up; then up to ``repeats`` requests are timed, within ``budget_s`` seconds per
page (at least one), the first under ``CaptureQueriesContext`` for the query count.

The 50k patients are the schedule benchmark's (enrolled, on Step 1, with their calendars) plus
the ingestion benchmark's 300 with their ctDNA results; they have no adverse events, tumour
assessments, QoL or allocations, so the pages that chart those read empty tables.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection, reset_queries
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse

from monitoring.dashboard.urls import PAGE_PATHS
from trial.models import Role, StaffProfile

from .stats import Latency, latency_of

# The admin lists site staff and data managers work in, by model label.
ADMIN_LISTS = (
    "trial.patient",
    "trial.scheduleitem",
    "trial.auditevent",
    "monitoring.sample",
    "monitoring.ctdnaresult",
)


@dataclass(frozen=True)
class PageTiming:
    name: str
    path: str
    status: int
    requests: int
    latency: Latency
    queries: int
    response_kb: float


@dataclass(frozen=True)
class PagesBench:
    patients: int
    pages: tuple[PageTiming, ...]


def dashboard_paths() -> list[tuple[str, str]]:
    paths = [("dashboard: overview", "/dashboard/")]
    paths += [
        (f"dashboard: {page.value}", f"/dashboard/{prefix}") for page, prefix in PAGE_PATHS.items()
    ]
    return paths


def admin_paths() -> list[tuple[str, str]]:
    paths = []
    for label in ADMIN_LISTS:
        app_label, model_name = label.split(".")
        registered = any(m._meta.label_lower == label for m in admin.site._registry)
        if not registered:
            continue
        try:
            paths.append((f"admin: {label}", reverse(f"admin:{app_label}_{model_name}_changelist")))
        except NoReverseMatch:
            continue
    return paths


def _users() -> tuple[Any, Any]:
    users = get_user_model().objects
    data_manager = users.create_user(username="bench.pages.dm", is_staff=True)
    StaffProfile.objects.create(user=data_manager, role=Role.DATA_MANAGER, language="en")
    superuser = users.create_superuser(username="bench.pages.admin", email="admin@bench.invalid")
    return data_manager, superuser


def time_page(client: Client, name: str, path: str, *, repeats: int, budget_s: float) -> PageTiming:
    """A warm-up request, then up to ``repeats`` timed ones while within ``budget_s`` (at least
    one); the first timed request also gives the query count."""
    client.get(path)  # warm-up: caches, lazy imports, the first query plans
    samples: list[float] = []
    queries = 0
    deadline = time.monotonic() + budget_s
    while len(samples) < repeats and (not samples or time.monotonic() < deadline):
        # Django empties the query log when a request starts: count from an empty log.
        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(path)
            samples.append((time.perf_counter() - started) * 1000)
        queries = queries or len(captured.captured_queries)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return PageTiming(
        name=name,
        path=path,
        status=response.status_code,
        requests=len(samples),
        latency=latency_of(samples),
        queries=queries,
        response_kb=len(body) / 1024,
    )


def bench_pages(
    *, patients: int, repeats: int = 10, budget_s: float = 10, log: Any = print
) -> PagesBench:
    data_manager, superuser = _users()
    timings = []
    for user, paths in ((data_manager, dashboard_paths()), (superuser, admin_paths())):
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        for name, path in paths:
            timing = time_page(client, name, path, repeats=repeats, budget_s=budget_s)
            log(
                f"  {name}: HTTP {timing.status}, p95 {timing.latency.p95_ms:.0f} ms, "
                f"{timing.queries} queries"
            )
            timings.append(timing)
    return PagesBench(patients=patients, pages=tuple(timings))


def slowest(pages: Sequence[PageTiming]) -> PageTiming:
    return max(pages, key=lambda p: p.latency.p95_ms)
