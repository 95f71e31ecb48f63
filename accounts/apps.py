"""App config for member accounts."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Member accounts and memberships."""

    name = "accounts"
    verbose_name = "Member accounts"
