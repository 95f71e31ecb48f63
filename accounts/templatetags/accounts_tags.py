"""Rendering the accounts table's status cells fast: 100 rows × up to 17+ regions per page.

A loop of template tags per cell costs more than the whole database work of the page, so cells are
built here with `format_html` (every value escaped, as autoescape would) and identical cells are
built once per page.
"""

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

NOT_A_MEMBER = '<span class="muted" title="Not a member">—</span>'


def _cell(cell) -> str:
    if cell.status:
        inner = format_html('<span class="badge {}">{}</span>', cell.css, cell.label)
    else:
        inner = NOT_A_MEMBER
    if cell.error:
        inner = format_html('{} <span class="cell-error" title="{}">failed</span>', mark_safe(inner), cell.error)  # noqa: S308
    return format_html('<td data-region="{}">{}</td>', cell.region, mark_safe(inner))  # noqa: S308


@register.simple_tag(takes_context=True)
def status_cells(context, row) -> SafeString:
    """`{% status_cells row %}`: the row's `<td>` per region (escaped; memoized per page render)."""
    memo = context.render_context.setdefault("accounts_status_cells", {})
    parts = []
    for cell in row.cells:
        key = (cell.region, cell.status, cell.error)
        found = memo.get(key)
        if found is None:
            found = memo[key] = _cell(cell)
        parts.append(found)
    return mark_safe("".join(parts))  # noqa: S308 (each part is built by format_html above)
