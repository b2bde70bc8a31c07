"""Reads of the calendar: a patient's schedule grouped by status, and the per-site work lists.

The stored status is moved forward by the daily job; reads recompute it from the dates so that
a page shown between two runs is still right (done, missed and cancelled are final).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import Q, QuerySet

from trial.models import OPEN_ITEM_STATUSES, ItemStatus, Patient, ScheduleItem
from trial.rules.schedule import classify

from .access import User, scope_by_site

SCHEDULE_GROUPS = ("upcoming", "due", "overdue", "done", "missed")


def live_status(item: ScheduleItem, today: dt.date) -> str:
    if item.status not in OPEN_ITEM_STATUSES:
        return item.status
    return classify(item, today=today, done_on=None).value  # type: ignore[arg-type]


def patient_schedule(*, patient: Patient, today: dt.date) -> dict[str, list[ScheduleItem]]:
    """The patient's items grouped upcoming / due / overdue / done / missed (cancelled items,
    no longer planned, are left out), each group in planned-date order."""
    groups: dict[str, list[ScheduleItem]] = {name: [] for name in SCHEDULE_GROUPS}
    items = (
        ScheduleItem.objects.filter(patient=patient)
        .exclude(status=ItemStatus.CANCELLED)
        .order_by("planned_on", "kind", "key")
    )
    for item in items:
        item.live_status = live_status(item, today)  # type: ignore[attr-defined]
        groups[item.live_status].append(item)  # type: ignore[attr-defined]
    return groups


def _scoped(qs: QuerySet, user: User | None) -> QuerySet:
    # Superusers (platform administrators) have no staff profile and see every site.
    if user is not None and getattr(user, "is_superuser", False):
        return qs
    return scope_by_site(qs, user, "patient__site")


def due_and_overdue(
    *, user: User | None, today: dt.date, site_code: str | None = None
) -> QuerySet[ScheduleItem]:
    """Items the user's sites must act on: inside their window (due) or past it and not yet
    recorded as missed (overdue), oldest window first."""
    qs = _scoped(ScheduleItem.objects.filter(status__in=OPEN_ITEM_STATUSES), user).filter(
        Q(window_opens__lte=today)
    )
    if site_code:
        qs = qs.filter(patient__site__code=site_code)
    return qs.select_related("patient__site").order_by("patient__site__code", "window_closes", "pk")


def annotate_live(items: Iterable[ScheduleItem], today: dt.date) -> list[ScheduleItem]:
    result = list(items)
    for item in result:
        item.live_status = live_status(item, today)  # type: ignore[attr-defined]
    return result


def recently_missed(*, user: User | None, today: dt.date, days: int = 28) -> QuerySet[ScheduleItem]:
    """Items recorded as missed whose window closed in the last ``days`` days."""
    since = today - dt.timedelta(days=days)
    return (
        _scoped(
            ScheduleItem.objects.filter(status=ItemStatus.MISSED, window_closes__gte=since), user
        )
        .select_related("patient__site")
        .order_by("patient__site__code", "window_closes", "pk")
    )
