"""Dashboard pages and admin lists at 50k patients: server time and query count.

Each page is requested in-process through Django's test client, so the time is the server's
whole handling of the request (middleware, view, queries, template), without the network or a
load generator. The dashboards are read as a data manager (every page, efficacy by arm
included), the admin lists as a superuser (every site): both see all 50k patients. One request
warms each page up; then up to ``repeats`` requests are timed, within ``budget_s`` seconds per
page (at least one), the first under ``CaptureQueriesContext`` for the query count.

The heavy pages are served from snapshots (``monitoring.dashboard.snapshots``): the warm-up
request computes and stores the snapshot, the timed ones are served from it, and their name
says so. Their cost is measured apart and reported next to them: the snapshot's computation as
the beat task runs it (the time a request also pays when no fresh snapshot exists).

The 50k patients are the schedule benchmark's (enrolled, on Step 1, with their calendars) plus
the ingestion benchmark's 300 with their ctDNA results. :func:`seed_clinical_rows` gives the
schedule clones what their done schedule rows imply, written in SQL (seconds, not the hours the
services would take): a QoL questionnaire per done QoL item, a blood count per done blood-count
item, a tumour assessment per done imaging item (about one in twelve progressive), and adverse
events for one patient in four (some serious, with their reporting clock, a few grade 5). They
have no eligibility assessments, Step 2 triggers or allocations (allocations come only from the
sealed randomization lists), so the flow's later stages and the by-arm groups stay empty.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection, reset_queries
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse

from monitoring.dashboard.access import Page
from monitoring.dashboard.filters import parse_filters
from monitoring.dashboard.pages import PAGES
from monitoring.dashboard.snapshots import SNAPSHOT_PAGES, snapshot_compute
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
    #: For a page served from snapshots: what computing its snapshot costs (the Celery beat
    #: task's time per page and scope, and a request's that finds none fresh), with its queries.
    snapshot: Latency | None = None
    snapshot_queries: int = 0


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


# Deterministic pseudo-random values from row ids: ``(id * prime) % m``.
_CLINICAL_ROWS_SQL = {
    "trial_qolquestionnaire": """
        INSERT INTO trial_qolquestionnaire (created_at, created_by_id, patient_id, line_id,
            instrument, completed_on, responses, ql2, pf2, rf2, ef, cf, sf, fa, nv, pa, dy, sl,
            ap, co, di, fi, summary)
        SELECT now(), s.created_by_id, s.patient_id, s.line_id, 'qlq_c30_v3', s.done_on, '{}',
            CASE WHEN (s.id * 31) % 10 = 0 THEN NULL
                 ELSE 100.0 / 6 * ((s.patient_id * 7 + s.id) % 7) END,
            100.0 / 3 * ((s.id * 13) % 4), 100.0 / 3 * ((s.id * 17) % 4),
            100.0 / 3 * ((s.id * 19) % 4), 100.0 / 3 * ((s.id * 23) % 4),
            100.0 / 3 * ((s.id * 29) % 4), 100.0 / 3 * ((s.id * 37) % 4),
            100.0 / 3 * ((s.id * 41) % 4), 100.0 / 3 * ((s.id * 43) % 4),
            100.0 / 3 * ((s.id * 47) % 4), 100.0 / 3 * ((s.id * 53) % 4),
            100.0 / 3 * ((s.id * 59) % 4), 100.0 / 3 * ((s.id * 61) % 4),
            100.0 / 3 * ((s.id * 67) % 4), 100.0 / 3 * ((s.id * 71) % 4),
            100.0 / 6 * ((s.id * 73) % 7)
        FROM trial_scheduleitem s
        WHERE s.kind = 'qol' AND s.status = 'done' AND s.done_ref = 'bench:qol'
    """,
    "trial_bloodcount": """
        INSERT INTO trial_bloodcount (created_at, created_by_id, patient_id, line_id,
            cycle_number, cycle_day, drawn_on, entered, lln, fever, infection,
            lymphopenia_clinical_event, ctcae_version, grades, worst_grade, worst_term,
            haem_max_grade, proposed_action, proposed_reason)
        SELECT now(), s.created_by_id, s.patient_id, s.line_id, coalesce(s.cycle, 1),
            coalesce(s.cycle_day, 1), s.done_on, '{}', '{}', false, false, false, '5.0', '{}',
            g.grade, 'anc', g.grade, 'continue', ''
        FROM trial_scheduleitem s
        CROSS JOIN LATERAL (SELECT CASE WHEN (s.id * 7) % 97 = 0 THEN 4
                                        WHEN (s.id * 7) % 13 = 0 THEN 3
                                        ELSE (s.id * 7) % 3 END AS grade) g
        WHERE s.kind = 'blood_count' AND s.status = 'done' AND s.done_ref = 'bench:blood_count'
    """,
    "trial_tumourassessment": """
        INSERT INTO trial_tumourassessment (created_at, created_by_id, patient_id, line_id,
            assessed_on, modality, is_baseline, new_lesions, non_target, target_response,
            overall_response, reason_code, reason)
        SELECT now(), s.created_by_id, s.patient_id, s.line_id, s.done_on, 'CT', false,
            (s.id * 11) % 12 = 0, 'non_cr_non_pd', 'sd',
            CASE WHEN (s.id * 11) % 12 = 0 THEN 'pd' ELSE 'sd' END, '', ''
        FROM trial_scheduleitem s
        WHERE s.kind = 'imaging' AND s.status = 'done' AND s.done_ref = 'bench:imaging'
    """,
    "trial_adverseevent": """
        INSERT INTO trial_adverseevent (created_at, created_by_id, patient_id, line_id, term,
            grade, ctcae_version, onset_on, attribution, serious, description,
            sae_clock_started_at, sae_report_due_at, sae_reported_at)
        SELECT now(), l.created_by_id, l.patient_id, l.id,
            CASE WHEN a.grade = 5 THEN 'Death NOS' ELSE 'Fatigue' END, a.grade, '5.0',
            a.onset_on, 'possible', a.serious, '',
            CASE WHEN a.serious THEN a.onset_on + time '09:00' END,
            CASE WHEN a.serious THEN a.onset_on + time '09:00' + interval '24 hours' END,
            CASE WHEN a.serious AND l.patient_id % 9 <> 0
                 THEN a.onset_on + time '09:00' + (l.patient_id % 30) * interval '1 hour' END
        FROM trial_treatmentline l
        CROSS JOIN LATERAL (
            SELECT CASE WHEN l.patient_id % 211 = 0 THEN 5 ELSE 1 + l.patient_id % 4 END AS grade,
                   l.patient_id % 10 = 0 OR l.patient_id % 211 = 0 AS serious,
                   least(l.started_on + (l.patient_id % 300)::int, current_date - 1) AS onset_on
        ) a
        WHERE l.started_on IS NOT NULL AND l.patient_id % 4 = 0
            AND EXISTS (SELECT 1 FROM trial_scheduleitem s
                        WHERE s.line_id = l.id AND s.done_ref LIKE 'bench:%')
    """,
}


def seed_clinical_rows(log: Any = print) -> None:
    """The page data the schedule clones lack (see the module docstring), into the tables that
    are still empty; rows without history rows, as the clones' schedule rows (bench seeding
    only)."""
    with connection.cursor() as cursor:
        for table, sql in _CLINICAL_ROWS_SQL.items():
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")  # noqa: S608 - our constants
            if cursor.fetchone()[0]:
                continue
            started = time.monotonic()
            cursor.execute(sql)
            log(
                f"  seeded {cursor.rowcount:,} rows of {table} in {time.monotonic() - started:.0f} s"
            )
            cursor.execute(f"ANALYZE {table}")


def _users() -> tuple[Any, Any]:
    users = get_user_model().objects
    data_manager = users.create_user(username="bench.pages.dm", is_staff=True)
    StaffProfile.objects.create(user=data_manager, role=Role.DATA_MANAGER, language="en")
    superuser = users.create_superuser(username="bench.pages.admin", email="admin@bench.invalid")
    return data_manager, superuser


def _snapshot_page(path: str) -> Page | None:
    for page in SNAPSHOT_PAGES:
        if path == f"/dashboard/{PAGE_PATHS[page]}":
            return page
    return None


def time_snapshot(user: Any, page: Page, *, repeats: int, budget_s: float) -> tuple[Latency, int]:
    """The computation of ``page``'s default snapshot for ``user``'s scope, as the beat task
    runs it (no cache read or write): up to ``repeats`` timings within ``budget_s`` (at least
    one), after one warm-up; the first also gives the query count."""
    filters = parse_filters({}, user=user, choices=PAGES[page].choices)
    snapshot_compute(page=page, user=user, filters=filters)  # warm-up
    samples: list[float] = []
    queries = 0
    deadline = time.monotonic() + budget_s
    while len(samples) < repeats and (not samples or time.monotonic() < deadline):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            snapshot_compute(page=page, user=user, filters=filters)
            samples.append((time.perf_counter() - started) * 1000)
        queries = queries or len(captured.captured_queries)
    return latency_of(samples), queries


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
    seed_clinical_rows(log)
    data_manager, superuser = _users()
    snapshots_on = settings.DASHBOARD_SNAPSHOT_MAX_AGE > 0
    timings = []
    for user, paths in ((data_manager, dashboard_paths()), (superuser, admin_paths())):
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        for name, path in paths:
            page = _snapshot_page(path) if snapshots_on else None
            if page is not None:
                name = f"{name} (served from a snapshot)"
            timing = time_page(client, name, path, repeats=repeats, budget_s=budget_s)
            log(
                f"  {name}: HTTP {timing.status}, p95 {timing.latency.p95_ms:.0f} ms, "
                f"{timing.queries} queries"
            )
            if page is not None:
                latency, queries = time_snapshot(user, page, repeats=repeats, budget_s=budget_s)
                timing = replace(timing, snapshot=latency, snapshot_queries=queries)
                log(
                    f"  {name}: snapshot computation p95 {latency.p95_ms:.0f} ms, {queries} queries"
                )
            timings.append(timing)
    return PagesBench(patients=patients, pages=tuple(timings))


def slowest(pages: Sequence[PageTiming]) -> PageTiming:
    return max(pages, key=lambda p: p.latency.p95_ms)
