"""The per-lab rate limit is a fixed window: a rate of n per period lets n requests through,
refuses the next with 429 ``rate_limited`` and ``Retry-After``, and starts again with the next
period. The counter is one atomic increment (on Redis too)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tests.conftest import redis_available, redis_url
from tests.monitoring.conftest import NOW, assert_error, lab_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/ctdna/results/"


@pytest.fixture
def rate(settings):
    def set_rate(value: str) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"lab": value, "user": "1000/min"},
        }

    return set_rate


def _at_window_start(clock) -> None:
    # NOW is on a whole minute, so the tests below stay in one window until they shift.
    clock.move_to(NOW)


def test_a_rate_of_n_allows_n_refuses_the_next_and_resets_next_window(
    client_a, lab_a, rate, ctdna_clock
):
    rate("3/min")
    _at_window_start(ctdna_clock)
    other_token = lab_client(lab_a)  # every token of the lab counts together
    assert [c.get(URL).status_code for c in (client_a, other_token, client_a)] == [200] * 3
    refused = other_token.get(URL)
    assert_error(refused, 429, "rate_limited")
    assert 1 <= int(refused["Retry-After"]) <= 60
    ctdna_clock.shift(dt.timedelta(seconds=60))
    assert client_a.get(URL).status_code == 200


def test_each_lab_has_its_own_counter(client_a, client_b, rate, ctdna_clock):
    rate("1/min")
    _at_window_start(ctdna_clock)
    assert client_a.get(URL).status_code == 200
    assert client_b.get(URL).status_code == 200
    assert client_a.get(URL).status_code == 429


def test_retry_after_is_the_rest_of_the_window(client_a, rate, ctdna_clock):
    rate("1/min")
    ctdna_clock.move_to(NOW + dt.timedelta(seconds=45))
    assert client_a.get(URL).status_code == 200
    assert int(client_a.get(URL)["Retry-After"]) in (15, 16)


@pytest.mark.skipif(not redis_available(), reason="needs Redis")
def test_on_redis_the_window_counts_in_one_key_with_its_expiry(
    client_a, lab_a, rate, ctdna_clock, settings
):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url(),
            "KEY_PREFIX": f"throttle-test-{uuid.uuid4().hex}",
        }
    }
    from django.core.cache import cache

    rate("2/min")
    _at_window_start(ctdna_clock)
    assert [client_a.get(URL).status_code for _ in range(3)] == [200, 200, 429]
    key = f"throttle_lab_lab-{lab_a.pk}_{int(NOW.timestamp()) // 60}"
    assert cache.get(key) == 3
    client = cache._cache.get_client(write=True)
    assert 0 < client.ttl(cache.make_key(key)) <= 61
    cache.delete(key)
