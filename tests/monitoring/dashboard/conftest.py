"""Fixtures of the dashboard tests: the known dataset, built once per module, and personas.

The dataset (``dataset.py``) takes some seconds to build through the real services, so a test
module builds it once inside an outer transaction that is rolled back when the module ends;
each test runs in its own savepoint on top of it (``db``), so a test's writes never leak into
the next one. The outer block is marked like Django's TestCase blocks, so the services' durable
transactions run inside it as they do inside a TestCase.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import transaction
from django.test import override_settings

from tests.conftest import make_user
from trial.models import Role, Site
from trial.services.protocols import PROTOCOL_DIR, protocol_load_file

from . import dataset as ds

NOW = dt.datetime.combine(ds.TODAY, dt.time(12), tzinfo=dt.UTC)
FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]

#: Persona -> (role, site codes).
PERSONAS = {
    "inv_a": (Role.INVESTIGATOR, ["FR01"]),
    "coord_a": (Role.COORDINATOR, ["FR01"]),
    "inv_b": (Role.INVESTIGATOR, ["FR02"]),
    "coord_b": (Role.COORDINATOR, ["FR02"]),
    "dm": (Role.DATA_MANAGER, []),
    "sponsor": (Role.SPONSOR_MONITOR, []),
    "stat": (Role.STATISTICIAN, []),
    "lab": (Role.LAB, []),
}


def build_known() -> ds.Dataset:
    """Sites, personas, both protocols and the dataset (the caller holds DB access)."""
    sites = {
        "a": Site.objects.create(code="FR01", name="Institut A", country="FR"),
        "b": Site.objects.create(code="FR02", name="Centre B", country="FR"),
    }
    by_code = {site.code: site for site in sites.values()}
    users = {
        name: make_user(name, role, [by_code[code] for code in codes])
        for name, (role, codes) in PERSONAS.items()
    }
    pada1 = protocol_load_file(PROTOCOL_DIR / "pada1.yaml").version
    palatine = protocol_load_file(PROTOCOL_DIR / "palatine.yaml").version
    data = ds.build(users=users, sites=sites, pada1=pada1, palatine_version=palatine)
    data.sites = sites
    data.pada1, data.palatine = pada1, palatine
    return data


@pytest.fixture(scope="module")
def known(django_db_setup, django_db_blocker):
    """The known dataset, shared by the tests of one module and rolled back after them."""
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHER):
        outer = transaction.atomic()
        outer._from_testcase = True  # durable service transactions may nest, as in TestCase
        outer.__enter__()
        try:
            yield build_known()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = FAST_HASHER


@pytest.fixture
def on_today():
    """The clock on the dataset's TODAY, noon UTC."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def as_persona(client):
    """``as_persona(name)``: the test client logged in as a persona (None: anonymous)."""

    def login(known, name):
        client.logout()
        if name is not None:
            client.force_login(known.users[name])
        return client

    return login
