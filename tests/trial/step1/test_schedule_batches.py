"""The daily job claims its items in batches: the query count does not grow with the items of a
day, a batch smaller than the day's work still handles every item once, and overlapping runs
on PostgreSQL neither remind twice nor deadlock."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from django.core import mail
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext

from trial.models import AuditEvent, ItemStatus, ScheduleItem
from trial.services import schedule

from .conftest import T0

DAY = dt.timedelta(days=1)


def _day_of_work(patient, *, today: dt.date, count: int, tag: str) -> None:
    """``count`` items whose window closed long enough ago to be missed (overdue, missed,
    overdue reminder) and ``count`` whose window opens ``today`` (due, due reminder)."""
    line = patient.lines.get()
    rows = []
    for n in range(count):
        closing = today - 9 * DAY
        opening = today + DAY
        for key, planned, opens, closes, missed_after, remind_from in (
            (
                f"closing:{tag}{n}",
                closing,
                closing - DAY,
                closing + DAY,
                closing + 4 * DAY,
                closing - 3 * DAY,
            ),
            (f"opening:{tag}{n}", opening, today, opening + DAY, opening + 2 * DAY, today - DAY),
        ):
            rows.append(
                ScheduleItem(
                    patient=patient,
                    line=line,
                    key=key,
                    kind="imaging",
                    anchor="cycle",
                    planned_on=planned,
                    window_opens=opens,
                    window_closes=closes,
                    remind_from=remind_from,
                    missed_after=missed_after,
                    status=ItemStatus.UPCOMING,
                )
            )
    ScheduleItem.objects.bulk_create(rows)


def _clear(patient) -> None:
    """Nothing of the patient's calendar left for the job (a finished day's items included)."""
    ScheduleItem.objects.filter(patient=patient).update(status=ItemStatus.CANCELLED)


def _run(today: dt.date) -> tuple[schedule.DailyResult, int]:
    with CaptureQueriesContext(connection) as ctx:
        result = schedule.schedule_daily(today=today)
    return result, len(ctx.captured_queries)


@pytest.mark.django_db
def test_query_count_does_not_grow_with_the_items_of_the_day(clock, clocked_patient):
    patient = clocked_patient
    first_day, second_day = T0 + 200 * DAY, T0 + 300 * DAY
    _clear(patient)
    _day_of_work(patient, today=first_day, count=10, tag="a")
    few, few_queries = _run(first_day)
    _clear(patient)
    _day_of_work(patient, today=second_day, count=100, tag="b")
    many, many_queries = _run(second_day)

    assert vars(few) == dict.fromkeys(vars(few), 10)
    assert vars(many) == dict.fromkeys(vars(many), 100)
    assert few_queries == many_queries


@pytest.mark.django_db
def test_batches_smaller_than_the_day_handle_every_item_once(clock, clocked_patient, monkeypatch):
    monkeypatch.setattr(schedule, "CLAIM_BATCH", 3)
    patient = clocked_patient
    today = T0 + 200 * DAY
    _clear(patient)
    _day_of_work(patient, today=today, count=7, tag="a")
    mail.outbox.clear()

    result = schedule.schedule_daily(today=today)
    again = schedule.schedule_daily(today=today)

    assert vars(result) == dict.fromkeys(vars(result), 7)
    assert vars(again) == dict.fromkeys(vars(again), 0)
    assert len(mail.outbox) == 6  # per stage: batches of 3, 3 and 1
    assert _reminded_once(mail.outbox, 14)
    events = Counter(
        AuditEvent.objects.filter(action__startswith="schedule_").values_list("action", flat=True)
    )
    assert events == {
        "schedule_item_missed": 7,
        "schedule_reminder_due": 7,
        "schedule_reminder_overdue": 7,
        "schedule_daily_run": 2,
    }


def _reminded_once(messages, expected: int) -> bool:
    lines = Counter(
        line for message in messages for line in message.body.splitlines() if line.startswith("- ")
    )
    return sum(lines.values()) == expected and set(lines.values()) == {1}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_overlapping_runs_remind_once_and_do_not_deadlock(clock, clocked_patient, monkeypatch):
    # Small batches: the runs interleave over many claims rather than one.
    monkeypatch.setattr(schedule, "CLAIM_BATCH", 4)
    patient = clocked_patient
    today = T0 + 200 * DAY
    _clear(patient)
    _day_of_work(patient, today=today, count=30, tag="a")
    mail.outbox.clear()
    runs = 4
    barrier = threading.Barrier(runs)
    results: list[schedule.DailyResult] = []
    errors: list[Exception] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(schedule.schedule_daily(today=today))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    totals = Counter()
    for result in results:
        totals.update(vars(result))
    assert dict(totals) == dict.fromkeys(vars(results[0]), 30)
    assert _reminded_once(mail.outbox, 60)
    audited = Counter(
        AuditEvent.objects.filter(
            action__in=[
                "schedule_item_missed",
                "schedule_reminder_due",
                "schedule_reminder_overdue",
            ]
        ).values_list("action", "object_id")
    )
    assert len(audited) == 90 and set(audited.values()) == {1}
