"""Rows only triage uses: write-backs owed to GuardDuty, saved views, suppression rules, bulk actions.

These models lived in the `findings` app until the apps were split; their tables keep the names they
had (`db_table`), and the move was a state-only migration (`SeparateDatabaseAndState`), so no row was
copied or rewritten. A finding's own triage state (status, assignee, timeline) stays with the finding.
"""

from django.conf import settings
from django.db import models

from findings.models import Finding


class WriteBack(models.Model):
    """One change GuardWatch owes GuardDuty for one finding; a queue row, flushed in batches of 50 per region.

    Never dropped: a failed row keeps its error and is retried with backoff until it is sent, or
    superseded by a later opposite change to the same finding (archive then unarchive).
    """

    class Operation(models.TextChoices):
        ARCHIVE = "archive", "ArchiveFindings"
        UNARCHIVE = "unarchive", "UnarchiveFindings"
        USEFUL = "useful", "Feedback USEFUL"
        NOT_USEFUL = "not_useful", "Feedback NOT_USEFUL"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SUPERSEDED = "superseded", "Superseded"

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="writebacks", db_index=False)
    operation = models.CharField(max_length=16, choices=Operation.choices)
    region = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    actor_name = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "findings_writeback"  # kept from when the model lived in findings
        ordering = ["id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="writeback_due_idx"),
            # A finding's write-backs, newest first (its detail page): one index range, whatever the
            # planner thinks of the finding's share of the table (a bulk resolve queues 10,000 at once).
            models.Index(fields=["finding", "-id"], name="writeback_finding_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_operation_display()} {self.finding_id} ({self.status})"


class SavedView(models.Model):
    """A named list filter (the query string of the findings list), personal or shared with the team.

    At most one of a user's own views is their default: a bare /findings/ opens on it (on the built-in
    "Open high and critical" when they have none).
    """

    name = models.CharField(max_length=100)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    shared = models.BooleanField(default=False)
    query = models.TextField(blank=True, default="")
    is_default = models.BooleanField(default=False, db_default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "findings_savedview"  # kept from when the model lived in findings
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="savedview_owner_name_unique"),
            models.UniqueConstraint(
                fields=["owner"], condition=models.Q(is_default=True), name="savedview_one_default_per_owner"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SuppressionRule(models.Model):
    """A GuardDuty filter with Action ARCHIVE, made from a list filter, pushed to every configured region.

    Governed (docs/suppression.md): an owner, a reason, a review date and an optional expiry. A rule that
    would hide many findings or a whole finding type (GUARDWATCH_SUPPRESSION_APPROVAL) waits, Pending and
    not in GuardDuty, until an Admin other than its author approves it (then it is pushed) or rejects it.
    Past its expiry it is removed from GuardDuty and kept as Expired. An adopted rule is a GuardDuty
    filter GuardWatch did not create, taken over with its name and rank (its `query` is empty).
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active in GuardDuty"
        PENDING = "pending", "Awaiting approval"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"

    class Origin(models.TextChoices):
        GUARDWATCH = "guardwatch", "Created in GuardWatch"
        ADOPTED = "adopted", "Adopted from GuardDuty"

    name = models.CharField(max_length=64, unique=True)
    reason = models.TextField()
    query = models.TextField(blank=True, default="")
    # GuardDuty FindingCriteria (camelCase criterion paths), as pushed.
    criteria = models.JSONField()
    # The regions it lives in (Active), or is meant for (Pending, Rejected).
    regions = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # How many open findings it would hide when it was requested (shown to the approver).
    hidden_at_request = models.PositiveIntegerField(default=0)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Governance: who answers for the rule, when it is looked at again, when it stops.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Required of every new rule (the services set it); nullable in the database only so the previous
    # release's code keeps inserting rules during a rolling upgrade (tests/core/test_migration_rules.py).
    review_at = models.DateField(null=True, blank=True)
    review_alerted_on = models.DateField(null=True, blank=True)  # the review date last alerted about
    expires_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    origin = models.CharField(
        max_length=16, choices=Origin.choices, default=Origin.GUARDWATCH, db_default=Origin.GUARDWATCH
    )
    rank = models.PositiveIntegerField(null=True, blank=True)  # GuardDuty's, kept for adopted filters

    class Meta:
        db_table = "findings_suppressionrule"  # kept from when the model lived in findings
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SuppressionHit(models.Model):
    """How many findings one rule suppressed on one day: stored findings created that day in its regions,
    archived, that its criteria match (recomputed from the store, so a re-run replaces the count)."""

    rule = models.ForeignKey(SuppressionRule, on_delete=models.CASCADE, related_name="hits")
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["rule", "day"]
        constraints = [models.UniqueConstraint(fields=["rule", "day"], name="suppressionhit_rule_day_unique")]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.day}: {self.count}"


class ImportedFilter(models.Model):
    """A GuardDuty filter in one region that no GuardWatch rule stands for, as GetFilter last returned it.

    Shown read-only in GuardDuty's rank order; an Admin may adopt it (it becomes a governed rule).
    """

    region = models.CharField(max_length=32)
    name = models.CharField(max_length=64)
    rank = models.PositiveIntegerField(null=True, blank=True)
    action = models.CharField(max_length=16)
    description = models.TextField(blank=True, default="")
    criteria = models.JSONField(default=dict)
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ["region", "rank", "name"]
        constraints = [models.UniqueConstraint(fields=["region", "name"], name="importedfilter_region_name_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.region})"


class BulkAction(models.Model):
    """A bulk change to many findings (selected ids or a whole filter), run by a Celery task when large."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=16)
    params = models.JSONField(default=dict, blank=True)
    query = models.TextField(blank=True, default="")
    finding_ids = models.JSONField(default=list, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    # [start, end) offsets into `finding_ids` whose chunk committed (with its changes, in the same transaction):
    # chunks commit in any order when applied side by side, so a resumed run skips exactly these.
    done_ranges = models.JSONField(default=list, db_default=[], blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "findings_bulkaction"  # kept from when the model lived in findings
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"bulk {self.action} ({self.done}/{self.total})"

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, self.done * 100 // self.total)


class Investigation(models.Model):
    """A GuardDuty investigation (AWS's AI analysis, preview) of one finding or one account, started from GuardWatch.

    Created `pending` before CreateInvestigation is called, with the `client_token` GuardDuty's idempotency
    token: a retry after a lost answer gets the same investigation, never a second one. Then `running` (polled
    with backoff until GuardDuty says COMPLETED or FAILED), `completed` with the report, `failed`, or `refused`
    when GuardDuty refused to start it (the error says why; it uses no quota). One active per finding, and per
    account and Region for account investigations. A finding's report goes into its timeline too.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Starting"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        REFUSED = "refused", "Refused by GuardDuty"

    class Kind(models.TextChoices):
        FINDING = "finding", "Finding"
        ACCOUNT = "account", "Account"

    ACTIVE = (Status.PENDING, Status.RUNNING)

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.FINDING)
    finding = models.ForeignKey(Finding, null=True, blank=True, on_delete=models.CASCADE, related_name="investigations")
    account_id = models.CharField(max_length=12)
    region = models.CharField(max_length=32)
    aws_id = models.CharField(max_length=64, blank=True, default="")
    client_token = models.CharField(max_length=64, unique=True)
    prompt = models.CharField(max_length=2048)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_name = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    polls = models.PositiveIntegerField(default=0)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    risk_level = models.CharField(max_length=16, blank=True, default="")
    confidence = models.CharField(max_length=16, blank=True, default="")
    # GuardDuty's text; attacker-influenced (it quotes finding fields): always rendered escaped.
    summary = models.TextField(blank=True, default="")
    report = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_poll_at"], name="investigation_due_idx"),
            models.Index(fields=["created_at"], name="investigation_created_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["finding"], condition=models.Q(status__in=["pending", "running"]),
                name="investigation_one_active_per_finding",
            ),
            models.UniqueConstraint(
                fields=["account_id", "region"], condition=models.Q(kind="account", status__in=["pending", "running"]),
                name="investigation_one_active_per_account",
            ),
        ]

    def __str__(self) -> str:
        subject = f"finding {self.finding_id}" if self.finding_id else f"account {self.account_id} in {self.region}"
        return f"investigation {self.aws_id or self.client_token} of {subject} ({self.status})"

    @property
    def active(self) -> bool:
        return self.status in self.ACTIVE


class Evidence(models.Model):
    """A note, link or file an analyst attached to a finding or to an entity (kind, value); docs/evidence-attachments.md.

    Exactly one target is set: `finding`, or `entity_kind` + `entity_value` (the entity pages' key). A
    file's bytes live in `EvidenceChunk` rows, so any web or worker machine serves them from Postgres.
    Removing keeps the row (who added it, when, its name and SHA-256) with who removed it, and drops the bytes.
    """

    class Kind(models.TextChoices):
        NOTE = "note", "Note"
        LINK = "link", "Link"
        FILE = "file", "File"

    finding = models.ForeignKey(
        Finding, null=True, blank=True, on_delete=models.CASCADE, related_name="evidence", db_index=False
    )
    entity_kind = models.CharField(max_length=16, blank=True, default="", db_default="")
    entity_value = models.CharField(max_length=255, blank=True, default="", db_default="")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # Plain text, rendered escaped: a note's body, or what a link or file is (optional).
    text = models.TextField(blank=True, default="", db_default="")
    url = models.CharField(max_length=2000, blank=True, default="", db_default="")
    filename = models.CharField(max_length=150, blank=True, default="", db_default="")
    size = models.BigIntegerField(default=0, db_default=0)
    sha256 = models.CharField(max_length=64, blank=True, default="", db_default="")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_by_name = models.CharField(max_length=150, blank=True, default="", db_default="")
    added_at = models.DateTimeField()
    removed_by_name = models.CharField(max_length=150, blank=True, default="", db_default="")
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["finding", "added_at"], name="evidence_finding_idx"),
            models.Index(fields=["entity_kind", "entity_value", "added_at"], name="evidence_entity_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(finding__isnull=False, entity_kind="", entity_value="")
                    | (models.Q(finding__isnull=True) & ~models.Q(entity_kind="") & ~models.Q(entity_value=""))
                ),
                name="evidence_exactly_one_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk}"


class EvidenceChunk(models.Model):
    """One piece (at most 1 MiB) of an evidence file's bytes, in order of `number`."""

    pk = models.CompositePrimaryKey("evidence_id", "number")
    evidence = models.ForeignKey(Evidence, on_delete=models.CASCADE, related_name="chunks", db_index=False)
    number = models.PositiveIntegerField()
    data = models.BinaryField()

    def __str__(self) -> str:
        return f"chunk {self.number} of evidence {self.evidence_id}"


class FindingExport(models.Model):
    """One person's export of a filter, written by a worker into PostgreSQL and downloaded when done.

    The file is a single gzip stream stored in order as `FindingExportChunk` rows (each about a
    megabyte of text, compressed and flushed to a byte boundary), so any web machine serves it without
    a shared disk. `query` is the list's filter; the owner's team scope applies when it is written.
    """

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        JSON = "json", "JSON"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    query = models.TextField(blank=True, default="")
    format = models.CharField(max_length=8, choices=Format.choices, default=Format.CSV)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    rows_written = models.PositiveIntegerField(default=0)
    bytes_written = models.PositiveBigIntegerField(default=0)  # the text, before compression
    bytes_stored = models.PositiveBigIntegerField(default=0)  # the gzip stream
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One queued or running export per person, however many web machines take requests at once.
            models.UniqueConstraint(
                fields=["owner"],
                condition=models.Q(status__in=["queued", "running"]),
                name="findingexport_one_active",
            )
        ]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.status}, {self.rows_written} rows)"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def filename(self) -> str:
        """A download name made only of digits and ASCII letters (never of the filter's text)."""
        stamp = self.created_at.strftime("%Y%m%d-%H%M%S")
        return f"guardwatch-findings-{stamp}-{self.pk}.{self.format}"


class FindingExportChunk(models.Model):
    """One piece of an export's gzip stream, in order (`seq` from 0): concatenated they are the .gz file."""

    export = models.ForeignKey(FindingExport, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["export", "seq"], name="findingexportchunk_export_seq")
        ]

    def __str__(self) -> str:
        return f"export {self.export_id} piece {self.seq}"
