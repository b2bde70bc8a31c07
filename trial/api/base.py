"""Base classes for every API view of the product."""

from __future__ import annotations

from django.utils import translation
from rest_framework.generics import ListAPIView
from rest_framework.views import APIView

from trial.selectors.access import profile_of


class LanguageMixin:
    """Activate the user's language once DRF has authenticated them (token or session):
    the locale middleware runs before token authentication, so it cannot."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        profile = profile_of(request.user)
        if profile is not None and profile.language:
            translation.activate(profile.language)
            request.LANGUAGE_CODE = profile.language


class TrialApiView(LanguageMixin, APIView):
    pass


class TrialListApiView(LanguageMixin, ListAPIView):
    pass
