"""Triage takes over four models from `findings` without touching their tables (state only).

The tables were created by findings' migrations and keep their names; this migration only adds the
models to triage's state. It also renames their content types (so permissions and admin log entries
keep pointing at them) and the audit log's target type labels, `findings.x` -> `triage.x`, so a
filter on a target type finds entries from before and after the move.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MODELS = ("writeback", "savedview", "suppressionrule", "bulkaction")


def _relabel(apps, schema_editor, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    AuditEntry = apps.get_model("core", "AuditEntry")
    Alert = apps.get_model("core", "Alert")
    db = schema_editor.connection.alias
    for model in MODELS:
        if not ContentType.objects.using(db).filter(app_label=new, model=model).exists():
            ContentType.objects.using(db).filter(app_label=old, model=model).update(app_label=new)
        AuditEntry.objects.using(db).filter(target_type=f"{old}.{model}").update(target_type=f"{new}.{model}")
        Alert.objects.using(db).filter(target_type=f"{old}.{model}").update(target_type=f"{new}.{model}")


def _labels_to_triage(apps, schema_editor) -> None:
    _relabel(apps, schema_editor, "findings", "triage")


def _labels_to_findings(apps, schema_editor) -> None:
    _relabel(apps, schema_editor, "triage", "findings")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("findings", "0011_triage_models_leave_findings"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0002_alert"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="BulkAction",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("action", models.CharField(max_length=16)),
                        ("params", models.JSONField(blank=True, default=dict)),
                        ("query", models.TextField(blank=True, default="")),
                        ("finding_ids", models.JSONField(blank=True, default=list)),
                        ("total", models.PositiveIntegerField(default=0)),
                        ("done", models.PositiveIntegerField(default=0)),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("queued", "Queued"),
                                    ("running", "Running"),
                                    ("done", "Done"),
                                    ("failed", "Failed"),
                                ],
                                default="queued",
                                max_length=16,
                            ),
                        ),
                        ("error", models.TextField(blank=True, default="")),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "actor",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "findings_bulkaction",
                        "ordering": ["-created_at", "-id"],
                    },
                ),
                migrations.CreateModel(
                    name="SuppressionRule",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=64, unique=True)),
                        ("reason", models.TextField()),
                        ("query", models.TextField(blank=True, default="")),
                        ("criteria", models.JSONField()),
                        ("regions", models.JSONField(blank=True, default=list)),
                        ("last_error", models.TextField(blank=True, default="")),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "created_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "findings_suppressionrule",
                        "ordering": ["name"],
                    },
                ),
                migrations.CreateModel(
                    name="SavedView",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=100)),
                        ("shared", models.BooleanField(default=False)),
                        ("query", models.TextField(blank=True, default="")),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "owner",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="saved_views",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "findings_savedview",
                        "ordering": ["name", "id"],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("owner", "name"), name="savedview_owner_name_unique"
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="WriteBack",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "operation",
                            models.CharField(
                                choices=[
                                    ("archive", "ArchiveFindings"),
                                    ("unarchive", "UnarchiveFindings"),
                                    ("useful", "Feedback USEFUL"),
                                    ("not_useful", "Feedback NOT_USEFUL"),
                                ],
                                max_length=16,
                            ),
                        ),
                        ("region", models.CharField(max_length=32)),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("pending", "Pending"),
                                    ("sent", "Sent"),
                                    ("failed", "Failed"),
                                    ("superseded", "Superseded"),
                                ],
                                default="pending",
                                max_length=16,
                            ),
                        ),
                        ("attempts", models.PositiveIntegerField(default=0)),
                        ("error", models.TextField(blank=True, default="")),
                        ("actor_name", models.CharField(blank=True, default="", max_length=150)),
                        ("created_at", models.DateTimeField()),
                        ("next_attempt_at", models.DateTimeField()),
                        ("sent_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "finding",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="writebacks",
                                to="findings.finding",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "findings_writeback",
                        "ordering": ["id"],
                        "indexes": [
                            models.Index(fields=["status", "next_attempt_at"], name="writeback_due_idx")
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(_labels_to_triage, _labels_to_findings),
    ]
