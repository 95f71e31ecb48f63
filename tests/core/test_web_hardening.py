"""The web layer's guard rails: permissions on every view, safe back links, templates CSP accepts."""

import re
from pathlib import Path

import pytest
from django.template.loader import render_to_string
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from guardwatch.core import charts
from guardwatch.core.csv_export import csv_cell
from guardwatch.core.models import Alert
from guardwatch.core.services import alert_raise

pytestmark = pytest.mark.django_db
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

# Views that deliberately carry no `@requires`: every signed-in person's dashboard, the sign-in pages,
# the load balancer's probe, EventBridge's API-key endpoint, Prometheus's token/allowlist endpoint, Django's own
# admin (staff only), the API's documentation (signed in or a token; it describes the API and holds no data); and
# allauth's pages under /auth/ (single sign-on's callbacks, each person's own second factor), which are signing in
# or about the signed-in person only.
WITHOUT_ROLE_CHECK = {"reports:dashboard", "login", "logout", "healthz", "ingest_eventbridge", "metrics", "api:docs",
                      # Jira and ticket-system callbacks: authenticated by their signature (notifications.tickets).
                      "hooks_jira", "hooks_tickets",
                      "api:schema", "not_offered"}


def _patterns(resolver: URLResolver, prefix: str = ""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin" or getattr(entry.urlconf_module, "__name__", "").startswith("allauth"):
                continue
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            yield from _patterns(entry, namespace)
        elif isinstance(entry, URLPattern):
            yield f"{prefix}{entry.name}", entry.callback


def acknowledge(client, next_url: str, **extra):
    alert, _ = alert_raise(kind="member.Resigned", title="Member 123456789012 is Resigned", message="",
                           target=("accounts.memberaccount", "123456789012", "123456789012"),
                           dedupe_key="membership:123456789012:eu-west-1:Resigned")  # fmt: skip
    return client.post(reverse("core:alert_acknowledge", args=[alert.pk]), {"next": next_url}, **extra)


def test_every_view_states_the_permission_it_needs():
    unguarded = [
        name
        for name, view in _patterns(get_resolver())
        if name not in WITHOUT_ROLE_CHECK and not getattr(view, "required_permissions", None)
    ]
    assert unguarded == []


def test_acknowledge_sends_the_admin_back_to_the_page_they_came_from(client_for):
    response = acknowledge(client_for("admin"), "/alerts/?state=all")

    assert response["Location"] == "/alerts/?state=all"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "javascript:alert(1)"])
def test_acknowledge_never_sends_the_admin_to_another_site(client_for, target):
    response = acknowledge(client_for("admin"), target)

    assert response["Location"] == reverse("core:alerts")
    assert Alert.objects.get().acknowledged_at is not None


def test_acknowledge_over_https_does_not_send_the_admin_back_over_plain_http(client_for):
    response = acknowledge(client_for("admin"), "http://testserver/alerts/?state=all", secure=True)

    assert response["Location"] == reverse("core:alerts")


def test_health_check_answers_over_plain_http_when_https_is_enforced(client, settings):
    settings.SECURE_SSL_REDIRECT = True  # production: the container's probe still speaks plain http

    assert client.get(reverse("healthz")).status_code == 200
    assert client.get(reverse("login")).status_code == 301


@pytest.mark.parametrize("url", ["/accounts/?q=a%00b", "/accounts/coverage/?q=a%00", "/findings/?q=%00"])
def test_a_link_with_a_nul_character_is_refused_with_a_reason(client_for, url):
    response = client_for("admin").get(url)

    assert response.status_code == 400
    assert "NUL character" in response.content.decode()


def test_a_form_posted_with_a_nul_character_is_refused_with_a_reason(client_for):
    response = client_for("analyst").post(reverse("triage:view_save"), {"name": "mine\x00", "query": ""})

    assert response.status_code == 400
    assert "NUL character" in response.content.decode()


def test_eventbridge_endpoint_still_answers_for_itself_before_any_form_parsing(client):
    response = client.post(reverse("ingest_eventbridge"), {"detail": "a\x00b"})

    assert response.status_code == 401


@pytest.mark.parametrize(
    "attacker_text", ["=cmd|' /C calc'!A0", "+SUM(1)", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
)
def test_csv_cells_from_outside_never_start_a_formula(attacker_text):
    assert csv_cell(attacker_text) == "'" + attacker_text


def test_csv_cells_keep_negative_numbers_as_numbers():
    assert csv_cell(-3) == "-3"
    assert csv_cell("-1.5") == "-1.5"


def _template_sources():
    return [(path.relative_to(TEMPLATES), path.read_text()) for path in sorted(TEMPLATES.rglob("*.html"))]


# Rendered only into PDFs (WeasyPrint styles an inline SVG from its own <style>), never into a page: every
# include of it sits inside `{% if pdf %}` (checked below).
PDF_ONLY = {"reports/_svg_style.html"}


def test_no_template_needs_inline_script_or_style_that_the_csp_blocks():
    problems = []
    for name, source in _template_sources():
        if str(name) in PDF_ONLY:
            continue
        for pattern in (r"\son[a-z]+\s*=", r"\sstyle\s*=", r"<style\b", r"\shx-on[:-]", r"javascript:"):
            if re.search(pattern, source, re.IGNORECASE):
                problems.append(f"{name}: {pattern}")
        for tag in re.findall(r"<script\b[^>]*>", source, re.IGNORECASE):
            if "src=" not in tag or 'nonce="{{ csp_nonce }}"' not in tag:
                problems.append(f"{name}: {tag}")
    assert problems == []


def test_no_template_switches_off_autoescaping():
    problems = [
        str(name)
        for name, source in _template_sources()
        if re.search(r"\|\s*safe\b|{%\s*autoescape\s+off|\|\s*safeseq\b", source)
    ]
    assert problems == []


def test_chart_text_from_findings_is_escaped_in_svg_text_and_attributes():
    hostile = '"><script>alert(1)</script><svg onload=alert(2)>'
    chart = charts.stacked_bars(
        labels=[hostile, "x"], series=[charts.Series("k", hostile, [3, 1], "fill-high")], title=hostile
    )

    svg = render_to_string("reports/_chart.html", {"chart": chart})

    assert "<script" not in svg and "<svg onload" not in svg
    assert svg.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4  # aria-label, <title>, x tick, bar <title>


def test_the_pdf_only_style_is_included_only_when_rendering_a_pdf():
    for name, source in _template_sources():
        for partial in PDF_ONLY:
            for found in re.finditer(r'{%\s*include\s+"' + re.escape(partial) + '"', source):
                before = source[: found.start()]
                assert before.rstrip().endswith("{% if pdf %}"), f"{name} includes {partial} outside {{% if pdf %}}"
