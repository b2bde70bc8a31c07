"""A worker killed in the middle of a reminder or trigger task: nothing lost, nothing twice.

Each test starts a private redis-server and a real prefork worker (one pool process) on the
test database, stops the task at a known point and kills the process that runs it with
SIGKILL. The settings under test are the deployment's: ``acks_late`` (the message stays in
Redis until the task returns) and ``reject_on_worker_lost`` (a pool process that dies hands
the message back at once). The worker under test logs to files; e-mails are counted in the
files the worker writes (tests/reliability/worker_settings.py).

Where a task is stopped:

- inside its transaction, by a row lock this test holds (the trigger task after claiming its
  outbox row; the reminder task after claiming some reminders): the kill rolls the transaction
  back, the redelivered task does the work once;
- inside the e-mail send of a reminder, after the claim committed, by a gate in the e-mail
  backend;
- with the whole worker killed (main process and pool, a lost node): a new worker gets the
  message once Redis's visibility timeout gives it back.

Related: tests/monitoring/integration/test_outbox_broker_outage.py (the broker stopped while
labs post results), tests/trial/step1/test_schedule_worker.py (two daily jobs at once).
"""

from __future__ import annotations

from collections import Counter
from unittest import mock

import pytest
import time_machine
from celery import current_app
from django.utils import timezone

from monitoring.models import TriggerOutbox
from monitoring.services.labs import lab_register
from tests.monitoring.conftest import NOW, day, draw, ingest, payload, variant
from tests.processes import celery_broker, email_messages
from tests.trial import factories as f
from trial.models import AuditEvent, ItemStatus, ScheduleItem, Step2Trigger

from .known_bugs import conclude
from .processes import RedisServer, RowLock, Worker, wait_for
from .worker_hooks import GATE

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.postgres,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]

QUEUES = "lab,reminders"
PROCESS_OUTBOX = "monitoring.tasks.process_outbox_task"
SCHEDULE_DAILY = "trial.tasks.schedule_daily_task"
CLAIM = 'UPDATE "trial_scheduleitem" SET "reminded_due_at"'


@pytest.fixture
def broker(tmp_path):
    with celery_broker(tmp_path) as server:
        yield server


@pytest.fixture
def workers(broker, tmp_path):
    started: list[Worker] = []

    def start(name: str = "worker", **env) -> Worker:
        worker = Worker(broker=broker, workdir=tmp_path, queues=QUEUES, name=name, **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def row_lock():
    """``row_lock(table, pk)``: a RowLock released at teardown at the latest (the flush of the
    test database would wait for it forever)."""
    locks: list[RowLock] = []

    def take(table: str, pk: int) -> RowLock:
        locks.append(RowLock(table, pk))
        return locks[-1]

    yield take
    for lock in locks:
        lock.release()


@pytest.fixture
def staff_emails(investigator_a, coordinator_a, investigator_b):
    for user in (investigator_a, coordinator_a, investigator_b):
        user.email = f"{user.username}@example.org"
        user.save(update_fields=["email"])


def _drained(server: RedisServer) -> bool:
    """Nothing waiting and nothing delivered but unacknowledged."""
    client = server.client()
    return all(client.llen(q) == 0 for q in QUEUES.split(",")) and client.hlen("unacked") == 0


def _send(task: str, *args) -> str:
    queue = "lab" if task == PROCESS_OUTBOX else "reminders"
    return current_app.send_task(task, args=list(args), queue=queue).id


# --- the Step 2 trigger task ----------------------------------------------------------------


@pytest.fixture
def rising(data_manager, investigator_a, site_a, pada1, staff_emails):
    """A patient whose second result is rising: its outbox row is committed and pending (the
    after-commit enqueue is held back so that the test sends the task itself)."""
    with (
        time_machine.travel(NOW, tick=True),
        mock.patch("monitoring.services.outbox._publish"),
    ):
        lab = lab_register(by=data_manager, code="LAB-A", name="Laboratoire A", sites=[site_a])
        patient = f.enrolled(by=investigator_a, site=site_a, version=pada1, today=day(0))
        ingest(lab, payload(draw(patient, "K-0", day(0), investigator_a)))
        body = payload(draw(patient, "K-1", day(42), investigator_a), variants=[variant()])
        result = ingest(lab, body).result
    outbox = TriggerOutbox.objects.get(result=result)
    assert outbox.processed_at is None
    return patient, outbox


def _trigger_notices(worker: Worker) -> list:
    return [m for m in email_messages(worker.mail) if "Rising ESR1" in m["Subject"]]


def test_trigger_task_killed_inside_its_transaction(broker, workers, rising, row_lock):
    patient, outbox = rising
    worker = workers()
    lock = row_lock("trial_patient", patient.pk)
    task_id = _send(PROCESS_OUTBOX, outbox.pk)
    # The task claimed its outbox row (uncommitted) and waits for the patient's row lock.
    wait_for(lambda: lock.waiting("SELECT"), "the task to wait on the patient", logs=(worker.log,))
    assert lock.row_is_locked("monitoring_triggeroutbox", outbox.pk)
    [first] = worker.starts(task_id)
    worker.kill_pool_process(first)

    # reject_on_worker_lost: the message goes back at once to a new pool process.
    wait_for(lambda: len(worker.starts(task_id)) == 2, "the redelivery", logs=(worker.log,))
    lock.release()
    wait_for(lambda: Step2Trigger.objects.filter(patient=patient).exists(), "the trigger")
    wait_for(lambda: _drained(broker), "every task to be acknowledged", logs=(worker.log,))

    assert "WorkerLostError" in worker.log.read_text()
    assert Step2Trigger.objects.filter(patient=patient).count() == 1
    outbox.refresh_from_db()
    assert (outbox.attempts, outbox.outcome, outbox.last_error) == (1, "opened", "")
    wait_for(lambda: len(_trigger_notices(worker)) >= 1, "the site's notice")
    assert len(_trigger_notices(worker)) == 1


def test_whole_worker_killed_then_a_new_worker_takes_over(broker, workers, rising, row_lock):
    """A lost node: main process and pool killed together. The message is still in Redis's
    unacknowledged set; a new worker gets it back after the visibility timeout."""
    patient, outbox = rising
    first = workers("lost", REL_VISIBILITY_TIMEOUT="5")
    lock = row_lock("trial_patient", patient.pk)
    task_id = _send(PROCESS_OUTBOX, outbox.pk)
    wait_for(lambda: lock.waiting("SELECT"), "the task to wait on the patient", logs=(first.log,))
    first.kill_everything()
    assert broker.client().hlen("unacked") == 1
    lock.release()  # the dead worker's session ends, its claim rolls back

    second = workers("replacement", REL_VISIBILITY_TIMEOUT="5")
    wait_for(
        lambda: Step2Trigger.objects.filter(patient=patient).exists(),
        "the trigger",
        logs=(second.log,),
    )
    wait_for(lambda: _drained(broker), "every task to be acknowledged", logs=(second.log,))
    assert len(second.starts(task_id)) == 2  # the killed run and the one that finished
    assert Step2Trigger.objects.filter(patient=patient).count() == 1
    outbox.refresh_from_db()
    assert (outbox.attempts, outbox.outcome) == (1, "opened")


def test_trigger_notice_killed_while_sending(broker, workers, rising):
    """The trigger commits, then its notice to the site leaves after commit. A worker killed
    while sending it must not lose it."""
    patient, outbox = rising
    worker = workers()
    gate = worker.markers / GATE
    gate.touch()
    task_id = _send(PROCESS_OUTBOX, outbox.pk)
    wait_for(
        lambda: list(worker.markers.glob("sending-*")), "the notice to be sent", logs=(worker.log,)
    )
    [sending] = worker.markers.glob("sending-*")
    worker.kill_pool_process(int(sending.name.split("-")[1]))
    gate.unlink()
    wait_for(lambda: len(worker.starts(task_id)) == 2, "the redelivery", logs=(worker.log,))
    wait_for(lambda: _drained(broker), "every task to be acknowledged", logs=(worker.log,))

    assert Step2Trigger.objects.filter(patient=patient).count() == 1
    notices = len(_trigger_notices(worker))
    conclude("worker", "trigger-notice", [] if notices == 1 else [f"{notices} notices sent"])


# --- the daily reminder task ----------------------------------------------------------------


@pytest.fixture
def due_reminders(investigator_a, investigator_b, site_a, site_b, pada1, staff_emails):
    """Patients at two sites whose first assessments are due today: the reminders to send."""
    today = timezone.localdate()
    for n in range(3):
        f.enrolled(by=investigator_a, site=site_a, version=pada1, today=today, number=f"A{n}")
    for n in range(2):
        f.enrolled(by=investigator_b, site=site_b, version=pada1, today=today, number=f"B{n}")
    due = ScheduleItem.objects.filter(status=ItemStatus.DUE, remind_from__lte=today)
    assert set(due.values_list("patient__site", flat=True)) == {site_a.pk, site_b.pk}
    return due


def _reminded_lines(worker: Worker) -> Counter:
    return Counter(
        line
        for message in email_messages(worker.mail)
        for line in message.get_payload(decode=True).decode().splitlines()
        if line.startswith("- ")
    )


def _reminders_sent_once(due, worker: Worker) -> list[str]:
    """Every due item reminded once by e-mail and by audit event; the problems otherwise."""
    problems = []
    lines = _reminded_lines(worker)
    if sum(lines.values()) != due.count() or set(lines.values()) != {1}:
        problems.append(f"{sum(lines.values())} reminder lines for {due.count()} due items")
    audited = Counter(
        AuditEvent.objects.filter(action="schedule_reminder_due").values_list(
            "object_id", flat=True
        )
    )
    if set(audited) != {str(pk) for pk in due.values_list("pk", flat=True)}:
        problems.append(f"{len(audited)} reminder audit events for {due.count()} due items")
    return problems


def _runs() -> int:
    return AuditEvent.objects.filter(action="schedule_daily_run").count()


def test_reminder_task_killed_while_claiming(broker, workers, due_reminders, site_a, row_lock):
    worker = workers()
    # Hold the last reminder of site A: the task claims the others, then waits on it.
    last = due_reminders.filter(patient__site=site_a).order_by("planned_on", "pk").last()
    lock = row_lock("trial_scheduleitem", last.pk)
    task_id = _send(SCHEDULE_DAILY)
    wait_for(lambda: lock.waiting(CLAIM), "the task to wait on a claim", logs=(worker.log,))
    [first] = worker.starts(task_id)
    worker.kill_pool_process(first)

    wait_for(lambda: len(worker.starts(task_id)) == 2, "the redelivery", logs=(worker.log,))
    lock.release()
    wait_for(lambda: _runs() >= 1, "the daily run", logs=(worker.log,))
    wait_for(lambda: _drained(broker), "every task to be acknowledged", logs=(worker.log,))

    assert "WorkerLostError" in worker.log.read_text()
    assert _runs() == 1
    assert _reminders_sent_once(due_reminders, worker) == []


def test_reminder_task_killed_while_sending(broker, workers, due_reminders):
    """The claim is committed before the e-mail leaves: a worker killed during the send must
    not leave the reminders claimed and never sent."""
    worker = workers()
    gate = worker.markers / GATE
    gate.touch()
    task_id = _send(SCHEDULE_DAILY)
    wait_for(
        lambda: list(worker.markers.glob("sending-*")), "a reminder to be sent", logs=(worker.log,)
    )
    [sending] = worker.markers.glob("sending-*")
    worker.kill_pool_process(int(sending.name.split("-")[1]))
    gate.unlink()
    wait_for(lambda: len(worker.starts(task_id)) == 2, "the redelivery", logs=(worker.log,))
    wait_for(lambda: _runs() >= 1, "the daily run", logs=(worker.log,))
    wait_for(lambda: _drained(broker), "every task to be acknowledged", logs=(worker.log,))

    conclude("worker", "reminders", _reminders_sent_once(due_reminders, worker))
