import pytest


@pytest.fixture(autouse=True)
def _isolated(settings, no_broker):
    """Rate-limit counters in a per-test memory cache and no real enqueue: the shared Redis
    never sees these tests."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ctdna"}
    }
    from django.core.cache import cache

    cache.clear()
