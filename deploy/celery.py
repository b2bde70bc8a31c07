"""The Celery application and the beat schedule (run exactly one beat)."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

from deploy.logging import connect_celery_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deploy.settings")

app = Celery("trial")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Carry the request id into the tasks a request starts; log through Django's LOGGING.
connect_celery_signals()

# Queues: each has its own worker pool in production (compose and Helm), so a burst of lab
# results or a long export never delays the reminders. Anything unrouted goes to "default".
app.conf.task_default_queue = "default"
app.conf.task_routes = {
    "trial.tasks.schedule_daily_task": {"queue": "reminders"},
    "monitoring.tasks.process_outbox_task": {"queue": "lab"},
    "monitoring.tasks.outbox_drain_task": {"queue": "lab"},
    "monitoring.dashboard.tasks.export_run_task": {"queue": "exports"},
    "monitoring.dashboard.tasks.dashboard_snapshots_refresh_task": {"queue": "exports"},
}

# Exactly one beat process runs this schedule. Every task is idempotent: a second run, a
# concurrent run or a run after a worker crash does nothing twice.
app.conf.beat_schedule = {
    "schedule-daily": {
        # mark items due/overdue/missed and send reminders once per item and stage
        "task": "trial.tasks.schedule_daily_task",
        "schedule": crontab(hour=6, minute=0),
    },
    "schedule-daily-catch-up": {
        # the same job again at midday: it only acts on items not yet claimed
        "task": "trial.tasks.schedule_daily_task",
        "schedule": crontab(hour=12, minute=0),
    },
    "step2-windows": {
        "task": "trial.tasks.step2_expire_windows_task",
        "schedule": crontab(hour=6, minute=30),
    },
    "ctdna-outbox": {
        # process lab-result triggers whose after-commit enqueue was lost (broker down)
        "task": "monitoring.tasks.outbox_drain_task",
        "schedule": 60.0,
    },
    "dashboard-snapshots": {
        # the heavy dashboard pages' default snapshots older than half DASHBOARD_SNAPSHOT_MAX_AGE,
        # per access scope in use; a run still queued when the next is due is dropped (expires)
        "task": "monitoring.dashboard.tasks.dashboard_snapshots_refresh_task",
        "schedule": 60.0,
        "options": {"expires": 60},
    },
}
