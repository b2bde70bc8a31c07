"""Settings of the benchmark server: the product's settings plus the baseline app and URL.

Everything else (database, Redis, throttle rates, workers) comes from the environment that
``bench/run.py`` sets, exactly as in production.
"""

from deploy.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "bench.baseline"]  # noqa: F405
ROOT_URLCONF = "bench.urls"
