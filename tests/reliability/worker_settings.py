"""Settings of the Celery workers that tests/reliability/test_worker_crash.py starts and kills.

The deployment's settings, plus what the test needs to observe and steer a worker from the
outside:

- e-mail is written to files (``REL_MAIL_DIR``), so deliveries are counted across processes,
  through a gate the test can close to hold a worker in the middle of sending;
- each task start leaves a marker file naming the task, its id and the pool process that runs
  it (``REL_MARKER_DIR``), so the test kills exactly that process;
- ``REL_VISIBILITY_TIMEOUT`` (seconds), when set, shortens how long Redis keeps a message a dead
  worker took before giving it to another worker (production keeps an hour).
"""

import os

from deploy.settings import *  # noqa: F403
from deploy.settings import CELERY_BROKER_TRANSPORT_OPTIONS
from tests.reliability import worker_hooks  # noqa: F401  (connects the task-start marker)

EMAIL_BACKEND = "tests.reliability.worker_hooks.GatedEmailBackend"
EMAIL_FILE_PATH = os.environ["REL_MAIL_DIR"]
RELIABILITY_MARKER_DIR = os.environ["REL_MARKER_DIR"]

if os.environ.get("REL_VISIBILITY_TIMEOUT"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,
        "visibility_timeout": int(os.environ["REL_VISIBILITY_TIMEOUT"]),
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
