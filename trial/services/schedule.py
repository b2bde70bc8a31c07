"""Each patient's calendar, kept in the database, and the daily job that works through it.

``schedule_rebuild`` recomputes a line's calendar with the pure rules
(``trial.rules.schedule.build_calendar``, ``trial.rules.followup``) from the recorded facts
(planned and actual cycle starts, delays, holds, the worst neutropenia grade of cycles 1-6,
progression, the end of the line) and upserts it by key: a moved item is saved with the reason
in its history; done and missed items never move; an item no longer planned is cancelled.

``schedule_daily`` marks items due when their window opens, overdue when it closes, missed
``missed_grace_days`` after it closes (never while their cycle is on hold), and reminds the
site staff once per item and stage (due, overdue) by e-mail. Concurrent or repeated runs send
nothing twice: the items are claimed in batches (``CLAIM_BATCH``), each by one conditional
UPDATE that locks its rows in id order and returns the ids it changed (the ones this run won),
and the e-mail leaves before that claim commits, so a crash mid-send loses nothing.
Its queries are range scans on indexed dates, so its cost grows with the items whose window
opens or closes, not with the number of patients; its number of queries grows only with the
batches and the sites.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Min, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from trial.models import (
    FINAL_ITEM_STATUSES,
    OPEN_ITEM_STATUSES,
    AuditEvent,
    BloodCount,
    Cycle,
    CycleStatus,
    ItemKind,
    ItemStatus,
    OverallResponse,
    Patient,
    ScheduleItem,
    Site,
    Step,
    TreatmentLine,
    TumourAssessment,
)
from trial.rules import followup
from trial.rules.schedule import (
    Anchor,
    InjectionPlan,
    ScheduleParams,
    add_calendar_months,
    build_calendar,
    classify,
)

from .audit import audit_event_record, tracked_save
from .notifications import site_staff_emails

# Cycles planned ahead of the last started one: enough for the next imaging (every 8 weeks in
# PADA-1) and QoL (every 2 cycles) to be visible, few enough to keep the calendar short.
HORIZON_CYCLES = 3

_MOVABLE_FIELDS = [
    "cycle",
    "cycle_day",
    "anchor",
    "planned_on",
    "window_opens",
    "window_closes",
    "remind_from",
    "missed_after",
    "status",
    "held",
    "reminded_due_at",
    "reminded_overdue_at",
]


def schedule_params(document: dict[str, Any]) -> ScheduleParams:
    return ScheduleParams.from_protocol(document["schedule"], document["cycle_length_days"])


@dataclass(frozen=True)
class _Facts:
    params: ScheduleParams
    document: dict[str, Any]
    cycles: list[Cycle]
    started: dict[int, dt.date]
    pending: Cycle | None
    progression_on: dt.date | None
    step1_start: dt.date | None


def _facts(line: TreatmentLine, *, new_line: bool) -> _Facts:
    document = line.patient.protocol_version.document
    # A line created in this transaction has no cycles and no assessments yet.
    cycles = [] if new_line else list(Cycle.objects.filter(line=line).order_by("number"))
    started = {c.number: c.started_on for c in cycles if c.status == CycleStatus.STARTED}
    pending = next((c for c in cycles if c.status != CycleStatus.STARTED), None)
    progression_on = (
        None
        if new_line
        else TumourAssessment.objects.filter(line=line, overall_response=OverallResponse.PD)
        .aggregate(first=Min("assessed_on"))
        .get("first")
    )
    step1_start = (
        TreatmentLine.objects.filter(patient_id=line.patient_id, started_on__isnull=False)
        .order_by("started_on")
        .values_list("started_on", flat=True)
        .first()
    )
    return _Facts(
        params=schedule_params(document),
        document=document,
        cycles=cycles,
        started=started,  # type: ignore[arg-type]
        pending=pending,
        progression_on=progression_on,
        step1_start=step1_start,
    )


def neutropenia_max_grade_c1_to_c6(
    line: TreatmentLine, params: ScheduleParams, *, started: int | None = None
) -> int | None:
    """The worst ANC grade over the line's cycles 1..``after_cycle`` once they have all
    started (label: CBC every 3 months if it is at most 2), else None. ``started``: the
    line's started cycles, when the caller has counted them."""
    reduced = params.blood_count.reduced_frequency
    if reduced is None:
        return None
    if started is None:
        started = Cycle.objects.filter(line=line, status=CycleStatus.STARTED).count()
    if started < reduced.after_cycle:
        return None
    grades = BloodCount.objects.filter(
        line=line, cycle_number__lte=reduced.after_cycle, anc_grade__isnull=False
    ).values_list("anc_grade", flat=True)
    return max(grades, default=0)


def _planned_items(line: TreatmentLine, facts: _Facts) -> list[Any]:
    params = facts.params
    planned_c1d1 = line.planned_c1d1
    if facts.pending is not None and facts.pending.number == 1:
        planned_c1d1 = facts.pending.planned_d1
    injections = InjectionPlan.from_regimen(
        facts.document["regimens"][line.regimen],
        first_cycle=1,
        window=params.cycle_visit.window,
        cycle_length_days=params.cycle_length_days,
    )
    items: list[Any] = list(
        build_calendar(
            params=params,
            planned_c1d1=planned_c1d1,
            cycle_starts=facts.started,
            neutropenia_max_grade_c1_to_c6=neutropenia_max_grade_c1_to_c6(
                line, params, started=len(facts.started)
            ),
            progression_date=facts.progression_on,
            step1_start=facts.step1_start,
            horizon_cycles=HORIZON_CYCLES,
            ended_on=line.ended_on,
            fulvestrant=injections,
        )
    )
    pending = facts.pending
    if pending is not None and pending.number > 1 and pending.number - 1 in facts.started:
        default_d1 = facts.started[pending.number - 1] + dt.timedelta(days=params.cycle_length_days)
        delay_days = (pending.planned_d1 - default_d1).days
        if delay_days:
            items = list(
                followup.shift_cycle_items(items, from_cycle=pending.number, days=delay_days)
            )
            items = _within_qol_limit(items, params, facts.step1_start or planned_c1d1)
    items.extend(_follow_up_items(line, facts, planned_c1d1))
    return items


def _within_qol_limit(items: list[Any], params: ScheduleParams, start: dt.date) -> list[Any]:
    if params.qol is None or params.qol.until_months_from_step1 is None:
        return items
    limit = add_calendar_months(start, params.qol.until_months_from_step1)
    return [i for i in items if not (i.kind == ItemKind.QOL and i.planned_on >= limit)]


def _follow_up_items(line: TreatmentLine, facts: _Facts, planned_c1d1: dt.date) -> list[Any]:
    items: list[Any] = []
    block = facts.document.get("locoregional_treatment")
    if block is not None:
        items.extend(
            followup.plan_locoregional(
                params=followup.LocoregionalParams.from_protocol(block),
                c1d1=facts.started.get(1, planned_c1d1),
                progression_date=facts.progression_on,
                ended_on=line.ended_on,
            )
        )
    block = facts.document.get("follow_up")
    in_follow_up = line.patient.step == Step.FOLLOW_UP
    if block is not None and line.ended_on is not None and in_follow_up:
        items.extend(
            followup.plan_survival_contacts(
                params=followup.SurvivalParams.from_protocol(block),
                step1_start=facts.step1_start or facts.started.get(1, planned_c1d1),
                follow_up_from=line.ended_on,
            )
        )
    return items


def _live_status(item: Any, today: dt.date) -> ItemStatus:
    return ItemStatus(classify(item, today=today, done_on=None).value)


def _remind_from(item: Any, params: ScheduleParams) -> dt.date:
    return item.window_opens - dt.timedelta(days=params.reminders.lead_days)


def _missed_after(item: Any, params: ScheduleParams) -> dt.date:
    return item.window_closes + dt.timedelta(days=params.reminders.missed_grace_days)


def _is_held(item: Any, pending: Cycle | None) -> bool:
    return (
        pending is not None
        and pending.status == CycleStatus.ON_HOLD
        and item.anchor == Anchor.CYCLE
        and item.cycle is not None
        and item.cycle >= pending.number
    )


@dataclass(frozen=True)
class RebuildResult:
    created: int
    moved: int
    cancelled: int


def _apply(row: ScheduleItem, item: Any, facts: _Facts, today: dt.date) -> bool:
    """Bring an open or cancelled row in line with the planned ``item``; True if it changed."""
    held = _is_held(item, facts.pending)
    dates_changed = (row.planned_on, row.window_opens, row.window_closes) != (
        item.planned_on,
        item.window_opens,
        item.window_closes,
    )
    changed = dates_changed or row.held != held or row.status == ItemStatus.CANCELLED
    if not changed:
        return False
    row.cycle, row.cycle_day, row.anchor = item.cycle, item.cycle_day, str(item.anchor)
    row.planned_on, row.window_opens, row.window_closes = (
        item.planned_on,
        item.window_opens,
        item.window_closes,
    )
    row.remind_from = _remind_from(item, facts.params)
    row.missed_after = _missed_after(item, facts.params)
    row.held = held
    if dates_changed or row.status == ItemStatus.CANCELLED:
        # A new date is a new appointment: its status and reminders start afresh.
        row.status = _live_status(item, today)
        row.reminded_due_at = row.reminded_overdue_at = None
    return True


def schedule_rebuild(
    *,
    line: TreatmentLine,
    by: Any = None,
    reason: str,
    today: dt.date | None = None,
    new_line: bool = False,
) -> RebuildResult:
    """Recompute ``line``'s calendar and upsert it by key (see the module docstring).

    Runs inside the caller's transaction (every service that changes a fact the calendar
    depends on calls it). ``reason`` is stored in the history of every changed item.
    ``new_line``: the caller created the line in this transaction, so it has no cycles,
    assessments or items to read yet.
    """
    today = today or timezone.localdate()
    # No savepoint: no caller recovers from a failed rebuild inside its transaction.
    with transaction.atomic(savepoint=False):
        facts = _facts(line, new_line=new_line)
        planned = _planned_items(line, facts)
        # Lock the line's items: a rebuild, a completion and the daily job must not interleave.
        existing = (
            {}
            if new_line
            else {
                row.key: row for row in ScheduleItem.objects.select_for_update().filter(line=line)
            }
        )
        creator = by if getattr(by, "is_authenticated", False) else None
        new_rows, changed_rows = [], []
        for item in planned:
            row = existing.pop(item.key, None)
            if row is None:
                new_rows.append(_new_row(line, item, facts, today, creator))
            elif row.status not in FINAL_ITEM_STATUSES and _apply(row, item, facts, today):
                changed_rows.append(row)
        cancelled = [row for row in existing.values() if row.status in OPEN_ITEM_STATUSES]
        for row in cancelled:
            row.status = ItemStatus.CANCELLED
        if new_rows:
            bulk_create_with_history(
                new_rows, ScheduleItem, default_user=creator, default_change_reason=reason
            )
        if changed_rows or cancelled:
            bulk_update_with_history(
                [*changed_rows, *cancelled],
                ScheduleItem,
                _MOVABLE_FIELDS,
                default_user=creator,
                default_change_reason=reason,
            )
    return RebuildResult(len(new_rows), len(changed_rows), len(cancelled))


def _new_row(
    line: TreatmentLine, item: Any, facts: _Facts, today: dt.date, creator: Any
) -> ScheduleItem:
    return ScheduleItem(
        patient_id=line.patient_id,
        line=line,
        key=item.key,
        kind=str(item.kind),
        cycle=item.cycle,
        cycle_day=item.cycle_day,
        anchor=str(item.anchor),
        planned_on=item.planned_on,
        window_opens=item.window_opens,
        window_closes=item.window_closes,
        remind_from=_remind_from(item, facts.params),
        missed_after=_missed_after(item, facts.params),
        status=_live_status(item, today),
        held=_is_held(item, facts.pending),
        created_by=creator,
    )


# --- completion -------------------------------------------------------------------------------


def _mark(item: ScheduleItem, *, on: dt.date, ref: str, by: Any) -> ScheduleItem:
    item.status = ItemStatus.DONE
    item.done_on = on
    item.done_ref = ref[:64]
    tracked_save(
        item, by=by, reason=f"done: {ref}", update_fields=["status", "done_on", "done_ref"]
    )
    return item


def schedule_item_mark_done_by_key(
    *, line: TreatmentLine, key: str, on: dt.date, ref: str, by: Any
) -> ScheduleItem | None:
    """Mark the line's item ``key`` done (also a missed one: the late completion is recorded,
    its history keeps the miss). None when the line has no such open or missed item."""
    with transaction.atomic():
        # Lock the item: the daily job and a completion must not interleave on it.
        item = (
            ScheduleItem.objects.select_for_update()
            .filter(line=line, key=key, status__in=[*OPEN_ITEM_STATUSES, ItemStatus.MISSED])
            .first()
        )
        return None if item is None else _mark(item, on=on, ref=ref, by=by)


def _distance_days(item: ScheduleItem, on: dt.date) -> int:
    if on < item.window_opens:
        return (item.window_opens - on).days
    if on > item.window_closes:
        return (on - item.window_closes).days
    return 0


def schedule_item_mark_done(
    *, patient: Patient, kind: str, on: dt.date, ref: str, by: Any
) -> ScheduleItem | None:
    """Mark done the patient's open item of ``kind`` whose window contains ``on``, else the
    open item nearest to ``on`` (by distance to its window, the earlier on a tie) within one
    cycle length. Returns None when there is none (an unscheduled draw or assessment).

    Called by every service that records a completion (ctDNA draw, imaging, questionnaire,
    injection, follow-up contact); runs inside the caller's transaction.
    """
    reach = dt.timedelta(days=patient.protocol_version.document["cycle_length_days"])
    with transaction.atomic():
        # Lock the candidates: the daily job and a completion must not interleave on an item.
        candidates = list(
            ScheduleItem.objects.select_for_update().filter(
                patient=patient,
                kind=kind,
                status__in=OPEN_ITEM_STATUSES,
                window_opens__lte=on + reach,
                window_closes__gte=on - reach,
            )
        )
        if not candidates:
            return None
        item = min(candidates, key=lambda i: (_distance_days(i, on), i.planned_on, i.pk))
        return _mark(item, on=on, ref=ref, by=by)


# --- the daily job ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DailyResult:
    became_overdue: int
    became_due: int
    became_missed: int
    due_reminders: int
    overdue_reminders: int


# Rows claimed per statement and committed per transaction: a day at 50,000 patients takes a
# few dozen statements, and no transaction holds an unbounded number of row locks (nor does one
# reminder e-mail list more assessments than this).
CLAIM_BATCH = 500
_Row = TypeVar("_Row")


def _batches(rows: Sequence[_Row]) -> list[Sequence[_Row]]:
    return [rows[start : start + CLAIM_BATCH] for start in range(0, len(rows), CLAIM_BATCH)]


def _claim(candidates: QuerySet[ScheduleItem], ids: Sequence[int], **assign: Any) -> set[int]:
    """Set ``assign`` on those of ``ids`` that still match ``candidates``, in one statement;
    return the ids it changed: this run's claims, and no other run's.

    The rows are locked in id order (two overlapping runs never deadlock) and, once a lock is
    granted, re-checked against the conditions (PostgreSQL re-evaluates them on the newest row
    version), so a row a concurrent run claimed first is skipped, not claimed twice. Django's
    ``update()`` cannot say which rows it changed, hence RETURNING. Runs in the caller's
    transaction.
    """
    locked = candidates.filter(pk__in=ids).order_by("pk").select_for_update().values("pk")
    locked_sql, locked_params = locked.query.sql_with_params()
    quote = connection.ops.quote_name
    meta = ScheduleItem._meta
    fields = [meta.get_field(name) for name in assign]
    columns = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    values = [field.get_db_prep_save(assign[field.name], connection) for field in fields]
    pk = quote(meta.pk.column)
    table = quote(meta.db_table)
    # Names come from the model and every value is a parameter.
    sql = f"UPDATE {table} SET {columns} WHERE {pk} IN ({locked_sql}) RETURNING {pk}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, *locked_params])
        return {row[0] for row in cursor.fetchall()}


def _move_status(candidates: QuerySet[ScheduleItem], status: ItemStatus) -> int:
    """Move every item matching ``candidates`` to ``status``, a batch per transaction."""
    ids = list(candidates.order_by("pk").values_list("pk", flat=True))
    moved = 0
    for batch in _batches(ids):
        with transaction.atomic(durable=True):
            moved += len(_claim(candidates, batch, status=status))
    return moved


def _mark_missed(today: dt.date) -> int:
    candidates = ScheduleItem.objects.filter(
        status=ItemStatus.OVERDUE, held=False, missed_after__lt=today
    )
    rows = {
        pk: (patient_id, key, closes)
        for pk, patient_id, key, closes in candidates.order_by("pk").values_list(
            "pk", "patient_id", "key", "window_closes"
        )
    }
    missed = 0
    for batch in _batches(list(rows)):
        with transaction.atomic(durable=True):
            # Claim: only the run whose update changes the row records the miss, in the same
            # transaction as the change.
            claimed = _claim(candidates, batch, status=ItemStatus.MISSED)
            AuditEvent.objects.bulk_create(
                AuditEvent(
                    action="schedule_item_missed",
                    patient_id=rows[pk][0],
                    object_type=ScheduleItem._meta.label,
                    object_id=str(pk),
                    details={"key": rows[pk][1], "window_closed": str(rows[pk][2])},
                )
                for pk in sorted(claimed)
            )
        missed += len(claimed)
    return missed


_STAGES = {
    "due": {
        "stamp": "reminded_due_at",
        "statuses": (ItemStatus.UPCOMING, ItemStatus.DUE),
    },
    "overdue": {
        "stamp": "reminded_overdue_at",
        "statuses": (ItemStatus.OVERDUE, ItemStatus.MISSED),
    },
}


def _reminder_scan(stage: str, today: dt.date) -> QuerySet[ScheduleItem]:
    """The items a stage may remind, by the stage's partial index (stamp not set, status of
    the stage): once the job has moved the statuses, an upcoming or due item's window has not
    closed and an overdue or missed item's has, so the window's date is left to the claim
    (``_reminder_claimable``). With it here, PostgreSQL, which estimates the status and the
    date as if independent, scans every future (or past) item instead: a second at 50,000
    patients rather than milliseconds."""
    spec = _STAGES[stage]
    qs = ScheduleItem.objects.filter(
        status__in=spec["statuses"], **{f"{spec['stamp']}__isnull": True}
    )
    if stage == "due":
        return qs.filter(remind_from__lte=today)
    return qs.filter(held=False)


def _reminder_claimable(stage: str, today: dt.date) -> QuerySet[ScheduleItem]:
    """Every condition of a reminder, checked again by the claim on each row."""
    qs = _reminder_scan(stage, today)
    if stage == "due":
        return qs.filter(window_closes__gte=today)
    return qs.filter(window_closes__lt=today)


def _reminder_text(stage: str, site: Site, items: Sequence[ScheduleItem]) -> tuple[str, str]:
    if stage == "due":
        subject = _("%(n)d assessment(s) due at %(site)s") % {"n": len(items), "site": site.code}
        intro = _("These assessments are now inside their window:")
    else:
        subject = _("%(n)d assessment(s) overdue at %(site)s") % {
            "n": len(items),
            "site": site.code,
        }
        intro = _("These assessments were not recorded before their window closed:")
    lines = [
        _("- %(patient)s: %(what)s %(key)s planned %(planned)s (window %(opens)s to %(closes)s)")
        % {
            "patient": item.patient,
            "what": item.get_kind_display(),
            "key": item.key.split(":", 1)[-1],
            "planned": item.planned_on,
            "opens": item.window_opens,
            "closes": item.window_closes,
        }
        for item in items
    ]
    return str(subject), "\n".join([str(intro), *lines])


def _remind(stage: str, today: dt.date) -> int:
    candidates = _reminder_claimable(stage, today)
    by_site: dict[int, list[ScheduleItem]] = defaultdict(list)
    for item in (
        _reminder_scan(stage, today)
        .select_related("patient__site")
        .order_by("patient__site_id", "planned_on", "pk")
    ):
        by_site[item.patient.site_id].append(item)
    stamp = _STAGES[stage]["stamp"]
    sent = 0
    for site_items in by_site.values():
        site = site_items[0].patient.site
        recipients = site_staff_emails(site)
        for items in _batches(site_items):
            with transaction.atomic(durable=True):
                # Claim: a concurrent run waits on the rows, then finds them stamped. The stamp
                # is bookkeeping, kept outside the clinical history on purpose (the send is
                # audited).
                won = _claim(candidates, [item.pk for item in items], **{stamp: timezone.now()})
                claimed = [item for item in items if item.pk in won]
                if not claimed:
                    continue
                subject, body = _reminder_text(stage, site, claimed)
                # The e-mail leaves inside the claiming transaction, on purpose: the claimed
                # rows stay locked for one send, and a failure or a worker killed mid-send
                # rolls the claims back, so the retried or redelivered task sends them (never
                # lost; twice only if the process dies between the SMTP hand-over and the
                # commit).
                if recipients:
                    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
                AuditEvent.objects.bulk_create(
                    AuditEvent(
                        action=f"schedule_reminder_{stage}",
                        patient_id=item.patient_id,
                        object_type=ScheduleItem._meta.label,
                        object_id=str(item.pk),
                        details={"key": item.key, "recipients": len(recipients)},
                    )
                    for item in claimed
                )
            sent += len(claimed)
    return sent


def schedule_daily(*, today: dt.date) -> DailyResult:
    """The daily schedule job (see the module docstring). Idempotent; safe to run twice at once.

    The status moves are conditional UPDATEs of the items found on indexed dates, a batch per
    transaction (``status`` is derived from the dates and the completion, so it is bookkeeping
    kept outside the history; a missed item is recorded as an audit event in the transaction
    that marks it). Each site's reminders are claimed and sent a batch per transaction (one
    e-mail per batch): a failed e-mail or a killed worker rolls the claims back for the retry.
    """
    became_overdue = _move_status(
        ScheduleItem.objects.filter(
            status__in=[ItemStatus.UPCOMING, ItemStatus.DUE], window_closes__lt=today
        ),
        ItemStatus.OVERDUE,
    )
    became_due = _move_status(
        ScheduleItem.objects.filter(status=ItemStatus.UPCOMING, window_opens__lte=today),
        ItemStatus.DUE,
    )
    became_missed = _mark_missed(today)
    due_reminders = _remind("due", today)
    overdue_reminders = _remind("overdue", today)
    result = DailyResult(
        became_overdue, became_due, became_missed, due_reminders, overdue_reminders
    )
    audit_event_record(action="schedule_daily_run", details={"today": str(today), **vars(result)})
    return result
