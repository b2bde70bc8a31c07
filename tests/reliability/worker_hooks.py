"""What the crash-test workers run besides the product: a marker file per task start, and an
e-mail backend that waits while the test holds its gate (see worker_settings.py).

Marker files are named ``start-<task name>-<task id>-<pid>``; the gate is the file
``mail-gate`` in the marker directory, and a worker waiting at it leaves ``sending-<pid>``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery.signals import task_prerun
from django.conf import settings
from django.core.mail.backends.filebased import EmailBackend

GATE = "mail-gate"


def _markers() -> Path:
    return Path(os.environ["REL_MARKER_DIR"])


@task_prerun.connect
def mark_task_start(sender=None, task_id=None, task=None, **_kwargs) -> None:
    (_markers() / f"start-{task.name}-{task_id}-{os.getpid()}").touch()


class GatedEmailBackend(EmailBackend):
    """The file backend, which first waits while the test keeps the gate file in place."""

    def send_messages(self, email_messages):
        gate = Path(settings.RELIABILITY_MARKER_DIR) / GATE
        if gate.exists():
            (gate.parent / f"sending-{os.getpid()}").touch()
            while gate.exists():
                time.sleep(0.05)
        return super().send_messages(email_messages)
