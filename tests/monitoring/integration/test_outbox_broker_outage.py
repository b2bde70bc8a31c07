"""A real Celery worker against a real Redis: no Step 2 trigger is lost while the broker is down.

The test starts its own redis-server on a free port (never the shared 6379 one) and a worker
subprocess on the test database. It posts results while the broker is up, stops the broker,
posts rising results (each stored and answered 201, the after-commit enqueue failing), restarts
the broker, and sends the drain task as the beat would, plus duplicates of every task. Every
trigger is then processed exactly once: one Step 2 trigger per rising result, each outbox row
claimed by a single attempt.
"""

from __future__ import annotations

import pytest
from celery import current_app

from monitoring.models import TriggerOutbox
from tests.monitoring.conftest import day, draw, lab_client, payload, variant
from tests.processes import CeleryWorker, RedisServer, celery_broker
from tests.trial import factories as f
from trial.models import Step2Trigger, TriggerStatus

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]

TASKS = ("monitoring.tasks.process_outbox_task", "monitoring.tasks.outbox_drain_task")


def _queues() -> list[str]:
    """The queues the app routes the outbox tasks to (whatever deploy/celery.py says)."""
    router = current_app.amqp.router
    return sorted({router.route({}, name)["queue"].name for name in TASKS})


@pytest.fixture
def broker(tmp_path):
    """A private redis-server the test may stop and start at will."""
    with celery_broker(tmp_path) as server:
        yield server


@pytest.fixture
def worker(broker, tmp_path):
    with CeleryWorker(
        broker=broker,
        workdir=tmp_path,
        queues=",".join(_queues()),
        name="ctdna-outage",
        pool="solo",
        concurrency=None,
    ) as worker:
        yield worker


@pytest.fixture
def isolated_cache(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "outage",
        }
    }


def _queue_drained(server: RedisServer) -> bool:
    """Nothing waiting and nothing delivered but unacknowledged (acks_late)."""
    client = server.client()
    waiting = sum(client.llen(queue) for queue in _queues())
    return waiting == 0 and client.hlen("unacked") == 0


def test_no_trigger_is_lost_while_the_broker_is_down(
    broker, worker, isolated_cache, lab_a, investigator_a, site_a, pada1, ctdna_clock
):
    client = lab_client(lab_a)
    patients = [
        f.enrolled(by=investigator_a, site=site_a, version=pada1, today=day(0), number=f"S{n}")
        for n in range(4)
    ]
    rising = []
    for index, patient in enumerate(patients):
        baseline = draw(patient, f"T{index}-0", day(0), investigator_a)
        r = client.post("/api/v1/ctdna/results/", payload(baseline), format="json")
        assert r.status_code == 201, r.json()
        rising.append(draw(patient, f"T{index}-1", day(42), investigator_a))

    # Broker up: the after-commit enqueue reaches the worker.
    r = client.post(
        "/api/v1/ctdna/results/", payload(rising[0], variants=[variant()]), format="json"
    )
    assert r.json()["interpretation"]["patient_status"] == "rising"
    worker.wait_for(
        lambda: Step2Trigger.objects.filter(patient=patients[0]).exists(),
        "the worker to process the first trigger",
    )

    # Broker down: results are stored and answered, triggers wait in the outbox.
    broker.stop()
    for sample in rising[1:]:
        r = client.post(
            "/api/v1/ctdna/results/", payload(sample, variants=[variant()]), format="json"
        )
        assert r.status_code == 201, r.json()
        assert r.json()["interpretation"]["next_action"] == "imaging_required"
    pending = list(TriggerOutbox.objects.filter(processed_at=None).values_list("pk", flat=True))
    assert len(pending) == 3
    assert Step2Trigger.objects.count() == 1

    # Broker back: the beat's drain picks the rows up; duplicate deliveries change nothing.
    broker.start()
    current_app.send_task("monitoring.tasks.outbox_drain_task")
    for outbox_id in pending:
        current_app.send_task("monitoring.tasks.process_outbox_task", args=[outbox_id])
    current_app.send_task("monitoring.tasks.outbox_drain_task")
    worker.wait_for(
        lambda: not TriggerOutbox.objects.filter(processed_at=None).exists(),
        "the drain to process the outbox",
    )
    worker.wait_for(lambda: _queue_drained(broker), "every task to be acknowledged")

    triggers = Step2Trigger.objects.order_by("patient_id")
    assert [t.patient_id for t in triggers] == [p.pk for p in patients]
    assert all(t.status == TriggerStatus.IMAGING_REQUIRED for t in triggers)
    assert all(t.created_by_id == lab_a.service_user_id for t in triggers)
    rows = TriggerOutbox.objects.order_by("pk")
    assert [(row.attempts, row.outcome, row.last_error) for row in rows] == [(1, "opened", "")] * 4
    assert {f"ctdna-result-{row.result_id}" for row in rows} == {t.source_ref for t in triggers}
