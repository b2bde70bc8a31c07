"""Activate the language the user chose in their staff profile."""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.defaults import page_not_found

from trial.selectors.access import profile_of


class UserLanguageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        profile = profile_of(getattr(request, "user", None))
        if profile is not None and profile.language:
            translation.activate(profile.language)
            request.LANGUAGE_CODE = profile.language
        return self.get_response(request)


class RefuseNulBytesMiddleware:
    """Refuse a NUL byte in the query string or path with 400 before any view runs.

    PostgreSQL text cannot hold NUL: a filter value carrying one would reach the database and
    fail there as a 500. API paths get the API's error envelope.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()
        ):
            return bad_request(request, "invalid_input", _("The request contains a NUL byte."))
        return self.get_response(request)


def bad_request(request, code: str, message) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"code": code, "message": str(message), "details": {}}, status=400)
    return HttpResponseBadRequest(str(message))


def not_found(request, exception=None):
    """404 for URLs no pattern matches: the API's envelope under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"code": "not_found", "message": str(_("Not found.")), "details": {}}, status=404
        )
    return page_not_found(request, exception)
