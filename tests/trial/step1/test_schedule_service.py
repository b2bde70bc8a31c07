"""The calendar service and the daily job: upserts, completion, claims, query counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.trial import factories as f
from trial.models import AuditEvent, ItemStatus, ScheduleItem
from trial.services import cycles, schedule
from trial.tasks import schedule_daily_task

from .conftest import T0, cbc, start

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)
C1D1 = T0 + 7 * DAY


def item(patient, key):
    return ScheduleItem.objects.get(patient=patient, key=key)


def test_mark_done_takes_the_window_then_the_nearest_open_item(clocked_patient, coordinator_a):
    patient = clocked_patient
    # ctDNA baseline window: 28 days before C1D1 up to C1D1.
    done = schedule.schedule_item_mark_done(
        patient=patient, kind="ctdna", on=T0, ref="draw:1", by=coordinator_a
    )
    assert done.key == "ctdna:baseline" and done.done_on == T0 and done.done_ref == "draw:1"
    # C2D1 window is C1D1+21..+35; a draw at +19 is outside it but nearest to it.
    nearest = schedule.schedule_item_mark_done(
        patient=patient, kind="ctdna", on=C1D1 + 19 * DAY, ref="draw:2", by=coordinator_a
    )
    assert nearest.key == "ctdna:C2D1"
    # Nothing open within one cycle: an unscheduled draw marks nothing.
    assert (
        schedule.schedule_item_mark_done(
            patient=patient, kind="ctdna", on=C1D1 + 30 * DAY, ref="draw:3", by=coordinator_a
        )
        is None
    )
    history = item(patient, "ctdna:C2D1").history.first()
    assert history.history_user == coordinator_a and history.history_change_reason == "done: draw:2"


def test_daily_job_moves_statuses_and_reminds_once_per_stage(clock, clocked_patient):
    patient = clocked_patient
    schedule_daily_task()
    assert len(mail.outbox) == 1
    visit = item(patient, "cycle_visit:C1D1")
    clock.to(C1D1 - 3 * DAY)  # the visit window opens
    schedule_daily_task()
    visit.refresh_from_db()
    assert visit.status == ItemStatus.DUE and visit.reminded_due_at is not None
    assert "C1D1" in mail.outbox[-1].body and len(mail.outbox) == 2
    schedule_daily_task()
    assert len(mail.outbox) == 2
    clock.to(C1D1 + 4 * DAY)  # window closed yesterday, grace 0: missed and reminded once
    schedule_daily_task()
    visit.refresh_from_db()
    assert visit.status == ItemStatus.MISSED and visit.reminded_overdue_at is not None
    assert "not recorded before their window closed" in mail.outbox[-1].body
    sent = len(mail.outbox)
    schedule_daily_task()
    assert len(mail.outbox) == sent
    missed = AuditEvent.objects.filter(action="schedule_item_missed", object_id=str(visit.pk))
    assert missed.count() == 1


def test_a_done_item_is_never_reminded(clock, clocked_patient, coordinator_a):
    patient = clocked_patient
    schedule.schedule_item_mark_done(
        patient=patient, kind="imaging", on=C1D1 + 56 * DAY, ref="scan", by=coordinator_a
    )
    clock.to(C1D1 + 49 * DAY)
    schedule_daily_task()
    assert item(patient, "imaging:W8").reminded_due_at is None
    assert all("W8" not in message.body for message in mail.outbox)


def test_a_failed_email_rolls_the_claims_back(clock, clocked_patient, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("smtp down")

    monkeypatch.setattr(schedule, "send_mail", broken)
    with pytest.raises(OSError):
        schedule.schedule_daily(today=T0)
    assert not ScheduleItem.objects.filter(reminded_due_at__isnull=False).exists()
    monkeypatch.undo()
    result = schedule.schedule_daily(today=T0)
    assert result.due_reminders == 3 and len(mail.outbox) == 1


def test_held_items_are_neither_missed_nor_reminded_overdue(clock, clocked_patient, investigator_a):
    patient = clocked_patient
    clock.to(C1D1)
    start(patient, investigator_a, C1D1)
    clock.to(C1D1 + 20 * DAY)
    cycles.cycle_hold(
        patient=patient,
        on=C1D1 + 20 * DAY,
        reason="infection",
        by=investigator_a,
        today=C1D1 + 20 * DAY,
    )
    clock.to(C1D1 + 40 * DAY)
    schedule_daily_task()
    visit = item(patient, "cycle_visit:C2D1")
    assert visit.held and visit.status == ItemStatus.OVERDUE
    assert visit.reminded_overdue_at is None
    cycles.cycle_hold_release(
        patient=patient,
        on=C1D1 + 40 * DAY,
        reason="recovered",
        by=investigator_a,
        today=C1D1 + 40 * DAY,
    )
    visit.refresh_from_db()
    assert (visit.planned_on, visit.status, visit.held) == (C1D1 + 40 * DAY, ItemStatus.DUE, False)


def test_reduced_cbc_frequency_after_six_well_tolerated_cycles(
    clock, clocked_patient, investigator_a
):
    patient = clocked_patient
    for number in range(1, 8):
        d1 = C1D1 + (number - 1) * 28 * DAY
        clock.to(d1)
        if number <= 6:
            cbc(patient, investigator_a, cycle=number, day=1, on=d1, anc=1.2)  # grade 2
        start(patient, investigator_a, d1)
    keys = set(
        ScheduleItem.objects.filter(patient=patient)
        .exclude(status="cancelled")
        .values_list("key", flat=True)
    )
    # Worst grade over C1-C6 is 2: counts on C7, C10, ... only (label: every 3 months).
    assert "blood_count:C7D1" in keys and "blood_count:C10D1" in keys
    assert "blood_count:C8D1" not in keys and "blood_count:C9D1" not in keys
    assert item(patient, "blood_count:C8D1").status == ItemStatus.CANCELLED


def test_rebuild_never_moves_done_items(clocked_patient, investigator_a, clock):
    patient = clocked_patient
    clock.to(C1D1 - DAY)
    cbc(patient, investigator_a, cycle=1, day=1, on=C1D1 - DAY)
    count_item = item(patient, "blood_count:C1D1")
    assert count_item.status == ItemStatus.DONE
    assert item(patient, "blood_count:baseline").status == ItemStatus.DONE
    cycles.cycle_delay(
        patient=patient,
        planned_d1=C1D1 + 7 * DAY,
        reason="bed shortage",
        by=investigator_a,
        today=C1D1 - DAY,
    )
    count_item.refresh_from_db()
    assert count_item.planned_on == C1D1  # done: never moves
    assert item(patient, "cycle_visit:C1D1").planned_on == C1D1 + 7 * DAY
    assert item(patient, "imaging:W8").planned_on == C1D1 + 7 * DAY + 56 * DAY


def _enrol_many(investigator, site, version, count, start_at):
    for n in range(count):
        f.enrolled(by=investigator, site=site, version=version, today=T0, number=f"Q{start_at + n}")


def test_daily_job_query_count_does_not_grow_with_patients(
    clock, investigator_a, site_a, pada1, staff_emails
):
    """With nothing due, the job's cost is constant; with due items it grows with them only."""
    quiet_day = T0 + 3 * 365 * DAY  # long after every window: nothing left to move or remind

    def queries(today):
        with CaptureQueriesContext(connection) as ctx:
            schedule.schedule_daily(today=today)
        return len(ctx.captured_queries)

    _enrol_many(investigator_a, site_a, pada1, 2, 0)
    schedule.schedule_daily(today=quiet_day)  # works off the backlog once
    few = queries(quiet_day)
    _enrol_many(investigator_a, site_a, pada1, 8, 10)
    schedule.schedule_daily(today=quiet_day)
    many = queries(quiet_day)
    assert few == many <= 8


def test_rebuild_records_the_reason_in_each_moved_item(clocked_patient, investigator_a):
    cycles.cycle_delay(
        patient=clocked_patient,
        planned_d1=C1D1 + 3 * DAY,
        reason="pharmacy delay",
        by=investigator_a,
        today=T0,
    )
    moved = item(clocked_patient, "blood_count:C1D15")
    latest = moved.history.first()
    assert latest.history_user == investigator_a
    assert "pharmacy delay" in latest.history_change_reason
