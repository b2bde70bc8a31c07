"""E-mail notifications: after the transaction that caused them commits, or, for a notice
recorded as owed, from inside the transaction that records it sent."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction

from trial.models import SITE_ROLES, Site


def site_staff_emails(site: Site, roles: Iterable[str] = SITE_ROLES) -> list[str]:
    users = (
        get_user_model()
        .objects.filter(staff__sites=site, staff__role__in=list(roles), is_active=True)
        .exclude(email="")
    )
    return sorted(set(users.values_list("email", flat=True)))


def notify_after_commit(*, recipients: list[str], subject: str, body: str) -> None:
    """Queue an e-mail for after commit; nothing leaves if the transaction rolls back."""
    if not recipients:
        return
    transaction.on_commit(
        lambda: send_mail(
            str(subject), str(body), settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=False
        )
    )


def notify_now(*, recipients: list[str], subject: str, body: str) -> None:
    """Send an e-mail at once. For a notice whose sending is recorded in the caller's
    transaction (claimed, then stamped sent): a failure or a killed process rolls the stamp
    back and the notice stays owed. Errors: whatever the e-mail backend raises."""
    if not recipients:
        return
    send_mail(str(subject), str(body), settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=False)
