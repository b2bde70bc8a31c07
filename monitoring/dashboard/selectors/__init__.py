"""Reads behind the dashboards: one database query per panel, scoped by site and filtered.

Each function returns plain values for ``monitoring.analysis`` (records, counts); counting,
grouping and the per-patient dates are computed by the database (``aggregate``, ``annotate``,
``Subquery``) so that the number of queries of a page does not grow with the number of
patients. Site scoping goes through ``trial.selectors.access.scope_by_site``, once per query.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, transaction
from django.db.models import QuerySet

from trial.models import Patient, ProtocolVersion
from trial.selectors.access import User, scope_by_site

from ..filters import DashboardFilters


def scoped(qs: QuerySet, user: User | None, filters: DashboardFilters, prefix: str, *, dates=True):
    """``qs`` restricted to the user's sites and to the filters, on the patient at ``prefix``."""
    site_field = f"{prefix}site" if prefix else "site"
    q = filters.patient_q(prefix) if dates else filters.without_dates().patient_q(prefix)
    return scope_by_site(qs.filter(q), user, site_field)


def patients(user: User | None, filters: DashboardFilters, *, dates=True) -> QuerySet[Patient]:
    return scoped(Patient.objects.all(), user, filters, "", dates=dates)


def protocol_document(filters: DashboardFilters) -> dict[str, Any]:
    """The latest loaded version of the filtered protocol (one query); {} if none."""
    document = (
        ProtocolVersion.objects.filter(protocol_id=filters.protocol_id)
        .order_by("-number")
        .values_list("document", flat=True)
        .first()
    )
    return document or {}


ANALYSIS_WORK_MEM = "64MB"

_DAYS_BETWEEN = {
    "postgresql": "({later} - {earlier})",
    "sqlite": "CAST(julianday({later}) - julianday({earlier}) AS INTEGER)",
}


def days_between(later: str, earlier: str, *, using: str = "default") -> str:
    """SQL for the whole days from the date ``earlier`` to the date ``later`` (two SQL
    expressions), on the database behind ``using``."""
    return _DAYS_BETWEEN[connections[using].vendor].format(later=later, earlier=earlier)


def run_sql(sql: str, params: list[Any], *, using: str = "default") -> list[tuple[Any, ...]]:
    """Rows of one SQL statement. For the per-patient derivations that the ORM would write as
    one correlated subquery per patient and per use of each date (seconds at 50k patients):
    written as joins to grouped tables instead, with the patients taken from the scoped
    queryset (``patients(...).values(...)`` compiled into the statement), so that site
    scoping and the filters still go through ``scoped``."""
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Sorts and hashes over a few hundred thousand rows: in memory rather than in
            # temporary files (4 MB by default), for this statement only.
            cursor.execute(f"SET LOCAL work_mem = '{ANALYSIS_WORK_MEM}'")
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]
