"""Structured logs and the request id that ties a request to the Celery tasks it starts.

- ``RequestIdMiddleware`` takes the id from ``X-Request-ID`` (when it looks like an id) or makes
  one, keeps it in a context variable for the request, returns it in the response header and
  writes one access line per request (method, path without query string, status, duration,
  user id when the request already knew its user).
- The Celery signal hooks carry the id across the broker: ``before_task_publish`` copies it
  into the message headers, ``task_prerun`` restores it in the worker, ``task_postrun`` clears it.
- ``JsonFormatter`` writes one JSON object per line and reads the id from the context
  variable; ``TextFormatter`` is the same for people reading a terminal (``LOG_FORMAT=text``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from django.utils.functional import SimpleLazyObject, empty

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_MESSAGE_HEADER = "request_id"

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
task_var: ContextVar[tuple[str, str] | None] = ContextVar("task", default=None)

# What load balancers and proxies put in X-Request-ID (UUIDs, hex, AWS trace ids). Anything
# else is replaced, so a client cannot inject line breaks or megabytes into the logs.
_ACCEPTED_REQUEST_ID = re.compile(r"[A-Za-z0-9._:=-]{1,128}")

# Fields a log call may pass with ``extra=`` that the JSON line carries when present.
_EXTRA_FIELDS = ("user_id", "method", "path", "status", "duration_ms")

request_logger = logging.getLogger("trial.request")


def request_id_new() -> str:
    return uuid.uuid4().hex


def request_id_accepted(value: str | None) -> str | None:
    """The caller's request id when it is safe to log as is, else None."""
    if value and _ACCEPTED_REQUEST_ID.fullmatch(value):
        return value
    return None


def _record_context(record: logging.LogRecord) -> dict[str, Any]:
    """The request id and task of the record: from ``extra=``, the context, or the request.

    Django logs 4xx/5xx responses (``django.request``) after the middleware chain returned,
    when the context is already reset; those records carry the request itself.
    """
    request_id = (
        getattr(record, "request_id", None)
        or request_id_var.get()
        or getattr(getattr(record, "request", None), "request_id", None)
    )
    context: dict[str, Any] = {"request_id": request_id}
    task = task_var.get()
    if task is not None:
        context["task_id"], context["task"] = task
    return context


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and known extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_record_context(record))
        for field in _EXTRA_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """A human-readable line with the request id, for the local demo."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.request_id = _record_context(record)["request_id"] or "-"
        return super().format(record)


def _known_user_id(request: Any) -> int | str | None:
    """The user's id if the request already resolved its user; never queries just to log."""
    user = getattr(request, "user", None)
    # AuthenticationMiddleware leaves a lazy object; resolving it here would add a session
    # query to requests that never needed the user (and to query-count tests).
    if user is None or (isinstance(user, SimpleLazyObject) and user._wrapped is empty):
        return None
    if not getattr(user, "is_authenticated", False):
        return None
    return user.pk


class RequestIdMiddleware:
    """Give every request an id, echo it in the response and log one access line."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_accepted(request.headers.get(REQUEST_ID_HEADER))
        request_id = request_id or request_id_new()
        request.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            # The path only: query strings can carry search terms such as screening numbers.
            request_logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                    "user_id": _known_user_id(request),
                },
            )
            return response
        finally:
            request_id_var.reset(token)


# --- Celery ---------------------------------------------------------------------------------


def _task_header(task_request: Any, name: str) -> str | None:
    """A custom message header as the worker exposes it (top level since protocol 2)."""
    value = getattr(task_request, name, None)
    if value is None:
        nested = getattr(task_request, "headers", None) or {}
        value = nested.get(name)
    return value


def on_before_task_publish(headers: dict | None = None, **kwargs: Any) -> None:
    request_id = request_id_var.get()
    if request_id and headers is not None:
        headers.setdefault(REQUEST_ID_MESSAGE_HEADER, request_id)


def on_task_prerun(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    request_id = _task_header(task.request, REQUEST_ID_MESSAGE_HEADER) if task else None
    request_id_var.set(request_id_accepted(request_id))
    task_var.set((task_id or "", getattr(task, "name", "")))


def on_task_postrun(**kwargs: Any) -> None:
    request_id_var.set(None)
    task_var.set(None)


def on_setup_logging(**kwargs: Any) -> None:
    """Workers and beat log through Django's LOGGING (the same JSON lines as the web)."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


def connect_celery_signals() -> None:
    """Connect the request-id propagation and the logging set-up (idempotent)."""
    from celery import signals

    signals.before_task_publish.connect(
        on_before_task_publish, weak=False, dispatch_uid="trial.request_id.publish"
    )
    signals.task_prerun.connect(on_task_prerun, weak=False, dispatch_uid="trial.request_id.prerun")
    signals.task_postrun.connect(
        on_task_postrun, weak=False, dispatch_uid="trial.request_id.postrun"
    )
    signals.setup_logging.connect(on_setup_logging, weak=False, dispatch_uid="trial.logging")
