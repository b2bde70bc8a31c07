"""``make bench``: measure the product beside baselines taken in the same run, write the report.

    .venv/bin/python bench/run.py [--quick] [--workers N] [--duration S] [--keep-db]

Creates a throwaway PostgreSQL database (``bench_trial`` on 127.0.0.1:5432, user postgres),
migrates it, seeds it through the product's services, then measures:

1. the daily schedule job at 1k, 10k and 50k active patients (time and query count);
2. pgbench single-row INSERT with 1 client and with as many clients as web workers;
3. through gunicorn (loopback, ``bench.settings``): the bare DRF insert with history, ctDNA
   ingestion (JSON, batch, FHIR) and a read, with wrk (or a Python client without wrk);
4. the web workers' peak RSS after 10,000 requests;
5. dashboard pages and admin lists at 50k patients (server time and query count);
6. Celery workers' peak RSS after a day's jobs and after a full export at 50k patients (run
   right after the schedule job);
7. the simulator's wall time for 1,000 patients over 3 years, in its own database;

and writes ``reports/bench/REPORT.md`` and ``results.json``. The database is dropped at the
end. Every part is bounded in time; the whole run takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the repository importable
    sys.path.insert(0, str(ROOT))

from bench.baseline import BASELINE_PATH  # noqa: E402
from bench.compose import (  # noqa: E402
    BASELINE,
    BATCH,
    FHIR,
    JSON_SINGLE,
    READ,
    Setup,
    figures_of,
    http_section,
    memory_section,
    pages_section,
    pgbench_section,
    schedule_section,
    setup_section,
)
from bench.database import (  # noqa: E402
    PgbenchResult,
    Server,
    busy_connections,
    database_drop,
    database_recreate,
    pgbench_insert,
    server_version,
)
from bench.load import wrk_available  # noqa: E402
from bench.machine import load_average, machine_describe  # noqa: E402
from bench.markdown import Section, render_report  # noqa: E402
from bench.server import gunicorn_start, process_environment  # noqa: E402
from bench.simulation import (  # noqa: E402
    SimulationResult,
    bench_simulation,
    prepare_database,
    simulation_section,
)

if TYPE_CHECKING:
    from bench.pages import PagesBench
    from bench.schedule import ScheduleBench
from bench.web import (  # noqa: E402
    Endpoint,
    EndpointResult,
    LoadPlan,
    MemoryResult,
    bench_endpoint,
    bench_worker_memory,
)
from bench.workers import WorkerRun  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/15"  # the bench's own Redis database, flushed per run
REPORT_DIR = ROOT / "reports" / "bench"
WORK_DIR = ROOT / "var" / "bench"
# Bodies prepared per endpoint: enough for this many results per second over warm-up plus
# measurement, well above what 2 cores reach, so a run does not run out.
MAX_RESULTS_PER_S = {JSON_SINGLE: 1200, BATCH: 5000, FHIR: 2500}
ENDPOINTS = (BASELINE, JSON_SINGLE, BATCH, FHIR, READ)
PGBENCH, SCHEDULE, PAGES, SIMULATION = "pgbench", "schedule", "pages", "simulation"
WORKERS = "workers"
PARTS = (PGBENCH, *ENDPOINTS, SCHEDULE, PAGES, WORKERS, SIMULATION)
WORKER_LIMIT_S = 90
# The simulator's target is 120 s; it runs on until this limit so the report shows its real
# wall time (or how far it got), and the rest of the run still finishes.
SIMULATION_LIMIT_S = 1800
SCHEDULE_SIZES = (1_000, 10_000, 50_000)
QUICK_SCHEDULE_SIZES = (100, 300, 1_000)
NOT_MEASURED = [
    "randomization throughput and latency at 1, 8 and 32 clients: its own script, "
    "`bench/bench_randomization.py`, writes `reports/bench/randomization.md`",
]


@dataclasses.dataclass(frozen=True)
class Options:
    quick: bool
    workers: int
    connections: int
    duration_s: float
    warmup_s: float
    patients: int
    batch_size: int
    fhir_bundle_size: int
    database: str
    keep_db: bool
    python_client: bool
    out: Path
    only: frozenset[str]
    schedule_sizes: tuple[int, ...]
    simulation_limit: float = SIMULATION_LIMIT_S


def parse_args(argv: list[str] | None) -> Options:
    cores = len(os.sched_getaffinity(0))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: seconds, not figures")
    parser.add_argument("--workers", type=int, default=2 * cores, help="gunicorn sync workers")
    parser.add_argument("--connections", type=int, default=0, help="default: 2 x workers")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up")
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--fhir-bundle-size", type=int, default=20)
    parser.add_argument("--database", default="bench_trial")
    parser.add_argument("--keep-db", action="store_true", help="leave the database for a look")
    parser.add_argument("--python-client", action="store_true", help="do not use wrk")
    parser.add_argument("--out", type=Path, default=REPORT_DIR)
    parser.add_argument(
        "--simulation-limit",
        type=float,
        default=SIMULATION_LIMIT_S,
        help="seconds after which the 1,000-patient simulation is stopped",
    )
    parser.add_argument("--only", default="", help=f"comma-separated parts, of: {', '.join(PARTS)}")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.patients = 3.0, 1.0, 30
        args.batch_size, args.fhir_bundle_size = 10, 5
    return Options(
        quick=args.quick,
        workers=args.workers,
        connections=args.connections or 2 * args.workers,
        duration_s=args.duration,
        warmup_s=args.warmup,
        patients=args.patients,
        batch_size=args.batch_size,
        fhir_bundle_size=args.fhir_bundle_size,
        database=args.database,
        keep_db=args.keep_db,
        python_client=args.python_client,
        out=args.out,
        only=frozenset(filter(None, args.only.split(","))) or frozenset(PARTS),
        schedule_sizes=QUICK_SCHEDULE_SIZES if args.quick else SCHEDULE_SIZES,
        simulation_limit=args.simulation_limit,
    )


def log(message: str) -> None:
    print(f"[bench {dt.datetime.now(dt.UTC):%H:%M:%S}] {message}", flush=True)


def bench_environment(database_url: str) -> dict[str, str]:
    """The product's settings from the environment, as in production, plus the bench app."""
    return {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "TRIAL_ENV": "local",
        "DEBUG": "false",
        "LAB_THROTTLE_RATE": "1000000/min",
        "USER_THROTTLE_RATE": "1000000/min",
        # One JSON access line per request, as in production (written to var/bench/web.log).
        "LOG_FORMAT": "json",
        # Reminders are kept in memory: handing them to an SMTP server is not measured.
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "MEDIA_ROOT": str(WORK_DIR / "media"),  # export files
    }


def checkpoint() -> None:
    """Write the seeded pages out now, not in the middle of a measurement."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


def redis_flush() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).flushdb()


@dataclasses.dataclass
class Workload:
    endpoints: list[Endpoint]
    top_up: Endpoint | None
    samples: int


def _budget(options: Options, name: str) -> int:
    return int(MAX_RESULTS_PER_S[name] * (options.duration_s + options.warmup_s))


def _stored_counter(model: Any) -> Any:
    def count(started: dt.datetime, ended: dt.datetime) -> int:
        return model.objects.filter(created_at__gte=started, created_at__lt=ended).count()

    return count


def seed_workload(options: Options) -> Workload:
    """Accounts, enrolled patients and the samples every ctDNA body quotes (see bench/seed.py)."""
    from django.utils import timezone

    from bench import ctdna, seed
    from bench.baseline.models import BaselineRow
    from monitoring.api import examples
    from monitoring.models import CtdnaResult

    today = timezone.localdate()
    budgets = {name: _budget(options, name) for name in MAX_RESULTS_PER_S}
    total = sum(budgets.values())
    first_day = today - dt.timedelta(days=(total - 1) // options.patients + 2)
    log(f"seeding {options.patients} patients through the services (enrolled {first_day})")
    accounts = seed.seed_accounts()
    patients = seed.seed_enrolled_patients(
        accounts=accounts, count=options.patients, today=first_day
    )
    trial_numbers = [p.trial_number for p in patients]
    refs = ctdna.sample_plan(trial_numbers, total, first_day)
    log(f"recording {total:,} ctDNA samples")
    seed.seed_samples(accounts=accounts, refs=refs, today=today)
    single = refs[: budgets[JSON_SINGLE]]
    batch = refs[len(single) : len(single) + budgets[BATCH]]
    fhir = refs[len(single) + len(batch) :]
    lab = accounts.lab_token
    stored_rows = _stored_counter(BaselineRow)
    stored_results = _stored_counter(CtdnaResult)
    baseline_bodies = tuple(
        json.dumps({"sample_id": f"bare-{i}", "value": 0.0123}) for i in range(budgets[JSON_SINGLE])
    )
    endpoints = [
        Endpoint(BASELINE, BASELINE_PATH, lab, baseline_bodies, stored=stored_rows),
        Endpoint(
            JSON_SINGLE,
            "/api/v1/ctdna/results/",
            lab,
            ctdna.json_bodies(single, examples.RESULT),
            stored=stored_results,
        ),
        Endpoint(
            BATCH,
            "/api/v1/ctdna/results/batch/",
            lab,
            ctdna.batch_bodies(batch, examples.RESULT, options.batch_size),
            items_per_request=options.batch_size,
            count_batch=True,
            connections=options.workers,  # long requests: one per worker, none queued
            stored=stored_results,
        ),
        Endpoint(
            FHIR,
            "/api/v1/fhir/",
            lab,
            ctdna.fhir_bodies(fhir, examples.FHIR_OBSERVATION, options.fhir_bundle_size),
            items_per_request=options.fhir_bundle_size,
            content_type="application/fhir+json",
            connections=options.workers,
            stored=stored_results,
        ),
        Endpoint(READ, "/api/v1/patients/?limit=50", accounts.reader_token),
    ]
    # Topping up to 10,000 requests for the memory figure: a short authenticated read.
    top_up = Endpoint("sites_list", "/api/v1/sites/", accounts.reader_token)
    return Workload(endpoints=endpoints, top_up=top_up, samples=total)


def run_http(
    options: Options, pg: Server, workload: Workload, env: dict[str, str], use_wrk: bool
) -> tuple[list[EndpointResult], MemoryResult | None]:
    if not options.only & set(ENDPOINTS):
        return [], None
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    plan = LoadPlan(
        connections=options.connections,
        duration_s=options.duration_s,
        warmup_s=options.warmup_s,
        use_wrk=use_wrk,
        wrk_threads=max(1, len(os.sched_getaffinity(0)) // 2),
        work_dir=WORK_DIR,
    )
    log(f"starting gunicorn with {options.workers} workers")
    server = gunicorn_start(
        env=process_environment(**env), workers=options.workers, log_path=WORK_DIR / "web.log"
    )
    server.busy_in_database = partial(busy_connections, pg, options.database)
    try:
        results = []
        for endpoint in workload.endpoints:
            if endpoint.name not in options.only:
                continue
            log(f"loading {endpoint.name} ({endpoint.path})")
            result = bench_endpoint(server, endpoint, plan)
            stored = result.stored_per_s
            log(
                f"  {result.load.requests_per_s:,.0f} req/s"
                + ("" if stored is None else f", {stored:,.0f} stored/s")
                + f", p95 {result.load.latency.p95_ms:.1f} ms, errors {result.load.errors}, "
                f"drained in {result.drain_s:.1f} s"
            )
            results.append(result)
        served = sum(r.requests_sent for r in results)
        log(f"memory: {served:,} requests so far, topping up to 10,000")
        assert workload.top_up is not None
        memory = bench_worker_memory(
            server,
            served=served,
            endpoint=workload.top_up,
            plan=plan,
            max_top_up_s=15 if options.quick else 60,
        )
    finally:
        server.stop()
    return results, memory


def run_pgbench(options: Options, pg: Server) -> list[PgbenchResult]:
    results: list[PgbenchResult] = []
    if PGBENCH not in options.only:
        return results
    for clients in sorted({1, options.workers}):
        log(f"pgbench, {clients} client(s)")
        results.append(
            pgbench_insert(
                pg, options.database, clients=clients, duration_s=round(options.duration_s)
            )
        )
        log(f"  {results[-1].tps:,.0f} tps")
    return results


def run_schedule(options: Options) -> ScheduleBench | None:
    if SCHEDULE not in options.only:
        return None
    from bench import schedule
    from bench.seed import screening_values

    return schedule.bench_schedule(
        sizes=options.schedule_sizes, values=screening_values(age=62), log=log
    )


def run_pages(options: Options) -> PagesBench | None:
    """Dashboards and admin lists, once every other part has filled the database."""
    if PAGES not in options.only:
        return None
    from bench.pages import bench_pages
    from trial.models import Patient

    patients = Patient.objects.count()
    log(f"dashboard pages and admin lists at {patients:,} patients")
    return bench_pages(patients=patients, repeats=5 if options.quick else 10, log=log)


def run_workers(options: Options, env: dict[str, str]) -> list[WorkerRun]:
    """Celery workers' peak memory for a day's jobs and for a full export (bench/workers.py)."""
    if WORKERS not in options.only:
        return []
    from bench.workers import bench_day_worker, bench_export_worker

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    worker_env = process_environment(**env)
    limit_s = 30 if options.quick else WORKER_LIMIT_S
    runs = []
    for bench in (bench_day_worker, bench_export_worker):
        run = bench(env=worker_env, work_dir=WORK_DIR, limit_s=limit_s)
        log(
            f"celery worker, {run.what}: {run.seconds:.0f} s, peak {run.peak_rss_mb:.0f} MB, {run.detail}"
        )
        runs.append(run)
    return runs


def simulation_db(options: Options) -> str:
    return f"{options.database}_simulation"


def run_simulation(options: Options, pg: Server, env: dict[str, str]) -> SimulationResult | None:
    if SIMULATION not in options.only:
        return None
    patients, months = (50, 6) if options.quick else (1000, 36)
    limit_s = 60 if options.quick else options.simulation_limit
    log(f"simulator: {patients} patients over {months} months (stopped after {limit_s} s)")
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    result = bench_simulation(
        server=pg,
        dbname=simulation_db(options),
        env=process_environment(**{**env, "DJANGO_SETTINGS_MODULE": "deploy.settings"}),
        work_dir=WORK_DIR,
        limit_s=limit_s,
        patients=patients,
        months=months,
    )
    log(
        f"  {result.seconds:.0f} s, {result.patients_created} patients created"
        + (", stopped" if result.timed_out else f", exit {result.exit_code}")
    )
    return result


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for prop in ("ratio", "verdict", "requests_per_s", "items_per_s", "errors"):
            if hasattr(type(value), prop):
                data[prop] = to_jsonable(getattr(value, prop))
        return data
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    started = time.monotonic()
    pg = Server()
    use_wrk = wrk_available() and not options.python_client
    generator = "wrk (Lua script `bench/lua/bench.lua`)" if use_wrk else "Python client (no wrk)"
    machine = machine_describe(postgresql=server_version(pg), load_generator=generator)
    env = bench_environment(pg.url(options.database))
    os.environ.update(env)
    log(f"database {options.database}: creating and migrating")
    database_recreate(pg, options.database)
    try:
        import logging

        import django

        django.setup()
        # The product logs one line per request: not on this console (gunicorn's go to
        # var/bench/web.log); warnings and errors still show.
        logging.disable(logging.INFO)
        from django.core.management import call_command
        from django.db import connections

        from trial.services.protocols import PROTOCOL_DIR, protocol_load_file

        # System checks are the test suite's business: a failing one must not stop a measurement.
        call_command("migrate", verbosity=0, skip_checks=True)
        redis_flush()
        protocol_load_file(PROTOCOL_DIR / "pada1.yaml")
        if SIMULATION in options.only:
            connections.close_all()
            prepare_database(pg, template=options.database, dbname=simulation_db(options))
        # The schedule job first: its 50k patients then stand in the database the web
        # benchmarks use, and the ingestion patients seeded next add no backlog to its runs.
        schedule = run_schedule(options)
        # Then the workers, while the database holds a day's work for exactly those patients
        # (the ingestion patients enrolled a year back would add their calendars' backlog).
        workers = run_workers(options, env)
        workload = Workload(endpoints=[], top_up=None, samples=0)
        if options.only & set(ENDPOINTS):
            workload = seed_workload(options)
        checkpoint()
        connections.close_all()
        pgbench = run_pgbench(options, pg)
        http, memory = run_http(options, pg, workload, env, use_wrk)
        pages = run_pages(options)
        simulation = run_simulation(options, pg, env)
    finally:
        from django.db import connections

        connections.close_all()
        if not options.keep_db:
            database_drop(pg, options.database)
            database_drop(pg, simulation_db(options))
        redis_flush()
    setup = Setup(
        workers=options.workers,
        connections=options.connections,
        duration_s=options.duration_s,
        warmup_s=options.warmup_s,
        batch_size=options.batch_size,
        fhir_bundle_size=options.fhir_bundle_size,
        patients=options.patients,
        samples=workload.samples,
        quick=options.quick,
    )
    figures = figures_of(
        setup=setup,
        pgbench=pgbench,
        http=http,
        memory=memory,
        schedule=schedule,
        pages=pages,
        workers=workers,
        simulation=simulation,
    )
    sections: list[Section] = [setup_section(setup, generator)]
    if http:
        sections.append(http_section(http, pgbench))
    if pgbench:
        sections.append(pgbench_section(pgbench))
    if memory is not None:
        sections.append(memory_section(memory))
    if schedule is not None:
        sections.append(schedule_section(schedule))
    if pages is not None:
        sections.append(pages_section(pages))
    if simulation is not None:
        sections.append(simulation_section(simulation))
    wall_time_s = time.monotonic() - started
    machine = dataclasses.replace(machine, load_after=load_average())
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "REPORT.md").write_text(
        render_report(
            machine=machine,
            figures=figures,
            sections=sections,
            not_measured=NOT_MEASURED,
            wall_time_s=wall_time_s,
        )
    )
    (options.out / "results.json").write_text(
        json.dumps(
            to_jsonable(
                {
                    "machine": machine,
                    "setup": setup,
                    "figures": figures,
                    "pgbench": pgbench,
                    "http": http,
                    "memory": memory,
                    "schedule": schedule,
                    "pages": pages,
                    "simulation": simulation,
                    "workers": workers,
                    "wall_time_s": wall_time_s,
                }
            ),
            indent=2,
        )
        + "\n"
    )
    log(f"report written to {options.out / 'REPORT.md'} in {wall_time_s:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
