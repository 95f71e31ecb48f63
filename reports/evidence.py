"""Evidence packs for auditors: the coverage policies, compliance per scope and deviations with their history over a
period, as a signed JSON document and a PDF of the same (docs/evidence.md).

A person asks for a pack (`evidence_pack_request`); a worker renders it (`evidence_pack_render`, the task
`reports.tasks.evidence_pack_render`): it reads the document from the database, lays the PDF out with WeasyPrint,
writes the PDF's SHA-256 into the document and signs the document's canonical bytes with the Ed25519 key of
`guardwatch.core.signing`. The JSON file is `{"evidence": <document>, "signature": {...}}`; both files are kept
GUARDWATCH_EVIDENCE_KEEP_DAYS and every download is audited.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import (
    ComplianceDay,
    ComplianceScopeDay,
    CoveragePolicy,
    Deviation,
    DeviationRecord,
    EvidencePack,
    MemberAccount,
    MemberOperationResult,
)
from guardwatch.core import charts, signing
from guardwatch.core.models import AuditEntry
from guardwatch.core.queue import task_send
from guardwatch.core.roles import role_of
from guardwatch.core.services import audit_record
from guardwatch.core.version import product_commit, product_version
from reports import pdf as report_pdf

logger = logging.getLogger(__name__)
FORMAT = "guardwatch-evidence/1"
DEFAULT_DAYS = 90
MAX_DAYS = 3 * 366  # a pack reads every day and deviation of its period: three years at most
CANONICALIZATION = "JSON of the `evidence` member: keys sorted, no whitespace (separators `,` `:`), UTF-8, non-ASCII unescaped"
POLICY_FIELDS = ("name", "scope", "scope_value", "scope_accounts", "regions", "plans", "runtime_agents",
                 "s3_malware_bucket_tags", "finding_publishing_frequency")  # fmt: skip
REGION_FIX_VERBS = ("organization.auto_enable", "detector.publishing_frequency")
PDF_DEVIATIONS = 2000  # rows of the PDF's deviation table (the JSON holds them all; the PDF says how many it shows)
PDF_BASE_URL = "http://guardwatch.invalid/"  # the PDF fetches only our static files from disk (reports.pdf)
State = EvidencePack.State


@dataclass(frozen=True)
class EvidenceScope:
    """What a pack covers: everything, one policy (`policy`, its pk) or one Organizations OU (`ou`, its id)."""

    kind: str = ""
    value: str = ""
    label: str = "Every policy and account"


def evidence_scope_choices() -> list[tuple[str, str]]:
    """The scopes a person may pick: everything, each policy, each OU the accounts are in."""
    choices = [("", "Every policy and account")]
    choices += [(f"policy:{pk}", f"Policy: {name}") for pk, name in CoveragePolicy.objects.values_list("pk", "name")]
    ous = MemberAccount.objects.exclude(organizational_unit="").values_list("organizational_unit", flat=True)
    choices += [(f"ou:{ou}", f"OU: {ou}") for ou in sorted(set(ous))]
    return choices


def evidence_scope_parse(raw: str) -> EvidenceScope:
    """A scope from the form's value; an unknown policy or OU is refused with what to pick instead."""
    raw = (raw or "").strip()
    if not raw:
        return EvidenceScope()
    kind, _, value = raw.partition(":")
    if kind == "policy" and value.isdigit() and (policy := CoveragePolicy.objects.filter(pk=int(value)).first()):
        return EvidenceScope("policy", str(policy.pk), f"Policy: {policy.name}")
    if kind == "ou" and value and MemberAccount.objects.filter(organizational_unit=value).exists():
        return EvidenceScope("ou", value, f"OU: {value}")
    raise ValidationError("Choose a scope from the list: every policy, one policy or one OU.")


def evidence_period_parse(start: str, end: str, *, today: date | None = None) -> tuple[date, date]:
    """The period from the form (both optional: the last DEFAULT_DAYS days up to today); bad dates are refused."""
    today = today or timezone.now().date()
    try:
        end_day = date.fromisoformat(end) if end else today
        start_day = date.fromisoformat(start) if start else end_day - timedelta(days=DEFAULT_DAYS - 1)
    except ValueError:
        raise ValidationError("Write the dates as YYYY-MM-DD.") from None
    if start_day > end_day:
        raise ValidationError("The period starts after it ends: swap the dates.")
    if end_day > today:
        raise ValidationError(f"The period ends in the future: end it on {today:%Y-%m-%d} at the latest.")
    if (end_day - start_day).days + 1 > MAX_DAYS:
        raise ValidationError(f"A pack covers at most {MAX_DAYS} days: shorten the period.")
    return start_day, end_day


# --- Requesting and rendering -----------------------------------------------------------------------------


def evidence_pack_request(*, actor, start: date, end: date, scope: EvidenceScope) -> EvidencePack:
    """Record the request (audited) and queue the rendering; with no broker it is rendered here."""
    if reason := signing.signing_available():
        raise ValidationError(reason)
    with transaction.atomic():
        pack = EvidencePack.objects.create(
            requested_by=actor, requested_by_name=actor.get_username(), period_start=start, period_end=end,
            scope_kind=scope.kind, scope_value=scope.value, scope_label=scope.label,
            expires_at=timezone.now() + timedelta(days=settings.GUARDWATCH_EVIDENCE_KEEP_DAYS),
        )  # fmt: skip
        audit_record(actor=actor, verb="evidence.request", target=pack,
                     details={"period": [str(start), str(end)], "scope": scope.label})  # fmt: skip
    try:
        task_send("reports.tasks.evidence_pack_render", pack.pk)
    except Exception:  # noqa: BLE001 - no broker: this request renders the pack itself
        logger.warning("Could not queue an evidence pack; rendering it on the request.", exc_info=True)
        try:
            evidence_pack_render(pack_id=pack.pk)
        except Exception:  # noqa: BLE001 - the failure is kept on the pack and shown on its page
            logger.exception("Evidence pack %s failed.", pack.pk)
    pack.refresh_from_db()
    return pack


def evidence_pack_render(*, pack_id: int) -> str:
    """Render a queued pack: the document, its PDF, the signature (what the worker does). Safe to run twice."""
    claimed = EvidencePack.objects.filter(pk=pack_id, state=State.QUEUED).update(state=State.RENDERING)
    pack = EvidencePack.objects.filter(pk=pack_id).first()
    if pack is None:
        return "gone"
    if not claimed:
        return pack.state
    try:
        key = signing.signing_key()
        generated_at = timezone.now()
        document = evidence_document(pack=pack, generated_at=generated_at, key_fingerprint=signing.fingerprint(key))
        pdf_bytes = report_pdf.pdf_layout(evidence_pdf_html(document), PDF_BASE_URL)
        pack.generated_at = generated_at
        document["pdf"] = {"filename": f"{pack.stem}.pdf", "sha256": hashlib.sha256(pdf_bytes).hexdigest(),
                           "bytes": len(pdf_bytes)}  # fmt: skip
        signed = {"evidence": document, "signature": evidence_signature(document, key)}
        json_bytes = json.dumps(signed, sort_keys=True, indent=2, ensure_ascii=False).encode() + b"\n"
    except Exception as error:
        message = f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"[:300]
        EvidencePack.objects.filter(pk=pack.pk).update(state=State.FAILED, error=message)
        raise
    EvidencePack.objects.filter(pk=pack.pk).update(
        state=State.READY, generated_at=generated_at, json_file=json_bytes, pdf_file=pdf_bytes,
        json_sha256=hashlib.sha256(json_bytes).hexdigest(), pdf_sha256=document["pdf"]["sha256"],
        key_fingerprint=signing.fingerprint(key),
    )  # fmt: skip
    return State.READY


def evidence_signature(document: dict, key) -> dict:
    """The detached signature the JSON carries beside the document."""
    return {
        "algorithm": signing.ALGORITHM,
        "canonicalization": CANONICALIZATION,
        "public_key_fingerprint": signing.fingerprint(key),
        "public_key_pem": signing.public_key_pem(key),
        "value": signing.sign(signing.canonical_bytes(document), key),
    }


def evidence_packs_purge(*, now: datetime | None = None) -> int:
    """Delete the packs past their keeping time (beat, daily); how many."""
    deleted, _ = EvidencePack.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted


# --- Reading packs ------------------------------------------------------------------------------------------


def evidence_pack_list(*, limit: int = 200) -> list[EvidencePack]:
    """The packs still kept, newest first (without their files)."""
    return list(EvidencePack.objects.filter(expires_at__gt=timezone.now()).defer("json_file", "pdf_file")[:limit])


def evidence_pack_get(*, pk: int) -> EvidencePack:
    """One kept pack; 404 if it expired or never existed."""
    pack = EvidencePack.objects.filter(pk=pk, expires_at__gt=timezone.now()).defer("json_file", "pdf_file").first()
    if pack is None:
        raise Http404("No such evidence pack (it may have expired).")
    return pack


def evidence_pack_file(*, pack: EvidencePack, kind: str, actor) -> tuple[bytes, str, str]:
    """A ready pack's file (bytes, content type, file name); the download is audited."""
    if pack.state != State.READY or kind not in ("json", "pdf"):
        raise ValidationError("This pack has no such file yet.")
    data = bytes(EvidencePack.objects.values_list(f"{kind}_file", flat=True).get(pk=pack.pk))
    audit_record(actor=actor, verb="evidence.download", target=pack, details={"file": kind,
                 "sha256": pack.json_sha256 if kind == "json" else pack.pdf_sha256})  # fmt: skip
    content_type = "application/json" if kind == "json" else "application/pdf"
    return data, content_type, f"{pack.stem}.{kind}"


# --- Verifying --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """What checking a pack found: `ok` only if the signature holds and every given file matches."""

    ok: bool
    messages: list[str]


def evidence_verify(*, json_bytes: bytes, pdf_bytes: bytes | None = None, public_pem: bytes | None = None) -> Verification:
    """Check a pack's JSON signature (against `public_pem`, else this installation's key) and the PDF's SHA-256."""
    try:
        signed = json.loads(json_bytes)
        document, signature = signed["evidence"], signed["signature"]
        value, claimed = signature["value"], signature["public_key_fingerprint"]
    except (ValueError, KeyError, TypeError):
        return Verification(False, ["Not an evidence pack: expected a JSON object with `evidence` and `signature`."])
    try:
        public = signing.public_key_load(public_pem) if public_pem else signing.signing_key().public_key()
    except signing.SigningKeyError as error:
        return Verification(False, [str(error)])
    messages = []
    fingerprint = signing.fingerprint(public)
    if claimed != fingerprint:
        messages.append(f"Signed with key {claimed}, not with {fingerprint}: check with the key that signed it.")
        return Verification(False, messages)
    if not signing.verify(signing.canonical_bytes(document), value, public):
        return Verification(False, ["The signature does not match the document: it was changed after signing."])
    messages.append(f"Signature valid ({signing.ALGORITHM}, key {fingerprint}); generated "
                    f"{document.get('generated_at')} for {document.get('period', {}).get('start')} to "
                    f"{document.get('period', {}).get('end')}.")  # fmt: skip
    if pdf_bytes is not None:
        expected = (document.get("pdf") or {}).get("sha256")
        if hashlib.sha256(pdf_bytes).hexdigest() != expected:
            messages.append(f"The PDF's SHA-256 is not the signed one ({expected}): it is not this pack's PDF.")
            return Verification(False, messages)
        messages.append(f"PDF matches the signed SHA-256 {expected}.")
    return Verification(True, messages)


# --- The document -----------------------------------------------------------------------------------------


def _utc(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def _percent(pairs: int, compliant: int) -> float:
    return round(100.0 * compliant / pairs, 2) if pairs else 100.0


def evidence_document(*, pack: EvidencePack, generated_at: datetime, key_fingerprint: str) -> dict:
    """The pack's content as plain JSON values, read from the database as it is now."""
    start, end = pack.period_start, pack.period_end
    since = datetime.combine(start, time.min, tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
    scope = EvidenceScope(pack.scope_kind, pack.scope_value, pack.scope_label)
    compliance = _compliance(start, end, scope)
    deviations = _deviations(since, until, scope, now=generated_at)
    named = {row["policy_id"] for row in compliance["per_scope"]} | {d["policy_id"] for d in deviations}
    return {
        "format": FORMAT,
        "generated_at": _utc(generated_at),
        "generator": {"product": "GuardWatch", "version": product_version(), "commit": product_commit()},
        "requested_by": {"username": pack.requested_by_name,
                         "role": (role_of(pack.requested_by) or "") if pack.requested_by else ""},
        "requested_at": _utc(pack.requested_at),
        "pack_id": pack.pk,
        "period": {"start": start.isoformat(), "end": end.isoformat(), "days": (end - start).days + 1,
                   "timezone": "UTC"},
        "scope": {"kind": scope.kind or "all", "value": scope.value, "label": scope.label},
        "signing_key_fingerprint": key_fingerprint,
        "policies": _policies(scope, named, until),
        "deleted_policies": _deleted_policies(since, until, scope),
        "compliance": compliance,
        "deviations": deviations,
        "counts": {"deviations": len(deviations), "open_at_end": sum(1 for d in deviations if d["open_at_end"]),
                   "resolved_in_period": sum(1 for d in deviations if d["resolved_at"] and not d["open_at_end"])},
    }  # fmt: skip


def _audit_history(target_ids: list[str], until: datetime) -> dict[str, list[dict]]:
    entries = AuditEntry.objects.filter(target_type="accounts.coveragepolicy", target_id__in=target_ids,
                                        created_at__lt=until).order_by("created_at", "id")  # fmt: skip
    history: dict[str, list[dict]] = defaultdict(list)
    for entry in entries:
        history[entry.target_id].append({"at": _utc(entry.created_at), "actor": entry.actor_name, "verb": entry.verb,
                                         "details": entry.details})  # fmt: skip
    return history


def _policies(scope: EvidenceScope, named: set, until: datetime) -> list[dict]:
    policies = CoveragePolicy.objects.select_related("updated_by").order_by("name")
    if scope.kind == "policy":
        policies = policies.filter(pk=int(scope.value))
    elif scope.kind == "ou":
        policies = [p for p in policies if p.pk in named or (p.scope == CoveragePolicy.Scope.OU
                                                             and p.scope_value == scope.value)]  # fmt: skip
    policies = list(policies)
    history = _audit_history([str(p.pk) for p in policies], until)
    return [{
        "id": p.pk, **{name: getattr(p, name) for name in POLICY_FIELDS},
        "scope_label": p.get_scope_display(), "created_at": _utc(p.created_at), "updated_at": _utc(p.updated_at),
        "updated_by": p.updated_by.get_username() if p.updated_by else "", "history": history.get(str(p.pk), []),
    } for p in policies]  # fmt: skip


def _deleted_policies(since: datetime, until: datetime, scope: EvidenceScope) -> list[dict]:
    """Policies deleted during the period (their audited history: what they asked for and who removed them)."""
    if scope.kind == "policy":
        return []
    deleted = AuditEntry.objects.filter(verb="policy.delete", target_type="accounts.coveragepolicy",
                                        created_at__gte=since, created_at__lt=until).order_by("created_at")  # fmt: skip
    ids = [entry.target_id for entry in deleted]
    history = _audit_history(ids, until)
    return [{"id": int(e.target_id) if e.target_id.isdigit() else e.target_id, "name": e.details.get("name", ""),
             "deleted_at": _utc(e.created_at), "deleted_by": e.actor_name, "history": history.get(e.target_id, [])}
            for e in deleted]  # fmt: skip


def _compliance(start: date, end: date, scope: EvidenceScope) -> dict:
    """Compliance per day over the period: overall (everything only) and per policy (× OU when scoped to one)."""
    rows = ComplianceScopeDay.objects.filter(day__gte=start, day__lte=end)
    if scope.kind == "policy":
        rows = rows.filter(policy_id=int(scope.value))
    elif scope.kind == "ou":
        rows = rows.filter(organizational_unit=scope.value)
    per_policy: dict[tuple, dict[date, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    totals: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for day, policy_id, name, pairs, compliant in rows.values_list("day", "policy_id", "policy_name", "pairs",
                                                                   "compliant"):  # fmt: skip
        counts = per_policy[(policy_id, name)][day]
        counts[0] += pairs
        counts[1] += compliant
        totals[day][0] += pairs
        totals[day][1] += compliant
    if not scope.kind:  # the whole estate's own figure, kept since drift evaluation began
        totals = {d.day: [d.pairs, d.compliant] for d in ComplianceDay.objects.filter(day__gte=start, day__lte=end)}

    def days(counts: dict[date, list[int]]) -> list[dict]:
        return [{"day": day.isoformat(), "pairs": p, "compliant": c, "percent": _percent(p, c)}
                for day, (p, c) in sorted(counts.items())]  # fmt: skip

    return {
        "unit": "account × required region pairs with no deviation, as the day's last drift evaluation found them",
        "overall": days(totals),
        "per_scope": [{"policy_id": policy_id, "policy": name, "days": days(counts)}
                      for (policy_id, name), counts in sorted(per_policy.items(), key=lambda item: item[0][1])],
    }  # fmt: skip


def _deviations(since: datetime, until: datetime, scope: EvidenceScope, *, now: datetime) -> list[dict]:
    """Every deviation open at some time in the period, with its history and the fix runs that touched it."""
    records = DeviationRecord.objects.filter(first_seen_at__lt=until).exclude(resolved_at__lt=since)
    if scope.kind == "policy":
        records = records.filter(policy_id=int(scope.value))
    elif scope.kind == "ou":
        records = records.filter(organizational_unit=scope.value)
    records = list(records.order_by("first_seen_at", "id"))
    runs = _fix_runs(records, until=until, now=now)
    return [{
        "id": r.pk, "policy_id": r.policy_id, "policy": r.policy_name, "account_id": r.account_number or None,
        "organizational_unit": r.organizational_unit, "region": r.region, "kind": r.kind,
        "kind_label": Deviation.Kind(r.kind).label, "feature": r.feature, "status": r.status, "cause": r.cause,
        "first_seen_at": _utc(r.first_seen_at), "resolved_at": _utc(r.resolved_at),
        "open_at_end": r.resolved_at is None or r.resolved_at >= until, "resolution_note": r.resolution_note,
        "earlier": r.changes, "fix_runs": runs.get(r.pk, []),
    } for r in records]  # fmt: skip


def _fix_runs(records: list[DeviationRecord], *, until: datetime, now: datetime) -> dict[int, list[dict]]:
    """Per record: member operations on its account and region while it was open, and region-wide fixes (audit)."""
    found: dict[int, list[dict]] = defaultdict(list)
    by_pair: dict[tuple[int, str], list[DeviationRecord]] = defaultdict(list)
    by_region: dict[str, list[DeviationRecord]] = defaultdict(list)
    for record in records:
        if record.account_id:
            by_pair[(record.account_id, record.region)].append(record)
        elif not record.account_number:
            by_region[record.region].append(record)
    earliest = min((r.first_seen_at for r in records), default=now)
    account_pks = sorted({pk for pk, _region in by_pair})
    for start in range(0, len(account_pks), 5000):
        results = (MemberOperationResult.objects.filter(account_id__in=account_pks[start : start + 5000],
                                                        operation__created_at__gte=earliest)
                   .select_related("operation__created_by").order_by("operation__created_at", "id"))  # fmt: skip
        for result in results:
            operation = result.operation
            for record in by_pair.get((result.account_id, result.region), []):
                if record.first_seen_at <= operation.created_at <= (record.resolved_at or now):
                    found[record.pk].append({
                        "operation_id": operation.pk, "action": operation.action, "drift_fix": operation.drift_fix,
                        "features": operation.detector_features,
                        "started_by": operation.created_by.get_username() if operation.created_by_id else "",
                        "created_at": _utc(operation.created_at), "finished_at": _utc(operation.finished_at),
                        "operation_status": operation.status, "outcome": result.outcome, "result": result.result,
                    })  # fmt: skip
    if by_region:
        entries = AuditEntry.objects.filter(verb__in=REGION_FIX_VERBS, target_type="region",
                                            target_id__in=list(by_region), created_at__gte=earliest)  # fmt: skip
        for entry in entries.order_by("created_at", "id"):
            for record in by_region[entry.target_id]:
                if record.first_seen_at <= entry.created_at <= (record.resolved_at or now):
                    found[record.pk].append({"audit_entry_id": entry.pk, "verb": entry.verb, "actor": entry.actor_name,
                                             "at": _utc(entry.created_at), "details": entry.details})  # fmt: skip
    return found


# --- The PDF ----------------------------------------------------------------------------------------------


def evidence_chart(document: dict) -> charts.Chart:
    """Compliance per day over the period (overall, or the scope's total), the PDF's figure."""
    days = document["compliance"]["overall"]
    return charts.line_chart(
        labels=[d["day"][5:] for d in days],
        series=[charts.Series("compliance", "% compliant", [d["percent"] for d in days], "line-resolved")],
        title=f"Compliance with the coverage policies per day, {document['scope']['label']}",
    )


def evidence_pdf_html(document: dict) -> str:
    """The PDF's HTML: the same document, for people (escaped like every page)."""
    per_scope = [{**row, "latest": row["days"][-1] if row["days"] else None,
                  "lowest": min(row["days"], key=lambda d: d["percent"]) if row["days"] else None}
                 for row in document["compliance"]["per_scope"]]  # fmt: skip
    summary: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])  # (policy, kind) -> all, open, fixed
    for deviation in document["deviations"]:
        counts = summary[(deviation["policy"], deviation["kind_label"])]
        counts[0] += 1
        counts[1] += deviation["open_at_end"]
        counts[2] += bool(deviation["fix_runs"])
    context = {"doc": document, "chart": evidence_chart(document), "per_scope": per_scope, "pdf": True,
               "summary": [(policy, kind, *counts) for (policy, kind), counts in sorted(summary.items())],
               "deviations": document["deviations"][:PDF_DEVIATIONS], "shown": PDF_DEVIATIONS}  # fmt: skip
    return render_to_string("reports/evidence_pdf.html", context)
