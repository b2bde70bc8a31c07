"""What the randomization commands share: the acting statistician, secrets read without echo,
the protocol version, and domain errors shown as command errors."""

from __future__ import annotations

import getpass
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from randomization.models import Design
from trial.exceptions import DomainError
from trial.models import ProtocolVersion


def read_secret(prompt: str) -> str:
    """A secret typed at the terminal without echo (``getpass``)."""
    return getpass.getpass(prompt)


def acting_user(username: str) -> Any:
    """The named user, after they type their password (the design records who acted)."""
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"no active user {username!r}")
    if not user.check_password(read_secret(f"Password for {username}: ")):
        raise CommandError("wrong password")
    return user


def protocol_version(code: str, number: int | None) -> ProtocolVersion:
    versions = ProtocolVersion.objects.select_related("protocol").filter(protocol__code=code)
    version = (
        versions.filter(number=number).first()
        if number is not None
        else versions.order_by("-number").first()
    )
    if version is None:
        raise CommandError(f"no protocol {code!r}" + (f" version {number}" if number else ""))
    return version


def design_by_id(design_id: int) -> Design:
    design = Design.objects.select_related("protocol", "protocol_version").filter(pk=design_id)
    found = design.first()
    if found is None:
        raise CommandError(f"no design {design_id}")
    return found


def read_text(path: str) -> str:
    """A file's text exactly as stored (``newline=""``), or standard input for ``-``."""
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8", newline="") as handle:
        return handle.read()


def domain_error(exc: DomainError) -> CommandError:
    details = f" {exc.details}" if exc.details else ""
    return CommandError(f"{exc.code}: {exc.message}{details}")
