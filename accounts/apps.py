"""App config for member accounts."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Member accounts and memberships."""

    name = "accounts"
    verbose_name = "Member accounts"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from accounts.models import ScopedUser
        from accounts.teams import team_names, user_scope, user_sso_teams_set
        from guardwatch.core.access import access_changed
        from guardwatch.core.scope import scope_resolver_set, sso_teams_hooks_set

        scope_resolver_set(user_scope)
        sso_teams_hooks_set(names=team_names, apply=user_sso_teams_set)
        # A person marked team-scoped or no longer: the cached marks (accounts.teams._scoped_mark) go stale.
        post_save.connect(access_changed, sender=ScopedUser, dispatch_uid="guardwatch-access-scoped-save")
        post_delete.connect(access_changed, sender=ScopedUser, dispatch_uid="guardwatch-access-scoped-delete")
