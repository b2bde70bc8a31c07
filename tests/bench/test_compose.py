"""From results to figures: each product figure beside its same-run baseline and targets."""

import dataclasses

import pytest

from bench.compose import (
    BASELINE,
    BATCH,
    JSON_SINGLE,
    READ,
    Setup,
    figures_of,
    http_section,
    schedule_figures,
    simulation_figure,
    worker_figure,
)
from bench.database import PgbenchResult
from bench.figures import Verdict
from bench.load import LoadResult
from bench.markdown import figure_row
from bench.schedule import ScheduleBench, ScheduleRun
from bench.simulation import (
    SimulationResult,
    last_progress,
    report_operations,
    report_queries,
    simulation_section,
)
from bench.stats import Latency
from bench.web import EndpointResult, MemoryResult
from bench.workers import WorkerRun
from trial.services.schedule import DailyResult

SETUP = Setup(
    workers=4,
    connections=8,
    duration_s=10,
    warmup_s=3,
    batch_size=100,
    fhir_bundle_size=20,
    patients=300,
    samples=100_000,
    quick=False,
)
LATENCY = Latency(10, 20, 30, 40)


def _pgbench(clients, tps):
    return PgbenchResult(clients, 10, int(tps * 10), tps, LATENCY, 0)


def _endpoint(name, ok, *, items=1, batch=None, not_ok=0, requests=None):
    load = LoadResult(
        generator="wrk",
        requests=requests if requests is not None else ok + not_ok,
        duration_s=10.0,
        ok=ok,
        not_ok=not_ok,
        statuses={"201": ok},
        socket_errors={},
        latency=LATENCY,
        items_per_request=items,
        batch_items=batch or {},
    )
    return EndpointResult(name=name, path=f"/{name}/", connections=8, warmup=load, load=load)


def _by_name(figures):
    return {f.name: f for f in figures}


def test_product_writes_are_measured_against_the_bare_endpoint_and_it_against_pgbench():
    figures = _by_name(
        figures_of(
            setup=SETUP,
            pgbench=[_pgbench(1, 3800), _pgbench(4, 6000)],
            http=[
                _endpoint(BASELINE, 5000),
                _endpoint(JSON_SINGLE, 4200),
                _endpoint(
                    BATCH, 250, items=100, batch={"created": 24_000, "replayed": 0, "failed": 0}
                ),
                _endpoint(READ, 9000),
            ],
            memory=MemoryResult(requests_served=12_000, peak_rss_mb=(120.0, 140.0), top_up=READ),
        )
    )
    bare = figures["bare DRF insert with history (stack ceiling)"]
    assert (bare.value, bare.baseline_value, bare.ratio) == (500, 6000, pytest.approx(500 / 6000))
    single = figures["ctDNA result, JSON, one per request"]
    assert (single.value, single.baseline_value) == (420, 500)
    assert single.ratio == pytest.approx(0.84)
    assert single.verdict is Verdict.PASS
    batch = figures["ctDNA results, JSON batch of 100"]
    assert batch.value == 2400
    assert batch.verdict is Verdict.PASS
    read = figures["patients list, 50 per page (read)"]
    assert (read.value, read.baseline_value, read.verdict) == (900, None, Verdict.NO_TARGET)
    memory = figures["web worker peak RSS after 12,000 requests"]
    assert (memory.value, memory.verdict, memory.note) == (140.0, Verdict.PASS, "")
    assert figures["pgbench single-row INSERT, 1 client"].value == 3800


def test_ingestion_short_of_the_bare_ratio_errors_and_idle_runs_are_named():
    figures = _by_name(
        figures_of(
            setup=SETUP,
            pgbench=[_pgbench(4, 6000)],
            http=[
                _endpoint(BASELINE, 6000),
                _endpoint(JSON_SINGLE, 4500, not_ok=12),
                _endpoint(BATCH, 0, items=100, batch={"created": 0}, requests=0),
            ],
            memory=MemoryResult(requests_served=9_000, peak_rss_mb=(260.0,), top_up=READ),
        )
    )
    single = figures["ctDNA result, JSON, one per request"]
    assert single.verdict is Verdict.SHORT  # 450 >= 400 but 0.75 x the bare endpoint
    assert single.note == "12 errors"
    assert figures["ctDNA results, JSON batch of 100"].note == (
        "no request completed within the measurement"
    )
    memory = figures["web worker peak RSS after 9,000 requests"]
    assert (memory.verdict, memory.note) == (Verdict.SHORT, "fewer than 10,000 requests")


def test_http_details_compare_with_bare_and_pgbench():
    section = http_section(
        [_endpoint(BASELINE, 5000), _endpoint(JSON_SINGLE, 4000)], [_pgbench(4, 8000)]
    )
    rows = section.body.splitlines()
    assert rows[2].endswith("| - | 0.06 |")  # the bare endpoint: 500 of pgbench's 8,000
    assert rows[3].endswith("| 0.80 | 0.05 |")


def _schedule_run(patients, seconds, other, claims):
    return ScheduleRun(
        patients=patients,
        schedule_rows=patients * 30,
        seconds=seconds,
        queries={"item claim": claims, "per site": 200, "other": other},
        result=DailyResult(claims, claims, 0, claims, 0),
    )


def test_schedule_figures_time_at_each_size_and_queries_independent_of_patients():
    runs = (
        _schedule_run(1_000, 0.4, 5, 100),
        _schedule_run(10_000, 1.5, 5, 1_000),
        _schedule_run(50_000, 6.2, 5, 5_000),
    )
    bench = ScheduleBench(runs=runs, warmup=runs[0], template_rows=80, seed_seconds=60)
    figures = _by_name(schedule_figures(bench))
    assert figures["daily schedule job, 1k active patients"].verdict is Verdict.NO_TARGET
    at_50k = figures["daily schedule job, 50k active patients"]
    assert (at_50k.value, at_50k.verdict, at_50k.note) == (
        6.2,
        Verdict.SHORT,
        "15,000 items handled",
    )
    queries = figures["daily schedule job, 50k: queries not per item or per site"]
    assert (queries.value, queries.baseline_value, queries.verdict) == (5, 5, Verdict.PASS)


def test_rows_counted_in_the_database_are_the_throughput_when_available():
    batch = _endpoint(BATCH, 0, items=100, batch={"created": 0}, requests=0)
    batch = dataclasses.replace(batch, stored=1_250, window_s=10.0)
    bare = dataclasses.replace(_endpoint(BASELINE, 5000), stored=5_100, window_s=10.0)
    figures = _by_name(figures_of(setup=SETUP, pgbench=[], http=[bare, batch], memory=None))
    assert figures["ctDNA results, JSON batch of 100"].value == 125
    assert figures["ctDNA results, JSON batch of 100"].baseline_value == 510
    assert figures["bare DRF insert with history (stack ceiling)"].value == 510


def _simulation(**overrides):
    values = dict(
        patients=1000,
        sites=20,
        months=36,
        seed=7,
        seconds=95.0,
        peak_rss_mb=180.0,
        exit_code=0,
        timed_out=False,
        limit_s=150,
        patients_created=1000,
    )
    return SimulationResult(**(values | overrides))


def test_simulation_figure():
    done = simulation_figure(_simulation())
    assert (done.value, done.verdict, done.note) == (95.0, Verdict.PASS, "peak RSS 180 MB")
    stopped = simulation_figure(_simulation(seconds=119.9, timed_out=True, patients_created=412))
    assert stopped.verdict is Verdict.SHORT
    assert figure_row(stopped)[1] == "> 120 s"
    assert stopped.note == "stopped at the 150 s limit with 412 of 1,000 patients created"
    quick = simulation_figure(_simulation(patients=50, months=6))
    assert quick.verdict is Verdict.NO_TARGET


def test_worker_figures():
    day = WorkerRun("a day's jobs", 12.0, 180.0, True, 90, "due reminders 5,554")
    figure = worker_figure(day, patients=50_000)
    assert figure.name == "Celery worker peak RSS, a day's jobs at 50k patients"
    assert (figure.value, figure.verdict) == (180.0, Verdict.PASS)
    assert figure.note == "12 s: due reminders 5,554"
    export = WorkerRun("a full ODM export", 90.0, 210.0, False, 90, "still running at the limit")
    stopped = worker_figure(export, patients=None)
    assert stopped.verdict is Verdict.SHORT  # the peak of an unfinished export is a lower bound
    assert stopped.note == "stopped after 90 s, peak so far"


SIMULATE_LOG = """\
[...............................]   0% 2023-11-21 screening 2 step1 0 (3 s)
[###............................]  10% 2024-03-09 screening 10 step1 152 (143 s)
"""

SIMULATE_REPORT = """\
## Wall time

| figure | simulated | published | source |
|---|---|---|---|
| Database | postgresql, 272420 queries |  |  |

## Where the time goes

| operation | calls | queries per call | ms per call | total s |
|---|---:|---:|---:|---:|
| cycle_start | 3346 | 22.9 | 136.9 | 458.1 |
| blood_count_record | 3471 | 12.9 | 76.4 | 265.3 |

Sources: DOMAIN.md section 1.
"""


def test_simulation_report_parsing():
    assert last_progress(SIMULATE_LOG) == "10% 2024-03-09 screening 10 step1 152 (143 s)"
    assert last_progress("") == ""
    assert report_queries(SIMULATE_REPORT) == 272420
    assert report_queries("") is None
    assert report_operations(SIMULATE_REPORT) == [
        ["cycle_start", "3346", "22.9", "136.9", "458.1"],
        ["blood_count_record", "3471", "12.9", "76.4", "265.3"],
    ]
    assert report_operations("no table") == []


def test_simulation_section():
    done = simulation_section(
        _simulation(total_queries=272420, operations=[["cycle_start", "1", "2", "3", "4"]])
    )
    assert "Finished in 95 s (272,420 queries, peak RSS 180 MB)." in done.body
    assert "| cycle_start | 1 | 2 | 3 | 4 |" in done.body
    stopped = simulation_section(
        _simulation(seconds=150.2, timed_out=True, progress="40% 2025-01-01 step1 300 (150 s)")
    )
    assert "Stopped after 150 s, at: 40% 2025-01-01 step1 300 (150 s)." in stopped.body
