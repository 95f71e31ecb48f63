# Organizations mode: which accounts are in the organization, and each region's AutoEnableOrganizationMembers.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0005_memberoperation_detector_features"),
    ]

    operations = [
        migrations.AddField(
            model_name="memberaccount",
            name="in_organization",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="regionstate",
            name="org_auto_enable_members",
            field=models.CharField(blank=True, max_length=8),
        ),
    ]
