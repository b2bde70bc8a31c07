"""Laboratories and their service accounts."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from trial.exceptions import ReasonRequired, RoleNotAllowed
from trial.models import Role, Site, StaffProfile
from trial.selectors.access import role_of
from trial.services.audit import audit_event_record, tracked_save

from ..exceptions import DuplicateLab, LabCodeInvalid
from ..models import LAB_CODE_PATTERN, Lab

LAB_ADMIN_ROLES = frozenset({Role.DATA_MANAGER})


def _require_lab_admin(by: Any) -> None:
    if not (getattr(by, "is_superuser", False) or role_of(by) in LAB_ADMIN_ROLES):
        raise RoleNotAllowed()


def lab_register(*, by: Any, code: str, name: str, sites: Iterable[Site]) -> Lab:
    """Create a laboratory with its service account (role ``lab``, no password, not staff).

    Tokens are issued separately (``manage.py create_lab_token``). Errors: role_not_allowed
    (data managers and superusers only), invalid_lab_code, duplicate_lab.
    """
    _require_lab_admin(by)
    if not re.match(LAB_CODE_PATTERN, code or ""):
        raise LabCodeInvalid(details={"code": code})
    username = f"lab-{code.lower()}"
    users = get_user_model().objects
    with transaction.atomic(durable=True):
        if Lab.objects.filter(code=code).exists() or users.filter(username=username).exists():
            raise DuplicateLab(details={"code": code})
        user = users.create_user(username=username, password=None, is_staff=False)
        tracked_save(StaffProfile(user=user, role=Role.LAB), by=by)
        lab = Lab(code=code, name=name, service_user=user)
        tracked_save(lab, by=by)
        lab.sites.set(list(sites))
        audit_event_record(
            action="lab_registered",
            actor=by,
            obj=lab,
            details={"code": code, "sites": sorted(s.code for s in lab.sites.all())},
        )
    return lab


def lab_update(*, by: Any, lab: Lab, name: str, sites: Iterable[Site], reason: str) -> Lab:
    """Rename a laboratory or change the sites it serves, with a reason (history keeps both)."""
    _require_lab_admin(by)
    if not (reason and reason.strip()):
        raise ReasonRequired()
    with transaction.atomic(durable=True):
        # Lock the lab: two concurrent edits of its sites must not interleave.
        locked = Lab.objects.select_for_update().get(pk=lab.pk)
        locked.name = name
        tracked_save(locked, by=by, reason=reason, update_fields=["name"])
        locked._history_user = by  # type: ignore[attr-defined]
        locked._change_reason = reason.strip()  # type: ignore[attr-defined]
        locked.sites.set(list(sites))
    return locked
