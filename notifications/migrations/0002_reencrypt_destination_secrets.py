"""Destination secrets move from the SECRET_KEY-derived key to GUARDWATCH_SECRETS_KEY.

Every destination whose secrets decrypt under an older key (SECRET_KEY, its fallbacks, or a
GUARDWATCH_SECRETS_KEY fallback) is re-encrypted under the current GUARDWATCH_SECRETS_KEY. A row no
configured key can read is left as it is (its sends fail with "Re-enter them"), never blanked.
`Destination.secrets()` does the same lazily, for rows written between this migration and a rotation.
"""

from django.db import migrations


def reencrypt_destination_secrets(apps, schema_editor):
    from notifications.crypto import SecretsUnreadable, secrets_reencrypt

    destination_model = apps.get_model("notifications", "Destination")
    for pk, token in destination_model.objects.values_list("pk", "secrets_encrypted").iterator():
        try:
            fresh = secrets_reencrypt(token)
        except SecretsUnreadable:
            continue
        if fresh is not None:
            destination_model.objects.filter(pk=pk, secrets_encrypted=token).update(secrets_encrypted=fresh)


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial")]

    operations = [migrations.RunPython(reencrypt_destination_secrets, migrations.RunPython.noop, elidable=True)]
