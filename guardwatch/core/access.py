"""Access control in one place: every view states the permission it needs with `@requires`."""

import contextlib
from collections.abc import Callable
from functools import wraps

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from guardwatch.core.data_version import data_version, data_version_bump, data_version_bump_on_commit


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


# Every page checks permissions and shows the role: three queries a request (the user's own and their
# groups' permissions, their groups), answered from the cache instead. Any change to who holds which
# permission (a role given or taken, a group's permissions set) bumps the "access" data version once it
# commits, which makes every kept entry unreachable; entries also expire after ACCESS_CACHE_SECONDS.
ACCESS_CACHE_SECONDS = 300
ACCESS_SCOPE = "access"


def access_load(user) -> None:
    """Fill what Django's ModelBackend reads (its per-request permission caches on `user`) and the user's
    group names from the shared cache, computing and keeping them on a miss (a cache outage: computed)."""
    if not user.is_authenticated or not user.is_active or hasattr(user, "_perm_cache"):
        return
    try:
        key = f"guardwatch:access:{data_version(scope=ACCESS_SCOPE)}:{user.pk}:{int(user.is_superuser)}"
        found = cache.get(key)
    except Exception:  # noqa: BLE001 - a cache outage (redis ConnectionError, TimeoutError, ...)
        key, found = None, None
    if found is None:
        backend = ModelBackend()
        found = {
            "user": backend.get_user_permissions(user),
            "group": backend.get_group_permissions(user),
            "groups": sorted(group.name for group in user.groups.all()),
        }
        if key is not None:
            with contextlib.suppress(Exception):
                cache.set(key, found, ACCESS_CACHE_SECONDS)
    user._user_perm_cache = found["user"]
    user._group_perm_cache = found["group"]
    user._perm_cache = {*found["user"], *found["group"]}
    user.group_names = found["groups"]


def access_changed(**_signal_kwargs) -> None:
    """Someone's permissions or groups changed: cached access is stale now, and again once the change
    commits (a request in between may have cached what it read before the commit)."""
    data_version_bump(scope=ACCESS_SCOPE)
    data_version_bump_on_commit(scope=ACCESS_SCOPE)
