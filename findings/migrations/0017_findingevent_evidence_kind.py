# FindingEvent.kind gains "evidence": a choices change, no SQL.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('findings', '0016_finding_attack_sequence_arn'),
    ]

    operations = [
        migrations.AlterField(
            model_name='findingevent',
            name='kind',
            field=models.CharField(choices=[('status', 'Status'), ('assignment', 'Assignment'), ('comment', 'Comment'), ('writeback', 'Write-back'), ('suppression', 'Suppression'), ('ticket', 'Ticket'), ('evidence', 'Evidence')], max_length=16),
        ),
    ]
