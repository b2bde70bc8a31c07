"""One error format for the whole API: ``{"code", "message", "details"}``."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response

from trial.exceptions import DomainError
from trial.models import HardDeleteForbidden

logger = logging.getLogger("trial.api")


def _first_code(codes) -> str:
    if isinstance(codes, str):
        return codes
    if isinstance(codes, list) and codes:
        return _first_code(codes[0])
    if isinstance(codes, dict) and codes:
        return _first_code(next(iter(codes.values())))
    return "error"


def error_response(
    code: str, message: str, details: dict | None, http_status: int, headers: dict | None = None
) -> Response:
    return Response(
        {"code": code, "message": str(message), "details": details or {}},
        status=http_status,
        headers=headers,
    )


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return error_response(exc.code, exc.message, exc.details, exc.status_code)
    if isinstance(exc, Http404):
        return error_response("not_found", _("Not found."), {}, status.HTTP_404_NOT_FOUND)
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, HardDeleteForbidden):
        return error_response(
            "delete_forbidden",
            _("Trial records are never deleted."),
            {},
            status.HTTP_405_METHOD_NOT_ALLOWED,
        )
    if isinstance(exc, exceptions.ValidationError):
        return error_response(
            "validation_error",
            _("The request is not valid."),
            {"fields": exc.detail},
            status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        code = _first_code(exc.get_codes())
        if isinstance(exc, exceptions.Throttled):
            code = "rate_limited"
        return error_response(
            code,
            exc.detail if isinstance(exc.detail, str) else str(exc),
            {},
            exc.status_code,
            headers,
        )
    logger.exception("unhandled error in %s", context.get("view").__class__.__name__)
    return error_response(
        "internal_error",
        _("An internal error occurred."),
        {},
        status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
