"""Operations: assessment compliance per site and kind, and the SAE reporting clocks.

Compliance (the definitions of ``monitoring.analysis.rates``): an assessment is expected once
its window has closed; expected = done in window + done out of window + overdue + missed;
compliance = done in window / expected (Wilson interval). The stored status is moved forward by
the daily job, so open items are reclassified here from their dates against ``today`` (as
``trial.selectors.schedule`` does): past ``missed_after`` an open item is missed (unless its
cycle is on hold, which never makes it missed), past its window it is overdue. Cancelled items
(no longer planned) are not expected.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, F, Q

from monitoring.analysis.rates import Proportion, wilson_interval
from trial.models import OPEN_ITEM_STATUSES, AdverseEvent, ItemStatus, ScheduleItem
from trial.selectors.access import User

from ..filters import DashboardFilters
from . import scoped


@dataclass(frozen=True)
class ComplianceRow:
    site: str | None  # None: all sites
    kind: str
    done_in_window: int
    done_out_of_window: int
    overdue: int
    missed: int
    open: int

    @property
    def expected(self) -> int:
        return self.done_in_window + self.done_out_of_window + self.overdue + self.missed

    @property
    def compliance(self) -> Proportion:
        return wilson_interval(self.done_in_window, self.expected)


def _compliance_counts(today: dt.date) -> dict[str, Count]:
    is_open = Q(status__in=OPEN_ITEM_STATUSES)
    in_window = Q(done_on__gte=F("window_opens"), done_on__lte=F("window_closes"))
    past_grace = is_open & Q(missed_after__lt=today, held=False)
    return {
        "done_in_window": Count("pk", filter=Q(status=ItemStatus.DONE) & in_window),
        "done_out_of_window": Count("pk", filter=Q(status=ItemStatus.DONE) & ~in_window),
        "missed": Count("pk", filter=Q(status=ItemStatus.MISSED) | past_grace),
        "overdue": Count("pk", filter=is_open & Q(window_closes__lt=today) & ~past_grace),
        "open": Count("pk", filter=is_open & Q(window_closes__gte=today)),
    }


def compliance(
    *, user: User | None, filters: DashboardFilters, today: dt.date
) -> list[ComplianceRow]:
    """One row per (site, kind) present, then one per kind over all sites (one query)."""
    rows = list(
        scoped(ScheduleItem.objects.all(), user, filters, "patient__")
        .exclude(status=ItemStatus.CANCELLED)
        .values(site=F("patient__site__code"), item_kind=F("kind"))
        .annotate(**_compliance_counts(today))
        .order_by("site", "item_kind")
    )
    names = ("done_in_window", "done_out_of_window", "overdue", "missed", "open")
    per_site = [ComplianceRow(r["site"], r["item_kind"], *(r[n] for n in names)) for r in rows]
    totals: dict[str, list[int]] = {}
    for row in per_site:
        sums = totals.setdefault(row.kind, [0] * len(names))
        for index, name in enumerate(names):
            sums[index] += getattr(row, name)
    return per_site + [ComplianceRow(None, kind, *sums) for kind, sums in sorted(totals.items())]


@dataclass(frozen=True)
class SaeClockCounts:
    site: str
    reported_on_time: int
    reported_late: int
    open_within_clock: int
    open_overdue: int


@dataclass(frozen=True)
class OpenSae:
    trial_number: str
    site: str
    term: str
    grade: int
    clock_started_at: dt.datetime
    due_at: dt.datetime


def _saes(user: User | None, filters: DashboardFilters):
    return scoped(AdverseEvent.objects.all(), user, filters, "patient__").filter(serious=True)


def sae_clock_counts(
    *, user: User | None, filters: DashboardFilters, now: dt.datetime
) -> list[SaeClockCounts]:
    """Serious adverse events per site: reported within the clock or late, still open within
    the clock or overdue (one query)."""
    reported = Q(sae_reported_at__isnull=False)
    rows = (
        _saes(user, filters)
        .values(site=F("patient__site__code"))
        .annotate(
            on_time=Count("pk", filter=reported & Q(sae_reported_at__lte=F("sae_report_due_at"))),
            late=Count("pk", filter=reported & Q(sae_reported_at__gt=F("sae_report_due_at"))),
            open_ok=Count("pk", filter=~reported & Q(sae_report_due_at__gte=now)),
            open_late=Count("pk", filter=~reported & Q(sae_report_due_at__lt=now)),
        )
        .order_by("site")
    )
    return [
        SaeClockCounts(r["site"], r["on_time"], r["late"], r["open_ok"], r["open_late"])
        for r in rows
    ]


def open_saes(*, user: User | None, filters: DashboardFilters) -> list[OpenSae]:
    """SAEs not yet reported to the sponsor, the most urgent first (one query)."""
    rows = (
        _saes(user, filters)
        .filter(sae_reported_at__isnull=True)
        .order_by("sae_report_due_at", "pk")
        .values_list(
            "patient__trial_number",
            "patient__site__code",
            "term",
            "grade",
            "sae_clock_started_at",
            "sae_report_due_at",
        )
    )
    return [OpenSae(*row) for row in rows]
