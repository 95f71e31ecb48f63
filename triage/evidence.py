"""Notes, links and files an analyst attaches to a finding or an entity (docs/evidence-attachments.md).

A target is a finding, or an entity named by (kind, value) as the entity pages name it. On a finding a
note is the timeline's comment (`services.finding_comment_add`); a link or a file is an `Evidence` row and
a timeline event, both written in one transaction. On an entity all three are `Evidence` rows, listed by
the entity page's include. A file's bytes are stored in Postgres in 1 MiB chunks with their SHA-256;
nothing about an upload is trusted but its bytes (the name is cleaned, the type never kept).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.http import Http404
from django.utils import timezone

from findings import selectors as findings_selectors
from findings.entities import KINDS, normalize
from findings.models import Finding, FindingEvent
from guardwatch.core.roles import Role, role_of
from guardwatch.core.scope import scope_for
from guardwatch.core.services import actor_name, actor_user, audit_record
from triage.models import Evidence, EvidenceChunk
from triage.services import TriageError, finding_comment_add

CHUNK_BYTES = 1024 * 1024
FILENAME_MAX = 150
TEXT_MAX = 10_000
URL_MAX = 2000
ENTITY_VALUE_MAX = 255

_UNSAFE_NAME = re.compile(r"[^\w.\- ()+,@=]")


class EvidenceError(TriageError):
    """An attachment the analyst must correct; the message is shown as is and nothing was written."""


@dataclass(frozen=True)
class Target:
    """What evidence is attached to: a finding, or an entity (kind, value)."""

    finding: Finding | None = None
    entity_kind: str = ""
    entity_value: str = ""

    @property
    def filter(self) -> Q:
        if self.finding is not None:
            return Q(finding=self.finding)
        return Q(finding__isnull=True, entity_kind=self.entity_kind, entity_value=self.entity_value)


# --- Reading ---------------------------------------------------------------------------------------------


def finding_target(*, pk: int, user) -> Target:
    """A finding the user may see (404 otherwise) as a target."""
    return Target(finding=findings_selectors.finding_get(pk=pk, user=user))


def entity_target(*, kind: str, value: str, user) -> Target:
    """An entity as a target. An entity spans accounts and teams, so its attachments are for organisation-wide
    people: a team-scoped person gets a 404, as for anything outside their teams."""
    # The entity pages' kinds and spelling (findings.entities), so a value posted by hand names the same entity.
    value = normalize(kind, (value or "").strip()) if kind in KINDS else None
    if not value or len(value) > ENTITY_VALUE_MAX or not value.isprintable():
        raise Http404("No such entity.")
    if scope_for(user) is not None:
        raise Http404("Entity attachments are not within your teams.")
    return Target(entity_kind=kind, entity_value=value)


def evidence_list(*, target: Target) -> list[Evidence]:
    """The target's attachments, oldest first, removed ones included (they say who removed them)."""
    return list(Evidence.objects.filter(target.filter).order_by("added_at", "id"))


def evidence_get(*, pk: int, user) -> Evidence:
    """One attachment the user may see: its finding within their teams, or an entity's for an
    organisation-wide person; 404 for anything else."""
    evidence = Evidence.objects.filter(pk=pk).first()
    if evidence is None:
        raise Http404("No such attachment.")
    if evidence.finding_id is not None:
        findings_selectors.finding_get(pk=evidence.finding_id, user=user)
    elif scope_for(user) is not None:
        raise Http404("No such attachment.")
    return evidence


def evidence_chunks(*, evidence: Evidence):
    """A file's bytes, chunk by chunk, read a chunk at a time (a 10 MB file is never held whole)."""
    numbers = list(evidence.chunks.order_by("number").values_list("number", flat=True))
    for number in numbers:
        yield bytes(EvidenceChunk.objects.values_list("data", flat=True).get(evidence=evidence, number=number))


def finding_event_last(*, finding: Finding, user) -> FindingEvent | None:
    """The newest timeline event `user` wrote on the finding: what their HTMX request just added."""
    return FindingEvent.objects.filter(finding=finding, actor=user).order_by("-id").first()


# --- Cleaning --------------------------------------------------------------------------------------------


def filename_clean(name: str) -> str:
    """A name safe to store, show and send back in Content-Disposition: the last path part only, no control
    characters, CR/LF, quotes, slashes or markup, at most FILENAME_MAX characters (keeping the extension)."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if ch.isprintable())
    name = _UNSAFE_NAME.sub("_", name).strip(" .")
    if len(name) > FILENAME_MAX:
        stem, dot, extension = name.rpartition(".")
        extension = extension[:16] if dot and stem else ""
        name = name[: FILENAME_MAX - len(extension) - 1 if extension else FILENAME_MAX] + (
            f".{extension}" if extension else ""
        )
    return name or "evidence"


def url_clean(url: str) -> str:
    """An http or https URL with a host, or EvidenceError saying why not."""
    url = (url or "").strip()
    if not url:
        raise EvidenceError("A link needs a URL.")
    if len(url) > URL_MAX:
        raise EvidenceError(f"A link is limited to {URL_MAX:,} characters.")
    scheme = urlsplit(url).scheme.lower() if ":" in url else ""
    if scheme not in ("http", "https"):
        raise EvidenceError("Only http:// and https:// links can be attached (not javascript:, data: or file:).")
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise EvidenceError(f"“{url[:200]}” is not a valid web address.") from None
    return url


def _text_clean(text: str, *, required: str = "") -> str:
    text = (text or "").strip()
    if required and not text:
        raise EvidenceError(required)
    if len(text) > TEXT_MAX:
        raise EvidenceError(f"A note or description is limited to {TEXT_MAX:,} characters.")
    return text


# --- Writing ---------------------------------------------------------------------------------------------


def _target_lock(target: Target) -> None:
    """Serialise additions to one target, so two uploads cannot both pass the per-target limits."""
    if target.finding is not None:
        Finding.objects.select_for_update().filter(pk=target.finding.pk).values_list("pk").first()
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext('evidence'), hashtext(%s))",
            [f"{target.entity_kind}:{target.entity_value}"],
        )


def _limits_check(target: Target, *, adding_bytes: int = 0) -> None:
    present = Evidence.objects.filter(target.filter, removed_at__isnull=True).aggregate(
        count=Count("id"), size=Sum("size")
    )
    most = settings.GUARDWATCH_EVIDENCE_MAX_PER_TARGET
    if present["count"] >= most:
        raise EvidenceError(f"This already has {most:,} attachments, the most allowed; remove one first.")
    total = settings.GUARDWATCH_EVIDENCE_MAX_TARGET_BYTES
    if (present["size"] or 0) + adding_bytes > total:
        raise EvidenceError(
            f"Files attached here would total more than {total:,} bytes "
            f"({present['size'] or 0:,} already); remove one first."
        )


def _added(target: Target, evidence: Evidence, *, actor, verb: str) -> None:
    """The timeline event (on a finding) and the audit entry for a new attachment."""
    details = {"evidence_id": evidence.pk, "action": "added", "evidence_kind": evidence.kind, "text": evidence.text}
    if evidence.kind == Evidence.Kind.LINK:
        details["url"] = evidence.url
        sentence = f"Attached the link {evidence.url}"
    elif evidence.kind == Evidence.Kind.FILE:
        details.update(filename=evidence.filename, size=evidence.size, sha256=evidence.sha256)
        sentence = f"Attached the file {evidence.filename} ({evidence.size:,} bytes, SHA-256 {evidence.sha256})"
    else:
        sentence = "Added a note"
    if target.finding is not None:
        FindingEvent.objects.create(
            finding=target.finding,
            kind=FindingEvent.Kind.EVIDENCE,
            actor=evidence.added_by,
            actor_name=evidence.added_by_name,
            created_at=evidence.added_at,
            # The sentence is what the API's timeline and any plain rendering show; the page reads `details`.
            body=f"{sentence}: {evidence.text}" if evidence.text else sentence,
            details=details,
        )
    audit_record(actor=actor, verb=verb, target=evidence, details={**_target_details(target), **details})


def _target_details(target: Target) -> dict:
    if target.finding is not None:
        return {"finding": target.finding.pk}
    return {"entity_kind": target.entity_kind, "entity_value": target.entity_value}


def _new(target: Target, *, actor, kind: str, **fields) -> Evidence:
    return Evidence(
        finding=target.finding,
        entity_kind=target.entity_kind,
        entity_value=target.entity_value,
        kind=kind,
        added_by=actor_user(actor),
        added_by_name=actor_name(actor)[:150],
        added_at=timezone.now(),
        **fields,
    )


def evidence_note_add(*, target: Target, text: str, actor) -> None:
    """A plain-text note: the finding's comment, or an entity's note."""
    text = _text_clean(text, required="A note cannot be empty.")
    if target.finding is not None:
        finding_comment_add(finding=target.finding, body=text, actor=actor)
        return
    with transaction.atomic():
        _target_lock(target)
        _limits_check(target)
        evidence = _new(target, actor=actor, kind=Evidence.Kind.NOTE, text=text)
        evidence.save()
        _added(target, evidence, actor=actor, verb="evidence.note")


def evidence_link_add(*, target: Target, url: str, text: str = "", actor) -> Evidence:
    """An http(s) link, with an optional description."""
    url, text = url_clean(url), _text_clean(text)
    with transaction.atomic():
        _target_lock(target)
        _limits_check(target)
        evidence = _new(target, actor=actor, kind=Evidence.Kind.LINK, url=url, text=text)
        evidence.save()
        _added(target, evidence, actor=actor, verb="evidence.link")
    return evidence


def evidence_file_add(*, target: Target, upload, text: str = "", actor) -> Evidence:
    """A file, stored in chunks with its SHA-256; refused whole (nothing written) when empty or too large.

    `upload` is Django's UploadedFile: its name is cleaned, its content type ignored.
    """
    if upload is None:
        raise EvidenceError("Choose a file to attach.")
    text = _text_clean(text)
    limit = settings.GUARDWATCH_EVIDENCE_MAX_FILE_BYTES
    if not upload.size:
        raise EvidenceError("The file is empty; there is nothing to attach.")
    if upload.size > limit:
        raise EvidenceError(f"The file is {upload.size:,} bytes; a file can be at most {limit:,} bytes.")
    with transaction.atomic():
        _target_lock(target)
        _limits_check(target, adding_bytes=upload.size)
        evidence = _new(target, actor=actor, kind=Evidence.Kind.FILE, filename=filename_clean(upload.name), text=text)
        evidence.save()
        digest, size = hashlib.sha256(), 0
        upload.seek(0)
        # read() in pieces, not chunks(): an in-memory upload's chunks() is one piece whatever the size asked.
        for number, piece in enumerate(iter(lambda: upload.read(CHUNK_BYTES), b"")):
            size += len(piece)
            if size > limit:  # the declared size was wrong: refuse, and the transaction drops what was written
                raise EvidenceError(f"The file is over {limit:,} bytes; a file can be at most {limit:,} bytes.")
            digest.update(piece)
            EvidenceChunk.objects.create(evidence=evidence, number=number, data=piece)
        if not size:
            raise EvidenceError("The file is empty; there is nothing to attach.")
        evidence.size, evidence.sha256 = size, digest.hexdigest()
        evidence.save(update_fields=["size", "sha256"])
        _added(target, evidence, actor=actor, verb="evidence.file")
    return evidence


def evidence_may_remove(*, evidence: Evidence, user) -> bool:
    """The person who added it (while they may still triage), or an Admin."""
    if evidence.removed_at is not None or not user.has_perm("core.triage_findings"):
        return False
    return evidence.added_by_id == user.pk or role_of(user) == Role.ADMIN


def evidence_remove(*, evidence: Evidence, actor) -> Evidence:
    """Mark an attachment removed (who, when) and drop a file's bytes, keeping who added it, its name and
    SHA-256; the finding's timeline and the audit log say so."""
    if not evidence_may_remove(evidence=evidence, user=actor):
        raise EvidenceError("Only the person who attached this, or an Admin, can remove it.")
    with transaction.atomic():
        locked = Evidence.objects.select_for_update().get(pk=evidence.pk)
        if locked.removed_at is not None:
            raise EvidenceError("This attachment was already removed.")
        locked.removed_at, locked.removed_by_name = timezone.now(), actor_name(actor)[:150]
        locked.save(update_fields=["removed_at", "removed_by_name"])
        EvidenceChunk.objects.filter(evidence=locked).delete()
        details = {
            "evidence_id": locked.pk, "action": "removed", "evidence_kind": locked.kind,
            "filename": locked.filename, "sha256": locked.sha256,
        }  # fmt: skip
        if locked.finding_id is not None:
            FindingEvent.objects.create(
                finding_id=locked.finding_id,
                kind=FindingEvent.Kind.EVIDENCE,
                actor=actor_user(actor),
                actor_name=locked.removed_by_name,
                created_at=locked.removed_at,
                body=f"Removed the {locked.kind}" + (f" {locked.filename}" if locked.filename else ""),
                details=details,
            )
        audit_record(actor=actor, verb="evidence.remove", target=locked, details=details)
    return locked
