"""The reliability suite: the whole product under hostile conditions.

Fast parts run in ``make test``. Parts marked ``reliability`` (real workers killed with
SIGKILL, schemathesis with many examples) are left out of the default run and run with
``make reliability`` (``pytest -m reliability tests/reliability``).

``world`` is a two-site trial built once per module through the real services inside a
transaction that is rolled back at the end of the module; each test runs in a savepoint of
it (pytest-django's ``db``), so a test's writes never reach the next one.
"""

from __future__ import annotations

import pytest
import time_machine
from django.db import transaction
from django.test.utils import override_settings

from tests.reliability.world import NOW, World, build_world

MARKER = "reliability"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        f"{MARKER}: heavy reliability test, run by `make reliability` and left out of `make test`",
    )


def pytest_collection_modifyitems(config, items):
    """Leave the heavy tests out unless the marker expression names them."""
    if MARKER in (config.option.markexpr or ""):
        return
    heavy = [item for item in items if item.get_closest_marker(MARKER)]
    if heavy:
        config.hook.pytest_deselected(items=heavy)
        items[:] = [item for item in items if not item.get_closest_marker(MARKER)]


#: MD5 keeps password checks fast (production keeps PBKDF2); a private cache keeps the
#: throttle counters of this process away from the shared Redis and other test runs.
FAST_SETTINGS = {
    "PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"],
    "CACHES": {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "reliability",
        }
    },
}


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> World:
    """The two-site trial, time frozen (ticking) at ``NOW``; rolled back after the module."""
    with (
        django_db_blocker.unblock(),
        override_settings(**FAST_SETTINGS),
        time_machine.travel(NOW, tick=True),
    ):
        outer = transaction.atomic()
        # Mark the block as a test case's, as TestCase.setUpTestData does, so that the
        # services' durable transactions may run inside it.
        outer._from_testcase = True
        outer.__enter__()
        try:
            yield build_world()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def in_world(world, db):
    """A test of the world: its own savepoint inside the module's transaction."""
    return world
