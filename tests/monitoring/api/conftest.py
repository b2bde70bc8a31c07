import pytest


@pytest.fixture(autouse=True)
def _private_throttle_cache(settings):
    """Rate-limit counters in a per-test memory cache, never in the shared Redis."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ctdna"}
    }
    from django.core.cache import cache

    cache.clear()
