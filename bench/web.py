"""HTTP benchmarks through gunicorn: one endpoint under load, and the workers' peak memory."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .load import LoadResult, LoadSpec, run_python_client, run_wrk
from .server import HOST, Gunicorn, peak_rss_mib

MB_PER_MIB = 1.048576


@dataclass(frozen=True)
class Endpoint:
    """One operation to load: ``bodies`` None means GET, else the bodies available to the
    warm-up and the measurement together, each sent once."""

    name: str
    path: str
    token: str
    bodies: tuple[str, ...] | None = None
    items_per_request: int = 1
    content_type: str = "application/json"
    count_batch: bool = False
    connections: int | None = None  # instead of the plan's, for long requests
    # Rows the server committed between two instants: the throughput, whatever the requests.
    stored: Callable[[dt.datetime, dt.datetime], int] | None = None


@dataclass(frozen=True)
class LoadPlan:
    connections: int
    duration_s: float
    warmup_s: float
    use_wrk: bool
    wrk_threads: int
    work_dir: Path


@dataclass(frozen=True)
class EndpointResult:
    name: str
    path: str
    connections: int
    warmup: LoadResult
    load: LoadResult
    drain_s: float = 0.0
    stored: int | None = None
    window_s: float = 0.0

    @property
    def requests_sent(self) -> int:
        return self.warmup.requests + self.load.requests

    @property
    def stored_per_s(self) -> float | None:
        """Rows committed per second during the measurement, counted in the database: a
        request still running when the load generator stops counts for what it stored."""
        if self.stored is None or not self.window_s:
            return None
        return self.stored / self.window_s


def _spec(
    endpoint: Endpoint, plan: LoadPlan, duration_s: float, bodies: tuple[str, ...] | None
) -> LoadSpec:
    return LoadSpec(
        path=endpoint.path,
        token=endpoint.token,
        connections=endpoint.connections or plan.connections,
        duration_s=duration_s,
        bodies=bodies,
        content_type=endpoint.content_type,
        items_per_request=endpoint.items_per_request,
        count_batch=endpoint.count_batch,
    )


def split_bodies(
    bodies: tuple[str, ...] | None, first_s: float, second_s: float
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """Share the bodies between two runs in proportion to their durations (GET: None, None)."""
    if bodies is None:
        return None, None
    cut = round(len(bodies) * first_s / (first_s + second_s))
    return bodies[:cut], bodies[cut:]


def load_once(server: Gunicorn, spec: LoadSpec, plan: LoadPlan) -> LoadResult:
    if plan.use_wrk:
        return run_wrk(spec, server.base_url, plan.work_dir, threads=plan.wrk_threads)
    return run_python_client(spec, HOST, server.port)


def bench_endpoint(server: Gunicorn, endpoint: Endpoint, plan: LoadPlan) -> EndpointResult:
    """Warm up (connections, caches, the workers' lazy imports), then measure for a fixed
    duration with a fixed number of connections. Every request carries fresh sample ids."""
    warmup_bodies, bodies = split_bodies(endpoint.bodies, plan.warmup_s, plan.duration_s)
    warmup = load_once(server, _spec(endpoint, plan, plan.warmup_s, warmup_bodies), plan)
    server.drain()
    started = dt.datetime.now(dt.UTC)
    load = load_once(server, _spec(endpoint, plan, plan.duration_s, bodies), plan)
    ended = dt.datetime.now(dt.UTC)
    drain_s = server.drain()
    stored = endpoint.stored(started, ended) if endpoint.stored else None
    return EndpointResult(
        name=endpoint.name,
        path=endpoint.path,
        connections=endpoint.connections or plan.connections,
        warmup=warmup,
        load=load,
        drain_s=drain_s,
        stored=stored,
        window_s=(ended - started).total_seconds(),
    )


@dataclass(frozen=True)
class MemoryResult:
    """Peak RSS (VmHWM) of each gunicorn worker once ``requests_served`` requests were sent."""

    requests_served: int
    peak_rss_mb: tuple[float, ...]
    top_up: str

    @property
    def max_peak_rss_mb(self) -> float:
        return max(self.peak_rss_mb)


def bench_worker_memory(
    server: Gunicorn,
    *,
    served: int,
    endpoint: Endpoint,
    plan: LoadPlan,
    target_requests: int = 10_000,
    max_top_up_s: float = 90,
) -> MemoryResult:
    """Send ``endpoint`` (a GET) until the server has answered ``target_requests`` requests in
    total (``served`` already counts the earlier benchmarks), bounded by ``max_top_up_s``, then
    read each worker's VmHWM."""
    deadline = time.monotonic() + max_top_up_s
    while served < target_requests and time.monotonic() < deadline:
        spec = _spec(endpoint, plan, min(5.0, plan.duration_s), None)
        served += load_once(server, spec, plan).requests
        server.drain()
    peaks = tuple(peak_rss_mib(pid) * MB_PER_MIB for pid in server.worker_pids())
    return MemoryResult(requests_served=served, peak_rss_mb=peaks, top_up=endpoint.name)
