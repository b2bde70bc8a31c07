"""Electronic-signature password checks lock after repeated failures."""

import pytest
from django.core.cache import cache

from tests.conftest import PASSWORD
from trial.exceptions import SignatureLocked, WrongPassword
from trial.services.signatures import signature_verify

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


def test_a_right_password_signs_and_resets_the_count(investigator_a, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        with pytest.raises(WrongPassword):
            signature_verify(user=investigator_a, password="nope")
    signature_verify(user=investigator_a, password=PASSWORD)
    for _ in range(2):
        with pytest.raises(WrongPassword):
            signature_verify(user=investigator_a, password="nope")
    signature_verify(user=investigator_a, password=PASSWORD)


def test_the_limit_locks_even_the_right_password(investigator_a, investigator_b, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        with pytest.raises(WrongPassword):
            signature_verify(user=investigator_a, password="")
    with pytest.raises(SignatureLocked):
        signature_verify(user=investigator_a, password=PASSWORD)
    signature_verify(user=investigator_b, password=PASSWORD)  # per account
