"""Findings as GuardWatch keeps them: every member's GuardDuty findings, their history, and sync state.

GuardDuty owns every column of `Finding` listed in `GUARDDUTY_COLUMNS`; syncs and pushes write only
those (see `services.findings_upsert`), so local triage state added later is never overwritten.
Columns added to `Finding` outside that list must be nullable or carry a `db_default`, because the
bulk upsert inserts only GuardDuty's columns.
"""

from django.conf import settings
from django.db import models

from findings.fields import JSONTextField


class SeverityBand(models.TextChoices):
    """GuardDuty's severity bands (the number is kept too; the band is derived from it)."""

    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class WriteSource(models.TextChoices):
    """How a finding version reached GuardWatch."""

    PULL = "pull", "Pull sync"
    PUSH = "push", "EventBridge push"

# --- Triage (local to GuardWatch) ---------------------------------------------------------------
# Status, assignee and the rest of an analyst's workflow. Sync never writes these (they are not in
# GUARDDUTY_COLUMNS); each triage column on `Finding` is nullable or carries a `db_default`.


class TriageStatus(models.TextChoices):
    """Where an analyst's work on a finding stands (GuardWatch's own; GuardDuty only knows archived)."""

    NEW = "new", "New"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    IN_PROGRESS = "in_progress", "In progress"
    RESOLVED = "resolved", "Resolved"
    FALSE_POSITIVE = "false_positive", "False positive"
    ACCEPTED_RISK = "accepted_risk", "Accepted risk"
    SUPPRESSED = "suppressed", "Suppressed"


_SEVERITY_BAND_LABELS = dict(SeverityBand.choices)
_STATUS_LABELS = dict(TriageStatus.choices)

OPEN_STATUSES = ("new", "acknowledged", "in_progress")

# Keyset pagination walks (sort key, id) in either direction; the "open" partial indexes serve the
# default workspace (open findings), which is most of what analysts look at.
_OPEN = models.Q(status__in=OPEN_STATUSES)
TRIAGE_INDEXES = [
    models.Index(models.F("severity").desc(), models.F("id").desc(), name="finding_tri_sev_idx"),
    models.Index(models.F("severity").desc(), models.F("id").desc(), name="finding_tri_open_sev_idx", condition=_OPEN),
    models.Index(
        models.F("last_seen").desc(nulls_last=True), models.F("id").desc(), name="finding_tri_seen_idx"
    ),
    models.Index(
        models.F("last_seen").desc(nulls_last=True),
        models.F("id").desc(),
        name="finding_tri_open_seen_idx",
        condition=_OPEN,
    ),
    models.Index(models.F("count").desc(), models.F("id").desc(), name="finding_tri_count_idx"),
    models.Index(models.F("created_at").desc(), models.F("id").desc(), name="finding_tri_created_idx"),
    models.Index(fields=["status", "-severity"], name="finding_tri_status_idx"),
    # Type filters match findings of a few severities (GuardDuty derives severity from the type): the
    # list finds their ids and counts them from this index alone instead of walking the severity index.
    models.Index(
        fields=["type", "-severity", "-id", "status"],
        name="finding_tri_type_sev_idx",
        opclasses=["text_pattern_ops", "float8_ops", "int8_ops", "text_ops"],
    ),
    models.Index(
        fields=["accepted_until"], name="finding_tri_accepted_idx", condition=models.Q(status="accepted_risk")
    ),
]
# --- end triage ---------------------------------------------------------------------------------


class Finding(models.Model):
    """One GuardDuty finding, keyed by its ARN, at the newest version GuardWatch has seen."""

    arn = models.CharField(max_length=512)  # unique: see Meta.constraints
    finding_id = models.CharField(max_length=128)
    detector_id = models.CharField(max_length=128)
    account_id = models.CharField(max_length=12)
    region = models.CharField(max_length=32)
    partition = models.CharField(max_length=16, default="aws")
    # Type and its parts: ThreatPurpose:ResourceTypeAffected/ThreatFamilyName.DetectionMechanism!Artifact
    type = models.TextField()
    threat_purpose = models.TextField(blank=True, default="")
    resource_type_affected = models.TextField(blank=True, default="")
    threat_family = models.TextField(blank=True, default="")
    detection_mechanism = models.TextField(blank=True, default="")
    artifact = models.TextField(blank=True, default="")
    severity = models.FloatField()
    severity_band = models.CharField(max_length=8, choices=SeverityBand.choices)
    title = models.TextField(blank=True, default="")
    description = models.TextField(blank=True, default="")
    resource_type = models.TextField(blank=True, default="")
    resource_id = models.TextField(blank=True, default="")
    resource_name = models.TextField(blank=True, default="")
    action_type = models.TextField(blank=True, default="")
    # The attack-sequence finding this one is a signal of (Finding.AssociatedAttackSequenceArn), or "".
    attack_sequence_arn = models.CharField(max_length=512, blank=True, default="", db_default="")
    # Text, not inet: these come from the finding as-is and one odd value must not fail a batch.
    remote_ip = models.TextField(blank=True, default="")
    remote_country = models.TextField(blank=True, default="")
    remote_country_code = models.CharField(max_length=8, blank=True, default="")
    remote_asn = models.TextField(blank=True, default="")
    remote_org = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    count = models.BigIntegerField(default=1)
    archived = models.BooleanField(default=False)
    feedback = models.CharField(max_length=16, blank=True, default="")
    sample = models.BooleanField(default=False)
    raw = JSONTextField()  # the finding as received; text, not jsonb: see fields.py
    first_synced_at = models.DateTimeField()
    last_synced_at = models.DateTimeField()
    source = models.CharField(max_length=8, choices=WriteSource.choices)

    # --- Triage (local to GuardWatch) ---
    status = models.CharField(
        max_length=16, choices=TriageStatus.choices, default=TriageStatus.NEW, db_default="new"
    )
    # Indexed by finding_assignee_sev_idx (which also serves the user delete's SET NULL).
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_findings",
        db_index=False,
    )
    # Why it was closed; required for Accepted risk, which reopens at `accepted_until`.
    status_reason = models.TextField(blank=True, default="", db_default="")
    accepted_until = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    # Reports: when the finding first left New and first closed, copied from the timeline as
    # triage.findings_status_set moves it (findings.sla.report_marks), so response times need no timeline pass.
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # --- end triage ---

    class Meta:
        ordering = ["-updated_at", "-id"]
        # What the triage and report pages filter and sort by; nothing else, to keep the upsert fast.
        # Every index is paid for by each inserted finding and each status move (migrations 0008 and
        # 0009 dropped the ones another index serves or no query needs: severity/updated_at, last_seen,
        # type prefix, arn LIKE, updated_at).
        # The account, region and assignee filters come with the severity sort and counts by band:
        # their indexes carry (severity, id) for the keyset walk and status for open/closed, so
        # counting one account's bands reads the index alone instead of ~16,000 scattered rows
        # (0010 replaced (account_id, updated_at), (region) and the assignee foreign key's index).
        indexes = [
            *(
                models.Index(
                    models.F(column),
                    models.F("severity").desc(),
                    models.F("id").desc(),
                    include=["status"],
                    name=name,
                )
                for column, name in (
                    ("account_id", "finding_account_sev_idx"),
                    ("region", "finding_region_sev_idx"),
                    ("assignee_id", "finding_assignee_sev_idx"),
                )
            ),
            *TRIAGE_INDEXES,  # triage: keyset sorts and open-findings partial indexes
            # An attack sequence's signals (the sequence page, grouping, the suppression preview's flag):
            # only the few findings that name a sequence are in it (0016).
            models.Index(
                fields=["attack_sequence_arn"],
                name="finding_sequence_idx",
                condition=~models.Q(attack_sequence_arn=""),
            ),
        ]
        # A constraint rather than `unique=True`, which also builds a `varchar_pattern_ops` index
        # nothing uses (no query matches ARNs by prefix). The upsert's ON CONFLICT (arn) needs it.
        constraints = [models.UniqueConstraint(fields=["arn"], name="findings_finding_arn_key")]

    def __str__(self) -> str:
        return f"{self.type} in {self.account_id}/{self.region}"

    # The list shows both labels on each of its rows; Django's own get_FOO_display rebuilds a dict of
    # the field's choices on every call (a measurable share of rendering a page of findings).
    def get_severity_band_display(self) -> str:
        return _SEVERITY_BAND_LABELS.get(self.severity_band, self.severity_band)

    def get_status_display(self) -> str:
        return _STATUS_LABELS.get(self.status, self.status)


class FindingSearch(models.Model):
    """What free-text search matches for one finding: its title, description and resource id, lowercased.

    Kept apart from `Finding` so the trigram index lives on a narrow table: a status or assignee change
    (a new version of the finding row) never re-inserts the text's trigrams, and the search recheck reads
    a few hundred bytes a row instead of the finding. The finding's severity is copied here so a search
    sorted by severity (the list's default) walks this table's own index, checking each row's text,
    and reads findings only for the matches. Written only by `upsert.findings_upsert`, in the same
    statement as the finding, and only when the text or severity changed.
    """

    finding = models.OneToOneField(Finding, on_delete=models.CASCADE, primary_key=True, related_name="search")
    severity = models.FloatField()  # always the finding's (GuardDuty's, so only the upsert changes it)
    text = models.TextField()

    class Meta:
        indexes = [models.Index(fields=["-severity", "-finding"], name="findingsearch_sev_idx")]

    def __str__(self) -> str:
        return f"search text of finding {self.finding_id}"


# A word of search text, as `FindingSearchTerm` keeps it: a maximal run of ASCII letters, 3 or more long
# (the shortest run the trigram index can use). Runs longer than TERM_MAX are kept as LONG_TERM.
TERM_PATTERN = "[a-z]{3,}"
TERM_MAX = 64
LONG_TERM = "*"


class FindingSearchTerm(models.Model):
    """A word some finding's search text holds, and a severity such a finding has (Postgres only).

    Which severities a free-text search can match, so its walk in severity order starts at the first
    severity that can match and stops after the last, instead of reading every finding ranked above
    its first match (`triage.filters.search_severities`). A word is a maximal run of ASCII letters of 3
    to TERM_MAX letters; longer runs are kept as LONG_TERM, which every search counts as a match. The
    table grows with the vocabulary times the severities, not with the findings.

    Written in the same statement as the search rows: the findings upsert records the words Python found
    (`findings.upsert.search_terms`; Postgres's regex only for text beyond ASCII) and marks its statement,
    and a trigger on `FindingSearch` (migrations 0023, 0025) records the pairs of every row any other
    statement inserts or changes, so no writer can forget them (an older release still running during an
    upgrade, the benchmark seed).
    It inserts only the pairs not stored yet and takes no lock a writer could wait on: no unique
    constraint, so two writers adding the same new pair at once both keep it (a rare duplicate row,
    harmless to a DISTINCT). A pair is never deleted (one no finding has any more only widens a walk).
    """

    term = models.CharField(max_length=TERM_MAX)
    severity = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["term", "severity"], name="findingsearchterm_pair_idx")]

    def __str__(self) -> str:
        return f"{self.term} at severity {self.severity}"


class FindingOccurrence(models.Model):
    """One version of a finding as GuardDuty reported it (count and updatedAt), appended, never changed."""

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="occurrences", db_index=False)
    count = models.BigIntegerField()
    updated_at = models.DateTimeField()
    last_seen = models.DateTimeField(null=True, blank=True)
    recorded_at = models.DateTimeField()
    source = models.CharField(max_length=8, choices=WriteSource.choices)

    class Meta:
        ordering = ["-updated_at", "-id"]
        # One row per version: racing writers (pull and push) can never record a version twice.
        constraints = [
            models.UniqueConstraint(fields=["finding", "updated_at", "count"], name="occurrence_version_unique")
        ]

    def __str__(self) -> str:
        return f"count {self.count} at {self.updated_at:%Y-%m-%d %H:%M:%S}"


class FindingEntity(models.Model):
    """One entity a finding is about (an IP, an access key, an instance, a bucket, a domain...).

    Written only by `upsert.findings_upsert`, in the same statement as the finding, from
    `findings.entities.finding_entities`; replaced with each newer version of the finding and deleted
    with it (retention). The finding's account, region and first/last seen are copied here (GuardDuty's
    values, which only the upsert changes) so an entity page counts and charts every finding about the
    entity from this table's own index, and reads findings only for the page it shows.
    """

    pk = models.CompositePrimaryKey("finding_id", "kind", "value")
    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="entities", db_index=False)
    kind = models.CharField(max_length=16)
    value = models.CharField(max_length=255)
    account_id = models.CharField(max_length=12)
    region = models.CharField(max_length=32)
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)

    class Meta:
        # The entity page and the related panel: one entity's findings, newest first, and their counts by
        # account, region and day, read from this index alone. The primary key (finding, kind, value)
        # serves the upsert's replacement and the cascade from a deleted finding.
        indexes = [
            models.Index(
                "kind", "value", models.F("last_seen").desc(nulls_last=True), models.F("finding").desc(),
                include=["account_id", "region", "first_seen"], name="findingentity_lookup_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.value} of finding {self.finding_id}"


class HotEntity(models.Model):
    """An entity named by so many findings that its page reads kept counts (`EntityRollup`) instead of counting
    its entity rows on each view (Postgres only; `findings.entity_rollup`).

    Added by a task the entity page queues when it counted at least `HOT_ENTITY_FINDINGS` rows for one entity;
    from then on triggers on `FindingEntity` keep its counts. `based_at` is set once the counts were taken from
    the rows themselves (before that, and while a deletion may have moved its first sighting, the page counts).
    """

    kind = models.CharField(max_length=16)
    value = models.CharField(max_length=255)
    promoted_at = models.DateTimeField(auto_now_add=True)
    based_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "value"], name="hotentity_kind_value")]

    def __str__(self) -> str:
        return f"{self.kind} {self.value} (kept counts)"


class EntityRollup(models.Model):
    """Signed counts of one hot entity's findings: per (account, region) with their earliest first sighting
    (`axis` PLACE), and per UTC day of last sighting (`axis` DAY). What its entity page shows, without reading
    its hundreds of thousands of entity rows.

    Written by the database: statement triggers on `FindingEntity` (findings 0024) add one row per place or day
    a statement moved, for hot entities only; rows are only added, so no writer waits on another. Folded into
    one row per key by `entity_rollup.entity_rollups_fold` (beat). `stale` marks a place that lost a row: its
    earliest first sighting may be too early until the counts are taken again from the rows.
    """

    PLACE, DAY = 0, 1

    kind = models.CharField(max_length=16)
    value = models.CharField(max_length=255)
    axis = models.SmallIntegerField()
    account_id = models.CharField(max_length=12, blank=True)
    region = models.CharField(max_length=32, blank=True)
    day = models.DateField(null=True, blank=True)
    n = models.BigIntegerField()
    first_seen = models.DateTimeField(null=True, blank=True)
    stale = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["kind", "value"], name="entityrollup_entity_idx")]

    def __str__(self) -> str:
        where = f"{self.account_id} {self.region}" if self.axis == self.PLACE else str(self.day)
        return f"{self.kind} {self.value} {where}: {self.n:+d}"


class SyncState(models.Model):
    """Where the pull sync of one region stands: its watermark, cached detector, claim and last outcome.

    `settled_through` is the pull's checkpoint, in GuardDuty's time (its responses' Date header, never
    the worker's clock): every finding updated before it has been listed and stored, so the next run
    lists from there (see `findings.sync.listing_pages`). `watermark` is the newest `updatedAt` a pull
    committed (kept for the record; the sync resumes from `settled_through`).
    """

    region = models.CharField(max_length=32, unique=True)
    detector_id = models.CharField(max_length=128, blank=True, default="")
    watermark = models.DateTimeField(null=True, blank=True)
    settled_through = models.DateTimeField(null=True, blank=True)
    # The claim used where Postgres advisory locks are unavailable (SQLite demo); a lease so a killed
    # worker's claim expires.
    claimed_by = models.CharField(max_length=64, blank=True, default="")
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    # The newest EventBridge push of a finding of this region, and how many findings pushes brought.
    last_push_at = models.DateTimeField(null=True, blank=True)
    pushed_findings = models.PositiveBigIntegerField(default=0, db_default=0)
    # The ingestion ledger's last check of this region (findings.ledger), and why it failed, if it did.
    ledger_checked_at = models.DateTimeField(null=True, blank=True)
    ledger_error = models.TextField(blank=True, default="", db_default="")

    class Meta:
        ordering = ["region"]

    def __str__(self) -> str:
        return f"sync state {self.region}"


class LedgerCheck(models.Model):
    """The last comparison of one account × region's finding count with GuardDuty's own (findings.ledger).

    Both counts are of findings whose updatedAt lies in [window_start, window_end): the window ends at
    the region's sync checkpoint. `missing_by_band` says where a shortfall lies ({"high": 2}).
    """

    region = models.CharField(max_length=32)
    account_id = models.CharField(max_length=12)
    checked_at = models.DateTimeField()
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    guardduty_total = models.PositiveIntegerField(default=0)
    guardwatch_total = models.PositiveIntegerField(default=0)
    guardduty_archived = models.PositiveIntegerField(default=0)
    guardwatch_archived = models.PositiveIntegerField(default=0)
    missing_by_band = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["region", "account_id"]
        constraints = [models.UniqueConstraint(fields=["region", "account_id"], name="ledgercheck_unique")]

    def __str__(self) -> str:
        return f"ledger {self.account_id} in {self.region}"

    @property
    def missing(self) -> int:
        """Findings GuardDuty counts that GuardWatch lacks (negative: GuardWatch counts more, see findings.ledger)."""
        return self.guardduty_total - self.guardwatch_total

    @property
    def missing_bands(self) -> list[tuple[str, int]]:
        """The shortfall by band, most severe first (JSON keeps no order of its own)."""
        return [(band, self.missing_by_band[band]) for band in ("critical", "high", "medium", "low")
                if self.missing_by_band.get(band)]  # fmt: skip


class SyncRun(models.Model):
    """One pull sync of one region: when, how far it got, what it changed, what went wrong."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    region = models.CharField(max_length=32)
    trigger = models.CharField(max_length=16, default="beat")
    requested_by = models.CharField(max_length=150, blank=True, default="")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    pages = models.PositiveIntegerField(default=0)
    new = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    api_calls = models.PositiveIntegerField(default=0)
    # Seconds the run waited out throttling, 5xx or a lost database connection before carrying on.
    waited_seconds = models.FloatField(default=0)
    # Times a worker took this run over after the worker running it died: the run carries on from its
    # last committed batch instead of being failed and replaced.
    resumed = models.PositiveSmallIntegerField(default=0, db_default=0)
    errors = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["region", "-started_at"], name="syncrun_region_idx"),
            models.Index(fields=["status"], name="syncrun_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.region} sync {self.started_at:%Y-%m-%d %H:%M} {self.status}"

    @property
    def duration(self):
        return (self.finished_at - self.started_at) if self.finished_at else None


class IngestApiKey(models.Model):
    """A key EventBridge presents to push findings. Only a SHA-256 of the secret is stored."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Scope: the regions and accounts whose findings the key may push (an ARN's region and account);
    # empty means every configured region / every monitored account.
    regions = models.JSONField(default=list, blank=True)
    accounts = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} (gw_{self.prefix}…)"

    def allows(self, *, region: str, account_id: str) -> bool:
        """Whether the key's scope covers a finding of `account_id` homed in `region`."""
        return (not self.regions or region in self.regions) and (not self.accounts or account_id in self.accounts)

    @property
    def active(self) -> bool:
        return self.revoked_at is None


# --- A finding's timeline (local to GuardWatch): what triage did to it; reports and notifications read it too ---


class FindingEvent(models.Model):
    """One entry of a finding's timeline: a status change, assignment, comment, write-back, suppression, ticket,
    GuardDuty investigation report or evidence.

    GuardDuty occurrences are not copied here; the timeline merges them from `FindingOccurrence`.
    """

    class Kind(models.TextChoices):
        STATUS = "status", "Status"
        ASSIGNMENT = "assignment", "Assignment"
        COMMENT = "comment", "Comment"
        WRITEBACK = "writeback", "Write-back"
        SUPPRESSION = "suppression", "Suppression"
        TICKET = "ticket", "Ticket"  # a Jira issue created for the finding (notifications.TicketLink)
        ESCALATION = "escalation", "SLA escalation"  # a step of notifications.escalation, once per finding
        INVESTIGATION = "investigation", "GuardDuty investigation"  # its report (triage.Investigation)
        EVIDENCE = "evidence", "Evidence"  # a link or file attached or removed (triage.Evidence)

    finding = models.ForeignKey(Finding, on_delete=models.CASCADE, related_name="events", db_index=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField()
    from_status = models.CharField(max_length=16, blank=True, default="")
    to_status = models.CharField(max_length=16, blank=True, default="")
    # Plain text (a comment, a reason, an error); always rendered escaped.
    body = models.TextField(blank=True, default="")
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["finding", "created_at"], name="findingevent_finding_idx")]

    def __str__(self) -> str:
        return f"{self.kind} on finding {self.finding_id}"


class SlaPolicy(models.Model):
    """The SLA an Admin set on the SLA page: hours per severity band and the escalation steps' timing.

    One row at most (pk 1). Until an Admin saves it, `findings.sla.sla_policy()` answers with the defaults
    (GUARDWATCH_SLA_HOURS and the escalation defaults below), so there is one place every reader asks.
    """

    critical_hours = models.PositiveIntegerField(default=4, db_default=4)
    high_hours = models.PositiveIntegerField(default=24, db_default=24)
    medium_hours = models.PositiveIntegerField(default=168, db_default=168)
    low_hours = models.PositiveIntegerField(default=720, db_default=720)
    # Escalation: the assignee hears at this share of the SLA; a manager this many hours after the breach.
    warn_percent = models.PositiveSmallIntegerField(default=75, db_default=75)
    manager_after_hours = models.PositiveIntegerField(default=24, db_default=24)
    escalation_enabled = models.BooleanField(default=True, db_default=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"

    def __str__(self) -> str:
        return "SLA policy"
