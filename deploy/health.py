"""Liveness and readiness probes for load balancers, Docker and Kubernetes.

``GET /health/live`` answers from memory: the process serves requests. ``GET /health/ready``
checks what a request needs: every database (a query), the broker (Redis ``PING`` when
``REDIS_URL`` is set, else the filesystem broker's directory is writable) and a Celery worker
(``control.ping``, bounded by ``HEALTH_CHECK_TIMEOUT_S``). It answers 200 when every check
passes and 503 otherwise, with a status per check. No authentication and nothing secret in the
body: failures name the exception class only; the details go to the log.

``HealthProbeMiddleware`` answers both paths before host validation and the HTTPS redirect:
probes come from the kubelet or Docker with the pod's address as Host and over plain HTTP,
and these views build no URL from the Host header.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger("trial.health")

OK = "ok"
FAIL = "fail"
SKIPPED = "skipped"


@dataclass(frozen=True)
class CheckResult:
    status: str
    error: str = ""

    def as_dict(self) -> dict[str, str]:
        return (
            {"status": self.status, "error": self.error} if self.error else {"status": self.status}
        )


def _timeout_s() -> float:
    return settings.HEALTH_CHECK_TIMEOUT_S


def _failed(check: str, exc: Exception) -> CheckResult:
    logger.warning("readiness check %s failed: %r", check, exc)
    return CheckResult(FAIL, type(exc).__name__)


def check_databases() -> dict[str, CheckResult]:
    results = {}
    for alias in settings.DATABASES:
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except Exception as exc:
            results[f"database:{alias}"] = _failed(f"database:{alias}", exc)
        else:
            results[f"database:{alias}"] = CheckResult(OK)
    return results


def check_redis() -> CheckResult:
    import redis

    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=_timeout_s(), socket_timeout=_timeout_s()
        )
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return _failed("redis", exc)
    return CheckResult(OK)


def check_broker_directory() -> CheckResult:
    """The embedded default's filesystem broker: its message directory must be writable."""
    folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
    if os.path.isdir(folder) and os.access(folder, os.W_OK):
        return CheckResult(OK)
    logger.warning("readiness check broker failed: %s is not a writable directory", folder)
    return CheckResult(FAIL, "NotWritable")


def check_celery() -> CheckResult:
    """At least one worker answers a broadcast ping within the timeout."""
    from deploy.celery import app

    timeout_s = _timeout_s()
    try:
        # Our own connection with no reconnect loop: kombu's default retries forever while
        # the broker is down, and a probe must answer within its timeout.
        with app.connection_for_write(
            connect_timeout=timeout_s, transport_options={"max_retries": 0}
        ) as connection:
            connection.ensure_connection(max_retries=0, timeout=timeout_s)
            replies = app.control.ping(timeout=timeout_s, limit=1, connection=connection)
    except Exception as exc:
        return _failed("celery", exc)
    if not replies:
        logger.warning("readiness check celery failed: no worker answered in %.1f s", timeout_s)
        return CheckResult(FAIL, "NoWorkerReplied")
    return CheckResult(OK)


def readiness_checks() -> dict[str, CheckResult]:
    results = check_databases()
    if settings.REDIS_URL:
        results["redis"] = check_redis()
        broker_ok = results["redis"].status == OK
    else:
        results["broker"] = check_broker_directory()
        broker_ok = results["broker"].status == OK
    results["celery"] = check_celery() if broker_ok else CheckResult(SKIPPED, "BrokerUnavailable")
    return results


@never_cache
@require_safe
def live(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": OK})


@never_cache
@require_safe
def ready(request: HttpRequest) -> HttpResponse:
    results = readiness_checks()
    healthy = all(result.status == OK for result in results.values())
    body = {
        "status": OK if healthy else FAIL,
        "checks": {name: result.as_dict() for name, result in results.items()},
    }
    return JsonResponse(body, status=200 if healthy else 503)


PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/health/live": live,
    "/health/ready": ready,
}


class HealthProbeMiddleware:
    """Serve the probes first: before ALLOWED_HOSTS, the HTTPS redirect and access logging."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = PROBES.get(request.path_info)
        if view is not None:
            return view(request)
        return self.get_response(request)
