"""Enrolment over time per site, and screen failures by eligibility criterion."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from django.db.models import Count, Exists, JSONField, OuterRef, Q, Subquery
from django.db.models.functions import TruncMonth

from trial.models import EligibilityAssessment, PatientStatus
from trial.selectors.access import User

from ..filters import DashboardFilters
from . import patients


@dataclass(frozen=True)
class MonthlyEnrolment:
    month: dt.date
    site: str
    count: int


def enrolment_by_month(*, user: User | None, filters: DashboardFilters) -> list[MonthlyEnrolment]:
    """Patients enrolled per calendar month and site, oldest month first (one query)."""
    rows = (
        patients(user, filters)
        .filter(enrolled_on__isnull=False)
        .annotate(month=TruncMonth("enrolled_on"))
        .values("month", "site__code")
        .annotate(n=Count("pk"))
        .order_by("month", "site__code")
    )
    return [MonthlyEnrolment(_as_date(r["month"]), r["site__code"], r["n"]) for r in rows]


def _as_date(value) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


@dataclass(frozen=True)
class ScreenFailures:
    screened: int
    failed: int
    in_screening: int
    by_criterion: tuple[tuple[str, int], ...]  # (criterion id, patients failing it)


def screen_failures(*, user: User | None, filters: DashboardFilters) -> ScreenFailures:
    """Screened patients (with an eligibility assessment), screen failures, and how many
    failures each criterion caused, from each failed patient's latest assessment (two
    queries; enrolment dates do not apply: screen failures are never enrolled)."""
    assessed = Exists(EligibilityAssessment.objects.filter(patient=OuterRef("pk")))
    base = patients(user, filters, dates=False)
    counts = base.aggregate(
        screened=Count("pk", filter=Q(assessed)),
        failed=Count("pk", filter=Q(status=PatientStatus.SCREEN_FAILED)),
        in_screening=Count("pk", filter=Q(assessed, status=PatientStatus.SCREENING)),
    )
    latest = (
        EligibilityAssessment.objects.filter(patient=OuterRef("pk"))
        .order_by("-created_at", "-pk")
        .values("failures")[:1]
    )
    per_criterion: Counter[str] = Counter()
    for failures in (
        base.filter(status=PatientStatus.SCREEN_FAILED)
        .annotate(failures=Subquery(latest, output_field=JSONField()))
        .values_list("failures", flat=True)
    ):
        per_criterion.update({f["id"] for f in failures or ()})
    return ScreenFailures(
        screened=counts["screened"],
        failed=counts["failed"],
        in_screening=counts["in_screening"],
        by_criterion=tuple(sorted(per_criterion.items(), key=lambda item: (-item[1], item[0]))),
    )


def criterion_texts(document: dict) -> dict[str, str]:
    """Criterion id -> its wording in the protocol document."""
    eligibility = document.get("eligibility", {})
    return {
        c["id"]: c.get("text", c["id"])
        for section in ("inclusion", "exclusion")
        for c in eligibility.get(section, ())
    }
