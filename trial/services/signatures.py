"""Electronic signatures: the signer re-enters their password at the moment of signing.

The signature stored with the signed record is the signer, the time and the meaning of the
signature (21 CFR Part 11 §11.50 manifestation: printed name, date and time, meaning).
"""

from __future__ import annotations

from typing import Any

from trial.exceptions import WrongPassword


def signature_verify(*, user: Any, password: str) -> None:
    """Raise WrongPassword (403 ``wrong_password``) unless ``password`` is the user's."""
    if not password or not user.check_password(password):
        raise WrongPassword()
