"""The schedule seeding: the state a row is left in by yesterday's run, and the query kinds."""

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.schedule import (
    SPAN_DAYS,
    QueryKind,
    SeedState,
    c1d1_offset_days,
    copy_text,
    cycles_started,
    query_kind,
    steady_state,
)
from trial.models import ItemStatus

DAY0 = dt.date(2026, 1, 1)
OPEN = (ItemStatus.UPCOMING, ItemStatus.DUE)
LATE = (ItemStatus.OVERDUE, ItemStatus.MISSED)


def run_job_days(item: dict, *, last_day: dt.date, done_on: dt.date | None) -> SeedState:
    """Replay ``schedule_daily``'s rules for one item, one run per day, the item recorded done
    on ``done_on`` before that day's run."""
    status, reminded_due, reminded_overdue = ItemStatus.UPCOMING, None, None
    day = item["remind_from"] - dt.timedelta(days=2)
    while day <= last_day:
        if done_on is not None and day >= done_on:
            return SeedState(ItemStatus.DONE, done_on, reminded_due, reminded_overdue)
        if status in OPEN and item["window_closes"] < day:
            status = ItemStatus.OVERDUE
        if status == ItemStatus.UPCOMING and item["window_opens"] <= day:
            status = ItemStatus.DUE
        if status == ItemStatus.OVERDUE and item["missed_after"] < day:
            status = ItemStatus.MISSED
        if (
            reminded_due is None
            and status in OPEN
            and item["remind_from"] <= day <= item["window_closes"]
        ):
            reminded_due = day
        if reminded_overdue is None and status in LATE and item["window_closes"] < day:
            reminded_overdue = day
        day += dt.timedelta(days=1)
    return SeedState(status, None, reminded_due, reminded_overdue)


items = st.builds(
    lambda planned, before, after, lead, grace: {
        "planned_on": DAY0 + dt.timedelta(days=planned),
        "window_opens": DAY0 + dt.timedelta(days=planned - before),
        "window_closes": DAY0 + dt.timedelta(days=planned + after),
        "remind_from": DAY0 + dt.timedelta(days=planned - before - lead),
        "missed_after": DAY0 + dt.timedelta(days=planned + after + grace),
    },
    st.integers(0, 60),
    st.integers(0, 28),
    st.integers(0, 7),
    st.integers(0, 3),
    st.integers(0, 3),
)


@settings(max_examples=150, deadline=None)
@given(items, st.integers(-40, 110), st.booleans())
def test_seeded_state_is_what_the_daily_runs_leave(item, yesterday_offset, never_done):
    yesterday = DAY0 + dt.timedelta(days=yesterday_offset)
    done_on = None if never_done else item["planned_on"]
    expected = run_job_days(item, last_day=yesterday, done_on=done_on)
    assert steady_state(**item, never_done=never_done, yesterday=yesterday) == expected


def test_offsets_spread_over_the_span_and_cycles_start_every_cycle_length():
    offsets = [c1d1_offset_days(i) for i in range(SPAN_DAYS)]
    assert sorted(offsets) == list(range(SPAN_DAYS))
    assert cycles_started(DAY0, DAY0, 28) == 1
    assert cycles_started(DAY0, DAY0 + dt.timedelta(days=27), 28) == 1
    assert cycles_started(DAY0, DAY0 + dt.timedelta(days=28), 28) == 2
    assert cycles_started(DAY0 + dt.timedelta(days=1), DAY0, 28) == 0


def test_query_kinds():
    claim = (
        'UPDATE "trial_scheduleitem" SET "reminded_due_at" = \'2026-11-21\' WHERE '
        '("trial_scheduleitem"."id" = 42 AND "trial_scheduleitem"."reminded_due_at" IS NULL)'
    )
    assert query_kind(claim) is QueryKind.ITEM_CLAIM
    batch = (
        'UPDATE "trial_scheduleitem" SET "status" = \'due\' WHERE "id" IN (SELECT '
        '"trial_scheduleitem"."id" FROM "trial_scheduleitem" WHERE ("trial_scheduleitem"."id" '
        'IN (1, 2) AND "trial_scheduleitem"."status" = \'upcoming\') ORDER BY 1 FOR UPDATE) '
        'RETURNING "id"'
    )
    assert query_kind(batch) is QueryKind.ITEM_CLAIM
    bulk = 'UPDATE "trial_scheduleitem" SET "status" = \'due\' WHERE ("trial_scheduleitem"."status" = \'upcoming\')'
    assert query_kind(bulk) is QueryKind.OTHER
    assert query_kind("BEGIN") is QueryKind.PER_SITE
    assert query_kind('SELECT DISTINCT "auth_user"."email" FROM "auth_user" INNER JOIN') is (
        QueryKind.PER_SITE
    )
    assert query_kind('INSERT INTO "trial_auditevent" ("at") VALUES (1)') is QueryKind.PER_SITE
    assert query_kind('SELECT "trial_scheduleitem"."id" FROM "trial_scheduleitem"') is (
        QueryKind.OTHER
    )


def test_copy_text_line():
    values = [None, True, False, DAY0, dt.datetime(2026, 1, 1, 6, tzinfo=dt.UTC), "a\tb\\c\n", 7]
    assert copy_text(values) == (
        "\\N\tt\tf\t2026-01-01\t2026-01-01T06:00:00+00:00\ta\\tb\\\\c\\n\t7"
    )
    assert copy_text([ItemStatus.DUE]) == "due"
