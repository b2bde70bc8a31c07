"""Activate the language the user chose in their staff profile."""

from __future__ import annotations

from django.utils import translation

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
