"""The site's 'rising ESR1: imaging required' notice: recorded as owed with the trigger, sent
and stamped in one transaction, so a failed send or a killed worker leaves it owed and the
redelivered task or the drain sends it once (REL-14). Task bodies are called directly."""

from __future__ import annotations

from smtplib import SMTPException
from unittest import mock

import pytest
from django.core import mail

from monitoring import tasks
from monitoring.models import MAX_ATTEMPTS, NoticeState, OutboxOutcome, TriggerOutbox
from tests.monitoring.conftest import day, draw, ingest, payload, variant
from trial.models import Step2Trigger, TriggerStatus
from trial.services.step2 import step2_imaging_recorded

pytestmark = pytest.mark.django_db

SEND = "trial.services.notifications.send_mail"


@pytest.fixture(autouse=True)
def _no_real_enqueue(no_broker):
    """After-commit enqueues are recorded, never sent to the shared Redis."""


@pytest.fixture
def outbox(lab_a, patient_a, investigator_a) -> TriggerOutbox:
    """A rising result's pending outbox row."""
    ingest(lab_a, payload(draw(patient_a, "S-000", day(0), investigator_a)))
    sample = draw(patient_a, "S-001", day(42), investigator_a)
    ingest(lab_a, payload(sample, variants=[variant()]))
    return TriggerOutbox.objects.get()


def _notices() -> list:
    return [m for m in mail.outbox if "Rising ESR1" in m.subject]


def _fail_once(outbox: TriggerOutbox) -> None:
    """The first run opens the trigger and fails to send the notice."""
    with (
        mock.patch(SEND, side_effect=SMTPException("421 try later")),
        pytest.raises(SMTPException),
    ):
        tasks.process_outbox_task(outbox.pk)


def test_the_notice_is_sent_once_and_recorded(outbox):
    assert tasks.process_outbox_task(outbox.pk) is True
    assert tasks.process_outbox_task(outbox.pk) is False
    assert tasks.outbox_drain_task() == 0
    assert len(_notices()) == 1 and _notices()[0].to == ["inv_a@example.org"]
    outbox.refresh_from_db()
    assert outbox.notice == NoticeState.SENT and outbox.notified_at is not None
    assert (outbox.attempts, outbox.last_error) == (1, "")


def test_a_failed_send_leaves_the_trigger_open_and_the_notice_owed(outbox):
    _fail_once(outbox)
    outbox.refresh_from_db()
    assert outbox.outcome == OutboxOutcome.OPENED and outbox.processed_at is not None
    assert Step2Trigger.objects.get().status == TriggerStatus.IMAGING_REQUIRED
    assert (outbox.notice, outbox.notified_at) == (NoticeState.PENDING, None)
    assert outbox.attempts == 2
    assert outbox.last_error == "notice: SMTPException: 421 try later"
    assert _notices() == []


def test_a_redelivered_task_sends_the_owed_notice_once(outbox):
    """What a worker killed while sending leaves behind: the trigger open, the notice owed."""
    _fail_once(outbox)
    assert tasks.process_outbox_task(outbox.pk) is False  # the row was processed already
    assert tasks.process_outbox_task(outbox.pk) is False
    assert len(_notices()) == 1
    assert Step2Trigger.objects.count() == 1
    outbox.refresh_from_db()
    assert outbox.notice == NoticeState.SENT


def test_the_drain_sends_the_owed_notice_once(outbox):
    _fail_once(outbox)
    assert tasks.outbox_drain_task() == 0  # no row left to process, one notice to send
    assert tasks.outbox_drain_task() == 0
    assert len(_notices()) == 1


def test_the_drain_leaves_notices_that_failed_too_often_to_a_person(outbox):
    _fail_once(outbox)
    TriggerOutbox.objects.update(attempts=MAX_ATTEMPTS)
    tasks.outbox_drain_task()
    assert _notices() == []
    assert TriggerOutbox.objects.get().notice == NoticeState.PENDING


def test_a_trigger_decided_before_the_notice_left_gets_none(outbox, patient_a):
    _fail_once(outbox)
    step2_imaging_recorded(patient=patient_a, assessed_on=day(44), progression=False, by=None)
    tasks.outbox_drain_task()
    assert _notices() == []
    assert TriggerOutbox.objects.get().notice == NoticeState.NOT_NEEDED


def test_a_trigger_already_open_owes_no_second_notice(outbox, lab_a, patient_a, investigator_a):
    tasks.process_outbox_task(outbox.pk)
    later = draw(patient_a, "S-002", day(84), investigator_a)
    ingest(lab_a, payload(later, variants=[variant(), variant("p.Y537S")]))
    tasks.outbox_drain_task()
    rows = TriggerOutbox.objects.order_by("pk").values_list("outcome", "notice")
    assert list(rows) == [
        (OutboxOutcome.OPENED, NoticeState.SENT),
        (OutboxOutcome.ALREADY_OPEN, NoticeState.NONE),
    ]
    assert len(_notices()) == 1
