"""App config for member accounts."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Member accounts and memberships."""

    name = "accounts"
    verbose_name = "Member accounts"

    def ready(self) -> None:
        from accounts.teams import user_scope
        from guardwatch.core.scope import scope_resolver_set

        scope_resolver_set(user_scope)
