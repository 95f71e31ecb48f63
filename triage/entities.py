"""Entity reads: an entity's page (every finding about one IP, key, instance, bucket, cluster or domain), the
related findings of a finding, and what the search box takes for an entity.

Everything is read from `FindingEntity`'s index (kind, value, last seen, finding) INCLUDE (account,
region, first seen): an entity's counts, accounts, regions and timeline come from the index alone, and
findings are read only for the page shown. Counts stop at `COUNT_CAP` (shown as "10,000+"), like the
list's, so an entity named by half the store still answers in milliseconds. Team scope is applied to
the entity rows' account, a copy of the finding's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from django.db import connection
from django.db.models import Count, F, Max, Min, Q
from django.db.models.functions import TruncDay
from django.urls import reverse

from findings.entities import KINDS, normalize
from findings.entity_rollup import HOT_ENTITY_FINDINGS, entity_rollup_request
from findings.models import Finding, FindingEntity
from findings.selectors import entity_counts_kept
from guardwatch.core.charts import Chart, Series, stacked_bars
from guardwatch.core.scope import scope_for, scope_q

COUNT_CAP = 10_000
# What the entity page's rows and the related panel show of each finding (not `raw`, ~2.5 kB of JSON each).
ROW_FIELDS = ("id", "severity", "severity_band", "title", "type", "account_id", "region", "first_seen", "last_seen",
              "status", "assignee__username")  # fmt: skip
PAGE_SIZE = 50
RELATED_SHOWN = 5  # findings listed under each related group (its count says how many there are)

# Kinds that name the affected resource (the related panel's "same resource" group).
RESOURCE_KINDS = ("instance", "bucket", "eks_cluster", "ecs_cluster", "container")


def entity_url(kind: str, value: str) -> str:
    """The entity page's address; the value travels URL-encoded in the query string (it may hold anything)."""
    return f"{reverse('triage:entity', kwargs={'kind': kind})}?{urlencode({'v': value})}"


# Resource.ResourceType -> the entity kind its resource id names (findings/resources.py's extractors).
RESOURCE_TYPE_KINDS = {
    "Instance": "instance", "AccessKey": "access_key", "S3Bucket": "bucket", "S3Object": "bucket",
    "EKSCluster": "eks_cluster", "KubernetesCluster": "eks_cluster", "ECSCluster": "ecs_cluster",
    "Container": "container",
}  # fmt: skip


def resource_entity_url(resource_type: str, resource_id: str) -> str:
    """The entity page of a finding's resource (the list's resource column), or "" when it names none."""
    kind = RESOURCE_TYPE_KINDS.get(resource_type)
    value = normalize(kind, resource_id) if kind and resource_id else None
    return entity_url(kind, value) if value else ""


def _entity_rows(*, kind: str, value: str, user):
    return FindingEntity.objects.filter(scope_q(user, "account_id"), kind=kind, value=value)


# --- The entity page ---------------------------------------------------------------------------------


@dataclass
class EntitySummary:
    """What the top of an entity page shows: how many findings, when, where."""

    kind: str
    value: str
    label: str
    total: int = 0
    capped: bool = False
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    accounts: list[tuple[str, int]] = field(default_factory=list)  # (account, findings), most first
    regions: list[tuple[str, int]] = field(default_factory=list)
    chart: Chart | None = None
    chart_rows: list[tuple[str, int]] = field(default_factory=list)


def entity_summary(*, kind: str, value: str, user) -> EntitySummary:
    """Counts by account and region, first and last seen, and the timeline of one entity's findings.

    Two statements over the index: the counts per (account, region) with their first and last seen,
    then the findings per day, week or month (whichever gives at most ~120 bars over its history). An entity
    named by `HOT_ENTITY_FINDINGS` or more gets kept counts (`findings.entity_rollup`): once counted, a person
    who sees every account reads those (a few hundred rows) instead; a team-scoped one still counts its rows.
    """
    summary = EntitySummary(kind=kind, value=value, label=KINDS[kind])
    rows = _entity_rows(kind=kind, value=value, user=user)
    everyone = scope_for(user) is None  # kept counts are of every account's findings
    kept = entity_counts_kept(kind=kind, value=value) if everyone else None
    if kept is not None:  # a hot entity: its kept counts, not its hundreds of thousands of rows
        groups = [{"account_id": account, "region": region, "n": n, "first": first, "last": kept.last_seen}
                  for account, region, n, first in kept.places]  # fmt: skip
        days = kept.days
    elif connection.vendor == "postgresql":
        groups, days = _groups_and_days(kind=kind, value=value, user=user)
        if everyone and sum(group["n"] for group in groups) >= HOT_ENTITY_FINDINGS:
            entity_rollup_request(kind=kind, value=value)  # keep its counts (or count them again) from now on
    else:  # SQLite (the demo) has no GROUPING SETS: two statements
        groups = list(
            rows.order_by()
            .values("account_id", "region")
            .annotate(n=Count("*"), first=Min("first_seen"), last=Max("last_seen"))
        )
        days = None
    if not groups:
        return summary
    accounts: dict[str, int] = {}
    regions: dict[str, int] = {}
    for group in groups:
        accounts[group["account_id"]] = accounts.get(group["account_id"], 0) + group["n"]
        regions[group["region"]] = regions.get(group["region"], 0) + group["n"]
    summary.total = sum(accounts.values())
    summary.accounts = sorted(accounts.items(), key=lambda item: (-item[1], item[0]))
    summary.regions = sorted(regions.items(), key=lambda item: (-item[1], item[0]))
    firsts = [g["first"] for g in groups if g["first"]]
    lasts = [g["last"] for g in groups if g["last"]]
    summary.first_seen = min(firsts) if firsts else None
    summary.last_seen = max(lasts) if lasts else None
    if summary.first_seen and summary.last_seen:
        summary.chart, summary.chart_rows = _timeline(rows, summary.first_seen, summary.last_seen, days)
    return summary


def _groups_and_days(*, kind: str, value: str, user) -> tuple[list[dict], dict[date, int]]:
    """One index-only scan: the counts per (account, region) with first and last seen, and per day (UTC)."""
    scope = scope_for(user)
    where = "kind = %s AND value = %s" + (" AND account_id = ANY(%s)" if scope is not None else "")
    params: list = [kind, value] + ([sorted(scope)] if scope is not None else [])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT GROUPING(account_id, region), account_id, region, (last_seen AT TIME ZONE 'UTC')::date AS day,"  # noqa: S608
            " count(*), min(first_seen), max(last_seen)"
            f" FROM {FindingEntity._meta.db_table} WHERE {where}"
            " GROUP BY GROUPING SETS ((account_id, region), ((last_seen AT TIME ZONE 'UTC')::date))",
            params,
        )
        rows = cursor.fetchall()
    groups = [{"account_id": a, "region": r, "n": n, "first": first, "last": last}
              for grouping, a, r, _day, n, first, last in rows if grouping == 0]  # fmt: skip
    days = {day: n for grouping, _a, _r, day, n, _f, _l in rows if grouping != 0 and day is not None}
    return groups, days


def _timeline(rows, start: datetime, end: datetime, days: dict[date, int] | None) -> tuple[Chart, list[tuple[str, int]]]:
    """Findings last seen per day (history up to 120 days), week (up to ~2 years) or month (UTC).

    `days`: the counts per day when already read (Postgres); else they are read here."""
    if days is None:
        days = {
            bucket.date(): n
            for bucket, n in rows.order_by().annotate(bucket=TruncDay("last_seen", tzinfo=UTC)).values_list("bucket")
            .annotate(n=Count("*"))
            if bucket is not None
        }
    span = end - start
    if span <= timedelta(days=120):
        step, fmt, unit = timedelta(days=1), "%Y-%m-%d", "day"
        bucket_of = _same_day
    elif span <= timedelta(days=840):
        step, fmt, unit = timedelta(weeks=1), "%Y-%m-%d", "week"
        bucket_of = _monday
    else:
        step, fmt, unit = None, "%Y-%m", "month"
        bucket_of = _first_of_month
    counts: dict[date, int] = {}
    for day, n in days.items():
        counts[bucket_of(day)] = counts.get(bucket_of(day), 0) + n
    labels, values = [], []
    if counts:
        day = min(counts)
        last = max(counts)
        while day <= last:
            labels.append(day.strftime(fmt))
            values.append(counts.get(day, 0))
            if step is None:
                day = day.replace(year=day.year + (day.month == 12), month=day.month % 12 + 1)
            else:
                day = day + step
    chart = stacked_bars(
        labels=labels,
        series=[Series("findings", "findings", values, "line-open")],
        title=f"Findings last seen per {unit}",
        height=160,
    )
    return chart, list(zip(labels, values, strict=True))


def _same_day(day: date) -> date:
    return day


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _first_of_month(day: date) -> date:
    return day.replace(day=1)


@dataclass
class EntityPage:
    """One page of an entity's findings, newest last seen first, with the cursor to the next page."""

    findings: list[Finding]
    next_cursor: str = ""


def _cursor_parse(cursor: str) -> tuple[datetime | None, int] | None:
    stamp, _, pk = cursor.partition("_")
    if not pk.isdigit():
        return None
    if stamp == "none":
        return None, int(pk)
    try:
        return datetime.fromisoformat(stamp), int(pk)
    except ValueError:
        return None


def entity_findings(*, kind: str, value: str, user, after: str = "", size: int = PAGE_SIZE) -> EntityPage:
    """The entity's findings, newest last seen first, `size` at a time (keyset on the index's order)."""
    rows = _entity_rows(kind=kind, value=value, user=user)
    position = _cursor_parse(after) if after else None
    if position is not None:
        stamp, pk = position
        if stamp is None:
            rows = rows.filter(last_seen__isnull=True, finding_id__lt=pk)
        else:
            rows = rows.filter(Q(last_seen__lt=stamp) | Q(last_seen=stamp, finding_id__lt=pk) | Q(last_seen__isnull=True))
    keys = list(
        rows.order_by(F("last_seen").desc(nulls_last=True), F("finding_id").desc())
        .values_list("finding_id", "last_seen")[: size + 1]
    )
    more = len(keys) > size
    keys = keys[:size]
    by_id = Finding.objects.select_related("assignee").only(*ROW_FIELDS).in_bulk([pk for pk, _seen in keys])
    findings = [by_id[pk] for pk, _seen in keys if pk in by_id]
    cursor = ""
    if more and keys:
        pk, seen = keys[-1]
        cursor = f"{seen.isoformat() if seen else 'none'}_{pk}"
    return EntityPage(findings=findings, next_cursor=cursor)


# --- Related findings of one finding -------------------------------------------------------------------


@dataclass
class RelatedGroup:
    """Findings sharing one entity (or the attack sequence) with the finding shown."""

    title: str
    kind: str  # an entity kind, or "sequence"
    value: str
    count: int
    capped: bool
    findings: list[Finding]
    url: str


_GROUPS = (
    ("Same resource", RESOURCE_KINDS),
    ("Same actor IP", ("ip",)),
    ("Same access key", ("access_key",)),
)


def finding_entity_pairs(*, finding: Finding) -> list[tuple[str, str]]:
    """(kind, value) of every entity the finding is about, sorted."""
    return list(FindingEntity.objects.filter(finding=finding).order_by("kind", "value").values_list("kind", "value"))


def finding_related(*, finding: Finding, user, own: list[tuple[str, str]] | None = None) -> list[RelatedGroup]:
    """Other findings about the same resource, actor IP, access key or attack sequence, with their counts.

    Per group: a count stopping at COUNT_CAP and the RELATED_SHOWN most recently seen, from the entity
    index (the sequence from `Finding.attack_sequence_arn`'s partial index); then one query reads those
    findings.
    """
    if own is None:
        own = finding_entity_pairs(finding=finding)
    pending: list[tuple[str, str, str, int, list[int], str]] = []
    for title, kinds in _GROUPS:
        for kind, value in own:
            if kind not in kinds:
                continue
            rows = _entity_rows(kind=kind, value=value, user=user).exclude(finding_id=finding.pk)
            count = rows.order_by()[: COUNT_CAP + 1].count()
            if not count:
                continue
            ids = list(
                rows.order_by(F("last_seen").desc(nulls_last=True), F("finding_id").desc())
                .values_list("finding_id", flat=True)[:RELATED_SHOWN]
            )
            pending.append((f"{title}: {KINDS[kind]}", kind, value, count, ids, entity_url(kind, value)))
    sequence = finding.attack_sequence_arn or (finding.arn if finding.action_type == "ATTACK_SEQUENCE" else "")
    if sequence:
        signals = Finding.objects.filter(scope_q(user), attack_sequence_arn=sequence).exclude(pk=finding.pk)
        members = signals | Finding.objects.filter(scope_q(user), arn=sequence).exclude(pk=finding.pk)
        count = members.order_by()[: COUNT_CAP + 1].count()
        if count:
            ids = list(members.order_by(F("last_seen").desc(nulls_last=True), "-id").values_list("id", flat=True)[:RELATED_SHOWN])
            # The sequence finding's own page, where its signals are (the list has no sequence filter yet).
            head = Finding.objects.filter(scope_q(user), arn=sequence).values_list("pk", flat=True).first()
            url = reverse("triage:detail", kwargs={"pk": head or ids[0]})
            pending.append(("Same attack sequence", "sequence", sequence, count, ids, url))
    wanted = [pk for *_rest, ids, _url in pending for pk in ids]
    by_id = Finding.objects.only(*ROW_FIELDS[:-1]).in_bulk(wanted) if wanted else {}
    return [
        RelatedGroup(
            title=title, kind=kind, value=value, count=min(count, COUNT_CAP), capped=count > COUNT_CAP,
            findings=[by_id[pk] for pk in ids if pk in by_id], url=url,
        )
        for title, kind, value, count, ids, url in pending
    ]


def entities_shown(pairs: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(kind label, value, entity page URL) of each (kind, value), for a finding's page."""
    return [(KINDS.get(kind, kind), value, entity_url(kind, value)) for kind, value in pairs]


# --- The search box ----------------------------------------------------------------------------------

# An explicit `kind:value` (docs/entities.md): the prefixes analysts type.
PREFIXES = {
    "ip": "ip", "key": "access_key", "access_key": "access_key", "principal": "principal", "user": "user",
    "role": "user", "instance": "instance", "s3": "bucket", "bucket": "bucket", "eks": "eks_cluster",
    "ecs": "ecs_cluster", "container": "container", "domain": "domain", "dns": "domain",
}  # fmt: skip
_ACCESS_KEY = re.compile(r"(?:AKIA|ASIA)[A-Z0-9]{16}")
_PRINCIPAL = re.compile(r"A(?:IDA|ROA|IPA|NPA|GPA|NVA|SCA)[A-Z0-9]{12,}(?::\S+)?")
_INSTANCE = re.compile(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})")
_S3_ARN = re.compile(r"arn:aws[a-z-]*:s3:::([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/.*)?")
_IAM_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:(?:user|role)/(?:[^/]+/)*([\w+=,.@-]+)")
_STS_ARN = re.compile(r"arn:aws[a-z-]*:sts::\d{12}:assumed-role/([\w+=,.@-]+)/.*")
_CLUSTER_ARN = re.compile(r"arn:aws[a-z-]*:(eks|ecs):[a-z0-9-]+:\d{12}:cluster/([\w.-]+)")
_DOMAIN = re.compile(r"(?=.{4,253}\.?$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z][a-z0-9-]{0,62}\.?", re.I)


@dataclass(frozen=True)
class EntityQuery:
    """What the search box's text names: candidate entities, most likely first, and whether it said so."""

    candidates: tuple[tuple[str, str], ...]
    prefixed: bool = False  # typed as `kind:value`: the person asked for the entity page


def entity_query_parse(text: str) -> EntityQuery:
    """The entities a search names (docs/entities.md, "Search"); no candidates when it is plain text."""
    text = text.strip()
    prefix, colon, rest = text.partition(":")
    if colon and prefix.lower() in PREFIXES and rest.strip() and not text.lower().startswith("arn:"):
        kind = PREFIXES[prefix.lower()]
        value = normalize(kind, rest.strip())
        if kind == "bucket" and value and (match := _S3_ARN.fullmatch(value)):
            value = match.group(1)
        return EntityQuery(((kind, value),) if value else (), prefixed=bool(value))
    if (address := normalize("ip", text)) is not None:
        return EntityQuery((("ip", address),))
    if _ACCESS_KEY.fullmatch(text):
        return EntityQuery((("access_key", text),))
    if _PRINCIPAL.fullmatch(text):
        return EntityQuery((("principal", text),))
    if _INSTANCE.fullmatch(text):
        return EntityQuery((("instance", text),))
    if match := _S3_ARN.fullmatch(text):
        return EntityQuery((("bucket", match.group(1)),))
    if match := (_IAM_ARN.fullmatch(text) or _STS_ARN.fullmatch(text)):
        return EntityQuery((("user", match.group(1)),))
    if match := _CLUSTER_ARN.fullmatch(text):
        return EntityQuery(((f"{match.group(1)}_cluster", match.group(2)),))
    if " " not in text and _DOMAIN.fullmatch(text):
        # A dotted name may be a domain or a bucket: whichever has findings (domain first).
        return EntityQuery((("domain", normalize("domain", text)), ("bucket", text)))
    return EntityQuery(())


@dataclass(frozen=True)
class EntityMatch:
    """The entity a search names: its page opens at once when typed as `kind:value`, else it is offered."""

    kind: str
    value: str
    prefixed: bool

    @property
    def url(self) -> str:
        return entity_url(self.kind, self.value)

    @property
    def label(self) -> str:
        return f"{KINDS[self.kind]} {self.value}"


def entity_search(*, text: str, user) -> EntityMatch | None:
    """The entity a search names: typed as `kind:value`, always; otherwise the first candidate the user has
    findings about (None when there is none, so a search naming nothing known stays a text search)."""
    query = entity_query_parse(text)
    for kind, value in query.candidates:
        if query.prefixed or _entity_rows(kind=kind, value=value, user=user).exists():
            return EntityMatch(kind, value, query.prefixed)
    return None
