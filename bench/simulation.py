"""The simulator's wall time: ``manage.py simulate`` for 1,000 patients over 3 years.

The simulator wants an empty trial, so it gets its own throwaway database: a copy of the bench
database taken right after migration and the PADA-1 load (``prepare_database``), and runs as a
subprocess with the bench environment. The figure is the wall time of the ``simulate`` command
alone, with the peak RSS of its process. A run longer than the time limit is stopped and
reported with how far it got: the rest of ``make bench`` must still finish.

The simulator's own report says where its time went (calls, queries and seconds per product
operation); the bench report carries that table, so a slow run names its slow operations.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess  # noqa: S404 - runs manage.py from our own virtualenv
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from psycopg import sql

from .database import Server, database_drop
from .markdown import Section, table

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class SimulationResult:
    patients: int
    sites: int
    months: int
    seed: int
    seconds: float
    peak_rss_mb: float
    exit_code: int | None
    timed_out: bool
    limit_s: float
    patients_created: int  # by the time it ended or was stopped
    progress: str = ""  # the last progress line of the log (how far a stopped run got)
    total_queries: int | None = None  # from the simulator's report, when it finished
    operations: list[list[str]] = field(default_factory=list)  # its "where the time goes"


def prepare_database(server: Server, *, template: str, dbname: str) -> None:
    """``dbname`` as a copy of ``template`` (migrated, protocol loaded, nothing else yet);
    nobody may be connected to the template meanwhile."""
    database_drop(server, dbname)
    with server.connect() as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(dbname), sql.Identifier(template)
            )
        )


def bench_simulation(
    *,
    server: Server,
    dbname: str,
    env: dict[str, str],
    work_dir: Path,
    limit_s: float,
    patients: int = 1000,
    sites: int = 20,
    months: int = 36,
    seed: int = 7,
) -> SimulationResult:
    run_env = {**env, "DATABASE_URL": server.url(dbname)}
    try:
        command = [
            sys.executable,
            str(ROOT / "manage.py"),
            "simulate",
            f"--patients={patients}",
            f"--sites={sites}",
            f"--seed={seed}",
            f"--months={months}",
            f"--report-dir={work_dir}",
            "--skip-checks",
        ]
        with (work_dir / "simulate.log").open("wb") as log:
            started = time.monotonic()
            process = subprocess.Popen(  # noqa: S603 - as above
                command, cwd=ROOT, env=run_env, stdout=log, stderr=subprocess.STDOUT
            )
            exit_code, rss_kb, timed_out = _wait(process, started + limit_s)
            seconds = time.monotonic() - started
        with server.connect(dbname) as conn:
            row = conn.execute("SELECT count(*) FROM trial_patient").fetchone()
    finally:
        database_drop(server, dbname)
    log_text = (work_dir / "simulate.log").read_text(errors="replace")
    report = work_dir / f"simulation-{seed}.md"
    report_text = report.read_text() if report.exists() and not timed_out else ""
    return SimulationResult(
        patients=patients,
        sites=sites,
        months=months,
        seed=seed,
        seconds=seconds,
        peak_rss_mb=rss_kb * 1024 / 1e6,
        exit_code=exit_code,
        timed_out=timed_out,
        limit_s=limit_s,
        patients_created=int(row[0]) if row else 0,
        progress=last_progress(log_text),
        total_queries=report_queries(report_text),
        operations=report_operations(report_text),
    )


PROGRESS = re.compile(r"^\[[#.]+\]\s+(?P<line>\d+% .*)$")
QUERIES = re.compile(r"\| Database \| \w+, (?P<n>\d+) queries \|")


def last_progress(log_text: str) -> str:
    """The last progress line the simulator printed (one per tenth of the simulated days)."""
    lines = [m.group("line") for m in map(PROGRESS.match, log_text.splitlines()) if m]
    return lines[-1] if lines else ""


def report_queries(report_text: str) -> int | None:
    match = QUERIES.search(report_text)
    return int(match.group("n")) if match else None


def report_operations(report_text: str) -> list[list[str]]:
    """The rows of the report's "Where the time goes" table, as printed."""
    _head, found, rest = report_text.partition("## Where the time goes")
    if not found:
        return []
    rows = []
    for line in rest.splitlines():
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0] in ("operation", "") or set(cells[0]) <= set("-: "):
            continue
        rows.append(cells)
    return rows


def simulation_section(result: SimulationResult, *, shown: int = 12) -> Section:
    """How the run went and, when it finished, the operations that took its time."""
    lines = [
        f"`manage.py simulate --patients={result.patients} --sites={result.sites} "
        f"--seed={result.seed} --months={result.months}` in its own PostgreSQL database (a copy "
        f"of the bench database after migration and the PADA-1 load), as a subprocess with the "
        f"bench environment; stopped after {result.limit_s:.0f} s at most. Every record goes "
        f"through the product's services or its REST API (screening, enrolment, cycles, blood "
        f"counts and signed dose decisions, samples, lab batches, the outbox worker, "
        f"randomization, crossover, QoL), one simulated day at a time."
    ]
    if result.timed_out:
        lines.append(
            f"\nStopped after {result.seconds:.0f} s, at: {result.progress or 'no progress line'}."
        )
    elif result.exit_code != 0:
        lines.append(f"\nEnded with exit code {result.exit_code}: see `var/bench/simulate.log`.")
    else:
        queries = f"{result.total_queries:,} queries, " if result.total_queries else ""
        lines.append(
            f"\nFinished in {result.seconds:.0f} s ({queries}peak RSS "
            f"{result.peak_rss_mb:,.0f} MB)."
        )
    if result.operations:
        lines += [
            "",
            f"Where the time went (the simulator's meter; the {shown} slowest operations):",
            "",
            table(
                ["operation", "calls", "queries per call", "ms per call", "total s"],
                result.operations[:shown],
            ),
        ]
    return Section("Simulator", "\n".join(lines))


def _wait(process: subprocess.Popen, deadline: float) -> tuple[int | None, int, bool]:
    """Wait for ``process`` until ``deadline``; its exit code, peak RSS (kB, from wait4) and
    whether it had to be stopped."""
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, usage.ru_maxrss, False
        if time.monotonic() > deadline:
            process.send_signal(signal.SIGTERM)
            _pid, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            return None, usage.ru_maxrss, True
        time.sleep(0.5)
