"""Shared fixtures: the protocol, two sites and one persona per role.

Personas: investigator and coordinator at site A (FR01), investigator and coordinator at site B
(FR02), a data manager, a sponsor monitor, a statistician and a lab service account.

Real services: ``make test`` runs the suite on PostgreSQL and Redis. Tests marked ``postgres``
or ``redis`` skip locally when the service is absent, and FAIL in CI (``CI=true``).
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.test import APIClient

from trial.models import Role, Site, StaffProfile
from trial.services.protocols import PROTOCOL_DIR, protocol_load_file

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PASSWORD = "correct-horse-battery-staple-42"


def _unavailable(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required in CI and is not available")
    pytest.skip(f"{what} not available")


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(redis_url(), socket_connect_timeout=1).ping())
    except Exception:
        return False


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing():
    """Production hashes with PBKDF2 at 1,000,000 iterations (~0.5 s a password here); every
    persona would pay that. Tests of the hashing policy itself live with the settings."""
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="session", autouse=True)
def _dashboard_snapshots_off():
    """Dashboards compute every request live, so a test sees the data it has just written; the
    snapshot tests (tests/monitoring/dashboard/test_snapshots.py) turn them on."""
    from django.test import override_settings

    with override_settings(DASHBOARD_SNAPSHOT_MAX_AGE=0):
        yield


@pytest.fixture(autouse=True)
def _require_services(request):
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        _unavailable("PostgreSQL")
    if request.node.get_closest_marker("redis") and not redis_available():
        _unavailable("Redis")


def pytest_sessionstart(session):
    if IN_CI and not (os.environ.get("DATABASE_URL", "").startswith("postgres")):
        pytest.exit("CI runs the suite on PostgreSQL: set DATABASE_URL", returncode=3)


@pytest.fixture
def today() -> dt.date:
    from django.utils import timezone

    return timezone.localdate()


@pytest.fixture
def pada1(db):
    return protocol_load_file(PROTOCOL_DIR / "pada1.yaml").version


@pytest.fixture
def palatine(db):
    return protocol_load_file(PROTOCOL_DIR / "palatine.yaml").version


@pytest.fixture
def site_a(db) -> Site:
    return Site.objects.create(code="FR01", name="Institut A", country="FR")


@pytest.fixture
def site_b(db) -> Site:
    return Site.objects.create(code="FR02", name="Centre B", country="FR")


def make_user(username: str, role: str, sites=(), language: str = "en"):
    user = get_user_model().objects.create_user(
        username=username, password=PASSWORD, is_staff=role != Role.LAB
    )
    profile = StaffProfile.objects.create(user=user, role=role, language=language)
    profile.sites.set(sites)
    return user


@pytest.fixture
def investigator_a(site_a):
    return make_user("inv_a", Role.INVESTIGATOR, [site_a])


@pytest.fixture
def coordinator_a(site_a):
    return make_user("coord_a", Role.COORDINATOR, [site_a])


@pytest.fixture
def investigator_b(site_b):
    return make_user("inv_b", Role.INVESTIGATOR, [site_b])


@pytest.fixture
def coordinator_b(site_b):
    return make_user("coord_b", Role.COORDINATOR, [site_b])


@pytest.fixture
def data_manager(db):
    return make_user("dm", Role.DATA_MANAGER)


@pytest.fixture
def sponsor(db):
    return make_user("sponsor", Role.SPONSOR_MONITOR)


@pytest.fixture
def statistician(db):
    return make_user("stat", Role.STATISTICIAN)


@pytest.fixture
def api():
    """A factory of API clients authenticated as a given user (or anonymous)."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make
