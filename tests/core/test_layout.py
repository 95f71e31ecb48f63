"""The page shell: CSP with nonces, vendored htmx, CSRF header for htmx, no inline script."""

import re

from django.urls import reverse


def test_pages_send_a_strict_csp_with_a_nonce(client_for):
    response = client_for("analyst").get(reverse("reports:dashboard"))
    csp = response["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert "default-src 'self'" in csp and "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    body = response.content.decode()
    scripts = re.findall(r"<script[^>]*>", body)
    assert scripts, "the shell loads htmx"
    assert all(f'nonce="{nonce}"' in tag and "src=" in tag for tag in scripts)


def test_htmx_is_vendored_not_from_a_cdn(client_for):
    body = client_for("analyst").get(reverse("reports:dashboard")).content.decode()
    assert "/static/vendor/htmx/htmx-2.0.11.min.js" in body
    assert "unpkg" not in body and "cdn" not in body.lower()


def test_htmx_requests_carry_the_csrf_token(client_for):
    body = client_for("analyst").get(reverse("reports:dashboard")).content.decode()
    assert re.search(r'hx-headers=\'\{"X-CSRFToken": "[A-Za-z0-9]{32,}"\}\'', body)


def test_no_inline_style_attributes_in_the_shell(client_for):
    body = client_for("admin").get(reverse("core:audit")).content.decode()
    assert " style=" not in body


def test_shell_shows_user_and_role(client_for):
    body = client_for("analyst").get(reverse("reports:dashboard")).content.decode()
    assert 'data-testid="whoami">analyst' in body
    assert "Sign out" in body
