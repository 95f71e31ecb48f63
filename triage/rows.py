"""The findings list's rows as HTML, built here instead of by the template language.

A list page has 50 to 200 rows of eleven cells. Through the template language a row cost about half a
millisecond (variable lookups, escaping, a context push per row): at 5,000,000 findings a 200-row page
spent ~100 ms of its ~120 ms rendering rows, and a 50-row page ~25 ms, more than its SQL
(docs/benchmarks.md, "Free-text search and the list at 5,000,000 findings"). Every value is escaped
with the call the template language's autoescape makes (`html.escape`, quotes included): titles,
resource ids and types are attacker-controlled strings. The table around the rows, its header and the
empty row stay in templates/triage/list.html.
"""

from __future__ import annotations

from html import escape

from django.utils.safestring import SafeString, mark_safe


def _e(value) -> str:
    """What the template language's autoescape gives for `value` (Django's `escape` is this same call)."""
    return escape(str(value), quote=True)


def row_html(row: dict, *, can_triage: bool) -> SafeString:
    """One `<tr>` of the list from what `views.list_rows` worked out for the finding."""
    f = row["finding"]
    pk = f.pk
    checkbox = (
        f'<td><input type="checkbox" name="ids" value="{pk}" form="bulk" aria-label="Select finding {pk}"></td>'
        if can_triage
        else ""
    )
    resource_id = _e(row["resource_id"])
    if row["resource_url"]:
        resource = f'<a class="mono" href="{_e(row["resource_url"])}">{resource_id}</a>'
    else:
        resource = f'<span class="mono">{resource_id}</span>'
    tactics = "".join(
        f'<a class="chip" href="?tactic={_e(t.id)}" title="{_e(t.id)}">{_e(t.name)}</a> ' for t in row["tactics"]
    ) or "—"
    if row["due"] is None:
        due = "—"
    elif row["overdue"]:
        due = '<span class="badge overdue">Overdue</span>'
    else:
        due = f'<span class="small muted">due {_e(row["due_short"])}</span>'
    last_seen = (
        f'<time datetime="{_e(row["last_seen_iso"])}">{_e(row["last_seen"])}</time>' if row["last_seen"] else ""
    )
    assignee = (f.assignee.username if f.assignee_id else "") or "—"  # the page joins the assignee
    sample = " · sample" if f.sample else ""
    archived = " · archived" if f.archived else ""
    return mark_safe(  # noqa: S308 - every value above is escaped by _e; the rest is constant markup
        f'<tr data-finding="{pk}">{checkbox}'
        f'<td><span class="badge sev-{_e(f.severity_band)}">{_e(row["severity"])} {_e(f.get_severity_band_display())}</span></td>'
        f'<td class="finding-cell"><a href="{_e(row["url"])}">{_e(row["title"])}</a>'
        f'<div class="mono small muted">{_e(f.type)}{sample}{archived}</div></td>'
        f'<td class="hide-sm mono small">{_e(f.account_id)}<br>{_e(f.region)}</td>'
        f'<td class="hide-sm small resource-cell">{_e(f.resource_type)}<br>{resource}</td>'
        f'<td class="hide-sm small" data-testid="row-tactics">{tactics}</td>'
        f'<td class="small">{last_seen}</td>'
        f'<td class="num">{_e(row["count"])}</td>'
        f'<td><span class="badge tri-{_e(f.status)}">{_e(f.get_status_display())}</span></td>'
        f'<td class="hide-sm">{_e(assignee)}</td>'
        f"<td>{due}</td></tr>"
    )
