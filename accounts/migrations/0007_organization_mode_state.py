# Organizations mode: which accounts are in the organization, and each region's AutoEnableOrganizationMembers;
# region discovery: whether each region is enabled for the administrator account.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0006_memberprotection_additional_configuration"),
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
        migrations.AddField(
            model_name="regionstate",
            name="account_enabled",
            field=models.BooleanField(null=True),
        ),
        migrations.AddField(
            model_name="regionstate",
            name="discovered_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
