"""API tokens: issued once in clear, stored as a SHA-256 digest, revocable, expiring."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from trial.exceptions import InvalidState
from trial.models import ApiToken

from .audit import audit_event_record


def token_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_issue(
    *, user: Any, label: str = "", ttl_days: int | None = None, by: Any = None
) -> tuple[ApiToken, str]:
    """Issue a new token for ``user``; returns the row and the only copy of the key."""
    key = secrets.token_urlsafe(32)
    days = ttl_days if ttl_days is not None else settings.API_TOKEN_TTL_DAYS
    with transaction.atomic(durable=True):
        token = ApiToken.objects.create(
            user=user,
            digest=token_digest(key),
            prefix=key[:8],
            label=label,
            expires_at=timezone.now() + dt.timedelta(days=days),
        )
        audit_event_record(
            action="api_token_issued",
            actor=by,
            obj=token,
            details={
                "user": user.get_username(),
                "label": label,
                "expires_at": token.expires_at.isoformat(),
            },
        )
    return token, key


def api_token_revoke(*, token: ApiToken, by: Any = None) -> ApiToken:
    with transaction.atomic(durable=True):
        n = ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=timezone.now())
        if n == 0:
            raise InvalidState("The token is already revoked.")
        audit_event_record(
            action="api_token_revoked",
            actor=by,
            obj=token,
            details={"user": token.user.get_username()},
        )
    token.refresh_from_db()
    return token
