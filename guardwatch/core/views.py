"""Core pages: audit log, alerts, health check."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from guardwatch.core.access import requires
from guardwatch.core.forms import AuditFilterForm, SsoMappingForm, UserCreateForm, UserRoleForm
from guardwatch.core.models import Alert, SsoGroupMapping
from guardwatch.core.redirects import next_url
from guardwatch.core.roles import Role
from guardwatch.core.selectors import (
    alert_list,
    alert_scope_q,
    audit_list,
    audit_verbs,
    sso_mapping_list,
    user_rows,
)
from guardwatch.core.services import (
    UserChangeRefused,
    alert_acknowledge,
    sso_mapping_delete,
    sso_mapping_save,
    user_active_set,
    user_create,
    user_password_reset,
    user_role_change,
)


@require_GET
@requires("view_audit")
@vary_on_headers("HX-Request")
def audit(request: HttpRequest) -> HttpResponse:
    """Every mutating action, newest first, filterable by actor, verb and date."""
    form = AuditFilterForm(request.GET or None)
    page = Paginator(audit_list(filters=form.to_filters()).select_related("actor"), 50).get_page(
        request.GET.get("page")
    )
    context = {"form": form, "page": page, "verbs": audit_verbs()}
    template = "core/audit.html#results" if request.htmx else "core/audit.html"
    return render(request, template, context)


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and compose: the process answers and the database responds."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@login_not_required
def not_offered(request: HttpRequest, *args) -> HttpResponse:
    """Signing up and resetting a password by email: Admins add people (or single sign-on does)."""
    raise Http404("Not offered: ask an Admin.")


ALERT_STATES = ("open", "acknowledged", "all")


@require_GET
@requires("view_members")
@vary_on_headers("HX-Request")
def alerts(request: HttpRequest) -> HttpResponse:
    """Coverage alerts (members resigned, removed, …): open ones first, each can be acknowledged."""
    state = request.GET.get("state", "open")
    if state not in ALERT_STATES:
        state = "open"
    page = Paginator(alert_list(state=state, user=request.user), 50).get_page(request.GET.get("page"))
    context = {"page": page, "state": state, "states": ALERT_STATES}
    template = "core/alerts.html#results" if request.htmx else "core/alerts.html"
    return render(request, template, context)


@require_POST
@requires("manage_members")
def alert_acknowledge_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark an alert as seen and handled."""
    alert = get_object_or_404(Alert.objects.filter(alert_scope_q(request.user)), pk=pk)
    if alert_acknowledge(alert=alert, actor=request.user):
        messages.success(request, f"Acknowledged: {alert.title}")
    else:
        messages.info(request, "That alert was already acknowledged.")
    return redirect(next_url(request, request.POST.get("next", ""), fallback=reverse("core:alerts")))


# --- Users (Admins) ---------------------------------------------------------------------------------

NEW_PASSWORD_SESSION = "guardwatch:new-password"  # noqa: S105 - a session key, not a password


@require_http_methods(["GET", "POST"])
@requires("manage_settings")
def users(request: HttpRequest) -> HttpResponse:
    """The team: who has which role, who is active, when each last signed in; add someone."""
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = user_create(username=data["username"], role=Role(data["role"]), password=data["password"],
                               email=data["email"], actor=request.user)  # fmt: skip
        except ValidationError as error:  # the password validators
            form.add_error("password", error)
        except ValueError as error:  # the name is taken
            form.add_error("username", str(error))
        else:
            messages.success(request, f"{user.get_username()} can sign in now, as {data['role']}.")
            return redirect("core:users")
    shown = request.session.pop(NEW_PASSWORD_SESSION, None)  # {"username", "password"}: shown once
    response = render(request, "core/users.html", {"form": form, "rows": user_rows(), "shown": shown,
                                                   "roles": [r.value for r in Role]})  # fmt: skip
    if shown:
        response["Cache-Control"] = "no-store"
    return response


def _user_or_404(pk: int):
    return get_object_or_404(get_user_model(), pk=pk)


@require_POST
@requires("manage_settings")
def user_role_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user_or_404(pk)
    form = UserRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose Admin, Analyst or Manager.")
    else:
        try:
            user_role_change(user=user, role=Role(form.cleaned_data["role"]), actor=request.user)
            messages.success(request, f"{user.get_username()} is now {form.cleaned_data['role']}.")
        except UserChangeRefused as refused:
            messages.error(request, refused.message)
    return redirect("core:users")


@require_POST
@requires("manage_settings")
def user_active_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user_or_404(pk)
    active = request.POST.get("active") == "1"
    try:
        user_active_set(user=user, active=active, actor=request.user)
        messages.success(request, f"{user.get_username()} {'can sign in again' if active else 'is deactivated and signed out'}.")
    except UserChangeRefused as refused:
        messages.error(request, refused.message)
    return redirect("core:users")


@require_POST
@requires("manage_settings")
def user_password_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A new password, shown once on the page that follows (post, redirect, get)."""
    user = _user_or_404(pk)
    password = user_password_reset(user=user, actor=request.user)
    request.session[NEW_PASSWORD_SESSION] = {"username": user.get_username(), "password": password}
    return redirect("core:users")


# --- Single sign-on group mappings (Admins) -----------------------------------------------------------


@require_http_methods(["GET", "POST"])
@requires("manage_settings")
def sso_mappings(request: HttpRequest) -> HttpResponse:
    """Which IdP group gives which role; applied at each single sign-on."""
    form = SsoMappingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            data = form.cleaned_data
            mapping = sso_mapping_save(group=data["group"], role=Role(data["role"]), team=data["team"],
                                       scoped=data["scoped"], actor=request.user)  # fmt: skip
        except ValueError as error:
            form.add_error("group", str(error))
        else:
            messages.success(request, f"Members of {mapping.group} get {mapping.role} at their next sign-in.")
            return redirect("core:sso_mappings")
    return render(request, "core/sso_mappings.html", {"form": form, "mappings": sso_mapping_list(),
                                                      "providers": settings.SOCIALACCOUNT_PROVIDERS})  # fmt: skip


@require_POST
@requires("manage_settings")
def sso_mapping_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    mapping = get_object_or_404(SsoGroupMapping, pk=pk)
    sso_mapping_delete(mapping=mapping, actor=request.user)
    messages.success(request, f"Members of {mapping.group} lose {mapping.role} at their next sign-in "
                              "unless another of their groups is mapped.")  # fmt: skip
    return redirect("core:sso_mappings")
