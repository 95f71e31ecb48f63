"""Errors answer in the product's look, never with a traceback: 400, 404, 413, 500; the demo runs with
DEBUG off and still serves its static files."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.test import RequestFactory
from django.views.defaults import server_error

from tests.core.test_settings import ROOT

pytestmark = pytest.mark.django_db


def test_a_28_kb_link_gets_a_clear_400_page(client_for):
    response = client_for("analyst").get("/findings/?q=" + "a" * 28_000)

    assert response.status_code == 400
    html = response.content.decode()
    assert "This link is too long for GuardWatch (28,002 characters" in html
    assert 'data-testid="error-page"' in html and "css/guardwatch.css" in html


def test_a_28_kb_link_gets_the_same_page_signed_out(client):
    response = client.get("/findings/?q=" + "a" * 28_000)  # no redirect to sign-in carrying it along
    assert response.status_code == 400 and "This link is too long" in response.content.decode()


def test_too_many_fields_in_a_link_gets_the_product_400_page(client_for):
    client = client_for("analyst")
    client.raise_request_exception = False
    response = client.get("/findings/?" + "&".join(["a=1"] * 1200))  # short, but over Django's 1,000 fields

    assert response.status_code == 400
    assert "GuardWatch could not read this request" in response.content.decode()


def test_a_server_error_answers_the_product_500_page():
    response = server_error(RequestFactory().get("/"))

    html = response.content.decode()
    assert response.status_code == 500 and "Something went wrong" in html and "css/guardwatch.css" in html
    assert "<script" not in html  # no nonce outside a request: a script would be blocked by the CSP


def test_an_unknown_page_answers_the_product_404_page(client_for):
    response = client_for("analyst").get("/no-such-page/")
    assert response.status_code == 404 and "Back to the dashboard" in response.content.decode()


def test_static_files_are_served_without_debug(client, settings):
    assert settings.DEBUG is False
    response = client.get("/static/css/guardwatch.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content if response.streaming else [response.content])


def test_the_demo_runs_with_debug_off(tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GUARDWATCH_", "DATABASE_", "SECRET_", "REDIS_", "DEBUG"))}
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env=base | {"GUARDWATCH_ENV": "demo", "GUARDWATCH_VAR_DIR": str(tmp_path),
                                        "DJANGO_SETTINGS_MODULE": "guardwatch.settings"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.django_db(transaction=True)
def test_gunicorn_lets_a_long_link_reach_guardwatch_for_the_same_400_page():
    """gunicorn's own limit (4094 bytes by default) would answer a bare 400 of its own for an 8 KB link."""
    from tests.core.test_proxy import gunicorn_get

    response, body = gunicorn_get("/findings/?q=" + "a" * 8100, mode="test")
    assert response.status == 400
    assert "This link is too long for GuardWatch (8,102 characters" in body
