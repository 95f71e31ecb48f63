"""Template filters of the report pages."""

from django import template

register = template.Library()


@register.filter
def hours(seconds) -> str:
    """A duration in seconds in hours, "0.8 h", "52.0 h", "130.5 h" ("—" when there is none): one unit in
    a whole table, so a column of 45 min, 5.2 h and 3.1 d is not compared as 45, 5.2 and 3.1."""
    if seconds is None or seconds == "":
        return "—"
    return f"{float(seconds) / 3600:,.1f} h"
