"""Lab API access: the lab role (trial.api.permissions.IsLab) and a per-lab rate limit."""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from trial.exceptions import DomainError

from ..selectors import lab_for_user


class LabRateThrottle(SimpleRateThrottle):
    """Requests per laboratory (all its tokens together), rate ``DEFAULT_THROTTLE_RATES["lab"]``.

    Exceeding it is 429 ``rate_limited`` with ``Retry-After``. The rate is read per request, not
    at import, so settings overrides apply.
    """

    scope = "lab"

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        try:
            lab = lab_for_user(request.user)
        except DomainError:
            return None
        return self.cache_format % {"scope": self.scope, "ident": f"lab-{lab.pk}"}
