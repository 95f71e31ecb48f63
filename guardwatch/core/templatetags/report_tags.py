"""Template filters of the report pages."""

from django import template

register = template.Library()


@register.filter
def hours(seconds) -> str:
    """A duration in seconds as people read it: "45 min", "5.2 h", "3.1 d"; "—" when there is none."""
    if seconds is None or seconds == "":
        return "—"
    seconds = float(seconds)
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 72 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
