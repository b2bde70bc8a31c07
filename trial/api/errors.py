"""One error format for the whole API: ``{"code", "message", "details"}``."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
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


def _api_exception_response(exc: exceptions.APIException) -> Response:
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    code = _first_code(exc.get_codes())
    if isinstance(exc, exceptions.Throttled):
        code = "rate_limited"
    message = exc.detail if isinstance(exc.detail, str) else str(exc)
    return error_response(code, message, {}, exc.status_code, headers)


def _fixed_response(exc: Exception) -> Response | None:
    """Errors whose reply depends only on their type."""
    if isinstance(exc, RequestDataTooBig):
        return error_response(
            "payload_too_large",
            _("The request body is larger than the server accepts."),
            {"max_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, Http404):
        return error_response("not_found", _("Not found."), {}, status.HTTP_404_NOT_FOUND)
    if isinstance(exc, HardDeleteForbidden):
        return error_response(
            "delete_forbidden",
            _("Trial records are never deleted."),
            {},
            status.HTTP_405_METHOD_NOT_ALLOWED,
        )
    return None


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return error_response(exc.code, exc.message, exc.details, exc.status_code)
    fixed = _fixed_response(exc)
    if fixed is not None:
        return fixed
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        return error_response(
            "validation_error",
            _("The request is not valid."),
            {"fields": exc.detail},
            status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, exceptions.APIException):
        return _api_exception_response(exc)
    logger.exception("unhandled error in %s", context.get("view").__class__.__name__)
    return error_response(
        "internal_error",
        _("An internal error occurred."),
        {},
        status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
