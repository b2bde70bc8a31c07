"""Liveness and readiness probes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import OperationalError

from deploy import health
from tests.conftest import redis_url

BASE_DIR = Path(__file__).resolve().parents[2]
POD_ADDRESS = "10.42.0.17:8000"


def test_live_answers_without_any_io(client):
    # No django_db mark: any database access would raise here.
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]


def test_probes_skip_host_validation_and_the_https_redirect(client, settings):
    settings.ALLOWED_HOSTS = ["trial.example.org"]
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/health/live", HTTP_HOST=POD_ADDRESS).status_code == 200
    # everything else still refuses a foreign host and redirects plain HTTP
    assert client.get("/api/v1/sites/", HTTP_HOST=POD_ADDRESS).status_code == 400
    assert client.get("/api/v1/sites/", HTTP_HOST="trial.example.org").status_code == 301


def test_probes_answer_get_and_head_only(client):
    assert client.post("/health/live").status_code == 405
    assert client.head("/health/live").status_code == 200


@pytest.fixture
def celery_worker_process(tmp_path):
    """A real worker against Redis, on a private queue so it takes no one else's tasks."""
    suffix = uuid.uuid4().hex[:10]
    nodename = f"health-{suffix}@localhost"
    log = (tmp_path / "worker.log").open("w+")
    env = {**os.environ, "REDIS_URL": redis_url(), "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "deploy", "--quiet", "worker"),
            *("-Q", f"health-{suffix}", "-n", nodename, "--pool", "solo"),
            *("--without-mingle", "--without-gossip", "--without-heartbeat"),
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    from deploy.celery import app

    try:
        for _ in range(120):
            if app.control.ping(destination=[nodename], timeout=0.5):
                break
            assert process.poll() is None, "the worker exited"
            time.sleep(0.5)
        else:
            pytest.fail("the Celery worker did not answer within 60 s")
        yield nodename
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.seek(0)
        print(log.read())  # shown by pytest only when the test fails
        log.close()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.integration
@pytest.mark.django_db
def test_ready_with_postgresql_redis_and_a_worker(client, settings, celery_worker_process):
    settings.REDIS_URL = redis_url()
    response = client.get("/health/ready", HTTP_HOST=POD_ADDRESS)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ok",
        "checks": {
            "database:default": {"status": "ok"},
            "redis": {"status": "ok"},
            "celery": {"status": "ok"},
        },
    }


@pytest.mark.django_db
def test_ready_is_503_when_redis_is_unreachable_and_names_no_secret(client, settings):
    settings.REDIS_URL = "redis://:s3cret-password@127.0.0.1:1/0"
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["database:default"] == {"status": "ok"}
    assert body["checks"]["redis"] == {"status": "fail", "error": "ConnectionError"}
    assert body["checks"]["celery"] == {"status": "skipped", "error": "BrokerUnavailable"}
    assert b"s3cret" not in response.content
    assert b"127.0.0.1" not in response.content


def test_ready_is_503_when_the_database_fails(client, settings, monkeypatch):
    class BrokenConnection:
        def cursor(self):
            raise OperationalError("could not connect to server: password=hunter2")

    monkeypatch.setattr(health, "connections", {"default": BrokenConnection()})
    monkeypatch.setattr(health, "check_redis", lambda: health.CheckResult(health.OK))
    monkeypatch.setattr(health, "check_celery", lambda: health.CheckResult(health.OK))
    settings.REDIS_URL = redis_url()
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["database:default"] == {
        "status": "fail",
        "error": "OperationalError",
    }
    assert b"hunter2" not in response.content


@pytest.mark.redis
@pytest.mark.django_db
def test_ready_is_503_when_no_worker_answers(client, settings, monkeypatch):
    from deploy.celery import app

    settings.REDIS_URL = redis_url()
    # Other test runs may have workers on this Redis: make the broadcast find none.
    monkeypatch.setattr(app.control, "ping", lambda **kwargs: [])
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["celery"] == {"status": "fail", "error": "NoWorkerReplied"}


@pytest.mark.django_db
def test_embedded_default_checks_the_filesystem_broker_directory(
    client, settings, monkeypatch, tmp_path
):
    settings.REDIS_URL = ""
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path)}
    monkeypatch.setattr(health, "check_celery", lambda: health.CheckResult(health.OK))
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {
        "database:default": {"status": "ok"},
        "broker": {"status": "ok"},
        "celery": {"status": "ok"},
    }

    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path / "missing")}
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {"status": "fail", "error": "NotWritable"}
    assert response.json()["checks"]["celery"]["status"] == "skipped"
