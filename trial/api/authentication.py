"""``Authorization: Token <key>`` authentication against hashed, expiring, revocable keys."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from trial.models import ApiToken
from trial.services.accounts import token_digest


class TokenFailed(exceptions.AuthenticationFailed):
    pass


class HashedTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise TokenFailed(_("Invalid token header."), code="invalid_token")
        key = header[1].decode("latin-1")
        token = ApiToken.objects.select_related("user").filter(digest=token_digest(key)).first()
        if token is None:
            raise TokenFailed(_("Invalid token."), code="invalid_token")
        if token.revoked_at is not None:
            raise TokenFailed(_("This token has been revoked."), code="token_revoked")
        now = timezone.now()
        if token.expires_at <= now:
            raise TokenFailed(_("This token has expired."), code="token_expired")
        if not token.user.is_active:
            raise TokenFailed(_("This account is inactive."), code="account_inactive")
        request.api_token = token
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword
