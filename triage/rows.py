"""The findings list's rows as HTML, built here instead of by the template language.

A list page has 50 to 200 rows of eleven cells. Through the template language a row cost about half a
millisecond (variable lookups, escaping, a context push per row): at 5,000,000 findings a 200-row page
spent ~100 ms of its ~120 ms rendering rows, and a 50-row page ~25 ms, more than its SQL
(docs/benchmarks.md, "Free-text search and the list at 5,000,000 findings"). `format_html` escapes every
value it is given, exactly as the template did: titles, resource ids and types are attacker-controlled
strings. The table around the rows, its header and the empty row stay in templates/triage/list.html.
"""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

_ROW = (
    '<tr data-finding="{pk}">{checkbox}'
    '<td><span class="badge sev-{band}">{severity} {band_label}</span></td>'
    '<td class="finding-cell"><a href="{url}">{title}</a>'
    '<div class="mono small muted">{type}{sample}{archived}</div></td>'
    '<td class="hide-sm mono small">{account}<br>{region}</td>'
    '<td class="hide-sm small resource-cell">{resource_type}<br>{resource}</td>'
    '<td class="hide-sm small" data-testid="row-tactics">{tactics}</td>'
    '<td class="small">{last_seen}</td>'
    '<td class="num">{count}</td>'
    '<td><span class="badge tri-{status}">{status_label}</span></td>'
    '<td class="hide-sm">{assignee}</td>'
    "<td>{sla}</td></tr>"
)
_CHECKBOX = (
    '<td><input type="checkbox" name="ids" value="{}" form="bulk" aria-label="Select finding {}"></td>'
)
_DASH = mark_safe("—")  # noqa: S308 - a constant


def row_html(row: dict, *, can_triage: bool) -> SafeString:
    """One `<tr>` of the list from what `views.list_rows` worked out for the finding."""
    f = row["finding"]
    if row["resource_url"]:
        resource = format_html('<a class="mono" href="{}">{}</a>', row["resource_url"], row["resource_id"])
    else:
        resource = format_html('<span class="mono">{}</span>', row["resource_id"])
    tactics = format_html_join(
        "", '<a class="chip" href="?tactic={}" title="{}">{}</a> ', ((t.id, t.id, t.name) for t in row["tactics"])
    ) or _DASH
    if row["due"] is None:
        due = _DASH
    elif row["overdue"]:
        due = mark_safe('<span class="badge overdue">Overdue</span>')  # noqa: S308 - a constant
    else:
        due = format_html('<span class="small muted">due {}</span>', row["due_short"])
    last_seen = (
        format_html('<time datetime="{}">{}</time>', row["last_seen_iso"], row["last_seen"]) if row["last_seen"] else ""
    )
    assignee = f.assignee.username if f.assignee_id and f.assignee and f.assignee.username else "—"
    return format_html(
        _ROW,
        pk=f.pk,
        checkbox=format_html(_CHECKBOX, f.pk, f.pk) if can_triage else "",
        band=f.severity_band,
        severity=row["severity"],
        band_label=f.get_severity_band_display(),
        url=row["url"],
        title=row["title"],
        type=f.type,
        sample=" · sample" if f.sample else "",
        archived=" · archived" if f.archived else "",
        account=f.account_id,
        region=f.region,
        resource_type=f.resource_type,
        resource=resource,
        tactics=tactics,
        last_seen=last_seen,
        count=row["count"],
        status=f.status,
        status_label=f.get_status_display(),
        assignee=assignee,
        sla=due,
    )
