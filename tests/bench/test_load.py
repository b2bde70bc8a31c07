"""Reading wrk's output and building its command line."""

import json
from pathlib import Path

import pytest

from bench.load import (
    LUA_SCRIPT,
    LoadResult,
    LoadSpec,
    batch_counts,
    parse_wrk_output,
    wrk_command,
    wrk_environment,
)
from bench.stats import Latency

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:41234/api/v1/ctdna/results/batch/
  1 threads and 8 connections
BENCH_JSON {"requests":250,"duration_us":10012345,"ok":248,"not_ok":2,"exhausted":0,"statuses":{"200":248,"500":2},"items":{"created":24700,"replayed":0,"failed":100},"errors":{"connect":0,"read":1,"write":0,"timeout":0},"latency_us":{"p50":310000,"p95":420500,"p99":510000,"max":800000}}
"""


def test_parse_wrk_output():
    result = parse_wrk_output(WRK_OUTPUT, items_per_request=100, count_batch=True)
    assert result.generator == "wrk"
    assert result.requests == 250
    assert result.duration_s == pytest.approx(10.012345)
    assert (result.ok, result.not_ok) == (248, 2)
    assert result.statuses == {"200": 248, "500": 2}
    assert result.socket_errors == {"read": 1}
    assert result.latency == Latency(p50_ms=310.0, p95_ms=420.5, p99_ms=510.0, max_ms=800.0)
    assert result.batch_items == {"created": 24700, "replayed": 0, "failed": 100}
    assert not result.exhausted


def test_throughput_and_errors_of_a_batch_run_count_created_results():
    result = parse_wrk_output(WRK_OUTPUT, items_per_request=100, count_batch=True)
    assert result.items_per_s == pytest.approx(24700 / 10.012345)
    assert result.requests_per_s == pytest.approx(248 / 10.012345)
    assert result.errors == 2 + 1 + 100


def test_throughput_without_batch_counts_is_requests_times_items():
    result = LoadResult(
        generator="python",
        requests=100,
        duration_s=2.0,
        ok=100,
        not_ok=0,
        statuses={"200": 100},
        socket_errors={},
        latency=Latency(1, 2, 3, 4),
        items_per_request=20,
    )
    assert result.items_per_s == 1000.0
    assert result.errors == 0


def test_unread_batch_answers_count_no_result():
    output = WRK_OUTPUT.replace('"created":24700', '"created":0').replace(
        '"failed":100', '"failed":0'
    )
    assert parse_wrk_output(output, items_per_request=100, count_batch=True).items_per_s == 0
    assert parse_wrk_output(output, items_per_request=100).batch_items == {}


def test_parse_wrk_output_without_our_line_fails_loudly():
    with pytest.raises(ValueError, match="BENCH_JSON"):
        parse_wrk_output("Running 10s test\nRequests/sec: 12.0\n")


def test_wrk_command_and_environment():
    spec = LoadSpec(
        path="/api/v1/fhir/",
        token="secret",
        connections=8,
        duration_s=10,
        bodies=("{}",),
        content_type="application/fhir+json",
        count_batch=False,
    )
    command = wrk_command(spec, "http://127.0.0.1:5000/", threads=4)
    assert command[1:] == [
        "--threads=4",
        "--connections=8",
        "--duration=10s",
        "--timeout=60s",
        f"--script={LUA_SCRIPT}",
        "http://127.0.0.1:5000/api/v1/fhir/",
    ]
    env = wrk_environment(spec, Path("/tmp/bodies.txt"), threads=4)
    assert env == {
        "BENCH_METHOD": "POST",
        "BENCH_PATH": "/api/v1/fhir/",
        "BENCH_TOKEN": "secret",
        "BENCH_CONTENT_TYPE": "application/fhir+json",
        "BENCH_THREADS": "4",
        "BENCH_COUNT_BATCH": "0",
        "BENCH_BODY_FILE": "/tmp/bodies.txt",
    }


def test_wrk_never_runs_more_threads_than_connections():
    spec = LoadSpec(path="/", token="t", connections=2, duration_s=1)
    assert "--threads=2" in wrk_command(spec, "http://127.0.0.1:1", threads=8)
    assert wrk_environment(spec, None, threads=8)["BENCH_METHOD"] == "GET"


def test_batch_counts_of_an_answer():
    body = json.dumps({"created": 99, "replayed": 1, "failed": 0, "results": []}).encode()
    assert batch_counts(body) == {"created": 99, "replayed": 1, "failed": 0}
    assert batch_counts(b"[1, 2]") == {}
    assert batch_counts(b"<html>") == {}
