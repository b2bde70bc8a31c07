"""Snapshots of the heavy dashboard pages: their panels computed ahead, served "as of" a time.

Central monitoring is not real-time. The pages whose panels read hundreds of thousands of rows
(operations, quality of life, safety, ctDNA, enrolment, flow) are computed by the Celery beat task
``dashboard_snapshots_refresh_task`` for every access scope in use, and by a request when no
snapshot younger than ``DASHBOARD_SNAPSHOT_MAX_AGE`` seconds exists (a filtered view too, so it
is cached after its first use). The page and the table CSVs state when the figures were
computed.

A snapshot is keyed by the page, the access scope (:func:`access.snapshot_scope`: the sites the
policy lets the user see and whether arms are shown or masked), the validated filters and the
language: a snapshot computed for one scope is never served to another. The key also names the
database, so two databases sharing one Redis never read each other's snapshots.
``DASHBOARD_SNAPSHOT_MAX_AGE = 0`` turns snapshots off: every request computes live.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.template.loader import render_to_string
from django.utils import timezone, translation

from trial.models import StaffProfile
from trial.selectors.access import User

from .access import DASHBOARD_ROLES, PAGE_ROLES, Page, snapshot_scope
from .filters import DashboardFilters, parse_filters
from .pages import PAGES
from .pages.panel import Panel

#: The pages served from snapshots: each request read 0.3-2.3 M rows at 50k patients, or took
#: more than the 300 ms a dashboard may take (enrolment 0.33 s, flow 1.1 s).
SNAPSHOT_PAGES: tuple[Page, ...] = (
    Page.OPERATIONS,
    Page.QOL,
    Page.SAFETY,
    Page.CTDNA,
    Page.ENROLMENT,
    Page.FLOW,
)

_VERSION = 2  # bump when Panel or the pages' output changes shape


@dataclass(frozen=True)
class Snapshot:
    """A page's panels as computed at ``computed_at`` (when the computation started, so the
    figures are at least that recent), with the computation's duration."""

    page: str
    panels: list[Panel]
    #: The panels rendered (``dashboard/_panels.html``): serving a large page is then reading
    #: it, not formatting thousands of table cells again.
    html: str
    computed_at: dt.datetime
    duration_s: float
    max_age_s: int

    def age_s(self, now: dt.datetime) -> float:
        return (now - self.computed_at).total_seconds()


def max_age_s() -> int:
    return int(settings.DASHBOARD_SNAPSHOT_MAX_AGE)


def enabled(page: Page) -> bool:
    return page in SNAPSHOT_PAGES and max_age_s() > 0


def snapshot_key(page: Page, scope: str, filters: DashboardFilters, language: str) -> str:
    values = json.dumps(sorted(filters.as_dict().items()))
    digest = hashlib.sha256(f"{scope}|{values}|{language}".encode()).hexdigest()[:32]
    database = connection.settings_dict.get("NAME") or ""
    return f"dashboard:snapshot:v{_VERSION}:{database}:{page.value}:{digest}"


def snapshot_compute(*, page: Page, user: User | None, filters: DashboardFilters) -> Snapshot:
    """The page's panels computed now, live (no cache read or write)."""
    started_at = timezone.now()
    started = time.perf_counter()
    panels = PAGES[page].build(
        user=user, filters=filters, today=timezone.localdate(started_at), now=started_at
    )
    max_age = max_age_s() if enabled(page) else 0
    html = render_to_string(
        "dashboard/_panels.html",
        {
            "panels": panels,
            "query": filters.query_string(),
            "csv_url": f"dashboard:{page.value}_csv",
            "as_of": started_at,
            "refresh_min": max_age // 60,
        },
    )
    return Snapshot(
        page=page.value,
        panels=panels,
        html=html,
        computed_at=started_at,
        duration_s=time.perf_counter() - started,
        max_age_s=max_age,
    )


def _store(key: str, snapshot: Snapshot) -> None:
    # The freshness check reads computed_at; the cache timeout only evicts what nobody reads.
    cache.set(key, snapshot, timeout=max(2 * snapshot.max_age_s, 60))


def _cached(key: str, now: dt.datetime, younger_than_s: float) -> Snapshot | None:
    snapshot = cache.get(key)
    if isinstance(snapshot, Snapshot) and snapshot.age_s(now) < younger_than_s:
        return snapshot
    return None


def page_snapshot(*, page: Page, user: User | None, filters: DashboardFilters) -> Snapshot:
    """The page's panels for this user and these filters: a snapshot of the user's scope younger
    than the maximum age, or computed now and stored for the next request."""
    if not enabled(page):
        return snapshot_compute(page=page, user=user, filters=filters)
    key = snapshot_key(page, snapshot_scope(user), filters, translation.get_language() or "")
    snapshot = _cached(key, timezone.now(), max_age_s())
    if snapshot is None:
        snapshot = snapshot_compute(page=page, user=user, filters=filters)
        _store(key, snapshot)
    return snapshot


def _representatives() -> Iterator[tuple[Page, str, str, User]]:
    """(page, scope, language, one active user of that scope allowed on the page), for every
    snapshot page and scope in use."""
    profiles = (
        StaffProfile.objects.filter(user__is_active=True, role__in=DASHBOARD_ROLES)
        .select_related("user")
        .prefetch_related("sites")
        .order_by("pk")
    )
    seen: set[tuple[Page, str, str]] = set()
    for profile in profiles:
        profile.site_ids = frozenset(s.pk for s in profile.sites.all())  # type: ignore[attr-defined]
        user = profile.user
        user._staff_profile_cache = profile  # as profile_of() caches it
        scope = snapshot_scope(user)
        language = profile.language or settings.LANGUAGE_CODE
        for page in SNAPSHOT_PAGES:
            if profile.role in PAGE_ROLES[page] and (page, scope, language) not in seen:
                seen.add((page, scope, language))
                yield page, scope, language, user


@dataclass(frozen=True)
class RefreshResult:
    refreshed: int
    skipped: int
    locked: bool = False


_LOCK_KEY = "dashboard:snapshot:refresh-lock"


def snapshots_refresh() -> RefreshResult:
    """Refresh the default (unfiltered) snapshot of every snapshot page for every scope in use.

    The beat runs it every minute; it recomputes the snapshots older than half the maximum age,
    so a default snapshot is refreshed before it is stale (with the default 300 s) and a request
    rarely computes one. Idempotent and never piled up: one run at a time (a cache lock that
    expires after the maximum age if a worker dies), and a snapshot younger than half the maximum
    age (refreshed by a request or an earlier run) is left as it is."""
    if max_age_s() <= 0:
        return RefreshResult(0, 0)
    lock = f"{_LOCK_KEY}:{connection.settings_dict.get('NAME') or ''}"
    if not cache.add(lock, 1, timeout=max_age_s()):
        return RefreshResult(0, 0, locked=True)
    refreshed = skipped = 0
    try:
        for page, scope, language, user in _representatives():
            with translation.override(language):
                filters = parse_filters({}, user=user, choices=PAGES[page].choices)
                key = snapshot_key(page, scope, filters, language)
                if _cached(key, timezone.now(), max_age_s() / 2) is not None:
                    skipped += 1
                    continue
                _store(key, snapshot_compute(page=page, user=user, filters=filters))
                refreshed += 1
    finally:
        cache.delete(lock)
    return RefreshResult(refreshed, skipped)
