"""Who sees what on the central-monitoring dashboards and exports (decided here, once).

Every page, htmx fragment, table CSV and export goes through :func:`require_page` or
:func:`require_export`, and every query through ``trial.selectors.access.scope_by_site``:

- site staff (investigator, research coordinator): the operational views (enrolment and screen
  failures, visit and sample compliance, SAE clocks) and the exports, of their own sites only;
- sponsor monitor: every site, read-only, pseudonymised (trial numbers, never screening
  numbers); efficacy pooled over the arms only. Patient-level exports mask what reveals the
  randomized arm (the step after randomization, the allocated arm, the regimen of Step 2/3
  lines, the crossover), so the arm-by-outcome comparison cannot be rebuilt from them;
- statistician and data manager (the data-monitoring roles): everything, including efficacy
  and quality of life by arm (Kaplan-Meier by arm, hazard ratio, log-rank);
- laboratory service accounts and users without a staff profile: nothing.
"""

from __future__ import annotations

from enum import StrEnum

from trial.models import CENTRAL_ROLES, SITE_ROLES, Role, StaffProfile
from trial.selectors.access import User, profile_of, visible_site_ids

from .exceptions import DashboardPageForbidden, ExportForbidden
from .models import ExportKind


class Page(StrEnum):
    OVERVIEW = "overview"
    ENROLMENT = "enrolment"
    FLOW = "flow"
    CTDNA = "ctdna"
    OPERATIONS = "operations"
    SAFETY = "safety"
    EFFICACY = "efficacy"
    EFFICACY_BY_ARM = "efficacy_by_arm"
    QOL = "qol"
    EXPORTS = "exports"


#: Statistician and data manager: the roles that may see efficacy by arm.
BY_ARM_ROLES = frozenset({Role.STATISTICIAN, Role.DATA_MANAGER})
DASHBOARD_ROLES = SITE_ROLES | CENTRAL_ROLES

PAGE_ROLES: dict[Page, frozenset[str]] = {
    Page.OVERVIEW: DASHBOARD_ROLES,
    Page.ENROLMENT: DASHBOARD_ROLES,
    Page.OPERATIONS: DASHBOARD_ROLES,
    Page.EXPORTS: DASHBOARD_ROLES,
    Page.FLOW: CENTRAL_ROLES,
    Page.CTDNA: CENTRAL_ROLES,
    Page.SAFETY: CENTRAL_ROLES,
    Page.EFFICACY: CENTRAL_ROLES,
    Page.QOL: CENTRAL_ROLES,
    Page.EFFICACY_BY_ARM: BY_ARM_ROLES,
}

EXPORT_ROLES: dict[str, frozenset[str]] = {kind: DASHBOARD_ROLES for kind in ExportKind.values}


def require_page(user: User | None, page: Page) -> StaffProfile:
    """The user's profile if their role may open ``page``; 403 ``dashboard_forbidden`` else."""
    profile = profile_of(user)
    if profile is None or profile.role not in PAGE_ROLES[page]:
        raise DashboardPageForbidden(details={"page": page.value})
    return profile


def require_export(user: User | None, kind: str) -> StaffProfile:
    profile = profile_of(user)
    if profile is None or profile.role not in EXPORT_ROLES.get(kind, frozenset()):
        raise ExportForbidden(details={"export": kind})
    return profile


def pages_for(user: User | None) -> list[Page]:
    """The pages the user may open, in menu order."""
    profile = profile_of(user)
    if profile is None:
        return []
    return [page for page in Page if profile.role in PAGE_ROLES[page]]


def sees_arms(user: User | None) -> bool:
    """Whether analyses may be split by randomized arm for this user."""
    profile = profile_of(user)
    return profile is not None and profile.role in BY_ARM_ROLES


def masks_arms(user: User | None) -> bool:
    """Whether patient-level exports hide the randomized arm (sponsor monitors)."""
    profile = profile_of(user)
    return profile is None or profile.role == Role.SPONSOR_MONITOR


def snapshot_scope(user: User | None) -> str:
    """Everything the policy lets the user see, as a key for page snapshots: users with the same
    scope are shown the same panels, users with different scopes never share one. It holds the
    visible sites ("all" for the central roles), whether arms are shown (:func:`sees_arms`) and
    whether they are masked (:func:`masks_arms`); a new user-dependent rule in a page's panels
    must be added here."""
    site_ids = visible_site_ids(user)
    sites = "all" if site_ids is None else ",".join(str(pk) for pk in sorted(site_ids))
    return f"sites={sites};arms={int(sees_arms(user))};masked={int(masks_arms(user))}"
