"""The simulator's wall time: ``manage.py simulate`` for 1,000 patients over 3 years.

The simulator wants an empty trial, so it gets its own throwaway database: a copy of the bench
database taken right after migration and the PADA-1 load (``prepare_database``), and runs as a
subprocess with the bench environment. The figure is the wall time of the ``simulate`` command
alone, with the peak RSS of its process. A run longer than the time limit is stopped and
reported with how far it got: the rest of ``make bench`` must still finish.
"""

from __future__ import annotations

import os
import signal
import subprocess  # noqa: S404 - runs manage.py from our own virtualenv
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from psycopg import sql

from .database import Server, database_drop

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
            "--quiet",
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
    )


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
