"""From measured results to the report: figures with baselines and targets, and details.

Pure functions of the benchmark dataclasses, so the report's arithmetic is testable without
servers. Targets are issue 7's, on a 2-core machine with PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .database import PgbenchResult
from .figures import Bound, Figure, Target, format_number, ratio
from .markdown import Section, table
from .simulation import SimulationResult
from .web import EndpointResult, MemoryResult
from .workers import WorkerRun

if TYPE_CHECKING:  # these modules need Django set up
    from .pages import PagesBench
    from .schedule import ScheduleBench, ScheduleRun

BASELINE = "bare"
JSON_SINGLE = "ctdna_json"
BATCH = "ctdna_batch"
FHIR = "ctdna_fhir"
READ = "patients_list"

LABELS = {
    BASELINE: "bare DRF insert with history (stack ceiling)",
    JSON_SINGLE: "ctDNA result, JSON, one per request",
    BATCH: "ctDNA results, JSON batch",
    FHIR: "ctDNA results, FHIR Bundle",
    READ: "patients list, 50 per page (read)",
}
TARGETS: dict[str, tuple[Target, ...]] = {
    JSON_SINGLE: (Target(Bound.AT_LEAST, 0.8, relative=True), Target(Bound.AT_LEAST, 400)),
    BATCH: (Target(Bound.AT_LEAST, 2000),),
    FHIR: (Target(Bound.AT_LEAST, 1000),),
}
WORKER_RSS_TARGET = (Target(Bound.AT_MOST, 250),)
SCHEDULE_TIME_TARGET_PATIENTS = 50_000
SCHEDULE_TIME_TARGET = (Target(Bound.AT_MOST, 5),)
# The job claims items with conditional UPDATEs, one per batch (those grow with the items
# handled) and looks up recipients and writes audit rows once per site, stage and batch; the
# other queries must not grow with the number of patients.
SCHEDULE_QUERY_TARGET = (Target(Bound.AT_MOST, 1, relative=True),)
PAGE_TARGET = (Target(Bound.AT_MOST, 300),)
SIMULATION_TARGET = (Target(Bound.AT_MOST, 120),)
WORKER_TARGETS = {
    "a day's jobs": (Target(Bound.AT_MOST, 300),),
    "a full ODM export": (Target(Bound.AT_MOST, 500),),
}


@dataclass(frozen=True)
class Setup:
    workers: int
    connections: int
    duration_s: float
    warmup_s: float
    batch_size: int
    fhir_bundle_size: int
    patients: int
    samples: int
    quick: bool


def _pgbench_at(pgbench: Sequence[PgbenchResult], clients: int) -> PgbenchResult | None:
    return next((p for p in pgbench if p.clients == clients), None)


def _endpoint(http: Sequence[EndpointResult], name: str) -> EndpointResult | None:
    return next((e for e in http if e.name == name), None)


def _unit(result: EndpointResult) -> str:
    return "req/s" if result.name in (BASELINE, READ) else "results/s"


def _label(result: EndpointResult) -> str:
    label = LABELS.get(result.name, result.name)
    if result.load.items_per_request > 1:
        label += f" of {result.load.items_per_request}"
    return label


def _throughput(result: EndpointResult) -> float:
    """Rows stored per second as the database counted them when it was asked, else the load
    generator's view: successful requests (times the results each carries)."""
    if result.stored_per_s is not None:
        return result.stored_per_s
    if result.name in (BASELINE, READ):
        return result.load.requests_per_s
    return result.load.items_per_s


def _note(result: EndpointResult) -> str:
    notes = []
    if result.load.requests == 0:
        notes.append("no request completed within the measurement")
    if result.load.errors:
        notes.append(f"{result.load.errors} errors")
    if result.load.exhausted:
        notes.append("bodies ran out: lower bound")
    return ", ".join(notes)


def _patients(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else f"{n:,}"


def schedule_figures(schedule: ScheduleBench) -> list[Figure]:
    """The job's time at each size (the 5 s target applies at 50k), and its queries other than
    the per-item claims at the largest size against the smallest."""
    runs = sorted(schedule.runs, key=lambda r: r.patients)
    figures = [
        Figure(
            name=f"daily schedule job, {_patients(run.patients)} active patients",
            value=run.seconds,
            unit="s",
            targets=SCHEDULE_TIME_TARGET if run.patients == SCHEDULE_TIME_TARGET_PATIENTS else (),
            note=f"{run.handled_items:,} items handled",
        )
        for run in runs
    ]
    if len(runs) > 1:
        smallest, largest = runs[0], runs[-1]
        figures.append(
            Figure(
                name=(
                    f"daily schedule job, {_patients(largest.patients)}: queries not per item "
                    "or per site"
                ),
                value=largest.other_queries,
                unit="queries",
                baseline_name=f"same at {_patients(smallest.patients)}",
                baseline_value=smallest.other_queries,
                targets=SCHEDULE_QUERY_TARGET,
            )
        )
    return figures


def figures_of(
    *,
    setup: Setup,
    pgbench: Sequence[PgbenchResult],
    http: Sequence[EndpointResult],
    memory: MemoryResult | None,
    schedule: ScheduleBench | None = None,
    pages: PagesBench | None = None,
    simulation: SimulationResult | None = None,
    workers: Sequence[WorkerRun] = (),
) -> list[Figure]:
    """Every figure, each beside its same-run baseline: pgbench for the bare endpoint, the
    bare endpoint for the product's writes."""
    figures = [
        Figure(
            name=f"pgbench single-row INSERT, {p.clients} client{'s' if p.clients > 1 else ''}",
            value=p.tps,
            unit="tps",
            note=f"{p.failed} failed" if p.failed else "",
        )
        for p in pgbench
    ]
    db_ceiling = _pgbench_at(pgbench, setup.workers)
    bare = _endpoint(http, BASELINE)
    for result in http:
        if result.name == BASELINE:
            baseline_name = f"pgbench {setup.workers} clients"
            baseline_value = db_ceiling.tps if db_ceiling else None
        elif result.name == READ:
            baseline_name, baseline_value = "", None
        else:
            baseline_name = "bare endpoint"
            baseline_value = _throughput(bare) if bare else None
        figures.append(
            Figure(
                name=_label(result),
                value=_throughput(result),
                unit=_unit(result),
                baseline_name=baseline_name,
                baseline_value=baseline_value,
                targets=TARGETS.get(result.name, ()),
                note=_note(result),
            )
        )
    if memory is not None:
        figures.append(
            Figure(
                name=f"web worker peak RSS after {memory.requests_served:,} requests",
                value=memory.max_peak_rss_mb,
                unit="MB",
                targets=WORKER_RSS_TARGET,
                note="" if memory.requests_served >= 10_000 else "fewer than 10,000 requests",
            )
        )
    if schedule is not None:
        figures += schedule_figures(schedule)
    if pages is not None:
        figures += page_figures(pages)
    scheduled = max((r.patients for r in schedule.runs), default=None) if schedule else None
    figures += [worker_figure(run, patients=scheduled) for run in workers]
    if simulation is not None:
        figures.append(simulation_figure(simulation))
    return figures


def worker_figure(run: WorkerRun, *, patients: int | None) -> Figure:
    """Peak RSS of the Celery worker (solo pool) that ran the work; unfinished, a lower bound."""
    at = f" at {_patients(patients)} patients" if patients else ""
    note = f"{run.seconds:.0f} s: {run.detail}"
    if not run.finished:
        note = f"stopped after {run.limit_s:.0f} s, peak so far"
    return Figure(
        name=f"Celery worker peak RSS, {run.what}{at}",
        value=run.peak_rss_mb,
        unit="MB",
        targets=WORKER_TARGETS.get(run.what, ()),
        note=note,
        lower_bound=not run.finished,
    )


def simulation_figure(result: SimulationResult) -> Figure:
    """Wall time of the simulation; a stopped run shows the limit it reached and how far it
    got (the real time is longer)."""
    if result.timed_out:
        note = (
            f"stopped at the {result.limit_s:.0f} s limit with {result.patients_created:,} of "
            f"{result.patients:,} patients created"
        )
    elif result.exit_code != 0:
        note = f"exit code {result.exit_code}: see var/bench/simulate.log"
    else:
        note = f"peak RSS {result.peak_rss_mb:,.0f} MB"
    targets = SIMULATION_TARGET if (result.patients, result.months) == (1000, 36) else ()
    return Figure(
        name=f"simulator, {result.patients:,} patients over {result.months} months",
        value=result.seconds,
        unit="s",
        targets=targets,
        note=note,
        lower_bound=result.timed_out,
    )


def page_figures(pages: PagesBench) -> list[Figure]:
    """Each dashboard page and admin list: server time at p95 against 300 ms."""
    figures = []
    for page in pages.pages:
        note = f"{page.queries} queries"
        if page.status != 200:
            note = f"HTTP {page.status}, {note}"
        figures.append(
            Figure(
                name=f"{page.name} at {_patients(pages.patients)} patients, p95",
                value=page.latency.p95_ms,
                unit="ms",
                targets=PAGE_TARGET,
                note=note,
            )
        )
    return figures


def setup_section(setup: Setup, machine_generator: str) -> Section:
    lines = [
        f"- gunicorn `deploy.wsgi` with `bench.settings`, {setup.workers} sync workers "
        "(2 x cores), persistent database connections (`CONN_MAX_AGE`), loopback only.",
        f"- Load: {machine_generator}, {setup.connections} connections ({setup.workers}, one "
        "per worker, for the long batch and FHIR requests), "
        f"{format_number(setup.warmup_s)} s warm-up then {format_number(setup.duration_s)} s "
        "measured per endpoint; each POST body is sent once (fresh sample ids).",
        "- Authentication: `Authorization: Token` of the laboratory's service account for every "
        "write, the bare endpoint included; a data manager's token for the read.",
        "- Lab throttle raised to 1,000,000/min for the run (the throttle still runs, against "
        "Redis database 15); production keeps `LAB_THROTTLE_RATE`.",
        f"- Workload: {setup.patients} enrolled patients, {setup.samples:,} recorded ctDNA "
        f"samples; batches of {setup.batch_size} results, FHIR Bundles of "
        f"{setup.fhir_bundle_size} Observations (one specimen each); one patient in ten "
        "carries an ESR1 mutation (baseline then stable), the others none detected.",
    ]
    if setup.quick:
        lines.insert(0, "- **Quick run** (`--quick`): smoke-test durations, not figures to quote.")
    return Section("Setup", "\n".join(lines))


def http_section(http: Sequence[EndpointResult], pgbench: Sequence[PgbenchResult]) -> Section:
    bare = _endpoint(http, BASELINE)
    db_ceiling = max((p.tps for p in pgbench), default=None)
    rows = []
    for result in http:
        load = result.load
        throughput = _throughput(result)
        is_write = result.name != READ
        vs_bare = (
            ratio(throughput, _throughput(bare))
            if bare and result is not bare and is_write
            else None
        )
        vs_db = ratio(throughput, db_ceiling) if is_write else None
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(load.statuses.items())) or "-"
        rows.append(
            [
                _label(result),
                f"`{result.path}`",
                result.connections,
                f"{load.requests:,}",
                statuses,
                f"{load.errors:,}",
                format_number(load.requests_per_s),
                format_number(throughput),
                format_number(load.latency.p50_ms),
                format_number(load.latency.p95_ms),
                format_number(load.latency.p99_ms),
                "-" if vs_bare is None else f"{vs_bare:.2f}",
                "-" if vs_db is None else f"{vs_db:.2f}",
            ]
        )
    body = table(
        [
            "endpoint",
            "path",
            "connections",
            "requests",
            "statuses",
            "errors",
            "req/s",
            "throughput",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "x bare",
            "x pgbench",
        ],
        rows,
    )
    body += (
        "\n\nThroughput is what the database stored during the measurement (rows counted by "
        "their creation time: results for the ctDNA endpoints, rows for the bare endpoint), so "
        "a long batch still running when the load stops counts for the results it committed; "
        "req/s counts the requests the load generator saw complete (the read has no rows). "
        "Latencies are the load generator's, per request. `x pgbench` compares with the best "
        "pgbench rate of the run. Errors count non-2xx answers, socket errors and failed batch "
        "items; they must be 0."
    )
    return Section("HTTP endpoints", body)


def pgbench_section(pgbench: Sequence[PgbenchResult]) -> Section:
    rows = [
        [
            p.clients,
            p.duration_s,
            f"{p.transactions:,}",
            format_number(p.tps),
            format_number(p.latency.p50_ms),
            format_number(p.latency.p95_ms),
            format_number(p.latency.p99_ms),
            p.failed,
        ]
        for p in pgbench
    ]
    body = table(
        ["clients", "seconds", "transactions", "tps", "p50 ms", "p95 ms", "p99 ms", "failed"],
        rows,
    )
    body += (
        "\n\nOne autocommit `INSERT` of a row with a bigserial key and a unique text column per "
        "transaction (`bench/database.py`), simple query protocol, as Django sends it: the "
        "database's ceiling for single-row writes on this machine."
    )
    return Section("pgbench", body)


def memory_section(memory: MemoryResult) -> Section:
    rows = [[i + 1, format_number(mb)] for i, mb in enumerate(memory.peak_rss_mb)]
    body = table(["worker", "peak RSS (VmHWM) MB"], rows)
    body += (
        f"\n\nRead from `/proc/<pid>/status` of each gunicorn worker after "
        f"{memory.requests_served:,} requests in total (the benchmarks above, topped up with "
        f"`{memory.top_up}`). MB = 10^6 bytes."
    )
    return Section("Web worker memory", body)


def _schedule_row(label: str, run: ScheduleRun) -> list[object]:
    r = run.result
    q = run.queries
    return [
        label,
        f"{run.patients:,}",
        f"{run.schedule_rows:,}",
        f"{run.seconds:.2f}",
        f"{run.total_queries:,}",
        f"{q.get('item claim', 0):,}",
        f"{q.get('per site', 0):,}",
        f"{run.other_queries:,}",
        f"{r.became_due:,} / {r.became_overdue:,} / {r.became_missed:,}",
        f"{r.due_reminders:,} / {r.overdue_reminders:,}",
    ]


def schedule_section(schedule: ScheduleBench) -> Section:
    rows = [_schedule_row("catch-up (yesterday)", schedule.warmup)]
    rows += [_schedule_row("today", run) for run in sorted(schedule.runs, key=lambda r: r.patients)]
    body = table(
        [
            "run",
            "active patients",
            "schedule rows",
            "seconds",
            "queries",
            "item claims",
            "per site",
            "other",
            "due / overdue / missed",
            "reminders due / overdue",
        ],
        rows,
    )
    body += (
        f"\n\n`trial.services.schedule.schedule_daily(today=...)` called in-process, each size "
        f"from the same state of yesterday. One template patient built through the services "
        f"({schedule.template_rows} schedule rows over 18 months of cycles), cloned in bulk with "
        f"C1D1 spread over the last 18 months, every item recorded on its planned day except "
        f"one in twenty (`bench/schedule.py` documents the seeding); seeding took "
        f"{schedule.seed_seconds:.0f} s. Queries by kind (`bench.schedule.query_kind`): item claims "
        f"are the conditional UPDATEs that claim a batch of items each (status moves, missed "
        f"marks, reminders) and grow with the items handled; the claim transaction, the "
        f"recipients lookup and the audit insert come once per site, reminder stage and batch "
        f"(50 sites); the other queries must not grow with the number of patients."
    )
    return Section("Daily schedule job", body)


def pages_section(pages: PagesBench) -> Section:
    rows = [
        [
            page.name,
            f"`{page.path}`",
            page.status,
            page.requests,
            format_number(page.latency.p50_ms),
            format_number(page.latency.p95_ms),
            page.queries,
            format_number(page.response_kb),
            format_number(page.snapshot.p50_ms) if page.snapshot else "–",
            format_number(page.snapshot.p95_ms) if page.snapshot else "–",
            page.snapshot_queries if page.snapshot else "–",
        ]
        for page in pages.pages
    ]
    body = table(
        [
            "page",
            "path",
            "status",
            "requests",
            "p50 ms",
            "p95 ms",
            "queries",
            "KB",
            "snapshot computation p50 ms",
            "snapshot computation p95 ms",
            "snapshot computation queries",
        ],
        rows,
    )
    body += (
        f"\n\nServer time in-process (Django's test client: middleware, view, queries, template; "
        f"no network), {pages.patients:,} patients, after one warm-up request per page; the "
        f"dashboards as a data manager, the admin lists as a superuser, both seeing every site "
        f"(`bench/pages.py`). The patients have calendars, the QoL forms, blood counts, tumour "
        f"assessments and adverse events their done schedule rows imply and, for 300 of them, "
        f"ctDNA results; no allocations."
    )
    if any(page.snapshot is not None for page in pages.pages):
        body += (
            " Pages marked *served from a snapshot* show figures computed ahead by the Celery "
            "beat (`DASHBOARD_SNAPSHOT_MAX_AGE`): their p95 is the time of a request served "
            "from a fresh snapshot; the *snapshot computation* columns are what computing it "
            "costs, per page and access scope, in the worker once it is older than half the maximum age (and in a "
            "request that finds no fresh snapshot, such as a filter's first use)."
        )
    return Section("Dashboard pages and admin lists", body)
