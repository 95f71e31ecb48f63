"""API pages: the tokens page (create, list, revoke), the OpenAPI document and its browsable docs."""

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from drf_spectacular.views import SpectacularAPIView
from rest_framework.authentication import SessionAuthentication

from api.authentication import ApiTokenAuthentication
from api.forms import ApiTokenForm
from api.selectors import api_token_get, api_token_list
from api.services import api_token_create, api_token_revoke, roles_grantable
from guardwatch.core.access import requires
from guardwatch.core.models import ApiToken

NEW_TOKEN_SESSION = "guardwatch:new-api-token"  # noqa: S105 - a session key, not a token


@require_http_methods(["GET", "POST"])
@requires("view_findings")  # every role
def tokens(request: HttpRequest) -> HttpResponse:
    """API tokens: everyone their personal ones, Admins the service ones too. Post, redirect, get: the new
    token rides in the session to the page that follows and is shown there once."""
    kinds = [kind for kind in ApiToken.Kind.values if roles_grantable(user=request.user, kind=kind)]
    chosen_kind = request.POST.get("kind", ApiToken.Kind.PERSONAL)
    roles = roles_grantable(user=request.user, kind=chosen_kind if chosen_kind in kinds else ApiToken.Kind.PERSONAL)
    form = ApiTokenForm(request.POST or None, roles=roles, kinds=kinds)
    if request.method == "POST" and form.is_valid():
        try:
            token, secret = api_token_create(actor=request.user, **form.cleaned_data)
        except (ValidationError, PermissionDenied) as error:
            for name, problems in getattr(error, "message_dict", {None: [str(error)]}).items():
                for problem in problems:
                    form.add_error(name if name in form.fields else None, problem)
        else:
            request.session[NEW_TOKEN_SESSION] = secret
            messages.success(request, f"Token “{token.name}” created. Copy it now: it is not shown again.")
            return redirect("api_tokens")
    secret = request.session.pop(NEW_TOKEN_SESSION, None)
    context = {"form": form, "tokens": api_token_list(user=request.user), "secret": secret, "now": timezone.now()}
    response = render(request, "api/tokens.html", context)
    if secret:
        response["Cache-Control"] = "no-store"
    return response


@require_POST
@requires("view_findings")
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke a token the user may see (their own; service tokens for Admins)."""
    token = api_token_get(pk=pk, user=request.user)
    api_token_revoke(token=token, actor=request.user)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("api_tokens")


# The document answers a signed-in browser (the docs page fetches it) and a token alike.
schema = login_not_required(
    SpectacularAPIView.as_view(authentication_classes=[ApiTokenAuthentication, SessionAuthentication])
)


@require_GET
def docs(request: HttpRequest) -> HttpResponse:
    """Swagger UI over the OpenAPI document, from vendored files (drf-spectacular-sidecar), no inline script."""
    return render(request, "api/docs.html")
