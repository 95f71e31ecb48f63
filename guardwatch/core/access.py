"""Access control in one place: every view states the permission it needs with `@requires`."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse


def requires(*perms: str) -> Callable:
    """Anonymous → login page; signed in without every permission in `perms` → 403.

    Permissions are given without the app label (`"manage_members"`); all live in `core`.
    """
    full = tuple(p if "." in p else f"core.{p}" for p in perms)

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not request.user.has_perms(full):
                raise PermissionDenied(f"Your role does not allow this ({', '.join(perms)}).")
            return view(request, *args, **kwargs)

        wrapper.required_permissions = full
        return wrapper

    return decorator


def can(user, perm: str) -> bool:
    """Template-friendly check used to hide buttons a role may not press (the view still checks)."""
    return user.has_perm(perm if "." in perm else f"core.{perm}")
