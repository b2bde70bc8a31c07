"""Structured logs: the JSON formatter, the request id middleware and its way into Celery tasks."""

from __future__ import annotations

import io
import json
import logging
import uuid

import pytest
from celery import Celery
from celery.worker.request import Request as WorkerRequest
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils.functional import SimpleLazyObject

from deploy.logging import (
    REQUEST_ID_HEADER,
    JsonFormatter,
    RequestIdMiddleware,
    TextFormatter,
    on_task_postrun,
    on_task_prerun,
    request_id_var,
    task_var,
)


@pytest.fixture
def log_lines():
    """Capture the ``trial`` loggers through the JSON formatter; returns the parsed lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("trial")
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield lines
    logger.removeHandler(handler)
    logger.setLevel(previous_level)


def _record(message: str = "hello %s", args=("world",), **extra) -> logging.LogRecord:
    record = logging.LogRecord("trial.test", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_json_formatter_emits_one_valid_json_object_with_the_request_id():
    token = request_id_var.set("req-0001")
    try:
        line = JsonFormatter().format(_record(user_id=7, path="/api/v1/sites/", status=200))
    finally:
        request_id_var.reset(token)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["request_id"] == "req-0001"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "trial.test"
    assert entry["message"] == "hello world"
    assert entry["user_id"] == 7
    assert entry["path"] == "/api/v1/sites/"
    assert entry["status"] == 200
    assert entry["time"].endswith("+00:00")


def test_json_formatter_outside_a_request_has_a_null_request_id_and_keeps_tracebacks():
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        import sys

        record = _record("failed", (), exc_info=sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["request_id"] is None
    assert "ValueError: boom" in entry["exc_info"]


def test_json_formatter_names_the_task_inside_a_worker():
    task_token = task_var.set(("task-1", "trial.tasks.step2_expire_windows_task"))
    try:
        entry = json.loads(JsonFormatter().format(_record()))
    finally:
        task_var.reset(task_token)
    assert entry["task_id"] == "task-1"
    assert entry["task"] == "trial.tasks.step2_expire_windows_task"


def test_text_formatter_shows_the_request_id_or_a_dash():
    token = request_id_var.set("req-0002")
    try:
        assert "[req-0002] hello world" in TextFormatter().format(_record())
    finally:
        request_id_var.reset(token)
    assert "[-] hello world" in TextFormatter().format(_record())


def _middleware(view=None):
    return RequestIdMiddleware(view or (lambda request: HttpResponse("ok")))


def test_middleware_echoes_the_callers_request_id_and_logs_one_access_line(log_lines):
    seen = {}

    def view(request):
        seen["inside"] = request_id_var.get()
        logging.getLogger("trial.test").info("inside the view")
        return HttpResponse(status=201)

    request = RequestFactory().get(
        "/api/v1/patients/?search=FR01-SCR-12", HTTP_X_REQUEST_ID="lb-4f2a9c1e"
    )
    response = _middleware(view)(request)

    assert response[REQUEST_ID_HEADER] == "lb-4f2a9c1e"
    assert seen["inside"] == "lb-4f2a9c1e"
    assert request_id_var.get() is None  # reset after the request
    inside, access = log_lines()
    assert inside["request_id"] == "lb-4f2a9c1e"
    assert access["logger"] == "trial.request"
    assert access["request_id"] == "lb-4f2a9c1e"
    assert access["method"] == "GET"
    assert access["path"] == "/api/v1/patients/"  # never the query string
    assert "FR01-SCR-12" not in json.dumps(access)
    assert access["status"] == 201
    assert access["duration_ms"] >= 0
    assert "user_id" not in access


def test_middleware_generates_an_id_when_the_header_is_missing():
    response = _middleware()(RequestFactory().get("/"))
    assert uuid.UUID(hex=response[REQUEST_ID_HEADER])


@pytest.mark.parametrize("bad", ["a" * 129, "two words", "line\nbreak", "é-unicode", ""])
def test_middleware_replaces_an_id_that_is_not_safe_to_log(bad):
    response = _middleware()(RequestFactory().get("/", HTTP_X_REQUEST_ID=bad))
    assert response[REQUEST_ID_HEADER] != bad
    assert uuid.UUID(hex=response[REQUEST_ID_HEADER])


def test_access_line_carries_the_user_id_once_the_request_resolved_its_user(log_lines):
    class User:
        pk = 42
        is_authenticated = True

    def view(request):
        request.user = User()  # what DRF does after authenticating a token
        return HttpResponse()

    _middleware(view)(RequestFactory().get("/api/v1/sites/"))
    assert log_lines()[-1]["user_id"] == 42


def test_access_line_does_not_resolve_a_lazy_user_just_to_log_it(log_lines):
    def resolve():
        raise AssertionError("the middleware resolved the user")

    def view(request):
        request.user = SimpleLazyObject(resolve)
        return HttpResponse()

    _middleware(view)(RequestFactory().get("/"))
    assert "user_id" not in log_lines()[-1]


def test_the_whole_stack_returns_the_header(client):
    response = client.get("/health/live", HTTP_X_REQUEST_ID="probe-1")
    assert response.status_code == 200
    # the probes are answered before the request id middleware: nothing logged, no header
    assert REQUEST_ID_HEADER not in response
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID="stack-12345")
    assert response.status_code == 404
    assert response[REQUEST_ID_HEADER] == "stack-12345"


def test_djangos_own_error_lines_carry_the_request_id(client, caplog):
    # django.request logs 4xx/5xx after the middleware chain returned and reset the context
    with caplog.at_level(logging.WARNING, logger="django.request"):
        client.get("/no-such-page/", HTTP_X_REQUEST_ID="stack-67890")
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert json.loads(JsonFormatter().format(record))["request_id"] == "stack-67890"


# --- Celery ---------------------------------------------------------------------------------


@pytest.fixture
def memory_app():
    """A Celery app on the in-memory transport: publishes stay in this process."""
    app = Celery("request-id-test", broker="memory://", set_as_current=False)
    queue = f"request-id-test-{uuid.uuid4().hex}"
    app.conf.task_default_queue = queue
    app.conf.task_default_exchange = queue
    app.conf.task_default_routing_key = queue
    seen: dict[str, object] = {}

    @app.task(name="tests.deploy.record_request_id", acks_late=True, shared=False)
    def record_request_id() -> None:
        seen["request_id"] = request_id_var.get()
        seen["task"] = task_var.get()
        logging.getLogger("trial.test").info("inside the task")

    app.seen = seen
    app.queue_name = queue
    yield app
    app.close()


def _next_message(app):
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue(app.queue_name)
        try:
            return queue.get(timeout=1)
        finally:
            queue.close()


def test_a_task_published_during_a_request_carries_the_request_id_into_the_worker(
    memory_app, log_lines
):
    task = memory_app.tasks["tests.deploy.record_request_id"]

    def view(request):
        task.delay()
        return HttpResponse(status=202)

    request = RequestFactory().post("/api/v1/ctdna/results/", HTTP_X_REQUEST_ID="lab-post-77")
    _middleware(view)(request)

    message = _next_message(memory_app)
    assert message.headers["request_id"] == "lab-post-77"

    # The worker's own code path: signals task_prerun / task_postrun around the body.
    WorkerRequest(message, app=memory_app, task=task).execute()
    assert memory_app.seen["request_id"] == "lab-post-77"
    assert memory_app.seen["task"] == (message.headers["id"], "tests.deploy.record_request_id")
    inside_task = next(line for line in log_lines() if line["message"] == "inside the task")
    assert inside_task["request_id"] == "lab-post-77"
    assert inside_task["task"] == "tests.deploy.record_request_id"
    assert request_id_var.get() is None  # cleared after the task
    assert task_var.get() is None


def test_a_task_published_outside_a_request_has_no_request_id(memory_app):
    memory_app.tasks["tests.deploy.record_request_id"].delay()
    message = _next_message(memory_app)
    assert "request_id" not in message.headers


def test_prerun_ignores_a_forged_request_id_header():
    class Task:
        name = "trial.tasks.x"

        class request:  # noqa: N801 - shaped like celery's Context
            request_id = "bad id\nwith a line break"

    on_task_prerun(task_id="t-1", task=Task())
    try:
        assert request_id_var.get() is None
        assert task_var.get() == ("t-1", "trial.tasks.x")
    finally:
        on_task_postrun()
