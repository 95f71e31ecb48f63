"""Triage pages: the findings list (HTMX), detail, workflow actions, bulk, rules, views, export.

Reading needs `view_findings` (Managers too); every POST needs `triage_findings` (Analysts, Admins).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from time import monotonic
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.text import Truncator
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts import selectors as accounts_selectors
from accounts.teams import finding_owners
from findings import attack, sla
from findings import selectors as findings_selectors
from findings.models import TriageStatus
from guardwatch.core.access import can, requires
from guardwatch.core.redirects import next_url
from guardwatch.core.scope import organisation_wide, scope_for
from guardwatch.core.slots import Slot, SlotsBusy, slot_acquire
from triage import bulk as bulk_actions
from triage import detail, entities, exports, governance, investigations, selectors, suppression, words
from triage import filters as list_filters
from triage import sequence as sequence_details
from triage import services as triage
from triage.evidence import Target
from triage.evidence_views import panel_context as evidence_panel_context
from triage.filters import FindingFilters
from triage.models import BulkAction, ImportedFilter, SavedView, SuppressionRule, WriteBack
from triage.rows import row_html
from triage.writeback import writeback_queue, writeback_retry

# A list URL with this marker and no filter shows every finding; a bare /findings/ opens on the default view.
ALL_MARKER = "all"


def _list_url(query: str = "") -> str:
    return reverse("triage:list") + f"?{query or ALL_MARKER + '=1'}"


def _only_search(query: QueryDict) -> bool:
    """Whether the list's query is a free-text search alone (no other filter), so an entity it names wins."""
    return not any(query.get(name) for name in list_filters.FILTER_PARAMS if name != "q")


def _opens_on_default(query: QueryDict) -> bool:
    """A bare list URL (no filter, sort or size, no "all" marker) opens on the user's default view."""
    return not any(name in query for name in (*list_filters.VIEW_PARAMS, ALL_MARKER))


def _filter_chips(filters: FindingFilters, query: QueryDict) -> list[dict]:
    """Each active filter in words, with the query-string changes that remove it (first page again).

    Removing the last one asks for every finding explicitly, not for the default view again.
    """
    chips = []
    for param, label in words.filter_phrases(filters):
        others = any(query.get(name, "").strip() for name in list_filters.VIEW_PARAMS if name != param)
        chips.append({
            "label": label,
            "remove": {param: None, "after": None, "before": None, "start": None,
                       ALL_MARKER: None if others else "1"},
        })  # fmt: skip
    return chips


def _views_by_query(saved_views: list[SavedView]) -> Iterator[tuple[str, str]]:
    """(name, normalised filter) of the built-in and saved views, to name the view being shown."""
    for name, query in (*list_filters.BUILTIN_VIEWS, *((v.name, v.query) for v in saved_views)):
        yield name, list_filters.filter_query(QueryDict(query))


def _page_size(request: HttpRequest) -> int:
    try:
        return int(request.GET.get("size", list_filters.DEFAULT_PAGE_SIZE))
    except ValueError:
        return list_filters.DEFAULT_PAGE_SIZE


def _position(request: HttpRequest) -> int | None:
    """Where the page starts in the list (1-based), as the page links carry it; None if absent or bad."""
    raw = request.GET.get("start", "")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) <= 9 and int(raw) > 0 else None


def list_rows(findings: list, *, now, can_triage: bool = False) -> list[dict]:
    """What each row of the list shows, formatted once here, and the row's HTML (`triage.rows`): the
    template language cost about half a millisecond a row, and a page has 50 to 200 rows."""
    detail = reverse("triage:detail", args=[0]).removesuffix("0/")
    rows = []
    hours = sla.sla_hours()
    for f in findings:
        due = sla.sla_due(f, hours=hours)
        last_seen = timezone.localtime(f.last_seen) if f.last_seen else None
        rows.append({
            "finding": f,
            "url": f"{detail}{f.pk}/",
            "severity": f"{f.severity:.1f}",
            "title": Truncator(f.title or f.type).chars(140),
            "resource_id": Truncator(f.resource_id).chars(60),
            "resource_url": entities.resource_entity_url(f.resource_type, f.resource_id),
            "last_seen_iso": last_seen.isoformat() if last_seen else "",
            "last_seen": last_seen.strftime("%Y-%m-%d %H:%M") if last_seen else "",
            "count": f"{f.count:,}",
            "due": due,
            "overdue": due is not None and due < now,
            "due_short": timezone.localtime(due).strftime("%m-%d %H:%M") if due else "",
            "tactics": attack.mapping_for(f.type).tactic_list,
        })  # fmt: skip
        rows[-1]["html"] = row_html(rows[-1], can_triage=can_triage)
    return rows


@require_GET
@requires("view_findings")
@vary_on_headers("HX-Request")
def finding_list(request: HttpRequest) -> HttpResponse:
    """The workspace: filters, counts by severity, one keyset page; HTMX swaps just the results.

    A bare /findings/ shows the user's default view (`selectors.saved_view_default`): its query
    becomes this request's, so the chips, counts and page links carry its filters like any other.
    """
    saved_views = selectors.saved_views_for(user=request.user)
    on_default = _opens_on_default(request.GET)
    if on_default:
        request.GET = QueryDict(selectors.saved_view_default(user=request.user, views=saved_views)[1])
    filters = FindingFilters.from_query(request.GET)
    entity = entities.entity_search(text=filters.q, user=request.user) if filters.q else None
    if entity and entity.prefixed and _only_search(request.GET):  # `ip:…`, `s3:…`: its page (docs/entities.md)
        url = entity.url
        if request.htmx:
            return HttpResponse(headers={"HX-Redirect": url})
        return redirect(url)
    sort_key = request.GET.get("sort", list_filters.DEFAULT_SORT)
    page = selectors.finding_page(
        filters=filters,
        sort_key=sort_key,
        after=request.GET.get("after", ""),
        before=request.GET.get("before", ""),
        size=_page_size(request),
        start=_position(request),
        user=request.user,
    )
    counts = selectors.severity_counts(filters=filters, user=request.user)
    now = timezone.now()
    can_triage = can(request.user, "triage_findings")
    rows = list_rows(page.findings, now=now, can_triage=can_triage)
    context = {
        "filters": filters,
        "page": page,
        "rows": rows,
        "now": now,
        "counts": counts,
        "filter_query": list_filters.filter_query(request.GET),
        "view_query": list_filters.filter_query(request.GET, list_filters.VIEW_PARAMS),
        "sorts": list_filters.SORTS.values(),
        "sort_key": page.sort.key,
        "page_sizes": list_filters.PAGE_SIZES,
        "can_triage": can_triage,
        "statuses": list_filters.STATUS_CHOICES,
        "triage_statuses": TriageStatus.choices,
        "bulk_actions": bulk_actions.BULK_ACTIONS,
        "bands": sla.BANDS,
        "tactics": attack.TACTICS,
        "techniques": attack.techniques(),
        "entity_offer": entity,  # otherwise offered above the results
    }
    view_key = list_filters.filter_query(request.GET)  # a view is named by its filters, whatever the page size
    context.update(
        chips=_filter_chips(filters, request.GET),
        all_marker=ALL_MARKER,
        on_default=on_default,
        current_view=next(
            (name for name, query in _views_by_query(saved_views) if query == view_key),
            "All findings" if not view_key else None,
        ),
    )
    # The view's grouping, for the form: a template lookup of a missing GET key logs the whole query string.
    context["group"] = request.GET.get("group", "")
    if context["group"] == "sequence":
        context["sequence_groups"] = selectors.sequence_groups(filters=filters, user=request.user)
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "triage/list.html#results", {**context, "fragment": True})
    context.update(
        saved_views=saved_views,
        my_default=next((v for v in saved_views if v.is_default and v.owner_id == request.user.pk), None),
        builtin_views=list_filters.BUILTIN_VIEWS,
        assignees=selectors.assignable_users() if context["can_triage"] else [],
    )
    return render(request, "triage/list.html", context)


@require_GET
@requires("view_findings")
def finding_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Everything about one finding, its timeline and the actions an analyst can take."""
    finding = findings_selectors.finding_get(pk=pk, user=request.user)
    context = {
        "finding": finding,
        "explained": detail.finding_explained(finding),
        # Counted before the timeline is read: an issue committed in between shows in the timeline and
        # makes the ticket panel reload the page once (harmless); none can be missed.
        "tickets_known": finding.ticket_links.count(),
        "timeline": selectors.finding_timeline(finding=finding),
        "writebacks": selectors.finding_writebacks(finding=finding),
        "chart": selectors.occurrences_chart(finding=finding),
        "console_url": detail.console_url(finding),
        "due": sla.sla_due(finding),
        "owners": finding_owners(findings=[finding])[finding.pk],
        "now": timezone.now(),
        "can_triage": can(request.user, "triage_findings"),
        "triage_statuses": TriageStatus.choices,
        "assignees": selectors.assignable_users() if can(request.user, "triage_findings") else [],
        **evidence_panel_context(target=Target(finding=finding), user=request.user),
        "sequence": selectors.finding_sequence(finding=finding, user=request.user),
        "is_sequence": sequence_details.attack_sequence(finding.raw) is not None,
        "sequence_query": urlencode({"sequence": finding.attack_sequence_arn or finding.arn}),
    }
    own = entities.finding_entity_pairs(finding=finding)
    context.update(entities=entities.entities_shown(own),
                   related=entities.finding_related(finding=finding, user=request.user, own=own))
    return render(request, "triage/detail.html", context)


@require_GET
@requires("view_findings")
def finding_sequence_view(request: HttpRequest, pk: int) -> HttpResponse:
    """An attack-sequence finding's story: its signals in time order, actors, resources, endpoints, MITRE
    tactics and techniques, and the findings it includes (each linked, each linking back)."""
    finding = findings_selectors.finding_get(pk=pk, user=request.user)
    details = sequence_details.attack_sequence(finding.raw)
    if details is None:
        raise Http404("This finding is not an attack sequence.")
    members = selectors.sequence_signal_findings(sequence=finding, signal_uids=details.finding_uids, user=request.user)
    links = selectors.signal_links(sequence=finding, members=members)
    apis = {member.pk: sequence_details.finding_api(member.raw) for member in members}
    context = {
        "finding": finding,
        "details": details,
        "timeline": [(signal, links.get(signal.uid), apis.get(links.get(signal.uid))) for signal in details.signals],
        "members": members,
        "members_query": urlencode({"sequence": finding.arn}),
    }
    return render(request, "triage/sequence.html", context)


def _back_to_detail(pk: int) -> HttpResponse:
    return redirect("triage:detail", pk=pk)


@require_POST
@requires("triage_findings")
def finding_status_view(request: HttpRequest, pk: int) -> HttpResponse:
    finding = findings_selectors.finding_get(pk=pk, user=request.user)
    try:
        until = triage.accepted_until_parse(request.POST.get("accepted_until", "").strip())
        triage.finding_status_change(
            finding=finding,
            status=request.POST.get("status", ""),
            actor=request.user,
            reason=request.POST.get("reason", ""),
            accepted_until=until,
            comment=request.POST.get("comment", ""),
        )
    except triage.TriageError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Status set to {finding.get_status_display()}.")
    return _back_to_detail(pk)


@require_POST
@requires("triage_findings")
def finding_assign_view(request: HttpRequest, pk: int) -> HttpResponse:
    finding = findings_selectors.finding_get(pk=pk, user=request.user)
    username = request.POST.get("assignee", "").strip()
    assignee = get_object_or_404(get_user_model(), username=username) if username else None
    try:
        triage.finding_assign(finding=finding, assignee=assignee, actor=request.user)
    except triage.TriageError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Assigned to {username}." if username else "Unassigned.")
    return _back_to_detail(pk)


@require_POST
@requires("triage_findings")
def finding_comment_view(request: HttpRequest, pk: int) -> HttpResponse:
    finding = findings_selectors.finding_get(pk=pk, user=request.user)
    try:
        triage.finding_comment_add(finding=finding, body=request.POST.get("body", ""), actor=request.user)
    except triage.TriageError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Comment added.")
    return _back_to_detail(pk)


@require_POST
@requires("triage_findings")
def finding_feedback_view(request: HttpRequest, pk: int) -> HttpResponse:
    finding = findings_selectors.finding_get(pk=pk, user=request.user)
    useful = request.POST.get("feedback") == "useful"
    triage.finding_feedback_set(finding=finding, useful=useful, actor=request.user)
    messages.success(
        request, f"GuardDuty will be told the finding was {'useful' if useful else 'not useful'}."
    )
    return _back_to_detail(pk)


# --- Bulk ---------------------------------------------------------------------------------------------


@require_POST
@requires("triage_findings")
def bulk_view(request: HttpRequest) -> HttpResponse:
    """Step 1 shows the confirmation with the count; step 2 (`confirmed`) applies or queues it."""
    query = request.POST.get("query", "")
    try:
        bulk = bulk_actions.bulk_request_clean(
            action=request.POST.get("action", ""),
            params=request.POST,
            ids=request.POST.getlist("ids"),
            query=query,
            select_all=request.POST.get("scope") == "all",
            actor=request.user,
        )
    except triage.TriageError as error:
        messages.error(request, str(error))
        return redirect(_list_url(query))
    if request.POST.get("confirmed") != "yes":
        count = bulk_actions.bulk_findings(request=bulk, actor=request.user).count()
        return render(
            request,
            "triage/bulk_confirm.html",
            {
                "bulk": bulk,
                "count": count,
                "label": bulk_actions.BULK_ACTIONS[bulk.action],
                "query": query,
                "post": request.POST,
                "ids": bulk.ids or [],
                "status_label": dict(TriageStatus.choices).get(bulk.params.get("status", ""), ""),
            },
        )
    total, queued = bulk_actions.findings_bulk_apply(request=bulk, actor=request.user)
    if queued is not None:
        return redirect("triage:bulk_progress", pk=queued.pk)
    messages.success(
        request, f"{bulk_actions.BULK_ACTIONS[bulk.action]}: applied to {total} finding{'s' if total != 1 else ''}."
    )
    return redirect(_list_url(query))


@require_GET
@requires("view_findings")
@vary_on_headers("HX-Request")
def bulk_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """A queued bulk action's progress; the fragment polls itself until the task finishes."""
    bulk = get_object_or_404(BulkAction, pk=pk)
    if scope_for(request.user) is not None and bulk.actor_id != request.user.pk:
        raise Http404("No such bulk action.")  # another's filter may name accounts outside the user's teams
    context = {
        "bulk": bulk,
        "label": bulk_actions.BULK_ACTIONS.get(bulk.action, bulk.action),
        "list_url": _list_url(bulk.query),
    }
    template = "triage/bulk_progress.html#progress" if request.htmx else "triage/bulk_progress.html"
    return render(request, template, context)


# --- Saved views -----------------------------------------------------------------------------------------


@require_POST
@requires("view_findings")
def saved_view_save_view(request: HttpRequest) -> HttpResponse:
    """Anyone who reads findings may keep personal views; sharing is for those who triage."""
    query = request.POST.get("query", "")
    try:
        view = triage.saved_view_save(
            owner=request.user,
            name=request.POST.get("name", ""),
            query=query,
            shared=request.POST.get("shared") == "on" and can(request.user, "triage_findings"),
            default=request.POST.get("default") == "on",
        )
    except triage.TriageError as error:
        messages.error(request, str(error))
        return redirect(_list_url(query))
    messages.success(request, f"View “{view.name}” saved.")
    return redirect(_list_url(view.query))


@require_POST
@requires("view_findings")
def saved_view_default_view(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Make one of your views the one the list opens on; without one, go back to the built-in default."""
    view = get_object_or_404(SavedView, pk=pk, owner=request.user) if pk is not None else None
    triage.saved_view_default_set(view=view, actor=request.user)
    name = view.name if view is not None else list_filters.BUILTIN_VIEWS[0][0]
    messages.success(request, f"The findings list now opens on “{name}”.")
    return redirect("triage:list")


@require_POST
@requires("view_findings")
def saved_view_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    # Someone else's private view does not exist as far as this user can tell.
    view = get_object_or_404(SavedView.objects.filter(Q(owner=request.user) | Q(shared=True)), pk=pk)
    try:
        triage.saved_view_delete(view=view, actor=request.user)
    except triage.TriageError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"View “{view.name}” deleted.")
    return redirect("triage:list")


# --- Suppression rules and the write-back queue --------------------------------------------------------------


def _governed_fields(request: HttpRequest) -> dict:
    """Owner, review date and expiry from a rule's form; a bad value is a TriageError naming it."""
    fields: dict = {"owner": None, "review_at": None, "expires_at": None}
    owner = request.POST.get("owner", "")
    if owner:
        fields["owner"] = next((u for u in selectors.assignable_users() if str(u.pk) == owner), None)
        if fields["owner"] is None:
            raise triage.TriageError("Choose an owner who may triage findings.")
    for name, label in (("review_at", "review date"), ("expires_at", "expiry")):
        raw = request.POST.get(name, "").strip()
        if not raw:
            continue
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise triage.TriageError(f"The {label} must be a date (YYYY-MM-DD).") from None
        # A rule expires at the start of its expiry day, in GuardWatch's time zone.
        fields[name] = day if name == "review_at" else timezone.make_aware(datetime.combine(day, time.min))
    return fields


def _governed_query(fields: dict) -> dict:
    """The governance fields as hidden inputs carry them from the confirmation page."""
    return {
        "owner": fields["owner"].pk if fields["owner"] else "",
        "review_at": fields["review_at"].isoformat() if fields["review_at"] else "",
        "expires_at": timezone.localtime(fields["expires_at"]).date().isoformat() if fields["expires_at"] else "",
    }


@require_GET
@requires("view_findings")
@organisation_wide
def suppression_list(request: HttpRequest) -> HttpResponse:
    """Suppression rules with their governance and hits, a form to create one from a filter, GuardDuty's
    filters GuardWatch did not create, and the write-back queue."""
    query = request.GET.get("query", "")
    preview = None
    error = None
    query_words: list[str] = []
    if query:
        filters = FindingFilters.from_query(QueryDict(query))
        query_words = words.filter_words(filters)
        try:
            preview = suppression.suppression_preview(query=query)
        except triage.TriageError as exc:
            error = str(exc)
    rules = list(SuppressionRule.objects.select_related("created_by", "decided_by", "owner").prefetch_related("hits"))
    today = timezone.localdate()
    can_approve = can(request.user, "approve_suppression")
    for rule in rules:
        rule.criteria_words = words.criteria_words(rule.criteria)
        rule.hit_chart = governance.suppression_hit_chart(hits=list(rule.hits.all()), today=today)
        rule.review_due = rule.review_at is not None and rule.review_at <= today
        # An approver sees what a waiting rule would have hidden, against today's store.
        rule.preview = (
            governance.suppression_rule_pending_preview(rule=rule)
            if can_approve and rule.status == SuppressionRule.Status.PENDING
            else None
        )
    imported = list(ImportedFilter.objects.order_by("region", "rank", "name"))
    for found in imported:
        found.criteria_words = words.criteria_words(found.criteria)
    return render(
        request,
        "triage/suppression.html",
        {
            "rules": rules,
            "imported": imported,
            "can_approve": can_approve,
            "query": query,
            "query_words": query_words,
            "preview": json.dumps(preview, indent=2) if preview else "",
            "preview_words": words.criteria_words(preview) if preview else [],
            "preview_error": error,
            "can_triage": can(request.user, "triage_findings"),
            "owners": selectors.assignable_users(),
            "review_default": today + timedelta(days=settings.GUARDWATCH_SUPPRESSION_REVIEW_DAYS),
            "queue": writeback_queue(),
        },
    )


@require_POST
@requires("triage_findings")
@organisation_wide
def suppression_create_view(request: HttpRequest) -> HttpResponse:
    """Step 1 shows what the rule would hide now and over the last 90 days and asks to confirm; step 2
    (`confirmed`) creates it."""
    query = request.POST.get("query", "")
    fields = {"name": request.POST.get("name", ""), "reason": request.POST.get("reason", ""), "query": query}
    try:
        governed = _governed_fields(request)
        if request.POST.get("confirmed") != "yes":
            plan = suppression.suppression_rule_plan(**fields, **governed, actor=request.user)
            return render(
                request,
                "triage/suppression_confirm.html",
                {"plan": plan, "criteria": json.dumps(plan.criteria, indent=2), "governed": _governed_query(governed)},
            )
        rule = suppression.suppression_rule_create(**fields, **governed, actor=request.user)
    except triage.TriageError as error:
        messages.error(request, str(error))
        return redirect(reverse("triage:suppression") + "?" + urlencode({"query": query}))
    if rule.status == SuppressionRule.Status.PENDING:
        messages.success(
            request,
            f"Suppression rule “{rule.name}” waits for a second Admin's approval and reaches GuardDuty once approved.",
        )
    else:
        messages.success(request, f"Suppression rule “{rule.name}” pushed to {', '.join(rule.regions)}.")
    return redirect("triage:suppression")


@require_POST
@requires("approve_suppression")
@organisation_wide
def suppression_approve_view(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(SuppressionRule, pk=pk)
    try:
        suppression.suppression_rule_approve(rule=rule, actor=request.user)
    except triage.TriageError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Suppression rule “{rule.name}” approved and pushed to GuardDuty.")
    return redirect("triage:suppression")


@require_POST
@requires("approve_suppression")
@organisation_wide
def suppression_reject_view(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(SuppressionRule, pk=pk)
    try:
        suppression.suppression_rule_reject(rule=rule, actor=request.user, note=request.POST.get("note", ""))
    except triage.TriageError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Suppression rule “{rule.name}” rejected.")
    return redirect("triage:suppression")


@require_http_methods(["GET", "POST"])
@requires("view_findings")
@organisation_wide
def suppression_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(SuppressionRule, pk=pk)
    if request.method == "POST":
        if not can(request.user, "triage_findings"):
            raise PermissionDenied("Your role does not allow this (triage_findings).")
        fields = {"reason": request.POST.get("reason", ""), "query": request.POST.get("query", "")}
        try:
            if request.POST.get("confirmed") != "yes":  # step 1: what the changed rule would hide now
                plan = suppression.suppression_rule_update_plan(rule=rule, **fields, actor=request.user)
                return render(
                    request,
                    "triage/suppression_confirm.html",
                    {"plan": plan, "rule": rule, "criteria": json.dumps(plan.criteria, indent=2), "governed": {}},
                )
            suppression.suppression_rule_update(rule=rule, **fields, actor=request.user)
        except triage.TriageError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"Suppression rule “{rule.name}” updated.")
            return redirect("triage:suppression")
    return render(
        request,
        "triage/suppression_edit.html",
        {"rule": rule, "can_triage": can(request.user, "triage_findings"),
         "criteria_words": words.criteria_words(rule.criteria)},
    )  # fmt: skip


@require_POST
@requires("triage_findings")
@organisation_wide
def suppression_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(SuppressionRule, pk=pk)
    try:
        suppression.suppression_rule_delete(rule=rule, actor=request.user)
    except triage.TriageError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Suppression rule “{rule.name}” deleted from GuardDuty.")
    return redirect("triage:suppression")


@require_POST
@requires("triage_findings")
@organisation_wide
def suppression_review_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The owner (or an Admin) reviewed the rule: a new review date."""
    rule = get_object_or_404(SuppressionRule, pk=pk)
    try:
        review_at = _governed_fields(request)["review_at"]
        if review_at is None:
            raise triage.TriageError("Give the next review date.")
        governance.suppression_rule_review(rule=rule, review_at=review_at, actor=request.user)
    except triage.TriageError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Suppression rule “{rule.name}” reviewed; next review {review_at.isoformat()}.")
    return redirect("triage:suppression")


@require_POST
@requires("approve_suppression")
@organisation_wide
def suppression_import_view(request: HttpRequest) -> HttpResponse:
    """List every GuardDuty filter now (ListFilters + GetFilter per region)."""
    try:
        held = governance.suppression_filters_import()
    except triage.TriageError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{held} GuardDuty filter{'s' if held != 1 else ''} not created by GuardWatch.")
    return redirect(reverse("triage:suppression") + "#imported")


@require_POST
@requires("approve_suppression")
@organisation_wide
def suppression_adopt_view(request: HttpRequest, pk: int) -> HttpResponse:
    """An Admin adopts a GuardDuty filter: it becomes a governed rule keeping its name and rank."""
    imported = get_object_or_404(ImportedFilter, pk=pk)
    try:
        governed = _governed_fields(request)
        rule = governance.suppression_filter_adopt(
            imported=imported, reason=request.POST.get("reason", ""), **governed, actor=request.user
        )
    except triage.TriageError as error:
        messages.error(request, str(error))
        return redirect(reverse("triage:suppression") + "#imported")
    messages.success(request, f"GuardDuty filter “{rule.name}” adopted: it is now a governed rule.")
    return redirect("triage:suppression")


@require_POST
@requires("triage_findings")
@organisation_wide
def writeback_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    writeback = get_object_or_404(WriteBack, pk=pk)
    writeback_retry(writeback=writeback, actor=request.user)
    messages.success(request, "Write-back queued for another attempt.")
    fallback = reverse("triage:suppression")
    return redirect(next_url(request, request.POST.get("next", ""), fallback=fallback))


# --- Export --------------------------------------------------------------------------------------------------


# An export streams in pieces of about this many characters (not a write per row: 700,000 small writes cost
# the web worker more than the rows themselves), and after each piece lets the process's other threads run:
# an export is a background download, the people paging beside it in the same worker come first.
EXPORT_PIECE_CHARS = 256 * 1024
EXPORT_PAUSE_SECONDS = 0.01


@require_GET
@requires("view_findings")
def export_view(request: HttpRequest, fmt: str) -> HttpResponse:
    """The current filter as CSV or JSON, streamed in keyset pages while it holds an export slot (for
    scripts and the API; the list's Export button queues a background export instead: `exports_view`).

    One export per person at a time and GUARDWATCH_EXPORTS_MAX in all (`guardwatch.core.slots`); a
    refused export goes back to the list with the reason (429 for an API client).
    """
    try:
        slot = slot_acquire("findings-export", str(request.user.pk), total=settings.GUARDWATCH_EXPORTS_MAX)
    except SlotsBusy as busy:
        return _export_refused(request, busy)
    filters = FindingFilters.from_query(request.GET)
    rows = selectors.findings_export_rows(filters=filters, user=request.user)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    chunks = exports.export_pieces(rows, fmt=fmt, piece_chars=EXPORT_PIECE_CHARS, pause=EXPORT_PAUSE_SECONDS)
    content_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    response = StreamingHttpResponse(_Holding(slot, chunks), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="guardwatch-findings-{stamp}.{fmt}"'
    return response


class _Holding:
    """Streams `chunks` while holding `slot`: renews its lease as it goes (every `renew_seconds`) and releases
    it at the end, and also when the server closes the response early (a client gone before or during the
    body: a generator's `finally` would not run if it never started)."""

    def __init__(self, slot: Slot, chunks: Iterator[str], *, renew_seconds: float = 10.0):
        self.slot, self.chunks, self.renew_seconds = slot, chunks, renew_seconds

    def __iter__(self) -> Iterator[str]:
        renewed = monotonic()
        try:
            for chunk in self.chunks:
                if monotonic() - renewed >= self.renew_seconds:
                    self.slot.renew()
                    renewed = monotonic()
                yield chunk
        finally:
            self.slot.release()

    def close(self) -> None:
        self.slot.release()
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


def _export_refused(request: HttpRequest, busy: SlotsBusy) -> HttpResponse:
    if request.htmx or "text/html" in request.headers.get("Accept", ""):
        messages.error(request, busy.message)
        return redirect(f"{reverse('triage:list')}?{request.GET.urlencode()}")
    response = HttpResponse(busy.message + "\n", status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(busy.retry_after)
    return response


# --- GuardDuty Investigation: the finding page's panel and its button ------------------------------------------


def _finished_count(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else None


@require_GET
@requires("triage_findings")
def investigation_panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The finding page's "GuardDuty investigation" panel (loaded by HTMX): the button, the quota left, the runs.

    `known` is how many investigations had ended when the page was rendered; once more have, the page's
    timeline lacks a report, so the panel reloads the page (`HX-Refresh`). While one runs, the panel polls itself.
    """
    finding = findings_selectors.finding_get(pk=pk, user=request.user)
    runs = investigations.finding_investigations(finding=finding)
    known = _finished_count(request.GET.get("known", ""))
    finished = sum(1 for run in runs if run.status in ("completed", "failed"))
    if known is not None and finished > known:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render(request, "triage/_investigation.html", {
        "finding": finding, "runs": runs, "quota": investigations.investigation_quota(),
        "unavailable": investigations.investigation_unavailable(finding=finding),
        "poll": any(run.active for run in runs), "known": finished if known is None else known,
    })  # fmt: skip


@require_POST
@requires("triage_findings")
def investigation_start_view(request: HttpRequest, pk: int) -> HttpResponse:
    """"Investigate with GuardDuty": start one through the administrator; a refusal is shown as it is."""
    finding = findings_selectors.finding_get(pk=pk, user=request.user)
    try:
        investigation = investigations.investigation_start(finding=finding, actor=request.user)
    except investigations.InvestigationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _started_message(investigation, "this finding", "in the timeline"))
    return _back_to_detail(pk)


def _started_message(investigation, what: str, where: str) -> str:
    if investigation.status == "pending":  # a throttle, a 5xx or the network: the poll task tries again
        return (f"GuardWatch could not reach GuardDuty yet ({investigation.error}); it tries again in the background, "
                f"and the report of {what} will appear {where}.")
    return f"GuardDuty is investigating {what}; its report will appear {where}."


def _account_regions(account) -> list[str]:
    return investigations.account_investigation_regions(regions=list(account.memberships.values_list("region", flat=True)))


@require_GET
@requires("triage_findings")
def account_investigation_panel(request: HttpRequest, account_id: str) -> HttpResponse:
    """The account page's "GuardDuty investigation" panel (loaded by HTMX): the button per Region, the quota left,
    the account's investigations and the latest report. Polls itself while one runs."""
    account = accounts_selectors.account_get(account_id=account_id, user=request.user)
    runs = investigations.account_investigations(account_id=account.account_id)
    return render(request, "triage/_investigation_account.html", {
        "account": account, "runs": runs, "quota": investigations.investigation_quota(),
        "regions": _account_regions(account), "poll": any(run.active for run in runs),
        "report": next((run for run in runs if run.status == "completed"), None),
    })  # fmt: skip


@require_POST
@requires("triage_findings")
def account_investigation_start_view(request: HttpRequest, account_id: str) -> HttpResponse:
    """"Investigate with GuardDuty" on an account page: an ACCOUNT investigation in the chosen Region."""
    account = accounts_selectors.account_get(account_id=account_id, user=request.user)
    region = request.POST.get("region", "")
    try:
        investigation = investigations.account_investigation_start(
            account_id=account.account_id, region=region, regions=_account_regions(account), actor=request.user)
    except investigations.InvestigationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _started_message(investigation, f"this account in {region}", "here"))
    return redirect("accounts:detail", account_id=account.account_id)


# --- Background exports ----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@requires("view_findings")
def exports_view(request: HttpRequest) -> HttpResponse:
    """The person's exports (GET), or a new one of the list's filter (POST, what "Export" on the list sends).

    The export is written by a worker on the low-priority exports queue; this page shows its progress.
    """
    if request.method == "POST":
        fmt = request.POST.get("format", "csv")
        try:
            exports.finding_export_create(owner=request.user, query=request.POST.get("query", ""), fmt=fmt)
        except exports.ExportRefused as refused:
            messages.error(request, str(refused))
        else:
            messages.success(
                request, "Export queued: it is written in the background. Download it here when done."
            )
        return redirect("triage:exports")
    context = {
        "exports": exports.finding_export_list(user=request.user),
        "keep_hours": settings.GUARDWATCH_EXPORT_KEEP_HOURS,
    }
    return render(request, "triage/exports.html", context)


@require_GET
@requires("view_findings")
@vary_on_headers("HX-Request")
def export_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """One export's row: the page polls it every second while the export is queued or running."""
    export = exports.finding_export_get(user=request.user, pk=pk)
    if not request.htmx:
        return redirect("triage:exports")
    return render(request, "triage/exports.html#export", {"export": export})


@require_POST
@requires("view_findings")
def export_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    export = exports.finding_export_get(user=request.user, pk=pk)
    cancelled = exports.finding_export_cancel(export=export)
    if request.htmx:  # the row itself says Cancelled (or how it had ended)
        export.refresh_from_db()
        return render(request, "triage/exports.html#export", {"export": export})
    if cancelled:
        messages.success(request, "Export cancelled.")
    else:
        messages.error(request, "That export had already ended; nothing to cancel.")
    return redirect("triage:exports")


@require_GET
@requires("view_findings")
def export_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The finished export: its stored gzip stream as is (`Content-Encoding: gzip`: the browser saves the
    decompressed file) when the request accepts gzip, decompressed on the fly otherwise."""
    export = exports.finding_export_get(user=request.user, pk=pk)
    if export.status != export.Status.DONE:
        raise Http404("This export has no file to download (not finished, failed, cancelled or expired).")
    content_type = "text/csv; charset=utf-8" if export.format == "csv" else "application/json"
    if _accepts_gzip(request.headers.get("Accept-Encoding", "")):
        response = StreamingHttpResponse(
            exports.finding_export_chunks(export=export), content_type=content_type
        )
        response["Content-Encoding"] = "gzip"
        response["Content-Length"] = str(export.bytes_stored)
    else:
        response = StreamingHttpResponse(
            exports.finding_export_text(export=export), content_type=content_type
        )
        response["Content-Length"] = str(export.bytes_written)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    patch_vary_headers(response, ["Accept-Encoding"])
    response["Cache-Control"] = "private, no-store"
    return response


def _accepts_gzip(header: str) -> bool:
    """Whether Accept-Encoding allows gzip (named, or `*`, with a q-value above 0; RFC 9110 12.5.3)."""
    allowed: dict[str, bool] = {}
    for item in header.split(","):
        name, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if name.strip():
            allowed[name.strip().lower()] = quality > 0
    if "gzip" in allowed:
        return allowed["gzip"]
    return allowed.get("*", False)
