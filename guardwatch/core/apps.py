"""App config: installs the role groups after every migrate."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    """Roles, audit log, layout."""

    name = "guardwatch.core"
    label = "core"
    verbose_name = "GuardWatch core"

    def ready(self) -> None:
        from django.conf import settings
        from django.contrib.auth.signals import user_logged_in

        from guardwatch.core.metrics import counters_initialise
        from guardwatch.core.sso import sign_in_audit

        post_migrate.connect(_install_roles, sender=self, dispatch_uid="guardwatch-roles")
        user_logged_in.connect(sign_in_audit, dispatch_uid="guardwatch-sign-in-audit")
        counters_initialise(regions=settings.GUARDWATCH_AWS_REGIONS)


def _install_roles(sender: AppConfig, using: str = "default", **_kwargs) -> None:
    """Keep the Admin/Analyst/Manager groups exactly as `roles.ROLE_PERMISSIONS` defines them."""
    from guardwatch.core.roles import roles_install

    roles_install(using=using)
