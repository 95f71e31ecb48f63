"""The REST API's endpoints (/api/v1/): thin views over the same services and selectors the pages use.

Each states the permissions it needs (`endpoint({"GET": "view_findings"})`, the pages' `@requires`), parses its
input with a serializer, calls a service or selector, and answers JSON; every error is a problem detail
(`api.problems`). The OpenAPI document is generated from these (docs/openapi.yaml, `make openapi`).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import Paginator
from django.http import QueryDict
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers as drf
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import operations
from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.csvimport import parse_member_csv
from accounts.models import MemberAccount, MemberOperation
from api import serializers as s
from api.access import endpoint
from findings import selectors as findings_selectors
from guardwatch.core import selectors as core_selectors
from guardwatch.core.forms import AuditFilterForm
from guardwatch.core.models import Alert
from guardwatch.core.scope import organisation_wide, scope_for
from guardwatch.core.services import alert_acknowledge
from reports import coverage
from reports.services import findings_dashboard
from triage import bulk as bulk_actions
from triage import selectors as triage_selectors
from triage import services as triage
from triage import suppression
from triage.filters import DEFAULT_PAGE_SIZE, DEFAULT_SORT, FILTER_PARAMS, PAGE_SIZES, SORTS, FindingFilters
from triage.models import SuppressionRule

PROBLEM = s.ProblemSerializer
COMMON = {401: PROBLEM, 403: PROBLEM, 429: PROBLEM}


def _answers(ok: dict, *errors: int) -> dict:
    """`ok` plus the problems every endpoint can answer (401, 403, 429) and `errors`."""
    return {**ok, **COMMON, **dict.fromkeys(errors, PROBLEM)}


class Conflict(ValidationError):
    """What the request would create already exists (409), with the field that says so."""

    status_code = 409


def _refused(error: Exception) -> ValidationError:
    """A service's refusal (TriageError, Django's ValidationError) as a 400 problem with its messages;
    409 when the service says the thing exists already (code "duplicate")."""
    if isinstance(error, DjangoValidationError) and hasattr(error, "error_dict"):
        duplicate = any(e.code == "duplicate" for found in error.error_dict.values() for e in found)
        return (Conflict if duplicate else ValidationError)(error.message_dict)
    if isinstance(error, DjangoValidationError):
        return ValidationError({"non_field_errors": error.messages})
    return ValidationError({"non_field_errors": [str(error)]})


def _valid(serializer_class: type[drf.Serializer], request: Request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _page_number(request: Request) -> str | None:
    return request.query_params.get("page")


# --- Findings ---------------------------------------------------------------------------------------


_FILTER_HELP = {
    "tactic": "An ATT&CK tactic id (TA0006): findings of the types mapped to it (docs/attack.md).",
    "technique": "An ATT&CK technique id (T1078, T1078.004; a parent covers its sub-techniques).",
}
_FILTER_DOCS = [
    OpenApiParameter(name, OpenApiTypes.STR, description=_FILTER_HELP.get(name, "As on the findings list (repeat "
                     "or comma-separate `band`, `account`, `region`, `status`)."),
                     many=name in {"band", "account", "region", "status"})
    for name in FILTER_PARAMS
]  # fmt: skip
_PAGE_DOCS = [
    OpenApiParameter("sort", OpenApiTypes.STR, enum=list(SORTS), default=DEFAULT_SORT),
    OpenApiParameter("size", OpenApiTypes.INT, enum=list(PAGE_SIZES), default=DEFAULT_PAGE_SIZE),
    OpenApiParameter("after", OpenApiTypes.STR, description="`next_cursor` of the previous page."),
    OpenApiParameter("before", OpenApiTypes.STR, description="`prev_cursor` of the next page."),
]


@extend_schema(operation_id="findings_list", parameters=[*_FILTER_DOCS, *_PAGE_DOCS],
               responses=_answers({200: s.FindingPageSerializer}, 400), tags=["findings"])  # fmt: skip
@endpoint({"GET": "view_findings"})
def findings_list(request: Request) -> Response:
    """Findings matching the list's filters, one keyset page, in the list's order."""
    query = request.query_params
    filters = FindingFilters.from_query(query)
    if filters.errors:
        raise ValidationError({"filters": list(filters.errors)})
    try:
        size = int(query.get("size", DEFAULT_PAGE_SIZE))
    except ValueError:
        size = 0
    if size not in PAGE_SIZES or query.get("sort", DEFAULT_SORT) not in SORTS:
        raise ValidationError({"size": [f"One of {', '.join(map(str, PAGE_SIZES))}."], "sort": [f"One of {', '.join(SORTS)}."]})
    page = triage_selectors.finding_page(
        filters=filters, sort_key=query.get("sort", DEFAULT_SORT), after=query.get("after", ""),
        before=query.get("before", ""), size=size, user=request.user,
    )  # fmt: skip
    if filters.errors:  # the cursor did not decode
        raise ValidationError({"cursor": list(filters.errors)})
    body = {"results": s.FindingSerializer(page.findings, many=True).data, "next_cursor": page.next_cursor,
            "prev_cursor": page.prev_cursor, "sort": page.sort.key, "size": page.size}  # fmt: skip
    return Response(body)


@extend_schema(operation_id="findings_retrieve", responses=_answers({200: s.FindingDetailSerializer}, 404),
               tags=["findings"])  # fmt: skip
@endpoint({"GET": "view_findings"})
def finding_detail(request: Request, pk: int) -> Response:
    """One finding."""
    return Response(s.FindingDetailSerializer(findings_selectors.finding_get(pk=pk, user=request.user)).data)


@extend_schema(operation_id="findings_timeline", responses=_answers({200: s.TimelineEntrySerializer(many=True)}, 404),
               tags=["findings"])  # fmt: skip
@endpoint({"GET": "view_findings"})
def finding_timeline(request: Request, pk: int) -> Response:
    """Status changes, assignments, comments, write-backs and GuardDuty occurrences, oldest first."""
    finding = findings_selectors.finding_get(pk=pk, user=request.user)
    return Response(s.TimelineEntrySerializer(triage_selectors.finding_timeline(finding=finding), many=True).data)


@extend_schema(operation_id="findings_status", request=s.StatusChangeSerializer,
               responses=_answers({200: s.FindingDetailSerializer}, 400, 404), tags=["findings"])  # fmt: skip
@endpoint({"POST": "triage_findings"})
def finding_status(request: Request, pk: int) -> Response:
    """Move a finding to a status (accepted risk needs a reason and an expiry), optionally with a comment."""
    finding = findings_selectors.finding_get(pk=pk, user=request.user)
    data = _valid(s.StatusChangeSerializer, request)
    try:
        until = triage.accepted_until_parse(data["accepted_until"].strip())
        finding = triage.finding_status_change(finding=finding, status=data["status"], actor=request.user,
                                               reason=data["reason"], accepted_until=until, comment=data["comment"])  # fmt: skip
    except triage.TriageError as error:
        raise _refused(error) from None
    return Response(s.FindingDetailSerializer(finding).data)


@extend_schema(operation_id="findings_assign", request=s.AssignSerializer,
               responses=_answers({200: s.FindingDetailSerializer}, 400, 404), tags=["findings"])  # fmt: skip
@endpoint({"POST": "triage_findings"})
def finding_assign(request: Request, pk: int) -> Response:
    """Assign a finding to a person (an Analyst or Admin), or unassign it."""
    finding = findings_selectors.finding_get(pk=pk, user=request.user)
    username = (_valid(s.AssignSerializer, request)["assignee"] or "").strip()
    assignee = None
    if username:
        assignee = next((u for u in triage_selectors.assignable_users() if u.get_username() == username), None)
        if assignee is None:
            raise ValidationError({"assignee": [f"No Analyst or Admin named “{username}”."]})
    try:
        triage.finding_assign(finding=finding, assignee=assignee, actor=request.user)
    except triage.TriageError as error:
        raise _refused(error) from None
    return Response(s.FindingDetailSerializer(findings_selectors.finding_get(pk=pk, user=request.user)).data)


@extend_schema(operation_id="findings_comment", request=s.CommentSerializer,
               responses=_answers({201: s.TimelineEntrySerializer(many=True)}, 400, 404), tags=["findings"])  # fmt: skip
@endpoint({"POST": "triage_findings"})
def finding_comment(request: Request, pk: int) -> Response:
    """Add a comment to a finding's timeline; answers the timeline."""
    finding = findings_selectors.finding_get(pk=pk, user=request.user)
    try:
        triage.finding_comment_add(finding=finding, body=_valid(s.CommentSerializer, request)["body"], actor=request.user)
    except triage.TriageError as error:
        raise _refused(error) from None
    timeline = triage_selectors.finding_timeline(finding=finding)
    return Response(s.TimelineEntrySerializer(timeline, many=True).data, status=201)


@extend_schema(operation_id="findings_feedback", request=s.FeedbackSerializer,
               responses=_answers({200: s.FindingDetailSerializer}, 400, 404), tags=["findings"])  # fmt: skip
@endpoint({"POST": "triage_findings"})
def finding_feedback(request: Request, pk: int) -> Response:
    """Tell GuardDuty the finding was useful or not (written back to GuardDuty)."""
    finding = findings_selectors.finding_get(pk=pk, user=request.user)
    triage.finding_feedback_set(finding=finding, useful=_valid(s.FeedbackSerializer, request)["useful"], actor=request.user)
    return Response(s.FindingDetailSerializer(findings_selectors.finding_get(pk=pk, user=request.user)).data)


@extend_schema(operation_id="findings_bulk", request=s.BulkSerializer,
               responses=_answers({200: s.BulkResultSerializer, 202: s.BulkResultSerializer}, 400),
               tags=["findings"])  # fmt: skip
@endpoint({"POST": "triage_findings"})
def findings_bulk(request: Request) -> Response:
    """One action on every finding a filter matches (or on `ids`): run now (200) or queued when large (202)."""
    data = _valid(s.BulkSerializer, request)
    select_all = "ids" not in data
    if select_all and (errors := FindingFilters.from_query(QueryDict(data["filters"])).errors):
        raise ValidationError({"filters": errors})  # the list would ignore them: a bulk action must not
    try:
        bulk = bulk_actions.bulk_request_clean(
            action=data["action"], params=data, ids=[str(i) for i in data.get("ids", [])], query=data["filters"],
            select_all=select_all, actor=request.user,
        )  # fmt: skip
    except triage.TriageError as error:
        raise _refused(error) from None
    total, queued = bulk_actions.findings_bulk_apply(request=bulk, actor=request.user)
    return Response({"total": total, "queued": queued.pk if queued else None}, status=202 if queued else 200)


# --- Accounts ---------------------------------------------------------------------------------------


def _account_rows(rows) -> list[dict]:
    return [
        {"account_id": row.account.account_id, "email": row.account.email, "display_name": row.account.display_name,
         "tags": row.account.tags, "source": row.account.source, "created_at": row.account.created_at,
         "regions": [{"region": c.region, "status": c.status, "error": c.error} for c in row.cells]}
        for row in rows
    ]  # fmt: skip


@extend_schema(methods=["GET"], operation_id="accounts_list", tags=["accounts"], parameters=[
    OpenApiParameter("q", OpenApiTypes.STR), OpenApiParameter("status", OpenApiTypes.STR),
    OpenApiParameter("region", OpenApiTypes.STR), OpenApiParameter("sort", OpenApiTypes.STR),
    OpenApiParameter("page", OpenApiTypes.INT)],
    responses=_answers({200: s.page_of(s.AccountSerializer, "AccountPage")}))  # fmt: skip
@extend_schema(methods=["POST"], operation_id="accounts_create", request=s.AccountCreateSerializer,
               tags=["accounts"], responses=_answers({201: s.AccountSerializer}, 400, 409))  # fmt: skip
@endpoint({"GET": "view_members", "POST": "manage_members"})
def accounts(request: Request) -> Response:
    """GET: member accounts with their status in each region, filtered and sorted as the accounts page is.
    POST: add one account (not yet a member anywhere: invite it next)."""
    if request.method == "POST":
        return _account_create(request)
    filters = account_selectors.AccountFilters.from_query(request.query_params)
    data = account_selectors.account_page(filters=filters, user=request.user, page_number=_page_number(request))
    return Response({"results": _account_rows(data.rows), "page": data.page.number,
                     "pages": data.page.paginator.num_pages, "count": data.page.paginator.count})  # fmt: skip


def _account_create(request: Request) -> Response:
    try:
        account = account_services.member_account_create(actor=request.user, **_valid(s.AccountCreateSerializer, request))
    except DjangoValidationError as error:
        raise _refused(error) from None
    return Response(_account_rows(_one_account(account))[0], status=201)


def _one_account(account: MemberAccount) -> list:
    filters = account_selectors.AccountFilters(q=account.account_id)
    return [row for row in account_selectors.account_page(filters=filters, user=None).rows if row.account.pk == account.pk]


@extend_schema(operation_id="accounts_retrieve", tags=["accounts"], responses=_answers({200: s.AccountSerializer}, 404))
@endpoint({"GET": "view_members"})
def account_detail(request: Request, account_id: str) -> Response:
    """One account and its status in each region."""
    return Response(_account_rows(_one_account(account_selectors.account_get(account_id=account_id, user=request.user)))[0])


@extend_schema(operation_id="accounts_import", request={"multipart/form-data": s.AccountImportSerializer},
               tags=["accounts"], responses=_answers({201: s.AccountImportResultSerializer}, 400))  # fmt: skip
@endpoint({"POST": "manage_members"})
def accounts_import(request: Request) -> Response:
    """Add the valid lines of a console CSV at once; invalid lines are listed with the reason."""
    data = _valid(s.AccountImportSerializer, request)
    existing = set(MemberAccount.objects.values_list("account_id", flat=True))
    preview = parse_member_csv(data["file"].read(), existing=existing)
    if preview.problem:
        raise ValidationError({"file": [preview.problem]})
    result = account_services.member_accounts_import(
        lines=[(line.account_id, line.email) for line in preview.valid_lines], actor=request.user
    )
    skipped = [{"line": line.line, "account_id": line.account_id, "reason": line.error}
               for line in preview.lines if not line.valid]  # fmt: skip
    skipped += [{"line": None, "account_id": account_id, "reason": why} for account_id, why in result.skipped]
    return Response({"created": [a.account_id for a in result.created], "skipped": skipped}, status=201)


@extend_schema(operation_id="accounts_invite", request=s.InviteSerializer, tags=["accounts"],
               responses=_answers({202: s.OperationSerializer}, 400))  # fmt: skip
@endpoint({"POST": "manage_members"})
def accounts_invite(request: Request) -> Response:
    """Invite accounts in regions: queued as a member operation (its id answers; the accounts page shows it)."""
    data = _valid(s.InviteSerializer, request)
    accounts = list(MemberAccount.objects.filter(account_id__in=data.pop("account_ids")))
    try:
        operation = operations.member_operation_start(action=MemberOperation.Action.INVITE, accounts=accounts,
                                                      actor=request.user, **data)  # fmt: skip
    except DjangoValidationError as error:
        raise _refused(error) from None
    return Response({"id": operation.pk, "action": operation.action, "status": operation.status}, status=202)


# --- Coverage and report figures -----------------------------------------------------------------------


@extend_schema(operation_id="coverage_retrieve", tags=["reports"], responses=_answers({200: s.CoverageSerializer}))
@endpoint({"GET": "view_reports"})
def coverage_summary(request: Request) -> Response:
    """Whether every account and region is watched: % monitored per region and overall, gap counts."""
    scope = scope_for(request.user)
    summary = coverage.coverage_summary(scope=scope)
    regions = [{"region": r.region, "managed": r.managed, "monitored": r.monitored, "accounts": r.accounts,
                "percent": r.percent, "has_detector": r.has_detector, "findings_synced_at": r.findings_synced_at,
                "members_synced_at": r.members_synced_at} for r in summary.regions]  # fmt: skip
    return Response({"accounts": summary.accounts, "fully_monitored": summary.fully_monitored,
                     "percent": summary.percent, "accounts_percent": summary.accounts_percent,
                     "as_of": summary.as_of, "gap_counts": coverage.gap_counts(summary=summary, scope=scope), "regions": regions})  # fmt: skip


@extend_schema(operation_id="reports_findings", tags=["reports"], responses=_answers({200: s.FindingsFiguresSerializer}))
@endpoint({"GET": "view_findings"})
def findings_figures(request: Request) -> Response:
    """The dashboard's findings figures: open findings per severity band, overdue ones."""
    figures = findings_dashboard(scope=scope_for(request.user))
    return Response({"open_by_band": figures.open_by_band, "open_total": figures.open_total,
                     "overdue": figures.overdue, "computed_at": figures.computed_at})  # fmt: skip


# --- Suppression rules, alerts, audit ----------------------------------------------------------------------


@extend_schema(methods=["GET"], operation_id="suppression_rules_list", tags=["suppression"],
               responses=_answers({200: s.SuppressionRuleSerializer(many=True)}))  # fmt: skip
@extend_schema(methods=["POST"], operation_id="suppression_rules_create", request=s.SuppressionRuleCreateSerializer,
               tags=["suppression"], responses=_answers({201: s.SuppressionRuleSerializer}, 400))  # fmt: skip
@endpoint({"GET": "view_findings", "POST": "triage_findings"})
@organisation_wide
def suppression_rules(request: Request) -> Response:
    """GET: every suppression rule, pending ones included. POST: create a rule from a filter, pushed to
    GuardDuty, or pending an Admin's approval when it hides many findings."""
    if request.method == "GET":
        return Response(s.SuppressionRuleSerializer(SuppressionRule.objects.all(), many=True).data)
    try:
        rule = suppression.suppression_rule_create(**_valid(s.SuppressionRuleCreateSerializer, request), actor=request.user)
    except triage.TriageError as error:
        raise _refused(error) from None
    return Response(s.SuppressionRuleSerializer(rule).data, status=201)


@extend_schema(operation_id="alerts_list", tags=["alerts"], parameters=[
    OpenApiParameter("state", OpenApiTypes.STR, enum=["open", "acknowledged", "all"], default="open"),
    OpenApiParameter("page", OpenApiTypes.INT)],
    responses=_answers({200: s.page_of(s.AlertSerializer, "AlertPage")}))  # fmt: skip
@endpoint({"GET": "view_members"})
def alerts_list(request: Request) -> Response:
    """Coverage alerts, newest first: open (default), acknowledged, or all."""
    state = request.query_params.get("state", "open")
    if state not in ("open", "acknowledged", "all"):
        raise ValidationError({"state": ["One of open, acknowledged, all."]})
    return _paged(core_selectors.alert_list(state=state, user=request.user), s.AlertSerializer, request)


@extend_schema(operation_id="alerts_acknowledge", request=None, tags=["alerts"],
               responses=_answers({200: s.AlertSerializer}, 404))  # fmt: skip
@endpoint({"POST": "manage_members"})
def alert_acknowledge_endpoint(request: Request, pk: int) -> Response:
    """Mark an alert as seen and handled (no change if it already was)."""
    alert = get_object_or_404(Alert.objects.filter(core_selectors.alert_scope_q(request.user)), pk=pk)
    alert_acknowledge(alert=alert, actor=request.user)
    return Response(s.AlertSerializer(alert).data)


@extend_schema(operation_id="audit_list", tags=["audit"], parameters=[
    OpenApiParameter("actor", OpenApiTypes.STR), OpenApiParameter("verb", OpenApiTypes.STR, description="A prefix."),
    OpenApiParameter("since", OpenApiTypes.DATE), OpenApiParameter("until", OpenApiTypes.DATE),
    OpenApiParameter("page", OpenApiTypes.INT)],
    responses=_answers({200: s.page_of(s.AuditEntrySerializer, "AuditPage")}, 400))  # fmt: skip
@endpoint({"GET": "view_audit"})
def audit_list(request: Request) -> Response:
    """The audit log, newest first (read only)."""
    form = AuditFilterForm(request.query_params)
    if not form.is_valid():
        raise ValidationError({name: [e["message"] for e in found] for name, found in form.errors.get_json_data().items()})
    return _paged(core_selectors.audit_list(filters=form.to_filters()), s.AuditEntrySerializer, request)


def _paged(queryset, serializer_class: type[drf.Serializer], request: Request) -> Response:
    page = Paginator(queryset, 50).get_page(_page_number(request))
    return Response({"results": serializer_class(page.object_list, many=True).data, "page": page.number,
                     "pages": page.paginator.num_pages, "count": page.paginator.count})  # fmt: skip


