"""What an API token may do: each endpoint states its permissions, checked against the token's role."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_not_required
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import BasePermission

from api.services import api_token_allows, api_token_use_record
from guardwatch.core.models import ApiToken


def _token_permission(permissions: dict[str, str]) -> type[BasePermission]:
    class TokenHasPermission(BasePermission):
        def has_permission(self, request, view) -> bool:
            token = request.auth
            if not isinstance(token, ApiToken):
                return False
            needed = permissions.get("GET" if request.method == "HEAD" else request.method)
            if needed is None:  # a method the endpoint does not answer: DRF says 405 (OPTIONS: what it answers)
                return True
            self.message = f"This token's role does not allow this ({needed})."
            return api_token_allows(token=token, permission=needed)

    return TokenHasPermission


def endpoint(permissions: dict[str, str]) -> Callable:
    """A DRF function view under /api/v1/ answering the methods of `permissions`, each needing its permission
    (a core permission, as `@requires` names it: `{"GET": "view_findings", "POST": "triage_findings"}`).

    The site's sign-in requirement steps aside (the API answers 401 itself), and each request made with a
    token is noted against it (`api_token_use_record`).
    """

    def decorator(view: Callable) -> Callable:
        drf_view = api_view(list(permissions))(permission_classes([_token_permission(permissions)])(view))

        @wraps(drf_view)
        def recorded(request, *args, **kwargs):
            response = drf_view(request, *args, **kwargs)
            token = getattr(request, "auth", None)  # DRF sets it on the Django request too
            if isinstance(token, ApiToken):
                api_token_use_record(token=token, method=request.method, path=request.path,
                                     status=response.status_code)  # fmt: skip
            return response

        recorded.required_permissions = tuple(sorted({f"core.{needed}" for needed in permissions.values()}))
        return login_not_required(recorded)

    return decorator
