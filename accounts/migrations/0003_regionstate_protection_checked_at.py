"""Coverage: `RegionState.protection_checked_at`, the protection sync's last write per region.

The coverage page showed each region's protection freshness as MAX(checked_at) over a join of every
MemberProtection with its Membership (~76k rows at 5,000 accounts × 17 regions, ~230 ms); the sync now
stamps the region as it writes. The backfill takes the same MAX once.
"""

from django.db import migrations, models
from django.db.models import Max


def protection_checked_backfill(apps, schema_editor):
    RegionState = apps.get_model("accounts", "RegionState")
    MemberProtection = apps.get_model("accounts", "MemberProtection")
    latest = (
        MemberProtection.objects.values_list("membership__region")
        .annotate(latest=Max("checked_at"))
        .order_by()
    )
    for region, checked_at in latest:
        RegionState.objects.filter(region=region).update(protection_checked_at=checked_at)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_member_protection")]

    operations = [
        migrations.AddField(
            model_name="regionstate",
            name="protection_checked_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(protection_checked_backfill, migrations.RunPython.noop),
    ]
