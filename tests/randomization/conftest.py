"""Randomization fixtures. Users hash passwords with MD5 here so that thousands of password
confirmations stay fast; production keeps Django's default PBKDF2."""

from __future__ import annotations

import pytest

from tests.randomization import factories as rf


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def design(statistician, pada1):
    return rf.active_design(statistician=statistician, version=pada1)


@pytest.fixture
def patient(investigator_a, site_a, pada1, today, design):
    return rf.randomizable(by=investigator_a, site=site_a, version=pada1, today=today)
