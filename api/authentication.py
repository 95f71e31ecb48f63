"""How the API knows who calls: bearer tokens; and how often they may: a rate per token.

No import of DRF's views here: DRF imports these classes (its settings) while it loads its views."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.throttling import BaseThrottle

from api.services import api_rate_take, api_token_authenticate
from guardwatch.core.models import ApiToken


class ApiTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer gwt_…`: the token's user, with the token as `request.auth`. No session, no CSRF."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the token as `Authorization: Bearer <token>`.")
        try:
            presented = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        token = api_token_authenticate(presented=presented)
        if token is None:
            raise exceptions.AuthenticationFailed("The token is not valid, has expired or was revoked.")
        return token.user, token

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class ApiTokenRateThrottle(BaseThrottle):
    """GUARDWATCH_API_RATE_PER_MINUTE requests a minute per token; 429 with Retry-After beyond."""

    def allow_request(self, request, view) -> bool:
        self.retry_after = 0
        if isinstance(request.auth, ApiToken):
            self.retry_after = api_rate_take(token=request.auth)
        return not self.retry_after

    def wait(self) -> float | None:
        return self.retry_after
