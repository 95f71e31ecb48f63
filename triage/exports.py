"""Findings exports: the text of an export (shared by the streamed download and the background job), and
the background job's services and selectors.

A big export does not belong in a web thread: formatting 700,000 rows takes the CPU the people paging
beside it need. "Export" on the list creates a `FindingExport`; a worker on its own low-priority queue
(`exports`, docs/operations.md) writes it into PostgreSQL as one gzip stream in ~1 MB pieces, and any
web machine serves it: as stored to a client that accepts gzip, decompressed on the fly otherwise.
The direct streamed download (`export.csv`) stays for scripts, under its own caps.
"""

from __future__ import annotations

import csv
import io
import json
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from time import sleep

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.http import Http404, QueryDict
from django.utils import timezone

from guardwatch.core.csv_export import csv_cell
from guardwatch.core.db.locks import advisory_lock, lock_is_free
from guardwatch.core.queue import task_send_on_commit
from triage import selectors
from triage.filters import FindingFilters, filter_query
from triage.models import FindingExport, FindingExportChunk

EXPORT_LOCK_CLASS = 0x67774578  # "gwEx": first key of the advisory lock a running export holds
EXPORT_CHUNK_CHARS = 1024 * 1024  # text per stored piece (compressed to roughly a tenth)
EXPORT_GZIP_LEVEL = 6
# Keyset pages of the job: shorter than the streamed download's, because the PostgreSQL backend answering
# them is not niced like the worker: each page is a short burst the analysts' queries wait behind.
EXPORT_JOB_PAGE = 1_000
EXPORT_QUEUED_GRACE_SECONDS = 600  # a queued export older than this lost its message (or waits behind others)
EXPORT_HISTORY_DAYS = 7  # finished exports stay listed (without their file) this long


ONE_PER_PERSON = (
    "You already have an export queued or running. Wait for it to finish (or cancel it), then export again."
)


class ExportRefused(ValueError):
    """An export that may not start now; the message says what to do (shown as is)."""


class ExportCancelled(Exception):
    """Raised inside the writer when the owner cancelled the export it is writing."""


# --- The text ------------------------------------------------------------------------------------------


class RowCounter:
    """Passes rows through and counts them (a piece of text holds every row counted before it)."""

    def __init__(self, rows: Iterable[dict]):
        self.rows, self.count = rows, 0

    def __iter__(self) -> Iterator[dict]:
        for row in self.rows:
            self.count += 1
            yield row


def export_pieces(rows: Iterable[dict], *, fmt: str, piece_chars: int, pause: float = 0.0) -> Iterator[str]:
    """The export's text in pieces of about `piece_chars`: the first row at once (the first byte of a
    streamed download is not held back), then whole pieces. After each piece, `pause` seconds let the
    web process's other threads run (0 in a worker)."""
    buffer = io.StringIO()
    if fmt == "csv":
        writer = csv.writer(buffer)
        header = None
        for row in rows:
            if header is None:
                header = list(row)
                writer.writerow(header)
                writer.writerow([csv_cell(row[k]) for k in header])
                yield _take(buffer)
                continue
            writer.writerow([csv_cell(row[k]) for k in header])
            if buffer.tell() >= piece_chars:
                yield _take(buffer)
                if pause:
                    sleep(pause)  # yield the GIL to this process's other requests
    else:
        buffer.write("[")
        first = True
        for row in rows:
            buffer.write(("" if first else ",\n") + json.dumps(row, ensure_ascii=False))
            if first or buffer.tell() >= piece_chars:
                first = False
                yield _take(buffer)
                if pause:
                    sleep(pause)
        buffer.write("]\n")
    if buffer.tell():
        yield _take(buffer)


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


# --- Selectors ---------------------------------------------------------------------------------------


def finding_export_get(*, user, pk: int) -> FindingExport:
    """The person's own export (another person's, whatever their role or team, is a 404)."""
    export = FindingExport.objects.filter(pk=pk, owner=user).first()
    if export is None:
        raise Http404("No such export.")
    return export


def finding_export_list(*, user) -> list[FindingExport]:
    return list(FindingExport.objects.filter(owner=user)[:50])


def finding_export_chunks(*, export: FindingExport) -> Iterator[bytes]:
    """The stored gzip stream in order, one piece (one query) at a time: memory holds one piece."""
    seqs = list(
        FindingExportChunk.objects.filter(export=export).order_by("seq").values_list("seq", flat=True)
    )
    for seq in seqs:
        data = (
            FindingExportChunk.objects.filter(export=export, seq=seq).values_list("data", flat=True).first()
        )
        if data is None:  # expired (deleted) while the download ran: the file ends short of its length
            return
        yield bytes(data)


def finding_export_text(*, export: FindingExport) -> Iterator[bytes]:
    """The export decompressed on the fly (for a client that does not accept gzip)."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    for piece in finding_export_chunks(export=export):
        text = decompressor.decompress(piece)
        if text:
            yield text
    rest = decompressor.flush()
    if rest:
        yield rest


# --- Services --------------------------------------------------------------------------------------


def finding_export_create(*, owner, query: str, fmt: str = "csv") -> FindingExport:
    """Queue an export of the filter `query` for `owner`: one queued or running per person, and at most
    GUARDWATCH_EXPORTS_MAX queued or running in all (ExportRefused says which, and what to do)."""
    if fmt not in FindingExport.Format.values:
        raise ExportRefused(f"No export format {fmt!r}: choose CSV or JSON.")
    query = filter_query(QueryDict(query or ""))  # the filter only (no sort, page or size)
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":  # creations one at a time, so the global count holds
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s, 0)", [EXPORT_LOCK_CLASS])
            if FindingExport.objects.filter(owner=owner, status__in=FindingExport.ACTIVE).exists():
                raise ExportRefused(ONE_PER_PERSON)
            active = FindingExport.objects.filter(status__in=FindingExport.ACTIVE).count()
            if active >= settings.GUARDWATCH_EXPORTS_MAX:
                raise ExportRefused(
                    f"{active} exports are already queued or running, the most GuardWatch runs at once. "
                    "Try again in a few minutes."
                )
            export = FindingExport.objects.create(owner=owner, query=query, format=fmt)
            task_send_on_commit("triage.tasks.finding_export_run", export.pk)
    except IntegrityError as error:  # the per-person constraint: another request of theirs got there first
        raise ExportRefused(ONE_PER_PERSON) from error
    return export


def finding_export_cancel(*, export: FindingExport) -> bool:
    """Cancel a queued or running export (its worker stops at its next piece); False if it had ended."""
    with transaction.atomic():
        cancelled = FindingExport.objects.filter(pk=export.pk, status__in=FindingExport.ACTIVE).update(
            status=FindingExport.Status.CANCELLED, finished_at=timezone.now()
        )
        if cancelled:
            FindingExportChunk.objects.filter(export_id=export.pk).delete()
    return bool(cancelled)


def finding_export_run(*, export_id: int) -> FindingExport | None:
    """The Celery task's body: claim the export and write it; None when another run holds it or it ended.

    The running worker holds an advisory lock for the export: a duplicate message finds it held and does
    nothing. A worker process killed mid-way leaves it free: the message Celery gives back (acks_late)
    finds the export RUNNING and starts it over (its pieces deleted first); when no message comes back
    (the whole worker is gone), the watchdog marks it failed (`finding_exports_recover`).
    """
    with advisory_lock(EXPORT_LOCK_CLASS, export_id) as held:
        if not held:
            return None
        claimable = [FindingExport.Status.QUEUED]
        if connection.vendor == "postgresql":
            claimable.append(FindingExport.Status.RUNNING)
        with transaction.atomic():
            claimed = FindingExport.objects.filter(pk=export_id, status__in=claimable).update(
                status=FindingExport.Status.RUNNING, started_at=timezone.now(), rows_written=0, bytes_written=0,
                bytes_stored=0, error="",
            )  # fmt: skip
            if not claimed:
                return None
            FindingExportChunk.objects.filter(export_id=export_id).delete()
        export = FindingExport.objects.select_related("owner").get(pk=export_id)
        try:
            _export_write(export)
        except ExportCancelled:
            FindingExportChunk.objects.filter(export_id=export_id).delete()
        except Exception as error:
            with transaction.atomic():
                FindingExport.objects.filter(pk=export_id, status=FindingExport.Status.RUNNING).update(
                    status=FindingExport.Status.FAILED, finished_at=timezone.now(),
                    error=f"The export stopped: {str(error)[:500]}. Export again; if it fails again, narrow the "
                    "filter or tell an administrator.",
                )  # fmt: skip
                FindingExportChunk.objects.filter(export_id=export_id).delete()
            raise
        export.refresh_from_db()
        return export


@dataclass
class _Progress:
    seq: int = 0
    rows: int = 0
    text_bytes: int = 0
    stored_bytes: int = 0


def export_database_pace(seconds: float) -> None:
    """After each keyset page, wait so the export's queries use at most GUARDWATCH_EXPORT_DB_SHARE percent of
    one PostgreSQL core: the backend answering them is not niced like the worker, and on a busy box each
    page also evicts the analysts' cached pages (measured in docs/benchmarks.md, "Load")."""
    share = settings.GUARDWATCH_EXPORT_DB_SHARE
    if share < 100:
        time.sleep(seconds * (100 - share) / share)


def _export_write(export: FindingExport) -> None:
    filters = FindingFilters.from_query(QueryDict(export.query))
    rows = RowCounter(
        selectors.findings_export_rows(
            filters=filters, user=export.owner, first_page=EXPORT_JOB_PAGE, page=EXPORT_JOB_PAGE,
            after_page=export_database_pace,
        )
    )
    compressor = zlib.compressobj(EXPORT_GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # one gzip stream
    progress = _Progress()
    pending: list[str] = []
    pending_chars = 0
    for text in export_pieces(rows, fmt=export.format, piece_chars=EXPORT_CHUNK_CHARS):
        pending.append(text)
        pending_chars += len(text)
        if pending_chars >= EXPORT_CHUNK_CHARS:
            data = "".join(pending).encode()
            # A sync flush ends each piece on a byte boundary: the pieces concatenate into one stream.
            _piece_store(export, progress, data, compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH),
                         rows=rows.count)  # fmt: skip
            pending, pending_chars = [], 0
    data = "".join(pending).encode()
    _piece_store(
        export, progress, data, compressor.compress(data) + compressor.flush(zlib.Z_FINISH), rows=rows.count
    )
    with transaction.atomic():
        finished = FindingExport.objects.filter(pk=export.pk, status=FindingExport.Status.RUNNING).update(
            status=FindingExport.Status.DONE, finished_at=timezone.now()
        )
        if not finished:
            raise ExportCancelled(f"Export {export.pk} was cancelled.")


def _piece_store(export: FindingExport, progress: _Progress, text: bytes, piece: bytes, *, rows: int) -> None:
    """Store one piece and the progress with it; a cancelled export stops here (its row no longer RUNNING)."""
    progress.rows = rows
    progress.text_bytes += len(text)
    progress.stored_bytes += len(piece)
    with transaction.atomic():
        running = FindingExport.objects.filter(pk=export.pk, status=FindingExport.Status.RUNNING).update(
            rows_written=progress.rows, bytes_written=progress.text_bytes, bytes_stored=progress.stored_bytes
        )
        if not running:
            raise ExportCancelled(f"Export {export.pk} was cancelled.")
        FindingExportChunk.objects.create(export_id=export.pk, seq=progress.seq, data=piece)
    progress.seq += 1


def finding_exports_expire(*, now=None) -> dict:
    """Beat: files older than GUARDWATCH_EXPORT_KEEP_HOURS are deleted (the export shows Expired), and
    exports that ended more than EXPORT_HISTORY_DAYS ago leave the list."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.GUARDWATCH_EXPORT_KEEP_HOURS)
    expired_ids = list(
        FindingExport.objects.filter(status=FindingExport.Status.DONE, finished_at__lt=cutoff).values_list(
            "pk", flat=True
        )
    )
    with transaction.atomic():
        FindingExportChunk.objects.filter(export_id__in=expired_ids).delete()
        FindingExport.objects.filter(pk__in=expired_ids, status=FindingExport.Status.DONE).update(
            status=FindingExport.Status.EXPIRED
        )
    forgotten, _ = (
        FindingExport.objects.filter(finished_at__lt=now - timedelta(days=EXPORT_HISTORY_DAYS))
        .exclude(status__in=FindingExport.ACTIVE)
        .delete()
    )
    return {"expired": len(expired_ids), "deleted": forgotten}


def finding_exports_recover(*, now=None) -> dict:
    """The watchdog. An export whose worker died (RUNNING with its lock free: killed, out of memory, past
    its time limit) fails with a message saying to export again; it is not queued again, since whatever
    killed it would kill it again, round after round. An export QUEUED longer than
    EXPORT_QUEUED_GRACE_SECONDS lost its message (or waits behind others): it is queued again (a duplicate
    message finds it claimed and does nothing). Returns the ids of each."""
    now = now or timezone.now()
    dead = [
        pk
        for pk in FindingExport.objects.filter(status=FindingExport.Status.RUNNING).values_list(
            "pk", flat=True
        )
        if lock_is_free(EXPORT_LOCK_CLASS, pk)
    ]
    for pk in dead:
        with transaction.atomic():
            FindingExport.objects.filter(pk=pk, status=FindingExport.Status.RUNNING).update(
                status=FindingExport.Status.FAILED, finished_at=now,
                error="The export stopped when its worker did (restarted, out of memory or past its time "
                "limit). Export again; if it stops again, narrow the filter or tell an administrator.",
            )  # fmt: skip
            FindingExportChunk.objects.filter(export_id=pk).delete()
    stale = now - timedelta(seconds=EXPORT_QUEUED_GRACE_SECONDS)
    requeued = list(
        FindingExport.objects.filter(status=FindingExport.Status.QUEUED, created_at__lt=stale).values_list(
            "pk", flat=True
        )
    )
    for pk in requeued:
        task_send_on_commit("triage.tasks.finding_export_run", pk)
    return {"failed": sorted(dead), "requeued": sorted(requeued)}
