"""The Step 2 trigger outbox: task bodies called directly (no eager mode, no broker)."""

from __future__ import annotations

from unittest import mock

import pytest
from celery import current_app
from django.core import mail
from kombu.exceptions import OperationalError as BrokerDown

from monitoring import tasks
from monitoring.models import MAX_ATTEMPTS, OutboxOutcome, TriggerOutbox
from monitoring.services import outbox as outbox_service
from tests.monitoring.conftest import day, draw, ingest, payload, variant
from trial.models import Patient, Step, Step2Trigger, TriggerStatus

pytestmark = pytest.mark.django_db

# The real publisher, taken before the autouse fixture below replaces it.
REAL_PUBLISH = outbox_service._publish


@pytest.fixture(autouse=True)
def _no_real_enqueue(no_broker):
    """After-commit enqueues are recorded, never sent to the shared Redis."""


def rising(lab, patient, by, *, first="S-000", second="S-001", offset=42):
    """A negative draw then a positive one: the second result is rising."""
    ingest(lab, payload(draw(patient, first, day(offset - 42), by)))
    sample = draw(patient, second, day(offset), by)
    return ingest(lab, payload(sample, variants=[variant()])).result


def test_the_task_names_are_the_ones_the_beat_schedule_uses():
    assert tasks.process_outbox_task.name == "monitoring.tasks.process_outbox_task"
    assert tasks.outbox_drain_task.name == "monitoring.tasks.outbox_drain_task"
    assert tasks.process_outbox_task.acks_late and tasks.outbox_drain_task.acks_late


def test_processing_opens_the_step2_trigger_once(
    lab_a, patient_a, investigator_a, django_capture_on_commit_callbacks
):
    result = rising(lab_a, patient_a, investigator_a)
    outbox = TriggerOutbox.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.process_outbox_task(outbox.pk) is True
    assert tasks.process_outbox_task(outbox.pk) is False
    trigger = Step2Trigger.objects.get()
    assert trigger.source_ref == f"ctdna-result-{result.pk}"
    assert trigger.detected_on == result.analysed_on
    assert trigger.status == TriggerStatus.IMAGING_REQUIRED
    assert trigger.created_by == lab_a.service_user
    outbox.refresh_from_db()
    assert outbox.processed_at is not None and outbox.attempts == 1
    assert (outbox.outcome, outbox.step2_trigger) == (OutboxOutcome.OPENED, trigger)
    assert len(mail.outbox) == 1 and "imaging required" in mail.outbox[0].subject


def test_the_drain_processes_every_pending_row(
    lab_a, patient_a, patient_b, investigator_a, investigator_b, site_b
):
    lab_a.sites.add(site_b)
    rising(lab_a, patient_a, investigator_a)
    rising(lab_a, patient_b, investigator_b, first="B-000", second="B-001")
    assert tasks.outbox_drain_task() == 2
    assert tasks.outbox_drain_task() == 0
    assert Step2Trigger.objects.count() == 2
    assert not TriggerOutbox.objects.filter(processed_at=None).exists()


def test_a_second_rising_result_finds_the_trigger_already_open(lab_a, patient_a, investigator_a):
    rising(lab_a, patient_a, investigator_a)
    later = draw(patient_a, "S-002", day(84), investigator_a)
    ingest(lab_a, payload(later, variants=[variant(), variant("p.Y537S")]))
    tasks.outbox_drain_task()
    outcomes = list(TriggerOutbox.objects.order_by("pk").values_list("outcome", flat=True))
    assert outcomes == [OutboxOutcome.OPENED, OutboxOutcome.ALREADY_OPEN]
    assert Step2Trigger.objects.count() == 1


def test_a_patient_no_longer_on_step1_gets_no_trigger(lab_a, patient_a, investigator_a):
    rising(lab_a, patient_a, investigator_a)
    Patient.objects.filter(pk=patient_a.pk).update(step=Step.FOLLOW_UP)
    tasks.outbox_drain_task()
    assert TriggerOutbox.objects.get().outcome == OutboxOutcome.NOT_ON_STEP1
    assert not Step2Trigger.objects.exists()


def test_a_failure_is_recorded_and_retried_by_the_drain(lab_a, patient_a, investigator_a):
    rising(lab_a, patient_a, investigator_a)
    outbox = TriggerOutbox.objects.get()
    with mock.patch(
        "monitoring.services.outbox.step2_trigger_open", side_effect=RuntimeError("boom")
    ):
        with pytest.raises(RuntimeError):
            tasks.process_outbox_task(outbox.pk)
        assert tasks.outbox_drain_task() == 0
    outbox.refresh_from_db()
    assert outbox.processed_at is None and outbox.attempts == 2
    assert outbox.last_error == "RuntimeError: boom"
    assert not Step2Trigger.objects.exists()
    assert tasks.outbox_drain_task() == 1
    outbox.refresh_from_db()
    assert outbox.outcome == OutboxOutcome.OPENED and outbox.attempts == 3


def test_the_drain_leaves_rows_that_failed_too_often_to_a_person(lab_a, patient_a, investigator_a):
    rising(lab_a, patient_a, investigator_a)
    TriggerOutbox.objects.update(attempts=MAX_ATTEMPTS)
    assert tasks.outbox_drain_task() == 0
    assert tasks.process_outbox_task(TriggerOutbox.objects.get().pk) is True


def test_a_broker_outage_does_not_fail_the_result(
    lab_a, patient_a, investigator_a, no_broker, django_capture_on_commit_callbacks, caplog
):
    no_broker.side_effect = BrokerDown("Error 111 connecting to 127.0.0.1:6399")
    with django_capture_on_commit_callbacks(execute=True):
        result = rising(lab_a, patient_a, investigator_a)
    no_broker.assert_called_once()
    assert "the drain task will process it" in caplog.text
    assert TriggerOutbox.objects.get(processed_at=None).result == result
    assert tasks.outbox_drain_task() == 1


def test_repeated_processing_of_one_row_opens_one_trigger(lab_a, patient_a, investigator_a):
    """The claim is a conditional UPDATE: a re-delivered task finds the row processed."""
    rising(lab_a, patient_a, investigator_a)
    outbox = TriggerOutbox.objects.get()
    assert [tasks.process_outbox_task(outbox.pk) for _ in range(3)] == [True, False, False]
    assert Step2Trigger.objects.count() == 1


def test_a_failed_sample_writes_no_outbox_row(lab_a, patient_a, investigator_a):
    sample = draw(patient_a, "S-000", day(0), investigator_a)
    ingest(lab_a, payload(sample, status="failed", failure_reason="haemolysed"))
    assert not TriggerOutbox.objects.exists()


def test_publishing_to_an_unreachable_broker_fails_at_the_first_attempt():
    """kombu would otherwise retry for about 6 s while the lab waits for its answer."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    conf = current_app.conf
    previous = conf.broker_url
    conf.broker_url = f"redis://127.0.0.1:{closed_port}/0"
    try:
        with pytest.raises(BrokerDown):
            REAL_PUBLISH(1)
    finally:
        conf.broker_url = previous
