"""Snapshots of the heavy pages (operations, quality of life, safety, ctDNA, enrolment, flow):
served while fresh,
recomputed when stale, never shared between access scopes, filled by the beat task.

The suite turns snapshots off (tests/conftest.py); these tests turn them on, on a cache of
their own (process memory), so no other test and no other database sees their snapshots.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.http import http_date

from monitoring.dashboard import snapshots
from monitoring.dashboard.access import Page, snapshot_scope
from monitoring.dashboard.tasks import dashboard_snapshots_refresh_task

from . import html as h

MAX_AGE = 300
SNAPSHOT_URLS = [
    "/dashboard/operations/",
    "/dashboard/qol/",
    "/dashboard/safety/",
    "/dashboard/ctdna/",
    "/dashboard/enrolment/",
    "/dashboard/flow/",
]
#: The snapshot pages site staff may open (the others are central).
SITE_URLS = ["/dashboard/operations/", "/dashboard/enrolment/"]


@pytest.fixture(autouse=True)
def _snapshots_on(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "dashboard-snapshot-tests",
        }
    }
    settings.DASHBOARD_SNAPSHOT_MAX_AGE = MAX_AGE
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def computed(monkeypatch):
    """The pages computed live, in order (a snapshot served from the cache adds nothing)."""
    pages: list[str] = []
    compute = snapshots.snapshot_compute

    def counting(*, page, user, filters):
        pages.append(page.value)
        return compute(page=page, user=user, filters=filters)

    monkeypatch.setattr(snapshots, "snapshot_compute", counting)
    return pages


def _get(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return response


def _panels(html: str) -> str:
    return html[html.index('<div id="panels"') :]


def _stamp(html: str) -> str:
    """The "as of" line as displayed."""
    return h._text(re.search(r'<p class="as-of"[^>]*>(.*?)</p>', html, re.S).group(1))


def _as_of(html: str) -> str:
    return re.search(r'data-as-of="([^"]+)"', html).group(1)


def test_a_fresh_snapshot_is_served_and_a_stale_one_recomputed(
    db, known, on_today, as_persona, computed
):
    client = as_persona(known, "stat")
    first = _get(client, "/dashboard/operations/").content.decode()
    assert computed == ["operations"]
    on_today.shift(dt.timedelta(seconds=MAX_AGE - 1))
    second = _get(client, "/dashboard/operations/").content.decode()
    assert computed == ["operations"]  # served from the snapshot
    assert _panels(second) == _panels(first)
    assert _stamp(first) == "Figures as of 13:00 (refreshed every 5 min)"  # noon UTC, Paris time
    on_today.shift(dt.timedelta(seconds=1))
    third = _get(client, "/dashboard/operations/").content.decode()
    assert computed == ["operations", "operations"]  # stale: computed again
    assert _as_of(third) > _as_of(first)
    assert h.table(third, "compliance") == h.table(first, "compliance")


def test_a_filtered_view_is_cached_after_its_first_use(db, known, on_today, as_persona, computed):
    client = as_persona(known, "dm")
    _get(client, "/dashboard/safety/?by=site")
    _get(client, "/dashboard/safety/?by=site")
    _get(client, "/dashboard/safety/")
    _get(client, "/dashboard/safety/?by=age_group")  # the default characteristic
    assert computed == ["safety", "safety"]


def test_scopes_follow_the_policy(db, known):
    users = known.users
    scope = {name: snapshot_scope(users[name]) for name in ("inv_a", "coord_a", "inv_b", "dm")}
    scope.update({name: snapshot_scope(users[name]) for name in ("stat", "sponsor")})
    assert scope["inv_a"] == scope["coord_a"] != scope["inv_b"]
    assert scope["dm"] == scope["stat"] != scope["sponsor"]  # arms shown / masked
    assert len({scope["inv_a"], scope["inv_b"], scope["dm"], scope["sponsor"]}) == 4


def test_a_site_user_never_gets_the_all_sites_snapshot(db, known, on_today, as_persona, computed):
    everything = _get(as_persona(known, "dm"), "/dashboard/operations/").content.decode()
    assert {row[0] for row in h.table(everything, "compliance")[1:]} == {
        "FR01",
        "FR02",
        "All sites",
    }
    own = _get(as_persona(known, "coord_b"), "/dashboard/operations/").content.decode()
    assert computed == ["operations", "operations"]  # its own scope: computed, not shared
    assert {row[0] for row in h.table(own, "compliance")[1:]} == {"FR02", "All sites"}
    assert "PADA1-FR01" not in own
    # Filling every scope does not change that: FR02 staff still see FR02 only.
    dashboard_snapshots_refresh_task()
    for persona in ("inv_b", "coord_b"):
        html = _get(as_persona(known, persona), "/dashboard/operations/").content.decode()
        assert {row[0] for row in h.table(html, "compliance")[1:]} == {"FR02", "All sites"}
    csv = _get(as_persona(known, "inv_b"), "/dashboard/operations/csv/compliance/")
    assert b"FR01" not in csv.content


def test_the_beat_task_fills_every_scope_in_use_and_is_idempotent(
    db, known, on_today, as_persona, computed
):
    refreshed = dashboard_snapshots_refresh_task()
    # 6 pages x (data manager and statistician, sponsor monitor)
    # + operations and enrolment x (FR01, FR02)
    assert refreshed == 16
    assert len(computed) == 16
    assert snapshots.snapshots_refresh() == snapshots.RefreshResult(refreshed=0, skipped=16)
    for persona in ("dm", "stat", "sponsor"):
        client = as_persona(known, persona)
        for url in SNAPSHOT_URLS:
            _get(client, url)
    for persona in ("inv_a", "coord_a", "inv_b", "coord_b"):
        for url in SITE_URLS:
            _get(as_persona(known, persona), url)
    assert len(computed) == 16  # every default page came from the beat's snapshots
    # Until half the maximum age the beat's runs leave them; then they refresh them all.
    on_today.shift(dt.timedelta(seconds=MAX_AGE // 2 - 1))
    assert snapshots.snapshots_refresh().refreshed == 0
    on_today.shift(dt.timedelta(seconds=1))
    assert snapshots.snapshots_refresh().refreshed == 16


def test_the_beat_task_does_not_pile_up(db, known, on_today, computed):
    lock = f"{snapshots._LOCK_KEY}:{connection.settings_dict['NAME']}"
    assert cache.add(lock, 1, timeout=MAX_AGE)  # a run in progress
    assert snapshots.snapshots_refresh() == snapshots.RefreshResult(0, 0, locked=True)
    assert computed == []
    cache.delete(lock)
    assert snapshots.snapshots_refresh().refreshed == 16


def test_the_table_csv_states_when_its_figures_were_computed(db, known, on_today, as_persona):
    client = as_persona(known, "sponsor")
    as_of = _as_of(_get(client, "/dashboard/ctdna/").content.decode())
    on_today.shift(dt.timedelta(seconds=60))
    response = _get(client, "/dashboard/ctdna/csv/turnaround/")
    stamped = dt.datetime.fromisoformat(as_of)
    assert dt.datetime.fromisoformat(response["X-Figures-As-Of"]) == stamped
    assert response["Last-Modified"] == http_date(stamped.timestamp())


def test_off_computes_every_request_live(db, known, on_today, as_persona, computed, settings):
    settings.DASHBOARD_SNAPSHOT_MAX_AGE = 0
    client = as_persona(known, "stat")
    html = _get(client, "/dashboard/qol/").content.decode()
    _get(client, "/dashboard/qol/")
    assert computed == ["qol", "qol"]
    assert _stamp(html) == "Figures as of 13:00"
    assert snapshots.snapshots_refresh() == snapshots.RefreshResult(0, 0)


def test_the_other_pages_are_computed_live(db, known, on_today, as_persona, computed):
    client = as_persona(known, "stat")
    html = _get(client, "/dashboard/efficacy/").content.decode()
    _get(client, "/dashboard/efficacy/")
    assert computed == ["efficacy", "efficacy"]
    assert _stamp(html) == "Figures as of 13:00"
    assert Page.EFFICACY not in snapshots.SNAPSHOT_PAGES


#: Queries of a page served from its snapshot: session, user, staff profile and its sites, the
#: filters (protocols) and the filter bar (protocols, sites); no panel query.
SERVED_QUERIES = {
    "/dashboard/operations/": 7,
    "/dashboard/qol/": 7,
    "/dashboard/safety/": 7,
    "/dashboard/ctdna/": 7,
    "/dashboard/enrolment/": 7,
    "/dashboard/flow/": 7,
}


@pytest.mark.parametrize("url", SNAPSHOT_URLS)
def test_a_snapshot_served_page_makes_few_queries(
    db, known, on_today, as_persona, url, settings, django_assert_max_num_queries
):
    client = as_persona(known, "sponsor")
    _get(client, url)
    settings.DASHBOARD_SNAPSHOT_MAX_AGE = 0
    with CaptureQueriesContext(connection) as live:
        _get(client, url)
    settings.DASHBOARD_SNAPSHOT_MAX_AGE = MAX_AGE
    with django_assert_max_num_queries(SERVED_QUERIES[url]) as served:
        _get(client, url)
    assert len(served) < len(live)


def test_the_beat_schedule_names_the_task_on_an_existing_queue():
    from deploy.celery import app

    entry = app.conf.beat_schedule["dashboard-snapshots"]
    assert entry["task"] == dashboard_snapshots_refresh_task.name
    assert app.conf.task_routes[entry["task"]] == {"queue": "exports"}
    # every minute, refreshing what is older than half the maximum age: before it is stale
    assert entry["schedule"] == 60.0
