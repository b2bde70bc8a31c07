"""Default deny: an authenticated, active user with a staff profile; role checks per view."""

from __future__ import annotations

from rest_framework import permissions

from trial.models import CENTRAL_ROLES, SITE_ROLES, Role
from trial.selectors.access import profile_of


class IsActiveStaff(permissions.BasePermission):
    """Any authenticated user holding a staff profile (site, central or lab)."""

    def has_permission(self, request, view):
        return profile_of(request.user) is not None


class _RolePermission(permissions.BasePermission):
    roles: frozenset[str] = frozenset()

    def has_permission(self, request, view):
        profile = profile_of(request.user)
        return profile is not None and profile.role in self.roles


class IsSiteStaff(_RolePermission):
    roles = SITE_ROLES


class IsInvestigator(_RolePermission):
    roles = frozenset({Role.INVESTIGATOR})


class IsStaffReader(_RolePermission):
    """Humans who read patient data: site staff (own sites) and central roles (all sites)."""

    roles = SITE_ROLES | CENTRAL_ROLES


class IsLab(_RolePermission):
    roles = frozenset({Role.LAB})


class ReadOnlyForCentral(permissions.BasePermission):
    """Safe methods for readers; writes only for site staff."""

    def has_permission(self, request, view):
        profile = profile_of(request.user)
        if profile is None:
            return False
        if request.method in permissions.SAFE_METHODS:
            return profile.role in SITE_ROLES | CENTRAL_ROLES
        return profile.role in SITE_ROLES
