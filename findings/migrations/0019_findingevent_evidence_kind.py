# FindingEvent.kind gains "evidence": a choices change, no SQL.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('findings', '0018_findingevent_kind_investigation'),
    ]

    operations = [
        migrations.AlterField(
            model_name='findingevent',
            name='kind',
            field=models.CharField(choices=[('status', 'Status'), ('assignment', 'Assignment'), ('comment', 'Comment'), ('writeback', 'Write-back'), ('suppression', 'Suppression'), ('ticket', 'Ticket'), ('escalation', 'SLA escalation'), ('investigation', 'GuardDuty investigation'), ('evidence', 'Evidence')], max_length=16),
        ),
    ]
