"""HTTP load against the benchmark server: wrk when installed, else a Python client.

Both send the same requests (token-authenticated; each POST body from a pre-built list is sent
once, so every request carries fresh sample ids) for a fixed duration over a fixed number of
connections, and return the same ``LoadResult``. wrk is preferred: the Python client shares the
GIL and the two cores with the server it measures, so it understates throughput; the report
names the generator used.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess  # noqa: S404 - runs wrk, a fixed local binary, with arguments we build
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .stats import Latency, latency_of

LUA_SCRIPT = Path(__file__).resolve().parent / "lua" / "bench.lua"
WRK_MARKER = "BENCH_JSON "


@dataclass(frozen=True)
class LoadSpec:
    """What to send: ``bodies`` None means GET; else each body is sent at most once."""

    path: str
    token: str
    connections: int
    duration_s: float
    bodies: tuple[str, ...] | None = None
    content_type: str = "application/json"
    items_per_request: int = 1
    count_batch: bool = False

    @property
    def method(self) -> str:
        return "GET" if self.bodies is None else "POST"


@dataclass(frozen=True)
class LoadResult:
    generator: str
    requests: int
    duration_s: float
    ok: int
    not_ok: int
    statuses: dict[str, int]
    socket_errors: dict[str, int]
    latency: Latency
    items_per_request: int = 1
    exhausted: bool = False
    batch_items: dict[str, int] = field(default_factory=dict)

    @property
    def requests_per_s(self) -> float:
        """Successful (2xx) requests per second."""
        return self.ok / self.duration_s if self.duration_s else 0.0

    @property
    def items_per_s(self) -> float:
        """Results stored per second: the batch answers' ``created`` counts when read, else
        successful requests times the items each carries."""
        if not self.duration_s:
            return 0.0
        if "created" in self.batch_items:
            return self.batch_items.get("created", 0) / self.duration_s
        return self.ok * self.items_per_request / self.duration_s

    @property
    def errors(self) -> int:
        """Requests that failed: non-2xx answers, socket errors and failed batch items."""
        return self.not_ok + sum(self.socket_errors.values()) + self.batch_items.get("failed", 0)


def wrk_command(spec: LoadSpec, base_url: str, *, threads: int, timeout_s: int = 60) -> list[str]:
    """The wrk command line (the environment carries the rest: see ``wrk_environment``)."""
    return [
        shutil.which("wrk") or "wrk",
        f"--threads={wrk_threads(spec, threads)}",
        f"--connections={spec.connections}",
        f"--duration={max(1, round(spec.duration_s))}s",
        f"--timeout={timeout_s}s",
        f"--script={LUA_SCRIPT}",
        base_url.rstrip("/") + spec.path,
    ]


def wrk_threads(spec: LoadSpec, threads: int) -> int:
    return max(1, min(threads, spec.connections))


def wrk_environment(spec: LoadSpec, body_file: Path | None, *, threads: int) -> dict[str, str]:
    env = {
        "BENCH_METHOD": spec.method,
        "BENCH_PATH": spec.path,
        "BENCH_TOKEN": spec.token,
        "BENCH_CONTENT_TYPE": spec.content_type,
        "BENCH_THREADS": str(wrk_threads(spec, threads)),
        "BENCH_COUNT_BATCH": "1" if spec.count_batch else "0",
    }
    if body_file is not None:
        env["BENCH_BODY_FILE"] = str(body_file)
    return env


def parse_wrk_output(
    output: str, *, items_per_request: int = 1, count_batch: bool = False
) -> LoadResult:
    """Read the ``BENCH_JSON`` line our Lua ``done()`` prints. Raises ValueError without it.
    With ``count_batch`` the batch answers' counts are kept, zeros included: an answer the
    script could not read counts no result rather than a full batch."""
    for line in output.splitlines():
        if line.startswith(WRK_MARKER):
            data = json.loads(line[len(WRK_MARKER) :])
            break
    else:
        raise ValueError("no BENCH_JSON line in the wrk output:\n" + output[-2000:])
    lat = data["latency_us"]
    items = {k: int(v) for k, v in data.get("items", {}).items()}
    return LoadResult(
        generator="wrk",
        requests=int(data["requests"]),
        duration_s=data["duration_us"] / 1e6,
        ok=int(data["ok"]),
        not_ok=int(data["not_ok"]),
        statuses={str(k): int(v) for k, v in data["statuses"].items()},
        socket_errors={k: int(v) for k, v in data["errors"].items() if v},
        latency=Latency(
            p50_ms=lat["p50"] / 1000,
            p95_ms=lat["p95"] / 1000,
            p99_ms=lat["p99"] / 1000,
            max_ms=lat["max"] / 1000,
        ),
        items_per_request=items_per_request,
        exhausted=bool(data.get("exhausted", 0)),
        batch_items=items if count_batch else {},
    )


def run_wrk(spec: LoadSpec, base_url: str, work_dir: Path, *, threads: int) -> LoadResult:
    body_file = None
    if spec.bodies is not None:
        body_file = work_dir / f"bodies-{time.time_ns()}.txt"
        body_file.write_text("\n".join(spec.bodies) + "\n")
    try:
        completed = subprocess.run(  # noqa: S603 - fixed binary, arguments built above
            wrk_command(spec, base_url, threads=threads),
            env={**os.environ, **wrk_environment(spec, body_file, threads=threads)},
            capture_output=True,
            text=True,
            timeout=spec.duration_s + 60,
            check=False,
        )
    finally:
        if body_file is not None:
            body_file.unlink(missing_ok=True)
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr[-2000:]}")
    return parse_wrk_output(
        completed.stdout, items_per_request=spec.items_per_request, count_batch=spec.count_batch
    )


def batch_counts(body: bytes) -> dict[str, int]:
    """``created``/``replayed``/``failed`` of a batch answer; empty when it is not one."""
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: int(data[k]) for k in ("created", "replayed", "failed") if k in data}


class _Client(threading.Thread):
    """One connection sending requests back to back until the deadline or its bodies end."""

    def __init__(self, spec: LoadSpec, host: str, port: int, bodies: list[str] | None):
        super().__init__(daemon=True)
        self.spec, self.host, self.port, self.bodies = spec, host, port, bodies
        self.deadline = 0.0
        self.latencies_ms: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.items: Counter[str] = Counter()
        self.socket_errors = 0
        self.exhausted = False

    def _next_body(self, sent: int) -> bytes | None:
        if self.bodies is None:
            return None
        if sent >= len(self.bodies):
            self.exhausted = True
            return None
        return self.bodies[sent].encode()

    def run(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        headers = {"Authorization": f"Token {self.spec.token}"}
        if self.bodies is not None:
            headers["Content-Type"] = self.spec.content_type
        sent = 0
        while time.monotonic() < self.deadline:
            body = self._next_body(sent)
            if self.exhausted:
                break
            sent += 1
            started = time.perf_counter()
            try:
                conn.request(self.spec.method, self.spec.path, body=body, headers=headers)
                response = conn.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException):
                self.socket_errors += 1
                conn.close()
                continue
            self.latencies_ms.append((time.perf_counter() - started) * 1000)
            self.statuses[response.status] += 1
            if self.spec.count_batch and response.status == 200:
                self.items.update(batch_counts(answer))
        conn.close()


def run_python_client(spec: LoadSpec, host: str, port: int) -> LoadResult:
    n = spec.connections
    shares = [None if spec.bodies is None else list(spec.bodies[i::n]) for i in range(n)]
    clients = [_Client(spec, host, port, share) for share in shares]
    started = time.monotonic()
    for client in clients:
        client.deadline = started + spec.duration_s
        client.start()
    for client in clients:
        client.join(spec.duration_s + 30)
    elapsed = time.monotonic() - started
    statuses: Counter[int] = Counter()
    items: Counter[str] = Counter()
    for client in clients:
        statuses.update(client.statuses)
        items.update(client.items)
    ok = sum(count for status, count in statuses.items() if 200 <= status < 300)
    socket_errors = sum(c.socket_errors for c in clients)
    return LoadResult(
        generator="python",
        requests=sum(statuses.values()) + socket_errors,
        duration_s=elapsed,
        ok=ok,
        not_ok=sum(statuses.values()) - ok,
        statuses={str(s): count for s, count in statuses.items()},
        socket_errors={"socket": socket_errors} if socket_errors else {},
        latency=latency_of([ms for c in clients for ms in c.latencies_ms] or [0.0]),
        items_per_request=spec.items_per_request,
        exhausted=any(c.exhausted for c in clients),
        batch_items={k: items[k] for k in ("created", "replayed", "failed")}
        if spec.count_batch
        else {},
    )


def wrk_available() -> bool:
    return shutil.which("wrk") is not None
