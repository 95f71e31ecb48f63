"""Governance for rules made before it: their author becomes their owner, their review date 90 days
after they were made. Separate from 0004 so the row updates run in their own transaction."""

from django.db import migrations


def _govern_existing_rules(apps, schema_editor):
    """Rules made before governance: owned by their author, reviewed 90 days after their creation."""
    from datetime import timedelta

    rule_model = apps.get_model("triage", "SuppressionRule")
    for rule in rule_model.objects.all():
        rule.owner_id = rule.created_by_id
        rule.review_at = (rule.created_at + timedelta(days=90)).date()
        rule.save(update_fields=["owner", "review_at"])


class Migration(migrations.Migration):

    dependencies = [
        ("triage", "0004_suppression_governance"),
    ]

    operations = [
        migrations.RunPython(_govern_existing_rules, migrations.RunPython.noop),
    ]
