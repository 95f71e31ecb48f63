"""`SyncState.settled_through` becomes the pull sync's checkpoint in GuardDuty's time (findings.sync).

The old code resumed from min(watermark, settled_through) + 1 ms, where settled_through came from the
worker's clock; the checkpoint each existing row resumes from is made that same instant (or, after a
first sync that never completed, the watermark less the old 5-minute overlap), so nothing is skipped.
No schema change.
"""

from datetime import timedelta

from django.db import migrations


def checkpoint_from_old_fields(apps, schema_editor):
    SyncState = apps.get_model("findings", "SyncState")
    for state in SyncState.objects.exclude(watermark__isnull=True):
        if state.settled_through is None:
            state.settled_through = state.watermark - timedelta(minutes=5)
        else:
            state.settled_through = min(state.watermark, state.settled_through)
        state.save(update_fields=["settled_through"])


class Migration(migrations.Migration):
    dependencies = [("findings", "0012_ingest_key_scope")]

    operations = [migrations.RunPython(checkpoint_from_old_fields, migrations.RunPython.noop)]
