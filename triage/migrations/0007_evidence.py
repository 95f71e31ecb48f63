# Evidence attachments (docs/evidence-attachments.md): new tables only, nothing existing is rewritten.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('findings', '0019_findingevent_evidence_kind'),
        ('triage', '0006_investigation'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Evidence',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('entity_kind', models.CharField(blank=True, db_default='', default='', max_length=16)),
                ('entity_value', models.CharField(blank=True, db_default='', default='', max_length=255)),
                ('kind', models.CharField(choices=[('note', 'Note'), ('link', 'Link'), ('file', 'File')], max_length=8)),
                ('text', models.TextField(blank=True, db_default='', default='')),
                ('url', models.CharField(blank=True, db_default='', default='', max_length=2000)),
                ('filename', models.CharField(blank=True, db_default='', default='', max_length=150)),
                ('size', models.BigIntegerField(db_default=0, default=0)),
                ('sha256', models.CharField(blank=True, db_default='', default='', max_length=64)),
                ('added_by_name', models.CharField(blank=True, db_default='', default='', max_length=150)),
                ('added_at', models.DateTimeField()),
                ('removed_by_name', models.CharField(blank=True, db_default='', default='', max_length=150)),
                ('removed_at', models.DateTimeField(blank=True, null=True)),
                ('added_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('finding', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='evidence', to='findings.finding')),
            ],
        ),
        migrations.CreateModel(
            name='EvidenceChunk',
            fields=[
                ('pk', models.CompositePrimaryKey('evidence_id', 'number', blank=True, editable=False, primary_key=True, serialize=False)),
                ('number', models.PositiveIntegerField()),
                ('data', models.BinaryField()),
                ('evidence', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='chunks', to='triage.evidence')),
            ],
        ),
        migrations.AddIndex(
            model_name='evidence',
            index=models.Index(fields=['finding', 'added_at'], name='evidence_finding_idx'),
        ),
        migrations.AddIndex(
            model_name='evidence',
            index=models.Index(fields=['entity_kind', 'entity_value', 'added_at'], name='evidence_entity_idx'),
        ),
        migrations.AddConstraint(
            model_name='evidence',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('entity_kind', ''), ('entity_value', ''), ('finding__isnull', False)), models.Q(('finding__isnull', True), models.Q(('entity_kind', ''), _negated=True), models.Q(('entity_value', ''), _negated=True)), _connector='OR'), name='evidence_exactly_one_target'),
        ),
    ]
