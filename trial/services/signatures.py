"""Electronic signatures: the signer re-enters their password at the moment of signing.

The signature stored with the signed record is the signer, the time and the meaning of the
signature (21 CFR Part 11 §11.50 manifestation: printed name, date and time, meaning).

Wrong passwords are counted per account in the shared cache (Redis in production) and lock
signing after ``AXES_FAILURE_LIMIT`` failures for ``AXES_COOLOFF_HOURS`` — the same policy as
the login page, so a stolen API token does not give unlimited password guesses (§11.300(d)).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.cache import cache

from trial.exceptions import SignatureLocked, WrongPassword


def _key(user: Any) -> str:
    return f"esig-failures:{user.pk}"


def _cooloff_seconds() -> int:
    cooloff = settings.AXES_COOLOFF_TIME
    if isinstance(cooloff, dt.timedelta):
        return int(cooloff.total_seconds())
    return int(float(cooloff) * 3600)


def signature_verify(*, user: Any, password: str) -> None:
    """Raise WrongPassword (403 ``wrong_password``) unless ``password`` is the user's, and
    SignatureLocked (403 ``signature_locked``) once too many wrong passwords were entered,
    even if this one is right."""
    limit = settings.AXES_FAILURE_LIMIT
    if int(cache.get(_key(user), 0)) >= limit:
        raise SignatureLocked()
    if password and user.check_password(password):
        cache.delete(_key(user))
        return
    # add() starts the window on the first failure; incr() counts atomically after it.
    if not cache.add(_key(user), 1, timeout=_cooloff_seconds()):
        try:
            cache.incr(_key(user))
        except ValueError:
            cache.add(_key(user), 1, timeout=_cooloff_seconds())
    raise WrongPassword()
