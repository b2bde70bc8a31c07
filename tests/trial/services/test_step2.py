"""The Step 2 gate: rising mutation -> imaging -> eligible, synchronous progression, windows."""

import datetime as dt

import pytest
from django.core import mail

from tests.trial import factories as f
from trial.models import Step2Trigger, TriggerStatus
from trial.services import step2

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(investigator_a, site_a, pada1, today):
    investigator_a.email = "inv_a@example.org"
    investigator_a.save()
    return f.enrolled(by=investigator_a, site=site_a, version=pada1, today=today)


D = dt.date(2027, 3, 14)


def test_opening_is_idempotent_and_leaves_the_notice_to_the_caller(
    patient, investigator_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = step2.step2_trigger_open(patient=patient, source_ref="r1", detected_on=D, by=None)
    again = step2.step2_trigger_open(patient=patient, source_ref="r1", detected_on=D, by=None)
    other = step2.step2_trigger_open(patient=patient, source_ref="r2", detected_on=D, by=None)
    assert first.pk == again.pk == other.pk
    assert Step2Trigger.objects.count() == 1
    assert first.status == TriggerStatus.IMAGING_REQUIRED
    assert first.imaging_due_by == D + dt.timedelta(days=28)
    assert mail.outbox == []
    assert step2.step2_trigger_notify(trigger=first) is True
    assert len(mail.outbox) == 1 and "inv_a@example.org" in mail.outbox[0].to
    assert str(first.imaging_due_by) in mail.outbox[0].body


def test_a_trigger_decided_already_gets_no_notice(patient):
    trigger = step2.step2_trigger_open(patient=patient, source_ref="r1", detected_on=D, by=None)
    step2.step2_imaging_recorded(patient=patient, assessed_on=D, progression=False, by=None)
    trigger.refresh_from_db()
    assert step2.step2_trigger_notify(trigger=trigger) is False
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("offset", "progression", "status"),
    [
        (0, False, TriggerStatus.ELIGIBLE),
        (28, False, TriggerStatus.ELIGIBLE),
        (-14, False, TriggerStatus.ELIGIBLE),
        (5, True, TriggerStatus.PROGRESSION),
        (29, False, TriggerStatus.IMAGING_REQUIRED),
        (-15, False, TriggerStatus.IMAGING_REQUIRED),
    ],
)
def test_imaging_inside_the_window_decides(patient, offset, progression, status):
    step2.step2_trigger_open(patient=patient, source_ref="r1", detected_on=D, by=None)
    trigger = step2.step2_imaging_recorded(
        patient=patient, assessed_on=D + dt.timedelta(days=offset), progression=progression, by=None
    )
    assert trigger.status == status
    if status == TriggerStatus.ELIGIBLE:
        assert trigger.randomize_by == D + dt.timedelta(days=offset + 21)


def test_recent_imaging_before_the_result_counts(patient):
    trigger = step2.step2_trigger_open(
        patient=patient,
        source_ref="r1",
        detected_on=D,
        by=None,
        recent_imaging=(D - dt.timedelta(days=10), False),
    )
    assert trigger.status == TriggerStatus.ELIGIBLE


def test_missed_windows_are_recorded_and_flagged_once(
    patient, settings, django_capture_on_commit_callbacks
):
    settings.SPONSOR_SAFETY_EMAIL = "safety@sponsor.example"
    step2.step2_trigger_open(patient=patient, source_ref="r1", detected_on=D, by=None)
    assert step2.step2_expire_windows(today=D + dt.timedelta(days=28)) == 0
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert step2.step2_expire_windows(today=D + dt.timedelta(days=29)) == 1
        assert step2.step2_expire_windows(today=D + dt.timedelta(days=30)) == 0
    assert Step2Trigger.objects.get().status == TriggerStatus.WINDOW_MISSED
    assert len(mail.outbox) == 1 and "safety@sponsor.example" in mail.outbox[0].to
    # a new rising result may open a new trigger once the previous one is closed
    new = step2.step2_trigger_open(
        patient=patient, source_ref="r2", detected_on=D + dt.timedelta(days=60), by=None
    )
    assert new.status == TriggerStatus.IMAGING_REQUIRED


def test_not_on_step1_means_no_trigger(investigator_a, site_a, pada1, today):
    patient = f.registered(by=investigator_a, site=site_a, version=pada1, today=today)
    assert (
        step2.step2_trigger_open(patient=patient, source_ref="r1", detected_on=D, by=None) is None
    )
