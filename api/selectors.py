"""API token reads: the tokens a person sees on the API tokens page."""

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from guardwatch.core.models import ApiToken


def api_token_list(*, user) -> QuerySet[ApiToken]:
    """The user's personal tokens, and every service token for those who manage settings (Admins)."""
    visible = Q(kind=ApiToken.Kind.PERSONAL, user=user)
    if user.has_perm("core.manage_settings"):
        visible |= Q(kind=ApiToken.Kind.SERVICE)
    return ApiToken.objects.filter(visible).select_related("user", "created_by")


def api_token_get(*, pk: int, user) -> ApiToken:
    """One token the user may see (and so revoke), else 404."""
    return get_object_or_404(api_token_list(user=user), pk=pk)
