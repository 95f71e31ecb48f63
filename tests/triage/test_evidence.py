"""Evidence: an analyst attaches notes, links and files to a finding or an entity; files are bounded, stored
in Postgres with their SHA-256 and only ever handed back as opaque downloads; removal stays on the record."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from findings.models import FindingEvent
from guardwatch.core.models import AuditEntry
from guardwatch.core.roles import Role
from guardwatch.core.services import user_create
from tests.triage.support import store_findings
from triage.evidence import filename_clean
from triage.models import Evidence, EvidenceChunk

pytestmark = pytest.mark.django_db

PRINCIPAL = "arn:aws:iam::123456789012:user/mallory"


@pytest.fixture
def finding():
    return store_findings(1, seed=41)[0]


def _upload(name: str, content: bytes, content_type: str = "text/html") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def _attach_file(client, finding, name="capture.pcap", content=b"\xd4\xc3\xb2\xa1 packets", follow=False, **extra):
    return client.post(
        f"/findings/{finding.pk}/evidence/", {"kind": "file", "file": _upload(name, content), **extra}, follow=follow
    )


def _download(client, evidence: Evidence):
    return client.get(f"/findings/evidence/{evidence.pk}/download/")


# --- Each kind --------------------------------------------------------------------------------------------


def test_analyst_adds_a_note_and_it_is_the_findings_comment_in_the_timeline(client_for, finding):
    client = client_for("analyst")
    response = client.post(f"/findings/{finding.pk}/evidence/", {"kind": "note", "text": "Checked with <b>ops</b>"})
    assert response.status_code == 302
    event = FindingEvent.objects.get(finding=finding, kind="comment")
    assert (event.body, event.actor_name) == ("Checked with <b>ops</b>", "analyst")
    page = client.get(f"/findings/{finding.pk}/").content.decode()
    assert "Checked with &lt;b&gt;ops&lt;/b&gt;" in page and "<b>ops</b>" not in page
    assert not Evidence.objects.exists()  # a finding's note is its comment, not a second copy


def test_analyst_adds_a_link_shown_in_full_opened_without_opener_or_referrer(client_for, finding):
    client = client_for("analyst")
    url = "https://intel.example.com/report?id=42&x=<y>"
    client.post(f"/findings/{finding.pk}/evidence/", {"kind": "link", "url": url, "text": "vendor report"})
    link = Evidence.objects.get(finding=finding)
    assert (link.kind, link.url, link.text, link.added_by_name) == ("link", url, "vendor report", "analyst")
    page = client.get(f"/findings/{finding.pk}/").content.decode()
    shown = 'href="https://intel.example.com/report?id=42&amp;x=&lt;y&gt;" rel="noopener noreferrer nofollow" target="_blank"'
    assert shown in page
    assert ">https://intel.example.com/report?id=42&amp;x=&lt;y&gt;</a>" in page  # the whole URL, as text
    event = FindingEvent.objects.get(finding=finding, kind="evidence")
    assert event.details["url"] == url and event.details["text"] == "vendor report"
    assert event.body == f"Attached the link {url}: vendor report"  # what the API's timeline shows
    assert "vendor report" in page


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)",
                                 "data:text/html,<script>alert(1)</script>", "file:///etc/passwd",
                                 "ftp://example.com/x", "//example.com/x", "https://", "not a url"])  # fmt: skip
def test_a_link_that_is_not_http_or_https_is_refused_and_nothing_is_written(client_for, finding, url):
    response = client_for("analyst").post(
        f"/findings/{finding.pk}/evidence/", {"kind": "link", "url": url}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert 'data-testid="evidence-error"' in response.content.decode()
    assert not Evidence.objects.exists()
    assert not FindingEvent.objects.filter(finding=finding).exists()


def test_analyst_attaches_a_file_with_its_sha256_and_downloads_the_same_bytes(client_for, finding):
    client = client_for("analyst")
    content = bytes(range(256)) * 5000  # 1.28 MB: two chunks
    response = _attach_file(client, finding, name="memory.dmp", content=content, text="from the instance")
    assert response.status_code == 302
    stored = Evidence.objects.get(finding=finding)
    digest = hashlib.sha256(content).hexdigest()
    assert (stored.filename, stored.size, stored.sha256) == ("memory.dmp", len(content), digest)
    assert EvidenceChunk.objects.filter(evidence=stored).count() == 2
    assert digest in client.get(f"/findings/{finding.pk}/").content.decode()
    download = _download(client, stored)
    assert b"".join(download.streaming_content) == content
    event = FindingEvent.objects.get(finding=finding, kind="evidence")
    assert event.details == {"evidence_id": stored.pk, "action": "added", "evidence_kind": "file",
                             "text": "from the instance", "filename": "memory.dmp", "size": len(content),
                             "sha256": digest}  # fmt: skip
    assert AuditEntry.objects.filter(verb="evidence.file", target_id=str(stored.pk)).exists()


def test_a_download_is_an_opaque_sandboxed_attachment_whatever_the_upload_claimed(client_for, finding):
    client = client_for("analyst")
    client.post(f"/findings/{finding.pk}/evidence/",
                {"kind": "file", "file": _upload("page.html", b"<script>alert(1)</script>", "text/html")})  # fmt: skip
    response = _download(client, Evidence.objects.get())
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="page.html"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Evidence-SHA256"] == Evidence.objects.get().sha256
    assert "default-src 'none'" in response["Content-Security-Policy"]


@pytest.mark.parametrize(("name", "expected"), [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
    ("<script>alert(1).html", "_script_alert(1).html"),
    ("<b>bold</b>.html", "b_.html"),  # "/" is a path separator, wherever it is: only the last part is kept
    ("report\r\nSet-Cookie: a=b.txt", "reportSet-Cookie_ a=b.txt"),
    ('quote".txt', "quote_.txt"),
    ("...", "evidence"),
    ("", "evidence"),
    ("a" * 300 + ".pcap", "a" * 145 + ".pcap"),
])  # fmt: skip
def test_a_hostile_filename_is_cleaned_before_it_is_stored_or_sent(name, expected):
    assert filename_clean(name) == expected


def test_a_hostile_filename_never_reaches_a_header_or_the_page_raw(client_for, finding):
    client = client_for("analyst")
    _attach_file(client, finding, name="../../<img src=x onerror=alert(1)>\r\nX-Evil: 1.txt")
    stored = Evidence.objects.get()
    assert "/" not in stored.filename and "<" not in stored.filename and "\n" not in stored.filename
    response = _download(client, stored)
    assert "\n" not in response["Content-Disposition"] and "X-Evil" not in response.headers
    assert "<img" not in client.get(f"/findings/{finding.pk}/").content.decode()


# --- Limits -------------------------------------------------------------------------------------------------


def test_an_empty_file_is_refused_with_a_clear_message(client_for, finding):
    response = client_for("analyst").post(
        f"/findings/{finding.pk}/evidence/", {"kind": "file", "file": _upload("empty.txt", b"")}, follow=True
    )
    assert "The file is empty" in response.content.decode()
    assert not Evidence.objects.exists()


def test_a_file_over_the_limit_is_refused_and_nothing_is_written(client_for, finding, settings):
    settings.GUARDWATCH_EVIDENCE_MAX_FILE_BYTES = 4096
    response = _attach_file(client_for("analyst"), finding, content=b"x" * 4097, follow=True)
    assert "a file can be at most 4,096 bytes" in response.content.decode()
    assert not Evidence.objects.exists() and not EvidenceChunk.objects.exists()
    assert not FindingEvent.objects.filter(finding=finding).exists()


def test_a_file_larger_than_the_general_request_limit_but_within_the_evidence_limit_is_accepted(
    client_for, finding, settings
):
    settings.GUARDWATCH_MAX_REQUEST_BYTES = 64 * 1024
    content = b"y" * (200 * 1024)
    assert _attach_file(client_for("analyst"), finding, content=content).status_code == 302
    assert Evidence.objects.get().size == len(content)


def test_a_body_larger_than_the_evidence_limit_is_refused_before_it_is_read(client_for, finding, settings):
    settings.GUARDWATCH_EVIDENCE_MAX_FILE_BYTES = 64 * 1024
    settings.GUARDWATCH_MAX_REQUEST_BYTES = 64 * 1024
    response = _attach_file(client_for("analyst"), finding, content=b"z" * (256 * 1024))
    assert response.status_code == 413
    assert "GuardWatch accepts at most 131,072 bytes in one request" in response.content.decode()
    assert "CSV" not in response.content.decode()
    assert not Evidence.objects.exists()


def test_files_on_one_finding_are_capped_in_total(client_for, finding, settings):
    settings.GUARDWATCH_EVIDENCE_MAX_TARGET_BYTES = 3000
    client = client_for("analyst")
    _attach_file(client, finding, name="one.bin", content=b"1" * 2000)
    response = _attach_file(client, finding, name="two.bin", content=b"2" * 1001, follow=True)
    assert "would total more than 3,000 bytes" in response.content.decode()
    assert list(Evidence.objects.values_list("filename", flat=True)) == ["one.bin"]


def test_attachments_on_one_finding_are_capped_in_number(client_for, finding, settings):
    settings.GUARDWATCH_EVIDENCE_MAX_PER_TARGET = 2
    client = client_for("analyst")
    for index in range(3):
        response = client.post(f"/findings/{finding.pk}/evidence/",
                               {"kind": "link", "url": f"https://example.com/{index}"}, follow=True)  # fmt: skip
    assert "already has 2 attachments" in response.content.decode()
    assert Evidence.objects.count() == 2


# --- Who may -------------------------------------------------------------------------------------------------


def test_a_manager_reads_and_downloads_evidence_but_cannot_add_or_remove(client_for, finding):
    _attach_file(client_for("analyst"), finding)
    stored = Evidence.objects.get()
    manager = client_for("manager")
    page = manager.get(f"/findings/{finding.pk}/").content.decode()
    assert stored.sha256 in page and 'data-testid="evidence-file-form"' not in page
    assert _download(manager, stored).status_code == 200
    assert _attach_file(manager, finding).status_code == 403
    assert manager.post(f"/findings/evidence/{stored.pk}/remove/").status_code == 403


def test_another_analyst_cannot_remove_what_someone_else_attached(client_for, finding):
    _attach_file(client_for("analyst"), finding)
    stored = Evidence.objects.get()
    colleague = Client()
    colleague.force_login(user_create(username="colleague", role=Role.ANALYST, password="x" * 20, validate=False))
    response = colleague.post(f"/findings/evidence/{stored.pk}/remove/", follow=True)
    assert "Only the person who attached this, or an Admin" in response.content.decode()
    stored.refresh_from_db()
    assert stored.removed_at is None and EvidenceChunk.objects.filter(evidence=stored).exists()


def test_an_admin_removes_a_file_and_the_timeline_and_audit_say_who_removed_it(client_for, finding):
    _attach_file(client_for("analyst"), finding, name="creds.txt")
    stored = Evidence.objects.get()
    admin = client_for("admin")
    assert admin.post(f"/findings/evidence/{stored.pk}/remove/").status_code == 302
    stored.refresh_from_db()
    assert stored.removed_by_name == "admin" and stored.removed_at is not None
    assert stored.sha256 and stored.filename == "creds.txt"  # the record of what it was stays
    assert not EvidenceChunk.objects.filter(evidence=stored).exists()  # the bytes do not
    assert _download(admin, stored).status_code == 404
    removal = FindingEvent.objects.filter(finding=finding, kind="evidence").order_by("id").last()
    assert (removal.details["action"], removal.actor_name) == ("removed", "admin")
    assert AuditEntry.objects.filter(verb="evidence.remove", actor_name="admin", target_id=str(stored.pk)).exists()
    page = admin.get(f"/findings/{finding.pk}/").content.decode()
    assert "removed by admin" in page and "removed the file creds.txt" in page


def test_the_uploader_removes_their_own_link(client_for, finding):
    client = client_for("analyst")
    client.post(f"/findings/{finding.pk}/evidence/", {"kind": "link", "url": "https://example.com/x"})
    link = Evidence.objects.get()
    assert client.post(f"/findings/evidence/{link.pk}/remove/").status_code == 302
    link.refresh_from_db()
    assert link.removed_by_name == "analyst"


# --- HTMX ------------------------------------------------------------------------------------------------------


def test_htmx_adds_a_link_and_appends_it_to_the_timeline_without_a_reload(client_for, finding):
    response = client_for("analyst").post(
        f"/findings/{finding.pk}/evidence/", {"kind": "link", "url": "https://example.com/<x>"},
        headers={"HX-Request": "true"},
    )
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert 'id="evidence-panel"' in body
    assert 'hx-swap-oob="beforeend:ol.timeline"' in body
    assert "attached the link" in body and "https://example.com/&lt;x&gt;" in body


# --- Entities -----------------------------------------------------------------------------------------------------


def test_analyst_attaches_a_note_a_link_and_a_file_to_an_entity(client_for):
    client = client_for("analyst")
    add = "/findings/entity/principal/evidence/add/"
    client.post(add, {"v": PRINCIPAL, "kind": "note", "text": "Known contractor <b>key</b>"})
    client.post(add, {"v": PRINCIPAL, "kind": "link", "url": "https://wiki.example.com/mallory"})
    client.post(add, {"v": PRINCIPAL, "kind": "file", "file": _upload("trail.json", b"{}")})
    rows = list(Evidence.objects.order_by("id").values_list("kind", "entity_kind", "entity_value", "finding"))
    assert rows == [("note", "principal", PRINCIPAL, None), ("link", "principal", PRINCIPAL, None),
                    ("file", "principal", PRINCIPAL, None)]  # fmt: skip
    panel = client.get("/findings/entity/principal/evidence/", {"v": PRINCIPAL}, headers={"HX-Request": "true"})
    body = panel.content.decode()
    assert "Known contractor &lt;b&gt;key&lt;/b&gt;" in body and "https://wiki.example.com/mallory" in body
    assert "trail.json" in body and "<html" not in body
    assert AuditEntry.objects.filter(verb="evidence.note").exists()
    assert not FindingEvent.objects.exists()


def test_an_entity_of_an_unknown_kind_or_without_a_value_is_a_404(client_for):
    client = client_for("analyst")
    assert client.get("/findings/entity/planet/evidence/", {"v": "mars"}).status_code == 404
    assert client.get("/findings/entity/ip/evidence/").status_code == 404
    assert client.post("/findings/entity/ip/evidence/add/", {"v": "x" * 256, "kind": "note",
                       "text": "n"}).status_code == 404  # fmt: skip


def test_an_attachment_has_exactly_one_target(finding):
    from django.db import IntegrityError, transaction
    from django.utils import timezone

    for fields in ({"finding": finding, "entity_kind": "ip", "entity_value": "192.0.2.1"}, {}):
        with pytest.raises(IntegrityError), transaction.atomic():
            Evidence.objects.create(kind="note", text="x", added_at=timezone.now(), **fields)


def test_the_entity_page_include_shows_the_panel_to_an_organisation_wide_analyst_only(analyst, finding):
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    from accounts.models import ScopedUser
    from guardwatch.core.scope import scope_forget
    from triage.evidence_views import entity_panel_context

    request = RequestFactory().get("/")
    request.user = analyst
    context = entity_panel_context(kind="ip", value="192.0.2.10", user=analyst)
    assert 'data-testid="evidence"' in render_to_string("triage/_evidence.html", context, request=request)
    ScopedUser.objects.create(user=analyst)
    scope_forget(analyst)
    assert entity_panel_context(kind="ip", value="192.0.2.10", user=analyst) == {}
    assert render_to_string("triage/_evidence.html", {}, request=request).strip() == ""


def test_the_api_timeline_says_what_was_attached_and_removed(client_for, finding):
    from api.services import api_token_create

    client = client_for("analyst")
    _attach_file(client, finding, name="trace.log", content=b"abc")
    client.post(f"/findings/evidence/{Evidence.objects.get().pk}/remove/")
    token = api_token_create(name="t", kind="personal", role="Analyst", days=1,
                             actor=Evidence.objects.get().added_by)[1]  # fmt: skip
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    texts = [entry["text"] for entry in api.get(f"/api/v1/findings/{finding.pk}/timeline/").json()
             if entry["kind"] == "evidence"]  # fmt: skip
    digest = hashlib.sha256(b"abc").hexdigest()
    assert texts == [f"Attached the file trace.log (3 bytes, SHA-256 {digest})", "Removed the file trace.log"]


def test_an_entitys_evidence_page_names_the_entity_escaped(client_for):
    page = client_for("manager").get("/findings/entity/domain/evidence/", {"v": "<i>evil</i>.example"})
    body = page.content.decode()
    assert page.status_code == 200 and "<html" in body
    assert "&lt;i&gt;evil&lt;/i&gt;.example" in body and "<i>evil</i>" not in body
    assert 'data-testid="evidence-note-form"' not in body  # a Manager reads only


@pytest.mark.django_db(transaction=True)
def test_an_addition_waits_for_another_on_the_same_finding_so_both_cannot_slip_under_the_limits(analyst):
    """The per-finding limits are read under a lock on the finding's row, as every addition takes it: while
    another transaction holds a lock on the row (FOR NO KEY UPDATE, which the foreign-key check alone would
    not wait for), an addition waits (here: gives up after lock_timeout) and writes nothing."""
    import threading

    from django.db import OperationalError, connection, transaction

    from findings.models import Finding
    from triage.evidence import Target, evidence_link_add

    finding = store_findings(1, seed=47)[0]
    held, release = threading.Event(), threading.Event()

    def other_request():
        with transaction.atomic():
            Finding.objects.select_for_update(no_key=True).get(pk=finding.pk)
            held.set()
            release.wait(timeout=30)
        connection.close()

    worker = threading.Thread(target=other_request)
    worker.start()
    try:
        assert held.wait(timeout=30)
        with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '200ms'")
            evidence_link_add(target=Target(finding=finding), url="https://example.com/", actor=analyst)
    finally:
        release.set()
        worker.join()
    assert not Evidence.objects.exists()
