# GuardWatch application image: web (gunicorn), Celery worker and beat all run from it.
FROM python:3.13-slim-bookworm AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GUARDWATCH_ENV=production

# WeasyPrint (the reports' "Download PDF") needs Pango through its C bindings, and a font to set text in.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system guardwatch && useradd --system --gid guardwatch --home /app guardwatch
WORKDIR /app

# Locked, hash-checked runtime dependencies only (no test tools in the image).
COPY requirements/prod.txt requirements/prod.txt
RUN pip install --require-hashes -r requirements/prod.txt
# SAML (python3-saml) signs and verifies with xmlsec, whose wheel bundles libxmlsec1 and a libxml2 matching
# lxml's: no Debian packages are needed, and the build stops here if the pair ever stops matching.
RUN python -c "import lxml.etree, xmlsec; from onelogin.saml2.auth import OneLogin_Saml2_Auth"

# The product's apps; not gdsim/ (the GuardDuty simulator is for the demo and tests only).
COPY manage.py pyproject.toml gunicorn.conf.py ./
COPY guardwatch guardwatch
COPY accounts accounts
COPY findings findings
COPY triage triage
COPY reports reports
COPY notifications notifications
COPY api api
COPY templates templates
COPY static static

# collectstatic needs settings to import; these throwaway values never reach a running container.
RUN SECRET_KEY=build-only-build-only-build-only-build-only-build-only \
    ALLOWED_HOSTS=build REDIS_URL=redis://build:6379/0 DATABASE_URL=postgres://build@build/build \
    python manage.py collectstatic --no-input -v 0

USER guardwatch
EXPOSE 8000
# Asks /healthz with a Host from ALLOWED_HOSTS (a bare 127.0.0.1 would be refused as a disallowed host).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD ["python", "-m", "guardwatch.core.healthcheck"]
# No gunicorn access log: GuardWatch logs each request itself, with its id and user (docs/operations.md).
CMD ["gunicorn", "guardwatch.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4"]
