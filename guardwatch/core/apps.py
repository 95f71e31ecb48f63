"""App config: installs the role groups after every migrate."""

from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save


class CoreConfig(AppConfig):
    """Roles, audit log, layout."""

    name = "guardwatch.core"
    label = "core"
    verbose_name = "GuardWatch core"

    def ready(self) -> None:
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group, Permission
        from django.contrib.auth.signals import user_logged_in

        from guardwatch.core.access import access_changed
        from guardwatch.core.metrics import counters_initialise
        from guardwatch.core.sso import sign_in_audit

        post_migrate.connect(_install_roles, sender=self, dispatch_uid="guardwatch-roles")
        user_logged_in.connect(sign_in_audit, dispatch_uid="guardwatch-sign-in-audit")
        counters_initialise(regions=settings.GUARDWATCH_AWS_REGIONS)
        # Cached permissions and roles (guardwatch.core.access) go stale with any of these.
        User = get_user_model()
        for through in (User.groups.through, User.user_permissions.through, Group.permissions.through):
            m2m_changed.connect(access_changed, sender=through, dispatch_uid=f"guardwatch-access-{through.__name__}")
        for model in (Group, Permission):
            post_save.connect(access_changed, sender=model, dispatch_uid=f"guardwatch-access-save-{model.__name__}")
            post_delete.connect(access_changed, sender=model, dispatch_uid=f"guardwatch-access-del-{model.__name__}")


def _install_roles(sender: AppConfig, using: str = "default", **_kwargs) -> None:
    """Keep the Admin/Analyst/Manager groups exactly as `roles.ROLE_PERMISSIONS` defines them."""
    from guardwatch.core.roles import roles_install

    roles_install(using=using)
