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

        from guardwatch.core.metrics import counters_initialise

        post_migrate.connect(_install_roles, sender=self, dispatch_uid="guardwatch-roles")
        counters_initialise(regions=settings.GUARDWATCH_AWS_REGIONS)


def _install_roles(sender: AppConfig, using: str = "default", **_kwargs) -> None:
    """Keep the Admin/Analyst/Manager groups exactly as `roles.ROLE_PERMISSIONS` defines them."""
    from guardwatch.core.roles import roles_install

    roles_install(using=using)
