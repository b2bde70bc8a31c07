"""Site isolation and role checks: the one place that decides who sees and changes what.

Every route (admin, API, dashboards, exports) scopes its querysets through these functions.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from trial.exceptions import RoleNotAllowed, SiteNotAllowed
from trial.models import CENTRAL_ROLES, SITE_ROLES, Role, Site, StaffProfile

User = AbstractBaseUser | AnonymousUser


def profile_of(user: User | None) -> StaffProfile | None:
    """The user's staff profile, cached on the user object for the request."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    cached = getattr(user, "_staff_profile_cache", False)
    if cached is not False:
        return cached
    profile = StaffProfile.objects.filter(user=user).prefetch_related("sites").first()
    if profile is not None:
        profile.site_ids = frozenset(s.pk for s in profile.sites.all())  # type: ignore[attr-defined]
    user._staff_profile_cache = profile  # type: ignore[union-attr]
    return profile


def role_of(user: User | None) -> str | None:
    profile = profile_of(user)
    return profile.role if profile else None


def visible_site_ids(user: User | None) -> frozenset[int] | None:
    """Site ids the user may see; None means every site (central roles)."""
    profile = profile_of(user)
    if profile is None:
        return frozenset()
    if profile.role in CENTRAL_ROLES:
        return None
    return profile.site_ids  # type: ignore[attr-defined]


def scope_by_site(qs: QuerySet, user: User | None, site_field: str = "site") -> QuerySet:
    """Restrict ``qs`` to rows whose ``site_field`` the user may see."""
    site_ids = visible_site_ids(user)
    if site_ids is None:
        return qs
    return qs.filter(**{f"{site_field}__in": site_ids})


def sites_visible_to(user: User | None) -> QuerySet[Site]:
    return scope_by_site(Site.objects.all(), user, site_field="pk")


def require_role(user: User | None, roles: frozenset[str] | set[str]) -> StaffProfile:
    profile = profile_of(user)
    if profile is None or profile.role not in roles:
        raise RoleNotAllowed()
    return profile


def require_site_writer(
    user: User | None, site: Site, roles: frozenset[str] | set[str] = SITE_ROLES
) -> StaffProfile:
    """The user must hold one of ``roles`` at ``site``. Another site's record is "not found"."""
    profile = profile_of(user)
    if profile is None:
        raise RoleNotAllowed()
    if profile.role in SITE_ROLES and site.pk not in profile.site_ids:  # type: ignore[attr-defined]
        raise SiteNotAllowed()
    if profile.role not in roles:
        raise RoleNotAllowed()
    return profile


INVESTIGATOR_ONLY = frozenset({Role.INVESTIGATOR})
CORRECTION_ROLES = SITE_ROLES | {Role.DATA_MANAGER}
