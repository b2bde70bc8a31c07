"""Benchmark of randomization: allocation throughput and latency under concurrency, beside a
bare locked insert on the same PostgreSQL database.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_randomization.py

The script creates a throwaway database on the server of ``DATABASE_URL`` (dropped at the end,
even on failure), migrates it, loads PADA-1, generates and activates a permuted-block design
(4 strata) and bulk-inserts enrolled Step 1 patients whose Step 2 trigger is eligible. Then,
for 1, 8 and 32 concurrent clients (threads, one database connection each):

- allocation: ``randomization.services.allocation.patient_randomize`` for distinct patients
  spread over the 4 strata - the whole durable transaction (patient, trigger and cursor
  locks, allocation row, trigger closed, Arm B line switch with its schedule, audit rows);
- baseline: the smallest correct "locked insert": in one transaction, ``SELECT ... FOR
  UPDATE`` of a per-stratum counter row, ``UPDATE`` of the counter, ``INSERT`` of one row.

Passwords are hashed with MD5 for the run so that the figures measure the database work; the
cost of one production (PBKDF2) password check is measured apart and reported beside. The
clients share one Python interpreter, so the allocation figures include the client's own CPU
time on the same machine. Writes ``randomization.md`` and ``.json`` into ``reports/bench/``, or
into the directory given with ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from bench.stats import percentile  # noqa: E402

CLIENT_COUNTS = (1, 8, 32)
OPERATIONS = {1: 200, 8: 480, 32: 960}
STRATA = [
    {"visceral_metastases": v, "time_on_step1": t}
    for v in ("yes", "no")
    for t in ("lt_12_months", "ge_12_months")
]
PASSWORD = "bench-password-not-secret-1"
SEED = "bench-seed-" + "5" * 53
REPORT_DIR = ROOT / "reports" / "bench"


@dataclass
class Level:
    clients: int
    operations: int
    errors: int
    seconds: float
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def _level(clients: int, latencies_ms: Sequence[float], errors: int, seconds: float) -> Level:
    return Level(
        clients=clients,
        operations=len(latencies_ms),
        errors=errors,
        seconds=round(seconds, 3),
        per_second=round(len(latencies_ms) / seconds, 1),
        p50_ms=round(percentile(latencies_ms, 50), 2),
        p95_ms=round(percentile(latencies_ms, 95), 2),
        p99_ms=round(percentile(latencies_ms, 99), 2),
        max_ms=round(max(latencies_ms), 2),
    )


def run_clients(
    clients: int, work: Sequence, operation: Callable[[object, object], None], connect, close
) -> Level:
    """``clients`` threads take items of ``work`` in turn; each calls ``operation(state, item)``
    with its own ``state = connect()`` and records the latency of every call."""
    items = iter(work)
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(clients + 1)

    def client() -> None:
        state = connect()
        mine: list[float] = []
        try:
            barrier.wait()
            while True:
                with lock:
                    item = next(items, None)
                if item is None:
                    break
                started = time.perf_counter()
                try:
                    operation(state, item)
                except Exception as exc:  # counted and reported
                    with lock:
                        errors.append(exc)
                    continue
                mine.append((time.perf_counter() - started) * 1000)
        finally:
            close(state)
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        print(f"  {len(errors)} errors, first: {errors[0]!r}", file=sys.stderr)
    return _level(clients, latencies, len(errors), seconds)


# --- the throwaway database ------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin_connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def database_create(url: str, name: str) -> None:
    with _admin_connect(url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def database_drop(url: str, name: str) -> None:
    with _admin_connect(url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


# --- allocation ------------------------------------------------------------------------------


def prepare(total_patients: int):
    """Protocol, site, users, an active design and ``total_patients`` randomizable patients.

    The patients, their Step 1 lines and eligible triggers are bulk-inserted (fixtures of the
    benchmark, without history); everything the allocation writes goes through the services.
    """
    from django.contrib.auth import get_user_model

    from randomization.services.designs import design_generate
    from randomization.services.lifecycle import design_activate
    from trial.models import (
        Patient,
        Role,
        Site,
        StaffProfile,
        Step2Trigger,
        TreatmentLine,
        TriggerStatus,
    )
    from trial.services.protocols import PROTOCOL_DIR, protocol_load_file

    version = protocol_load_file(PROTOCOL_DIR / "pada1.yaml").version
    site = Site.objects.create(code="BENCH", name="Bench site", country="FR")
    users = {}
    for username, role in (("bench_inv", Role.INVESTIGATOR), ("bench_stat", Role.STATISTICIAN)):
        user = get_user_model().objects.create_user(username=username, password=PASSWORD)
        profile = StaffProfile.objects.create(user=user, role=role)
        profile.sites.set([site] if role == Role.INVESTIGATOR else [])
        users[role] = user
    per_stratum = total_patients // len(STRATA) + 1
    design = design_generate(
        protocol_version=version, by=users[Role.STATISTICIAN], seed=SEED, length=per_stratum
    )
    design_activate(design=design, by=users[Role.STATISTICIAN])
    today = dt.date.today()
    enrolled_on = today - dt.timedelta(days=200)
    patients = Patient.objects.bulk_create(
        Patient(
            site=site,
            protocol=version.protocol,
            protocol_version=version,
            screening_number=f"B{i:05d}",
            trial_number=f"PADA1-BENCH-{i:05d}",
            status="enrolled",
            step="step1",
            year_of_birth=1960,
            sex="female",
            menopausal_status="postmenopausal",
            enrolled_on=enrolled_on,
            stratification=STRATA[i % len(STRATA)],
        )
        for i in range(total_patients)
    )
    TreatmentLine.objects.bulk_create(
        TreatmentLine(
            patient=p,
            step="step1",
            regimen="palbo_ai",
            endocrine_drug="letrozole",
            palbociclib_dose_mg=125,
            planned_c1d1=enrolled_on + dt.timedelta(days=7),
            started_on=enrolled_on + dt.timedelta(days=7),
        )
        for p in patients
    )
    Step2Trigger.objects.bulk_create(
        Step2Trigger(
            patient=p,
            source_ref=f"bench-{p.pk}",
            detected_on=today,
            status=TriggerStatus.ELIGIBLE,
            imaging_due_by=today + dt.timedelta(days=28),
            imaging_on=today,
            randomize_by=today + dt.timedelta(days=21),
        )
        for p in patients
    )
    return users[Role.INVESTIGATOR], list(Patient.objects.select_related("site").order_by("pk"))


def allocation_level(clients: int, patients: Sequence, investigator) -> Level:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from randomization.services.allocation import patient_randomize

    today = dt.date.today()

    def connect():
        return get_user_model().objects.get(pk=investigator.pk)

    def operation(user, patient):
        patient_randomize(
            patient=patient,
            by=user,
            password=PASSWORD,
            idempotency_key=f"bench-{patient.pk}",
            today=today,
        )

    return run_clients(clients, patients, operation, connect, lambda _: connection.close())


def queries_per_allocation(patients: Sequence, investigator) -> dict[str, int]:
    """SQL statements of one allocation to each arm (measured on the first patients)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from randomization.services.allocation import patient_randomize

    counts: dict[str, int] = {}
    for patient in patients:
        with CaptureQueriesContext(connection) as queries:
            outcome = patient_randomize(
                patient=patient,
                by=investigator,
                password=PASSWORD,
                idempotency_key=f"count-{patient.pk}",
                today=dt.date.today(),
            )
        counts.setdefault(f"arm {outcome.allocation.arm}", len(queries))
        if len(counts) == 2:
            break
    return dict(sorted(counts.items()))


def pbkdf2_check_ms() -> float:
    """Median time of one password check with the production hasher (Django's PBKDF2)."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    hasher = PBKDF2PasswordHasher()
    encoded = hasher.encode(PASSWORD, hasher.salt())
    samples = []
    for _ in range(3):
        started = time.perf_counter()
        hasher.verify(PASSWORD, encoded)
        samples.append((time.perf_counter() - started) * 1000)
    return round(percentile(samples, 50), 1)


# --- baseline --------------------------------------------------------------------------------

BASELINE_SCHEMA = """
CREATE TABLE bench_cursor (stratum integer PRIMARY KEY, n integer NOT NULL);
CREATE TABLE bench_row (
    id bigserial PRIMARY KEY,
    stratum integer NOT NULL,
    sequence_number integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stratum, sequence_number)
);
INSERT INTO bench_cursor SELECT s, 0 FROM generate_series(0, 3) AS s;
"""


def baseline_level(clients: int, operations: int, url: str) -> Level:
    def connect():
        return psycopg.connect(url)

    def operation(conn, index):
        stratum = index % len(STRATA)
        with conn.transaction():
            # Lock the stratum's counter, as the allocation locks its cursor.
            (n,) = conn.execute(
                "SELECT n FROM bench_cursor WHERE stratum = %s FOR UPDATE", (stratum,)
            ).fetchone()
            conn.execute("UPDATE bench_cursor SET n = %s WHERE stratum = %s", (n + 1, stratum))
            conn.execute(
                "INSERT INTO bench_row (stratum, sequence_number) VALUES (%s, %s)",
                (stratum, n + 1),
            )

    return run_clients(clients, range(operations), operation, connect, lambda c: c.close())


# --- report ----------------------------------------------------------------------------------


def machine() -> dict[str, object]:
    loadavg = (
        Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    )
    cpu = "unknown"
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cpus": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "load_average_at_start": " ".join(loadavg),
    }


def write_report(result: dict, out: Path = REPORT_DIR) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "randomization.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Randomization benchmark",
        "",
        f"{result['machine']['date']}; {result['machine']['cpus']} CPU ({result['machine']['cpu']});"
        f" {result['postgresql']}; Python {result['machine']['python']}; load average at start"
        f" {result['machine']['load_average_at_start']}.",
        "",
        "Allocation = `patient_randomize` (one durable transaction: patient, trigger and stratum"
        " cursor locks, allocation row, trigger closed, Arm B line switch and schedule rebuild,"
        " history and audit rows), distinct patients over 4 strata. Locked insert = one"
        " transaction of `SELECT ... FOR UPDATE` on a per-stratum counter, `UPDATE`, `INSERT`."
        " Clients are threads with one connection each. Passwords hashed with MD5 for the run.",
        "",
        "| clients | allocations/s | p50 ms | p95 ms | p99 ms | locked inserts/s | p50 ms |"
        " p95 ms | p99 ms | insert/allocation throughput |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for alloc, base in zip(result["allocation"], result["baseline"], strict=True):
        ratio = base["per_second"] / alloc["per_second"] if alloc["per_second"] else 0
        lines.append(
            f"| {alloc['clients']} | {alloc['per_second']} | {alloc['p50_ms']} |"
            f" {alloc['p95_ms']} | {alloc['p99_ms']} | {base['per_second']} | {base['p50_ms']} |"
            f" {base['p95_ms']} | {base['p99_ms']} | {ratio:.1f}x |"
        )
    errors = sum(level["errors"] for level in result["allocation"] + result["baseline"])
    lines += [
        "",
        f"SQL statements per allocation: {result['queries_per_allocation']}."
        f" Errors during the run: {errors}.",
        f"One production password check (PBKDF2, Django default iterations):"
        f" {result['pbkdf2_check_ms']} ms, paid by every randomization request before any"
        " lock is taken.",
        "",
    ]
    (out / "randomization.md").write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPORT_DIR, help="report directory")
    out = parser.parse_args().out
    server_url = os.environ.get("DATABASE_URL", "")
    if not server_url.startswith(("postgres://", "postgresql://")):
        print("set DATABASE_URL to a PostgreSQL server (postgresql://...)", file=sys.stderr)
        return 2
    name = f"bench_randomization_{os.getpid()}"
    bench_url = _with_database(server_url, name)
    database_create(server_url, name)
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deploy.settings")
    try:
        return _run(bench_url, out)
    finally:
        from django.db import connections

        connections.close_all()
        database_drop(server_url, name)


def _run(bench_url: str, out: Path) -> int:
    import django
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import override_settings

    django.setup()
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgresql = f"PostgreSQL {cursor.fetchone()[0]}"
    started_machine = machine()
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        total = sum(OPERATIONS.values()) + 8
        print(f"preparing {total} patients", file=sys.stderr)
        investigator, patients = prepare(total)
        queries = queries_per_allocation(patients[:8], investigator)
        remaining = patients[8:]
        allocation = []
        for clients in CLIENT_COUNTS:
            batch, remaining = remaining[: OPERATIONS[clients]], remaining[OPERATIONS[clients] :]
            level = allocation_level(clients, batch, investigator)
            print(f"allocation, {clients} clients: {level.per_second}/s", file=sys.stderr)
            allocation.append(asdict(level))
    with psycopg.connect(bench_url, autocommit=True) as conn:
        conn.execute(BASELINE_SCHEMA)
    baseline = []
    for clients in CLIENT_COUNTS:
        level = baseline_level(clients, OPERATIONS[clients], bench_url)
        print(f"locked insert, {clients} clients: {level.per_second}/s", file=sys.stderr)
        baseline.append(asdict(level))
    write_report(
        {
            "machine": started_machine,
            "postgresql": postgresql,
            "allocation": allocation,
            "baseline": baseline,
            "queries_per_allocation": queries,
            "pbkdf2_check_ms": pbkdf2_check_ms(),
        },
        out,
    )
    print(f"wrote {out / 'randomization.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
