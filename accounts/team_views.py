"""The Teams page (Admins): teams and the accounts they own, and who is in which team, scoped or not."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts import teams
from accounts.models import Team
from guardwatch.core.access import requires


def _rules_text(team: Team | None) -> dict[str, str]:
    if team is None:
        return {"name": "", "account_ids": "", "organizational_units": "", "tags": ""}
    return {"name": team.name, "account_ids": ", ".join(team.account_ids),
            "organizational_units": ", ".join(team.organizational_units), "tags": ", ".join(team.tags)}  # fmt: skip


def _team_form(request: HttpRequest, team: Team | None) -> tuple[Team | None, dict[str, str], str]:
    """The form's values and, on a POST, the team created or changed: (team, values, "") or (None, the values
    as typed, what is wrong) so the page shows them again with the message."""
    values = _rules_text(team)
    if request.method != "POST":
        return None, values, ""
    try:
        rules = teams.team_rules_parse(
            account_ids=request.POST.get("account_ids", "")[:60_000],
            organizational_units=request.POST.get("organizational_units", "")[:10_000],
            tags=request.POST.get("tags", "")[:10_000],
        )
        saved = teams.team_save(team=team, name=request.POST.get("name", ""), rules=rules, actor=request.user)
    except ValidationError as error:
        return None, {key: request.POST.get(key, "") for key in values}, " ".join(error.messages)
    return saved, values, ""


@require_http_methods(["GET", "POST"])
@requires("manage_settings")
def team_list(request: HttpRequest) -> HttpResponse:
    """Every team with its rules and members; a form to add one."""
    team, values, error = _team_form(request, None)
    if team is not None:
        messages.success(request, f"Team “{team.name}” created.")
        return redirect("accounts:teams")
    context = {"teams": teams.team_list(), "values": values, "error": error, "scoped": teams.scoped_user_ids()}
    return render(request, "accounts/teams.html", context)


@require_http_methods(["GET", "POST"])
@requires("manage_settings")
def team_edit(request: HttpRequest, pk: int) -> HttpResponse:
    team = teams.team_get(pk=pk)
    saved, values, error = _team_form(request, team)
    if saved is not None:
        messages.success(request, f"Team “{saved.name}” saved.")
        return redirect("accounts:teams")
    if error:
        team.refresh_from_db()
    account_ids = sorted(teams.team_account_ids(teams=[team]))
    context = {"team": team, "values": values, "error": error, "account_ids": account_ids}
    return render(request, "accounts/team_edit.html", context)


@require_POST
@requires("manage_settings")
def team_delete(request: HttpRequest, pk: int) -> HttpResponse:
    team = teams.team_get(pk=pk)
    teams.team_delete(team=team, actor=request.user)
    messages.success(request, f"Team “{team.name}” deleted.")
    return redirect("accounts:teams")


@require_http_methods(["GET", "POST"])
@requires("manage_settings")
def user_teams(request: HttpRequest, pk: int) -> HttpResponse:
    """One person's teams and whether they are team-scoped (the Users page links here)."""
    user = get_object_or_404(get_user_model(), pk=pk)
    all_teams = teams.team_list()
    if request.method == "POST":
        chosen = {value for value in request.POST.getlist("team") if value.isascii() and value.isdigit()}
        picked = [team for team in all_teams if str(team.pk) in chosen]
        teams.user_teams_set(user=user, teams=picked, scoped=request.POST.get("scoped") == "on", actor=request.user)
        messages.success(request, f"Teams of {user.get_username()} saved.")
        return redirect("accounts:user_teams", pk=user.pk)
    mine = {m.team_id for team in all_teams for m in team.memberships.all() if m.user_id == user.pk}
    context = {"person": user, "teams": all_teams, "mine": mine, "scoped": user.pk in teams.scoped_user_ids(),
               "is_admin": user.groups.filter(name="Admin").exists()}  # fmt: skip
    return render(request, "accounts/user_teams.html", context)
