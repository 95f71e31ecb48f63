"""Template context every page needs: the navigation the user may see, and their role."""

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from guardwatch.core.roles import role_of

# (label, url name, permission needed to see the link)
NAVIGATION = (
    ("Dashboard", "reports:dashboard", None),
    ("Accounts", "accounts:list", "core.view_members"),
    ("Alerts", "core:alerts", "core.view_members"),
    ("Findings", "triage:list", "core.view_findings"),
    ("Sync", "findings:sync", "core.view_sync"),
    ("Coverage", "reports:coverage", "core.view_reports"),
    ("Report", "reports:findings", "core.view_reports"),
    ("Notifications", "notifications:destinations", "core.manage_settings"),
    ("Ingest keys", "findings:ingest_keys", "core.manage_settings"),
    ("Users", "core:users", "core.manage_settings"),
    ("Audit", "core:audit", "core.view_audit"),
    ("API tokens", "api_tokens", None),
)


def navigation(request: HttpRequest) -> dict:
    """Links filtered by permission, the current section marked, and the signed-in user's role."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "user_role": None, "local_sign_in": settings.GUARDWATCH_LOCAL_SIGN_IN}
    path = request.path
    items = []
    for label, url_name, perm in NAVIGATION:
        if perm and not user.has_perm(perm):
            continue
        url = reverse(url_name)
        current = path == url if url == "/" else path.startswith(url)
        items.append({"label": label, "url": url, "current": current})
    # Nested sections (/findings/sync/ inside /findings/): only the most specific link is current.
    longest = max((len(item["url"]) for item in items if item["current"]), default=0)
    for item in items:
        item["current"] = item["current"] and len(item["url"]) == longest
    return {"nav_items": items, "user_role": role_of(user)}
