"""The throwaway PostgreSQL database of a run, and pgbench's single-row insert baseline."""

from __future__ import annotations

import re
import shutil
import subprocess  # noqa: S404 - runs pgbench, a fixed local binary
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from .stats import Latency, latency_of

ADMIN_DB = "postgres"


@dataclass(frozen=True)
class Server:
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"

    def url(self, dbname: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def connect(self, dbname: str = ADMIN_DB) -> psycopg.Connection:
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname=dbname, autocommit=True
        )


def server_version(server: Server) -> str:
    with server.connect() as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0]}" if row else "PostgreSQL (unknown version)"


def database_recreate(server: Server, name: str) -> None:
    """Drop ``name`` if a previous run left it, then create it empty."""
    database_drop(server, name)
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def database_drop(server: Server, name: str) -> None:
    with server.connect() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def busy_connections(server: Server, dbname: str) -> int:
    """Connections to ``dbname`` in the middle of a statement or a transaction (ours aside)."""
    with server.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state <> 'idle' "
            "AND pid <> pg_backend_pid()",
            (dbname,),
        ).fetchone()
    return int(row[0]) if row else 0


PGBENCH_TABLE = "bench_pgbench_row"
# A random suffix keeps sample ids unique across clients without a shared counter.
PGBENCH_SCRIPT = """\\set n random(1, 1000000000)
INSERT INTO bench_pgbench_row (sample_id, value, created_at) VALUES ('s-' || :client_id || '-' || :n || '-' || random(), 0.5, now());
"""


@dataclass(frozen=True)
class PgbenchResult:
    clients: int
    duration_s: int
    transactions: int
    tps: float
    latency: Latency
    failed: int


def parse_pgbench_tps(output: str) -> float:
    """The tps pgbench prints, excluding connection time."""
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", output)
    if match is None:
        raise ValueError("no tps line in the pgbench output:\n" + output[-2000:])
    return float(match.group(1))


def parse_pgbench_log(lines: list[str]) -> list[float]:
    """Per-transaction latencies in ms from pgbench ``--log`` lines
    (``client_id transaction_no time_us script_no epoch epoch_us``)."""
    return [int(line.split()[2]) / 1000 for line in lines if line.strip()]


def pgbench_insert(server: Server, dbname: str, *, clients: int, duration_s: int) -> PgbenchResult:
    """Single-row INSERT, autocommit, ``clients`` connections for ``duration_s``: the floor
    under every audited write. The table has a primary key and a unique text column, like the
    product's result rows."""
    with server.connect(dbname) as conn:
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, "
                "sample_id text NOT NULL UNIQUE, value double precision NOT NULL, "
                "created_at timestamptz NOT NULL)"
            ).format(sql.Identifier(PGBENCH_TABLE))
        )
    with tempfile.TemporaryDirectory(prefix="bench-pgbench-") as tmp:
        script = Path(tmp) / "insert.sql"
        script.write_text(PGBENCH_SCRIPT)
        command = [
            shutil.which("pgbench") or "pgbench",
            "--no-vacuum",
            f"--host={server.host}",
            f"--port={server.port}",
            f"--username={server.user}",
            f"--client={clients}",
            f"--jobs={clients}",
            f"--time={duration_s}",
            f"--file={script}",
            "--log",
            f"--log-prefix={Path(tmp) / 'log'}",
            dbname,
        ]
        completed = subprocess.run(  # noqa: S603 - fixed binary, arguments built above
            command, capture_output=True, text=True, timeout=duration_s + 60, check=False
        )
        if completed.returncode != 0:
            raise RuntimeError(f"pgbench failed: {completed.stderr[-2000:]}")
        latencies: list[float] = []
        for log in Path(tmp).glob("log*"):
            latencies += parse_pgbench_log(log.read_text().splitlines())
    failed = re.search(r"number of failed transactions: (\d+)", completed.stdout)
    return PgbenchResult(
        clients=clients,
        duration_s=duration_s,
        transactions=len(latencies),
        tps=parse_pgbench_tps(completed.stdout),
        latency=latency_of(latencies or [0.0]),
        failed=int(failed.group(1)) if failed else 0,
    )
