"""What the API reads and answers: the shapes the OpenAPI document publishes (docs/openapi.yaml)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from findings import attack
from findings.models import Finding, TriageStatus
from triage.bulk import BULK_ACTIONS

# --- Findings ---------------------------------------------------------------------------------------


class FindingSerializer(serializers.ModelSerializer):
    """A finding as the list shows it."""

    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Finding
        fields = (
            "id", "arn", "finding_id", "account_id", "region", "type", "severity", "severity_band", "title",
            "resource_type", "resource_id", "action_type", "remote_ip", "remote_country_code", "count",
            "created_at", "updated_at", "first_seen", "last_seen", "archived", "sample", "status", "assignee",
            "status_reason", "accepted_until",
        )  # fmt: skip
        read_only_fields = fields


class AttackTechniqueSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="ATT&CK technique id, e.g. T1078.004.")
    name = serializers.CharField()


class AttackMappingSerializer(serializers.Serializer):
    """The finding type's row in GuardWatch's ATT&CK table (docs/attack.md)."""

    tactics = serializers.ListField(child=serializers.CharField(), help_text="ATT&CK tactic ids, kill-chain order.")
    techniques = AttackTechniqueSerializer(many=True)
    source = serializers.CharField(help_text="aws-docs, ctid (CTID security stack mappings) or reasoned.")
    source_ref = serializers.CharField(help_text="A URL, or a note when the type is not in the table.")
    in_table = serializers.BooleanField(help_text="False: a type the table does not know; tactic from its purpose.")


class FindingDetailSerializer(FindingSerializer):
    """A finding with what its page shows beyond the list."""

    attack = serializers.SerializerMethodField()

    class Meta(FindingSerializer.Meta):
        fields = (*FindingSerializer.Meta.fields, "description", "threat_purpose", "resource_name", "remote_country",
                  "remote_asn", "remote_org", "feedback", "status_changed_at", "acknowledged_at", "resolved_at",
                  "attack")  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(AttackMappingSerializer)
    def get_attack(self, finding: Finding) -> dict:
        return AttackMappingSerializer(attack.mapping_for(finding.type)).data


class FindingPageSerializer(serializers.Serializer):
    """One keyset page: pass `next_cursor` as `after` (or `prev_cursor` as `before`) with the same filters."""

    results = FindingSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    prev_cursor = serializers.CharField(allow_null=True)
    sort = serializers.CharField()
    size = serializers.IntegerField()


class TimelineEntrySerializer(serializers.Serializer):
    when = serializers.DateTimeField()
    kind = serializers.CharField()
    actor = serializers.CharField()
    text = serializers.CharField(allow_blank=True)
    from_status = serializers.CharField(allow_blank=True)
    to_status = serializers.CharField(allow_blank=True)


class StatusChangeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=TriageStatus.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    accepted_until = serializers.CharField(required=False, allow_blank=True, default="",
                                           help_text="YYYY-MM-DD (end of that day) or an ISO 8601 moment.")  # fmt: skip
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)


class AssignSerializer(serializers.Serializer):
    assignee = serializers.CharField(allow_null=True, allow_blank=True, help_text="A username; null or \"\" unassigns.")


class CommentSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=10_000)


class FeedbackSerializer(serializers.Serializer):
    useful = serializers.BooleanField()


class BulkSerializer(serializers.Serializer):
    """One action on every finding a filter matches (`filters`: the list's query string), or on `ids`."""

    action = serializers.ChoiceField(choices=list(BULK_ACTIONS.items()))
    filters = serializers.CharField(required=False, allow_blank=True, default="",
                                    help_text="The list's query string, e.g. `status=open&band=high`.")  # fmt: skip
    ids = serializers.ListField(child=serializers.IntegerField(), required=False, allow_empty=True)
    assignee = serializers.CharField(required=False, allow_blank=True, default="")
    status = serializers.CharField(required=False, allow_blank=True, default="")
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    accepted_until = serializers.CharField(required=False, allow_blank=True, default="")
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class BulkResultSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Findings the action covers.")
    queued = serializers.IntegerField(allow_null=True, help_text="The bulk action's id when it runs in the background.")


# --- Accounts ---------------------------------------------------------------------------------------


class RegionStatusSerializer(serializers.Serializer):
    region = serializers.CharField()
    status = serializers.CharField(allow_blank=True, help_text="GuardDuty's relationship status; \"\" not a member.")
    error = serializers.CharField(allow_blank=True)


class AccountSerializer(serializers.Serializer):
    account_id = serializers.CharField()
    email = serializers.CharField()
    display_name = serializers.CharField(allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField())
    source = serializers.CharField()
    created_at = serializers.DateTimeField()
    regions = RegionStatusSerializer(many=True, help_text="Its status in each configured region.")


class AccountCreateSerializer(serializers.Serializer):
    account_id = serializers.CharField(max_length=32)
    email = serializers.CharField(max_length=254)
    display_name = serializers.CharField(required=False, allow_blank=True, default="", max_length=128)
    notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    tags = serializers.ListField(child=serializers.CharField(max_length=64), required=False, default=list)


class AccountImportSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The GuardDuty console's CSV: account id, email per line.")


class SkippedLineSerializer(serializers.Serializer):
    line = serializers.IntegerField(allow_null=True)
    account_id = serializers.CharField(allow_blank=True)
    reason = serializers.CharField()


class AccountImportResultSerializer(serializers.Serializer):
    created = serializers.ListField(child=serializers.CharField())
    skipped = SkippedLineSerializer(many=True)


class InviteSerializer(serializers.Serializer):
    account_ids = serializers.ListField(child=serializers.CharField(), allow_empty=False)
    regions = serializers.ListField(child=serializers.CharField(), allow_empty=False)
    message = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000)
    disable_email_notification = serializers.BooleanField(required=False, default=False)
    create_detectors = serializers.BooleanField(required=False, default=False)


class OperationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.CharField()
    status = serializers.CharField()


# --- Coverage and report figures -----------------------------------------------------------------------


class RegionCoverageSerializer(serializers.Serializer):
    region = serializers.CharField()
    managed = serializers.BooleanField()
    monitored = serializers.IntegerField()
    accounts = serializers.IntegerField()
    percent = serializers.FloatField()
    has_detector = serializers.BooleanField(allow_null=True)
    findings_synced_at = serializers.DateTimeField(allow_null=True)
    members_synced_at = serializers.DateTimeField(allow_null=True)


class CoverageSerializer(serializers.Serializer):
    accounts = serializers.IntegerField()
    fully_monitored = serializers.IntegerField()
    percent = serializers.FloatField(help_text="Account × region pairs monitored.")
    accounts_percent = serializers.FloatField(help_text="Accounts monitored in every region.")
    as_of = serializers.DateTimeField(allow_null=True)
    gap_counts = serializers.DictField(child=serializers.IntegerField())
    regions = RegionCoverageSerializer(many=True)


class FindingsFiguresSerializer(serializers.Serializer):
    open_by_band = serializers.DictField(child=serializers.IntegerField())
    open_total = serializers.IntegerField()
    overdue = serializers.IntegerField()
    computed_at = serializers.DateTimeField(allow_null=True)


# --- Suppression rules, alerts, audit ----------------------------------------------------------------------


class SuppressionRuleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    reason = serializers.CharField()
    query = serializers.CharField(allow_blank=True)
    criteria = serializers.DictField()
    regions = serializers.ListField(child=serializers.CharField())
    status = serializers.CharField()
    hidden_at_request = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class SuppressionRuleCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    reason = serializers.CharField(max_length=2000)
    query = serializers.CharField(help_text="The findings list's query string the rule hides, e.g. `type_prefix=Recon:`.")


class AlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    severity = serializers.CharField()
    title = serializers.CharField()
    message = serializers.CharField(allow_blank=True)
    target_label = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()
    occurrences = serializers.IntegerField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)


class AuditEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    actor_name = serializers.CharField()
    verb = serializers.CharField()
    target_type = serializers.CharField(allow_blank=True)
    target_id = serializers.CharField(allow_blank=True)
    target_label = serializers.CharField(allow_blank=True)
    details = serializers.DictField()


def page_of(item: type[serializers.Serializer], name: str) -> serializers.Serializer:
    """`{results, page, pages, count}` around `item`, for the lists paged by number as their pages are."""
    return type(name, (serializers.Serializer,), {
        "results": item(many=True), "page": serializers.IntegerField(), "pages": serializers.IntegerField(),
        "count": serializers.IntegerField(),
    })()  # fmt: skip


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details; `errors` lists invalid fields on a 400."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = serializers.ListField(child=serializers.DictField(child=serializers.CharField()), required=False)
