"""Member account pages: the accounts table, add/upload, invite with live progress, actions, coverage."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts import aws_organizations, member_sync, operations, policies, selectors, services
from accounts import drift as drift_module
from accounts import drift_fix as drift_fix_module
from accounts.csvimport import parse_member_csv
from accounts.forms import (
    CONFIRM_WORDS,
    DESTRUCTIVE,
    AccountActionForm,
    AccountAddForm,
    AccountEditForm,
    AutoEnableForm,
    BulkActionForm,
    CoveragePolicyForm,
    CsvUploadForm,
    InviteForm,
    RecreateForm,
)
from accounts.gateway import GatewayError
from accounts.models import Deviation, MemberAccount, MemberOperation, MemberOperationResult
from guardwatch.core import charts
from guardwatch.core.access import requires
from guardwatch.core.redirects import next_url
from guardwatch.core.scope import organisation_wide

SELECTION_KEY = "accounts.selection"
PREVIEW_KEY = "accounts.csv_preview"
Action = MemberOperation.Action


# --- selections and previews live in the session (they can be thousands of accounts) ------------------


def _selection_store(request: HttpRequest, pks: list[int]) -> str:
    token = secrets.token_urlsafe(9)
    stored = request.session.get(SELECTION_KEY, {})
    stored = dict(list(stored.items())[-9:])
    stored[token] = pks
    request.session[SELECTION_KEY] = stored
    return token


def _selection_load(request: HttpRequest, token: str) -> list[MemberAccount]:
    pks = request.session.get(SELECTION_KEY, {}).get(token or "", [])
    return list(MemberAccount.objects.filter(pk__in=pks)) if pks else []


def _is_pk(value: str) -> bool:
    """A primary key as a form sends it: ASCII digits that fit a bigint ("²".isdigit() is true too)."""
    return value.isascii() and value.isdigit() and len(value) <= 18


def _back(request: HttpRequest, fallback: str) -> str:
    return next_url(request, request.POST.get("next", ""), fallback=fallback)


# --- The accounts page ------------------------------------------------------------------------------------


@require_GET
@requires("view_members")
@vary_on_headers("HX-Request")
def account_list(request: HttpRequest) -> HttpResponse:
    """All member accounts with a status cell per region; filters, counts, sort and page in the query string."""
    filters = selectors.AccountFilters.from_query(request.GET)
    data = selectors.account_page(filters=filters, user=request.user, page_number=request.GET.get("page"))
    context = {
        "data": data,
        "filters": filters,
        "status_choices": selectors.status_choices(),
        "all_regions": settings.GUARDWATCH_AWS_REGIONS,
        "bulk_actions": BulkActionForm.base_fields["action"].choices,
    }
    template = "accounts/list.html#results" if request.htmx else "accounts/list.html"
    return render(request, template, context)


@require_GET
@requires("view_members")
def account_detail(request: HttpRequest, account_id: str) -> HttpResponse:
    """One account: its membership in every region, status history, runs touching it, audit trail."""
    account = selectors.account_get(account_id=account_id, user=request.user)
    detail = selectors.account_detail(account=account)
    failed = operations.recreate_regions(account=account)
    edit = AccountEditForm(
        initial={"display_name": account.display_name, "notes": account.notes, "tags": ", ".join(account.tags),
                 "auto_accept": account.auto_accept, "organizational_unit": account.organizational_unit}  # fmt: skip
    )
    context = {
        "detail": detail,
        "account": account,
        "edit_form": edit,
        # Only where GuardDuty could not verify the email: elsewhere deleting the member would undo a working one.
        "recreate_form": RecreateForm(regions=failed, initial={"email": account.email, "regions": failed}) if failed else None,
        "recreate_regions": failed,
        "all_regions": settings.GUARDWATCH_AWS_REGIONS,
        "member_role": settings.GUARDWATCH_MEMBER_ROLE_NAME,
        "protections": selectors.account_protections(account=account),
    }
    return render(request, "accounts/detail.html", context)


@require_POST
@requires("manage_members")
def account_edit(request: HttpRequest, account_id: str) -> HttpResponse:
    account = selectors.account_get(account_id=account_id, user=request.user)
    form = AccountEditForm(request.POST)
    if form.is_valid():
        services.member_account_update(account=account, actor=request.user, **form.cleaned_data)
        messages.success(request, "Saved.")
    else:
        messages.error(request, "Not saved: " + "; ".join(e for errors in form.errors.values() for e in errors))
    return redirect("accounts:detail", account_id=account.account_id)


@require_http_methods(["GET", "POST"])
@requires("manage_members")
def account_add(request: HttpRequest) -> HttpResponse:
    """Add one account by hand; nothing is sent to AWS until it is invited."""
    form = AccountAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.member_account_create(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            for name, problems in error.message_dict.items():
                for problem in problems:
                    form.add_error(name if name in form.fields else None, problem)
        else:
            messages.success(request, f"Account {account.account_id} added. Invite it to start monitoring.")
            token = _selection_store(request, [account.pk])
            return redirect(f"{reverse('accounts:invite')}?selection={token}")
    # A form with errors is a page like any other (200) showing the messages; 400 is for API clients.
    return render(request, "accounts/add.html", {"form": form})


# --- CSV upload: preview, then confirm ----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@requires("manage_members")
def account_upload(request: HttpRequest) -> HttpResponse:
    """Upload the console's CSV; the answer is a preview of every line. Nothing is created here."""
    form = CsvUploadForm(request.POST or None, request.FILES or None)
    preview = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data["file"].read()
        existing = set(MemberAccount.objects.values_list("account_id", flat=True))
        preview = parse_member_csv(data, existing=existing)
        if preview.problem:
            form.add_error("file", preview.problem)
            preview = None
        else:
            request.session[PREVIEW_KEY] = [[line.account_id, line.email] for line in preview.valid_lines]
    return render(request, "accounts/upload.html", {"form": form, "preview": preview})


@require_POST
@requires("manage_members")
def account_upload_confirm(request: HttpRequest) -> HttpResponse:
    """Create the valid lines of the last preview, then go on to inviting them."""
    lines = request.session.pop(PREVIEW_KEY, None)
    if not lines:
        messages.error(request, "There is no preview to confirm (it was already used, or the session expired). Upload again.")
        return redirect("accounts:upload")
    result = services.member_accounts_import(lines=[tuple(line) for line in lines], actor=request.user)
    if result.skipped:
        messages.warning(
            request,
            f"{len(result.skipped)} line(s) skipped at confirmation: "
            + "; ".join(f"{account_id}: {why}" for account_id, why in result.skipped[:5]),
        )
    if not result.created:
        messages.error(request, "No account was added.")
        return redirect("accounts:upload")
    messages.success(request, f"{len(result.created)} account(s) added. Choose where to invite them.")
    token = _selection_store(request, [account.pk for account in result.created])
    return redirect(f"{reverse('accounts:invite')}?selection={token}")


# --- Invite and other operations -------------------------------------------------------------------------------


def _invite_targets(request: HttpRequest, source) -> tuple[list[MemberAccount], str]:
    token = source.get("selection", "")
    if token:
        return _selection_load(request, token), f"selection={token}"
    if source.get("scope") == "new":  # Coverage's "Never invited": each (account, region) not yet invited
        return list(selectors.never_invited_accounts()), "scope=new"
    return [], ""


@require_http_methods(["GET", "POST"])
@requires("manage_members")
def invite(request: HttpRequest) -> HttpResponse:
    """Choose regions, message and options for the selected accounts, then run the invite in Celery."""
    accounts, target = _invite_targets(request, request.POST if request.method == "POST" else request.GET)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and accounts:
        pairs = None
        if target == "scope=new":  # only where each account was never invited, not where it is a member
            pairs = selectors.never_invited_pairs(accounts=accounts, regions=form.cleaned_data["regions"])
        try:
            operation = operations.member_operation_start(action=Action.INVITE, accounts=accounts, actor=request.user,
                                                        pairs=pairs, **form.cleaned_data)  # fmt: skip
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return redirect("accounts:operation", pk=operation.pk)
    context = {
        "form": form,
        "accounts": accounts[:25],
        "account_count": len(accounts),
        "target": target,
        "target_name": target.partition("=")[0],
        "target_value": target.partition("=")[2],
        "without_detector": selectors.regions_without_detector(),
        "never_invited_pairs": len(selectors.never_invited_pairs(accounts=accounts, regions=list(settings.GUARDWATCH_AWS_REGIONS)))
        if target == "scope=new" else None,
    }  # fmt: skip
    return render(request, "accounts/invite.html", context)


@require_POST
@requires("manage_members")
def bulk(request: HttpRequest) -> HttpResponse:
    """Selected accounts + an action: invite goes to the invite page, destructive ones ask first."""
    pks = [int(pk) for pk in request.POST.getlist("account") if _is_pk(pk)]
    form = BulkActionForm(request.POST)
    back = _back(request, reverse("accounts:list"))
    if not pks:
        messages.error(request, "Select at least one account.")
        return redirect(back)
    if not form.is_valid():
        messages.error(request, "Choose an action and a region.")
        return redirect(back)
    action = form.cleaned_data["action"]
    if action == Action.INVITE:
        return redirect(f"{reverse('accounts:invite')}?selection={_selection_store(request, pks)}")
    accounts = list(MemberAccount.objects.filter(pk__in=pks))
    if not accounts:
        messages.error(request, "The selected accounts no longer exist.")
        return redirect(back)
    if action in DESTRUCTIVE and request.POST.get("confirmed") != "yes":
        verb, after = CONFIRM_WORDS[action]
        context = {"accounts": accounts, "action": Action(action), "region": form.cleaned_data["region"],
                   "regions": form.regions(), "next": back, "verb": verb, "after": after}  # fmt: skip
        return render(request, "accounts/bulk_confirm.html", context)
    try:
        operation = operations.member_operation_start(
            action=action, accounts=accounts, regions=form.regions(), actor=request.user
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(back)
    return redirect("accounts:operation", pk=operation.pk)


@require_POST
@requires("manage_members")
def account_action(request: HttpRequest, account_id: str) -> HttpResponse:
    """One action on one account, in one region or all (destructive ones confirmed in the browser)."""
    account = selectors.account_get(account_id=account_id, user=request.user)
    form = AccountActionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Unknown action or region.")
        return redirect("accounts:detail", account_id=account.account_id)
    try:
        operation = operations.member_operation_start(
            action=form.cleaned_data["action"], accounts=[account], regions=form.regions(), actor=request.user
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("accounts:detail", account_id=account.account_id)
    return redirect("accounts:operation", pk=operation.pk)


@require_http_methods(["GET", "POST"])
@requires("manage_members")
def account_remove(request: HttpRequest, account_id: str) -> HttpResponse:
    """Remove an account from GuardWatch entirely: a page that says what goes and what stays, then do it."""
    account = selectors.account_get(account_id=account_id, user=request.user)
    detail = selectors.account_detail(account=account)
    problem = ""
    if request.method == "POST" and request.POST.get("confirmed") == "yes":
        try:
            services.member_account_remove(account=account, actor=request.user)
        except ValidationError as error:
            problem = " ".join(error.messages)
        else:
            messages.success(request, f"Account {account_id} was removed from GuardWatch; its findings are kept.")
            return redirect("accounts:list")
    context = {"account": account, "detail": detail, "problem": problem}
    return render(request, "accounts/remove.html", context, status=409 if problem else 200)


@require_POST
@requires("manage_members")
def account_recreate(request: HttpRequest, account_id: str) -> HttpResponse:
    """EmailVerificationFailed: delete, create with the corrected email, invite again."""
    account = selectors.account_get(account_id=account_id, user=request.user)
    form = RecreateForm(request.POST, regions=operations.recreate_regions(account=account))
    if not form.is_valid():
        messages.error(request, "Not re-created: " + "; ".join(e for errors in form.errors.values() for e in errors))
        return redirect("accounts:detail", account_id=account.account_id)
    try:
        operation = operations.member_recreate(
            account=account, email=form.cleaned_data["email"], regions=form.cleaned_data["regions"], actor=request.user
        )
    except ValidationError as error:
        messages.error(request, "Not re-created: " + "; ".join(e for errors in error.message_dict.values() for e in errors))
        return redirect("accounts:detail", account_id=account.account_id)
    return redirect("accounts:operation", pk=operation.pk)


@require_GET
@requires("view_members")
@organisation_wide
@vary_on_headers("HX-Request")
def operation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Live progress of an operation and its per-account results; polls itself while it runs."""
    operation = selectors.operation_get(pk=pk)
    outcome = request.GET.get("outcome", "")
    if outcome not in MemberOperationResult.Outcome.values:
        outcome = ""
    results = selectors.operation_results(operation=operation, outcome=outcome, page_number=request.GET.get("page"))
    context = {"operation": operation, "results": results, "outcome": outcome,
               "progress": selectors.operation_progress(operation=operation),
               "outcomes": MemberOperationResult.Outcome.choices}  # fmt: skip
    template = "accounts/operation.html#progress" if request.htmx else "accounts/operation.html"
    return render(request, template, context)


@require_POST
@requires("manage_members")
def operation_retry(request: HttpRequest, pk: int) -> HttpResponse:
    operation = selectors.operation_get(pk=pk)
    count = operations.member_operation_retry(operation=operation, actor=request.user)
    if count:
        messages.success(request, f"Retrying {count} failed account/region pair(s).")
    else:
        messages.info(request, "Nothing to retry.")
    return redirect("accounts:operation", pk=operation.pk)


@require_POST
@requires("manage_members")
def refresh(request: HttpRequest) -> HttpResponse:
    """"Refresh now": sync every region's member statuses from GuardDuty in the background."""
    regions = member_sync.members_sync_request(actor=request.user)
    messages.success(request, f"Refreshing member status in {', '.join(regions)}.")
    return redirect(_back(request, reverse("accounts:list")))


# --- Organizations ------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@requires("view_members")
@organisation_wide
@vary_on_headers("HX-Request")
def organization(request: HttpRequest) -> HttpResponse:
    """Organizations mode from the kept snapshot (never AWS on a GET): accounts to add, auto-enable per region."""
    if request.method == "POST":
        if not request.user.has_perm("core.manage_members"):
            raise PermissionDenied("Your role does not allow this (manage_members).")
        page = selectors.organization_page(now=timezone.now())
        chosen = set(request.POST.getlist("account"))
        accounts = [row.account for row in page.candidates if row.account.account_id in chosen]
        if not accounts:
            messages.error(request, "Select at least one organization account that can be added (ACTIVE, not yet a "
                                    "member). If the list looks old, refresh it first.")  # fmt: skip
            return redirect("accounts:organization")
        try:
            operation = aws_organizations.organization_members_add(
                accounts=accounts, regions=list(settings.GUARDWATCH_AWS_REGIONS), actor=request.user
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("accounts:organization")
        return redirect("accounts:operation", pk=operation.pk)
    page = selectors.organization_page(now=timezone.now())
    if page.snapshot is None and not page.refreshing and not page.refresh_stalled:
        aws_organizations.organization_refresh_request(actor=request.user)
        page.refreshing = True
    context = {"page": page, "auto_form": AutoEnableForm()}
    template = "accounts/organization.html#snapshot" if request.htmx else "accounts/organization.html"
    return render(request, template, context)


@require_POST
@requires("manage_members")
def organization_refresh(request: HttpRequest) -> HttpResponse:
    """"Refresh": read the organization from AWS again, in the background."""
    aws_organizations.organization_refresh_request(actor=request.user)
    messages.success(request, "Reading the organization from AWS; this page updates when it is done.")
    return redirect("accounts:organization")


@require_POST
@requires("manage_members")
def organization_auto_enable(request: HttpRequest) -> HttpResponse:
    form = AutoEnableForm(request.POST)
    if form.is_valid():
        try:
            aws_organizations.organization_auto_enable_set(actor=request.user, **form.cleaned_data)
        except (GatewayError, ValidationError) as error:
            messages.error(request, getattr(error, "message", None) or " ".join(error.messages))
        else:
            region, value = form.cleaned_data["region"], form.cleaned_data["value"]
            messages.success(request, f"Auto-enable is now {value} in {region}. AWS may take up to 24 hours to apply "
                                      "it to every organization account.")  # fmt: skip
    else:
        messages.error(request, "Choose a region and NEW, ALL or NONE.")
    return redirect("accounts:organization")


# --- Coverage policies and drift ---------------------------------------------------------------------


@require_GET
@requires("view_members")
@organisation_wide  # every account's deviations: not for a team-scoped person
def policy_list(request: HttpRequest) -> HttpResponse:
    """The policies, most specific scope first, and the accounts two same-scope policies disagree on."""
    conflicts, conflicts_total = policies.policy_conflicts()
    context = {"policies": policies.policies_ordered(), "conflicts": conflicts, "conflicts_total": conflicts_total}
    return render(request, "accounts/policies.html", context)


@require_http_methods(["GET", "POST"])
@requires("manage_settings")
def policy_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Add or change a policy (Admin only); a form with errors answers 200 with the messages."""
    policy = selectors.policy_get(pk=pk) if pk is not None else None
    form = CoveragePolicyForm(request.POST or None, instance=policy)
    if request.method == "POST" and form.is_valid():
        saved = policies.policy_save(policy=policy, data=form.cleaned_data, actor=request.user)
        messages.success(request, f"Policy “{saved.name}” saved; the next drift evaluation applies it.")
        return redirect("accounts:policies")
    context = {"form": form, "policy": policy, "known_ous": selectors.organizational_units()}
    return render(request, "accounts/policy_edit.html", context)


@require_POST
@requires("manage_settings")
def policy_delete(request: HttpRequest, pk: int) -> HttpResponse:
    policy = selectors.policy_get(pk=pk)
    policies.policy_delete(policy=policy, actor=request.user)
    messages.success(request, f"Policy “{policy.name}” deleted.")
    return redirect("accounts:policies")


@require_http_methods(["GET", "POST"])
@requires("view_members")
@organisation_wide  # every account's deviations: not for a team-scoped person
def drift(request: HttpRequest) -> HttpResponse:
    """Deviations from the policies with their causes, and compliance over time; POST evaluates now."""
    if request.method == "POST":
        if not request.user.has_perm("core.manage_members"):
            raise PermissionDenied("Your role does not allow this (manage_members).")
        drift_module.drift_evaluate_request()
        messages.success(request, "Evaluating the policies against the synced state; reload in a moment.")
        return redirect("accounts:drift")
    kind = request.GET.get("kind", "")
    if kind not in Deviation.Kind.values:
        kind = ""
    region = request.GET.get("region", "")[:32]
    page = selectors.drift_page(kind=kind, region=region, page_number=request.GET.get("page"))
    chart = charts.line_chart(
        labels=[day.day.strftime("%m-%d") for day in page.history],
        series=[charts.Series("compliance", "% compliant", [round(d.percent, 1) for d in page.history], "line-resolved")],
        title="Compliance with the coverage policies per day",
    )  # fmt: skip
    context = {"page": page, "kind": kind, "region": region, "chart": chart}
    return render(request, "accounts/drift.html", context)


@require_POST
@requires("manage_members")
def drift_fix(request: HttpRequest) -> HttpResponse:
    """The fix preview for the chosen deviations (exact calls, their count, paid plans); "confirm" runs it."""
    ids = [int(value) for value in request.POST.getlist("deviation") if _is_pk(value)]
    plan = drift_fix_module.fix_plan(deviation_ids=ids)
    if not plan.deviation_ids:
        messages.error(request, "Select at least one deviation to fix.")
        return redirect("accounts:drift")
    if request.POST.get("confirm") == "yes":
        try:
            started = drift_fix_module.drift_fix_start(plan=plan, actor=request.user)
        except (GatewayError, ValidationError) as error:
            messages.error(request, getattr(error, "message", None) or " ".join(error.messages))
            return render(request, "accounts/drift_fix.html", {"plan": plan})
        messages.success(request, f"Fixing: {len(started)} operation(s) started; the policies are evaluated again "
                                  "when each finishes.")  # fmt: skip
        return redirect("accounts:operation", pk=started[0].pk) if started else redirect("accounts:drift")
    return render(request, "accounts/drift_fix.html", {"plan": plan})
