"""Lab API access: the lab role (trial.api.permissions.IsLab) and a per-lab rate limit."""

from __future__ import annotations

import math

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache import cache as default_cache
from django.core.cache.backends.redis import RedisCache
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from trial.exceptions import DomainError

from ..selectors import lab_for_user


class LabRateThrottle(SimpleRateThrottle):
    """Requests per laboratory (all its tokens together), rate ``DEFAULT_THROTTLE_RATES["lab"]``
    (``LAB_THROTTLE_RATE``, e.g. ``6000/min``).

    A fixed window: the first ``n`` requests of each period (aligned on the epoch) pass, the
    next are 429 ``rate_limited`` with ``Retry-After`` = the seconds left in the period. One
    counter per lab and period, incremented atomically: on Redis an INCR and an EXPIRE sent
    together in one round trip, so concurrent workers never lose a request (DRF's sliding
    window reads, then rewrites, a list of timestamps). The rate is read per request, not at
    import, so settings overrides apply.
    """

    scope = "lab"

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        try:
            lab = lab_for_user(request.user)
        except DomainError:
            return None
        return self.cache_format % {"scope": self.scope, "ident": f"lab-{lab.pk}"}

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        count = self._count(f"{key}_{window}")
        self._window_ends = (window + 1) * self.duration
        return count <= self.num_requests

    def wait(self):
        return max(1, math.ceil(self._window_ends - self.now))

    def _count(self, key: str) -> int:
        """This request's number in the window ``key``. The counter outlives its window by a
        second, so that a late request of the window cannot start it again."""
        timeout = self.duration + 1
        backend = caches[DEFAULT_CACHE_ALIAS] if self.cache is default_cache else self.cache
        if isinstance(backend, RedisCache):
            return _redis_count(backend, key, timeout)
        # Other backends (memory in tests, files in development): add, then incr, atomic
        # where the backend is (the memory cache locks).
        backend.add(key, 0, timeout)
        try:
            return backend.incr(key)
        except ValueError:  # expired between the two calls: a new window's first request
            backend.add(key, 1, timeout)
            return 1


def _redis_count(cache: RedisCache, key: str, timeout: int) -> int:
    """SET NX (with its expiry) and INCR in one MULTI: one round trip, and the counter of a
    window is created with its expiry or not at all."""
    full_key = cache.make_and_validate_key(key)
    pipeline = cache._cache.get_client(full_key, write=True).pipeline(transaction=True)
    pipeline.set(full_key, 0, ex=timeout, nx=True)
    pipeline.incr(full_key)
    _created, count = pipeline.execute()
    return int(count)
