"""The deployment files say what the README promises (no Docker engine runs here, so read them)."""

import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_the_production_stack_with_exactly_one_beat():
    services = compose()["services"]
    workers = {"worker", "worker-syncs", "worker-reports", "worker-exports"}  # one per kind of work (tests/core/test_queues.py)
    assert set(services) == {"postgres", "redis", "migrate", "web", "beat"} | workers
    assert services["beat"]["deploy"]["replicas"] == 1
    assert "beat" in services["beat"]["command"]
    assert all("worker" in services[name]["command"] for name in workers)
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"][-2:] == ["migrate", "--no-input"]


def test_compose_app_services_run_in_production_mode_against_postgres_and_redis():
    for name in ("migrate", "web", "worker", "worker-syncs", "worker-reports", "worker-exports", "beat"):
        env = compose()["services"][name]["environment"]
        assert env["GUARDWATCH_ENV"] == "production"
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["REDIS_URL"].startswith("redis://")


def test_every_setting_read_from_the_environment_is_documented_in_env_example():
    settings_src = (ROOT / "guardwatch" / "settings.py").read_text()
    read = set(re.findall(r'env_(?:str|bool|int|list)\(\s*"([A-Z_]+)"', settings_src))
    read |= set(re.findall(r'(?:os\.environ\.get|env_get)\(\s*"([A-Z_]+)"', settings_src))
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read - documented == set()


def test_dockerfile_installs_only_the_locked_runtime_requirements():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements/prod.txt" in dockerfile
    assert "FROM python:3.13" in dockerfile


def test_the_image_has_the_libraries_and_font_the_pdf_downloads_need():
    """WeasyPrint loads Pango at import: without it every "Download PDF" fails only in production."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0", "fonts-dejavu-core"):
        assert package in dockerfile


def test_gunicorn_trusts_forwarded_headers_only_from_configured_proxies():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--forwarded-allow-ips" not in dockerfile  # gunicorn then reads FORWARDED_ALLOW_IPS
    assert "FORWARDED_ALLOW_IPS=" in (ROOT / ".env.example").read_text()


def test_only_the_web_and_worker_containers_run_a_health_check():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "guardwatch.core.healthcheck"]' in dockerfile
    services = compose()["services"]
    assert services["beat"]["healthcheck"] == {"disable": True}
    assert "inspect ping" in services["worker"]["healthcheck"]["test"][1]


def test_the_image_holds_every_app_the_settings_install_and_not_the_simulator():
    """A new app that the Dockerfile does not copy would import-fail only in production."""
    from django.conf import settings

    copied = set(re.findall(r"^COPY (\w+) \1$", (ROOT / "Dockerfile").read_text(), re.M))
    ours = {app.split(".")[0] for app in settings.INSTALLED_APPS if (ROOT / app.split(".")[0]).is_dir()}
    assert ours == {"guardwatch", "accounts", "findings", "triage", "reports", "notifications", "api"}
    assert ours <= copied
    assert "gdsim" not in copied


def test_compose_publishes_the_web_port_on_loopback_only():
    """Plain HTTP behind a TLS-terminating proxy: the port must not be reachable from other hosts."""
    for service in compose()["services"].values():
        for published in service.get("ports", []):
            assert str(published).startswith("127.0.0.1:"), published


def test_compose_passes_secrets_as_files_never_as_environment():
    """Docker secrets mounted under /run/secrets and read through <NAME>_FILE (docs/operations.md)."""
    document = compose()
    declared = set(document["secrets"])
    for name in ("migrate", "web", "worker", "worker-syncs", "worker-reports", "worker-exports", "beat"):
        service = document["services"][name]
        env = service["environment"]
        assert not {"SECRET_KEY", "GUARDWATCH_SECRETS_KEY", "DATABASE_PASSWORD"} & set(env)
        assert urlsplit(env["DATABASE_URL"]).password is None
        for variable, secret in {"SECRET_KEY_FILE": "secret_key", "GUARDWATCH_SECRETS_KEY_FILE": "guardwatch_secrets_key",
                                 "DATABASE_PASSWORD_FILE": "postgres_password"}.items():  # fmt: skip
            assert env[variable] == f"/run/secrets/{secret}"
            assert secret in service["secrets"] and secret in declared
    postgres = document["services"]["postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
