"""GuardWatch settings: one module, read from the environment, validated on import.

`GUARDWATCH_ENV` picks the mode:
- ``production`` (default): every secret must be given; Postgres and Redis are required.
- ``demo``: what `make demo` runs: SQLite, the local GuardDuty simulator, a filesystem Celery broker.
- ``test``: what `make test` runs: real Postgres and real Redis, insecure-but-fixed secrets.

A bad value fails loudly at start-up with the variable's name, never silently falls back.
"""

import os
import re
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from guardwatch.core.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

MODES = ("production", "demo", "test")


# Secrets that may instead come from a file named by `<NAME>_FILE` (Docker and Kubernetes secrets mount
# them so): the value never sits in the process environment, `docker inspect` or a compose file.
SECRET_VARIABLES = (
    "SECRET_KEY",
    "SECRET_KEY_FALLBACKS",
    "GUARDWATCH_SECRETS_KEY",
    "GUARDWATCH_SECRETS_KEY_FALLBACKS",
    "DATABASE_URL",
    "DATABASE_PASSWORD",
    "GUARDWATCH_REPLICA_DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "EMAIL_HOST_PASSWORD",
    "GUARDWATCH_EVIDENCE_SIGNING_KEY",
)


def env_get(name: str, default: str | None = None) -> str | None:
    """`name` from the environment or, for a secret, from the file `<name>_FILE` names (one of the two).

    The file's trailing newline (what `echo` and most editors add) is dropped; an unreadable file fails.
    """
    if name not in SECRET_VARIABLES:
        return os.environ.get(name, default)
    file_name = f"{name}_FILE"
    path = os.environ.get(file_name)
    if not path:
        return os.environ.get(name, default)
    if os.environ.get(name):
        raise ImproperlyConfigured(f"Both {name} and {file_name} are set: set one of them.")
    try:
        with open(path, encoding="utf-8") as secret_file:
            value = secret_file.read()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "it is not UTF-8 text"
        raise ImproperlyConfigured(f"{file_name}={path!r} cannot be read: {reason}.") from None
    value = value.removesuffix("\n").removesuffix("\r")
    if not value:
        raise ImproperlyConfigured(f"{file_name}={path!r} is empty.")
    return value


def env_str(name: str, default: str | None = None) -> str:
    """A required string unless a default is given."""
    value = env_get(name)
    if value is None or value == "":
        if default is None:
            raise ImproperlyConfigured(f"Environment variable {name} is required in {GUARDWATCH_ENV} mode.")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    """`1/true/yes/on` or `0/false/no/off`; anything else is an error."""
    raw = env_get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false).")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    """A whole number not below `minimum`."""
    raw = env_get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}.")
    return value


def env_list(name: str, default: str) -> list[str]:
    """Comma-separated values, blanks dropped."""
    return [part.strip() for part in env_get(name, default).split(",") if part.strip()]


def database_from_url(url: str) -> dict:
    """Turn `postgres://user:pass@host:port/name?opt=v` or `sqlite:///path` into a DATABASES entry."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        # sqlite:///relative/path and sqlite:////absolute/path, as dj-database-url reads them.
        name = path[1:] if path.startswith("/") else path
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": name or str(VAR_DIR / "demo.sqlite3")}
    if parts.scheme in {"postgres", "postgresql", "pgsql"}:
        if not parts.path.strip("/"):
            raise ImproperlyConfigured("DATABASE_URL has no database name.")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": dict(parse_qsl(parts.query)),
        }
    raise ImproperlyConfigured(f"DATABASE_URL scheme {parts.scheme!r} is not supported (postgres:// or sqlite://).")


GUARDWATCH_ENV = env_get("GUARDWATCH_ENV", "production")
if GUARDWATCH_ENV not in MODES:
    raise ImproperlyConfigured(f"GUARDWATCH_ENV={GUARDWATCH_ENV!r} must be one of {', '.join(MODES)}.")
DEMO = GUARDWATCH_ENV == "demo"
# Where the demo keeps its SQLite database, simulator state, filesystem broker and logs.
VAR_DIR = Path(env_str("GUARDWATCH_VAR_DIR", str(BASE_DIR / "var")))
if DEMO:
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # SQLite will not create the folder of its file
TESTING = GUARDWATCH_ENV == "test"
PRODUCTION = GUARDWATCH_ENV == "production"

# Off in every mode unless set: the demo shows the product's own error pages, not tracebacks and settings.
DEBUG = env_bool("DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG=true shows tracebacks and settings to visitors: never in production.")
# Public (it is in this file): anyone could forge sessions and password-reset tokens with it.
DEMO_SECRET_KEY = "guardwatch-insecure-demo-and-test-key-never-use-in-production-0123456789"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", None if PRODUCTION else DEMO_SECRET_KEY)
if PRODUCTION and len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters in production.")
if PRODUCTION and SECRET_KEY == DEMO_SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY is the published demo key: generate a random one for production.")
# Encrypts destination secrets (Jira tokens, webhook URLs and signing secrets) at rest; apart from SECRET_KEY
# so that rotating or leaking one does not touch the other. Old values go in the fallbacks during a rotation.
DEMO_SECRETS_KEY = "guardwatch-insecure-demo-and-test-secrets-key-never-use-in-production"  # noqa: S105
GUARDWATCH_SECRETS_KEY = env_str("GUARDWATCH_SECRETS_KEY", None if PRODUCTION else DEMO_SECRETS_KEY)
GUARDWATCH_SECRETS_KEY_FALLBACKS = env_list("GUARDWATCH_SECRETS_KEY_FALLBACKS", "")
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", "")
if PRODUCTION:
    if len(GUARDWATCH_SECRETS_KEY) < 32:
        raise ImproperlyConfigured("GUARDWATCH_SECRETS_KEY must be at least 32 characters in production.")
    if GUARDWATCH_SECRETS_KEY == DEMO_SECRETS_KEY:
        raise ImproperlyConfigured("GUARDWATCH_SECRETS_KEY is the published demo key: generate a random one.")
    if GUARDWATCH_SECRETS_KEY in {SECRET_KEY, *SECRET_KEY_FALLBACKS}:
        raise ImproperlyConfigured("GUARDWATCH_SECRETS_KEY must differ from SECRET_KEY: generate a separate one.")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1],testserver")
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required in production (comma-separated host names).")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "guardwatch.core",  # before staticfiles: its `runserver` (refuses to expose the demo key) wins
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    # Single sign-on (OpenID Connect, SAML 2.0) and MFA (TOTP, passkeys): see docs/sso.md.
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.saml",
    "allauth.mfa",
    "accounts",
    "findings",
    "triage",
    "reports",
    "notifications",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from static/ like htmx (no CDN)
    "api",
]

MIDDLEWARE = [
    "guardwatch.core.middleware.RequestIdMiddleware",  # first: every line of the request carries its id
    "django.middleware.security.SecurityMiddleware",
    # Static files in every mode (the demo and runserver run with DEBUG off); from the apps' folders
    # outside production (WHITENOISE_USE_FINDERS), from collectstatic's manifest in production.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "guardwatch.monitoring.middleware.RequestLatencyMiddleware",  # /metrics: time per URL name (off unless on)
    "guardwatch.core.middleware.RequestLimitsMiddleware",  # before anything reads the query string or body
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "guardwatch.core.middleware.AccessCacheMiddleware",  # permissions and role without 3 queries a request
    "guardwatch.core.middleware.LoginRequiredMiddleware",  # Django's, plus HTMX polls of an ended session
    "allauth.account.middleware.AccountMiddleware",  # allauth's sign-in stages (MFA) and their clean-up
    "guardwatch.core.middleware.AdminMfaRequiredMiddleware",  # GUARDWATCH_MFA_REQUIRED_FOR_ADMINS
    "guardwatch.aws.SourceIdentityMiddleware",  # who acted, in CloudTrail (STS SourceIdentity)
    "guardwatch.core.middleware.RejectNulCharactersMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

WHITENOISE_USE_FINDERS = not PRODUCTION

ROOT_URLCONF = "guardwatch.urls"
WSGI_APPLICATION = "guardwatch.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "guardwatch.core.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": database_from_url(
        env_str(
            "DATABASE_URL",
            {
                "demo": f"sqlite:///{VAR_DIR / 'demo.sqlite3'}",
                "test": "postgres://postgres@127.0.0.1:5432/guardwatch_test",
            }.get(GUARDWATCH_ENV),
        )
    )
}
# The password apart from the URL (DATABASE_PASSWORD or DATABASE_PASSWORD_FILE, the form Docker secrets
# and the postgres image's POSTGRES_PASSWORD_FILE share); never both.
_DATABASE_PASSWORD = env_get("DATABASE_PASSWORD", "")
if _DATABASE_PASSWORD:
    if DATABASES["default"].get("PASSWORD"):
        raise ImproperlyConfigured("DATABASE_URL holds a password and DATABASE_PASSWORD is set: keep one of them.")
    DATABASES["default"]["PASSWORD"] = _DATABASE_PASSWORD
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    if PRODUCTION:
        raise ImproperlyConfigured("SQLite is for the demo only: set DATABASE_URL to a postgres:// URL.")
    # The demo's web server, Celery worker and beat share one SQLite file: wait instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    # The covering indexes' INCLUDE columns are a Postgres speed-up; SQLite builds the indexes without
    # them, which is all the demo needs, so `make demo` does not print one warning per index.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
# A read replica of DATABASE_URL (optional): the reports' heavy read-only passes run there, everything else
# on the primary (guardwatch.core.replica). A streaming replica shares the primary's roles, so without a
# password of its own it uses DATABASE_PASSWORD. Tests treat it as the primary (TEST MIRROR).
_REPLICA_URL = env_get("GUARDWATCH_REPLICA_DATABASE_URL", "")
if _REPLICA_URL:
    if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
        raise ImproperlyConfigured("GUARDWATCH_REPLICA_DATABASE_URL needs DATABASE_URL to be a postgres:// URL.")
    replica = database_from_url(_REPLICA_URL)
    if not replica["ENGINE"].endswith("postgresql"):
        raise ImproperlyConfigured("GUARDWATCH_REPLICA_DATABASE_URL must be a postgres:// URL.")
    if not replica["PASSWORD"]:
        replica["PASSWORD"] = DATABASES["default"]["PASSWORD"]
    DATABASES["replica"] = replica | {"TEST": {"MIRROR": "default"}}
DATABASE_ROUTERS = ["guardwatch.core.replica.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# `migrate` (guardwatch/core/management/commands/migrate.py) waits at most this many seconds for each lock
# on PostgreSQL, then fails instead of queueing: a migration waiting behind a long read for an exclusive
# lock would hold up every later query on that table (docs/operations.md, "Upgrades"). 0 waits forever.
GUARDWATCH_MIGRATE_LOCK_TIMEOUT_SECONDS = env_int("GUARDWATCH_MIGRATE_LOCK_TIMEOUT_SECONDS", 5)

REDIS_URL = env_get("REDIS_URL") or ("redis://127.0.0.1:6379/0" if TESTING else "")
if PRODUCTION and not REDIS_URL and not env_get("CELERY_BROKER_URL"):
    raise ImproperlyConfigured("REDIS_URL (or CELERY_BROKER_URL) is required in production.")

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # Without Redis (the demo) the web server and the Celery worker still share one cache: report
    # snapshots the worker refreshes, and its invalidations, must reach the web server's process.
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "cache")}
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # Hashing cost is irrelevant to what the tests prove and dominates their run time.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "reports:dashboard"
LOGOUT_REDIRECT_URL = "login"

# --- Sign-in: local passwords, single sign-on, MFA (django-allauth; docs/sso.md) ------------------------
# allauth's backend is Django's ModelBackend (permissions) that also signs in by username; one backend, so
# a password is checked once per attempt (the throttle counts checks).
AUTHENTICATION_BACKENDS = ["allauth.account.auth_backends.AuthenticationBackend"]
GUARDWATCH_LOCAL_SIGN_IN = env_bool("GUARDWATCH_LOCAL_SIGN_IN", True)  # off: only single sign-on
GUARDWATCH_MFA_REQUIRED_FOR_ADMINS = env_bool("GUARDWATCH_MFA_REQUIRED_FOR_ADMINS", False)
ACCOUNT_ADAPTER = "guardwatch.core.sso.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "guardwatch.core.sso.SocialAccountAdapter"
ACCOUNT_FORMS = {"login": "guardwatch.core.sso.LoginForm", "reauthenticate": "guardwatch.core.sso.ReauthenticateForm"}
MFA_FORMS = {"authenticate": "guardwatch.core.sso.MfaAuthenticateForm",
             "reauthenticate": "guardwatch.core.sso.MfaReauthenticateForm"}  # fmt: skip
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*"]  # signup itself is closed (AccountAdapter)
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_RATE_LIMITS = False  # guardwatch.core.login throttles passwords and MFA codes (shared by every process)
ACCOUNT_LOGOUT_REDIRECT_URL = "login"
SOCIALACCOUNT_AUTO_SIGNUP = True  # users are created at their first single sign-on
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # an IdP's email never signs in as an existing local account
ACCOUNT_UNIQUE_EMAIL = False  # an IdP user whose email a local account also has is still created (never linked)
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_ONLY = False
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_PASSKEY_LOGIN_ENABLED = False  # a passkey is a second factor after the password, not a password
MFA_TOTP_ISSUER = "GuardWatch"
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = env_bool("GUARDWATCH_WEBAUTHN_INSECURE_ORIGIN", not PRODUCTION)

# Where the identity provider lists the user's groups: an OpenID Connect claim or a SAML attribute (the
# first one present is used); Entra ID's SAML attribute is a URI.
GUARDWATCH_SSO_GROUPS_CLAIMS = env_list(
    "GUARDWATCH_SSO_GROUPS_CLAIMS", "groups,http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
)


def sso_providers(
    *, oidc_issuer: str = "", oidc_client_id: str = "", oidc_secret: str = "", oidc_name: str = "",
    oidc_scopes: str = "openid profile email groups", saml_metadata_url: str = "", saml_entity_id: str = "",
    saml_sso_url: str = "", saml_cert: str = "", saml_name: str = "", sp_entity_id: str = "",
) -> dict:
    """allauth's SOCIALACCOUNT_PROVIDERS for at most one OpenID Connect and one SAML identity provider."""
    providers: dict = {}
    if oidc_issuer:
        if not (oidc_client_id and oidc_secret):
            raise ImproperlyConfigured("GUARDWATCH_OIDC_ISSUER needs GUARDWATCH_OIDC_CLIENT_ID and _CLIENT_SECRET.")
        providers["openid_connect"] = {
            "OAUTH_PKCE_ENABLED": True,
            "APPS": [{
                "provider_id": "oidc", "name": oidc_name or "Single sign-on", "client_id": oidc_client_id,
                "secret": oidc_secret,
                "settings": {"server_url": oidc_issuer, "scope": oidc_scopes.split(), "fetch_userinfo": True},
            }],
        }  # fmt: skip
    if saml_metadata_url or saml_entity_id:
        if saml_metadata_url:
            idp = {"entity_id": saml_entity_id, "metadata_url": saml_metadata_url}
        elif saml_sso_url and saml_cert:
            idp = {"entity_id": saml_entity_id, "sso_url": saml_sso_url, "x509cert": saml_cert}
        else:
            raise ImproperlyConfigured("SAML needs GUARDWATCH_SAML_METADATA_URL, or _SSO_URL and _CERTIFICATE.")
        providers["saml"] = {
            "APPS": [{
                "client_id": "saml", "name": saml_name or "SAML single sign-on",
                "settings": {
                    "idp": idp,
                    "sp": {"entity_id": sp_entity_id or "guardwatch"},
                    "attribute_mapping": {
                        "uid": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
                        "email": ["email", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"],
                        "username": ["username", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"],
                    },
                    "advanced": {"want_assertion_signed": True, "want_message_signed": False,
                                 "reject_idp_initiated_sso": True, "strict": True},
                },
            }],
        }  # fmt: skip
    return providers


def sso_form_action_origins(providers: dict) -> list[str]:
    """The identity providers' origins: the sign-in buttons post to GuardWatch, which redirects there,
    and CSP's form-action covers that redirect."""
    from urllib.parse import urlsplit

    urls = [app["settings"]["server_url"] for app in providers.get("openid_connect", {}).get("APPS", [])]
    for app in providers.get("saml", {}).get("APPS", []):
        idp = app["settings"]["idp"]
        urls.append(idp.get("sso_url") or idp.get("metadata_url", ""))
    return sorted({f"{p.scheme}://{p.netloc}" for p in map(urlsplit, urls) if p.scheme and p.netloc})


SOCIALACCOUNT_PROVIDERS = sso_providers(
    oidc_issuer=env_str("GUARDWATCH_OIDC_ISSUER", ""),
    oidc_client_id=env_str("GUARDWATCH_OIDC_CLIENT_ID", ""),
    oidc_secret=env_str("GUARDWATCH_OIDC_CLIENT_SECRET", ""),
    oidc_name=env_str("GUARDWATCH_OIDC_NAME", ""),
    oidc_scopes=env_str("GUARDWATCH_OIDC_SCOPES", "openid profile email groups"),
    saml_metadata_url=env_str("GUARDWATCH_SAML_METADATA_URL", ""),
    saml_entity_id=env_str("GUARDWATCH_SAML_ENTITY_ID", ""),
    saml_sso_url=env_str("GUARDWATCH_SAML_SSO_URL", ""),
    saml_cert=env_str("GUARDWATCH_SAML_CERTIFICATE", ""),
    saml_name=env_str("GUARDWATCH_SAML_NAME", ""),
    sp_entity_id=env_str("GUARDWATCH_SAML_SP_ENTITY_ID", ""),
)
if not GUARDWATCH_LOCAL_SIGN_IN and not SOCIALACCOUNT_PROVIDERS:
    raise ImproperlyConfigured("GUARDWATCH_LOCAL_SIGN_IN=0 needs an identity provider (docs/sso.md).")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# collectstatic's folder, for production (the image builds it); elsewhere WhiteNoise serves the apps' folders.
STATIC_ROOT = BASE_DIR / "staticfiles" if PRODUCTION else None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Uploads (member CSVs) are small. These two only decide what Django keeps in memory (a larger file is
# spooled to disk); GUARDWATCH_MAX_REQUEST_BYTES refuses a larger body before it is read at all
# (guardwatch.core.middleware.RequestLimitsMiddleware), and a longer query string than
# GUARDWATCH_MAX_QUERY_STRING_BYTES gets a clear 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
GUARDWATCH_MAX_REQUEST_BYTES = env_int("GUARDWATCH_MAX_REQUEST_BYTES", 2 * 1024 * 1024, minimum=64 * 1024)
GUARDWATCH_MAX_QUERY_STRING_BYTES = env_int("GUARDWATCH_MAX_QUERY_STRING_BYTES", 8000, minimum=1024)
# Evidence files attached to a finding or an entity (docs/evidence-attachments.md): the largest one file, the
# most bytes of files on one finding or entity, and the most attachments (notes, links, files) on one. The
# upload view alone accepts a body of one file plus a form's worth over GUARDWATCH_MAX_REQUEST_BYTES.
GUARDWATCH_EVIDENCE_MAX_FILE_BYTES = env_int("GUARDWATCH_EVIDENCE_MAX_FILE_BYTES", 10 * 1024 * 1024, minimum=1024)
GUARDWATCH_EVIDENCE_MAX_TARGET_BYTES = env_int(
    "GUARDWATCH_EVIDENCE_MAX_TARGET_BYTES", 100 * 1024 * 1024, minimum=1024
)
GUARDWATCH_EVIDENCE_MAX_PER_TARGET = env_int("GUARDWATCH_EVIDENCE_MAX_PER_TARGET", 200, minimum=1)

# --- Security ---------------------------------------------------------------------------------
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF, *sso_form_action_origins(SOCIALACCOUNT_PROVIDERS)],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
# The container's health check calls http://127.0.0.1:8000/healthz directly, without the proxy's TLS.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Sessions are read from the cache (Redis) and written to both it and the database: no query a request.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600, minimum=300)
# Sign-in throttling (guardwatch/core/login.py, docs/security.md): this many attempts for one user name
# from one address, then each further one waits DELAY_SECONDS, doubling up to MAX_DELAY_MINUTES. A name
# from addresses it never signed in from, and an address for names that never signed in from it, have
# budgets of their own (NAME_/ADDRESS_MAX_FAILURES) with the same delays.
GUARDWATCH_LOGIN_MAX_FAILURES = env_int("GUARDWATCH_LOGIN_MAX_FAILURES", 10, minimum=1)
GUARDWATCH_LOGIN_NAME_MAX_FAILURES = env_int("GUARDWATCH_LOGIN_NAME_MAX_FAILURES", 100, minimum=1)
GUARDWATCH_LOGIN_ADDRESS_MAX_FAILURES = env_int("GUARDWATCH_LOGIN_ADDRESS_MAX_FAILURES", 50, minimum=1)
GUARDWATCH_LOGIN_DELAY_SECONDS = env_int("GUARDWATCH_LOGIN_DELAY_SECONDS", 30, minimum=1)
GUARDWATCH_LOGIN_MAX_DELAY_MINUTES = env_int("GUARDWATCH_LOGIN_MAX_DELAY_MINUTES", 15, minimum=1)
# How many proxies in front of GuardWatch append to X-Forwarded-For (the client's address is read that
# many entries from its right); 0 = the connection's address (REMOTE_ADDR). See docs/deployment.md.
GUARDWATCH_TRUSTED_PROXY_HOPS = env_int("GUARDWATCH_TRUSTED_PROXY_HOPS", 0)
# The Django admin at /django-admin/ (users and groups only; GuardWatch's pages do the rest). Off in
# production unless set; its sign-in is throttled like /login/ wherever it is on.
GUARDWATCH_DJANGO_ADMIN = env_bool("GUARDWATCH_DJANGO_ADMIN", not PRODUCTION)
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # Django never reads X-Forwarded-Proto itself: gunicorn sets the request's scheme from it, and only
    # when the connection comes from an address in FORWARDED_ALLOW_IPS (gunicorn.conf.py, docs/security.md).
    # Django's SECURE_PROXY_SSL_HEADER would believe the header from any client that reaches gunicorn.
    if env_bool("SECURE_PROXY_SSL_HEADER", False):
        raise ImproperlyConfigured(
            "SECURE_PROXY_SSL_HEADER=true is no longer supported: Django would trust X-Forwarded-Proto from any "
            "client. Unset it and set FORWARDED_ALLOW_IPS to your TLS proxy's address; gunicorn then takes the "
            "scheme from that proxy only."
        )

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env_get("CELERY_BROKER_URL") or REDIS_URL
CELERY_RESULT_BACKEND = env_get("CELERY_RESULT_BACKEND") or REDIS_URL
if DEMO and not CELERY_BROKER_URL:
    # The demo runs a real worker without needing Redis: kombu's filesystem transport.
    CELERY_BROKER_URL = "filesystem://localhost/"  # a host, or kombu warns "No hostname was supplied"
    # ... with each message written whole before a consumer can see it (see guardwatch/core/demo_broker.py).
    CELERY_BROKER_TRANSPORT = "guardwatch.core.demo_broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(VAR_DIR / "celery" / "queue"),
        "data_folder_out": str(VAR_DIR / "celery" / "queue"),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),  # kombu's default is ./control
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = f"file://{VAR_DIR / 'celery' / 'results'}"
CELERY_TASK_DEFAULT_QUEUE = env_str("GUARDWATCH_CELERY_QUEUE", "guardwatch")
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the task for another worker
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 3600, minimum=10)
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers log through LOGGING above (JSON, redacted, with the task's context), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- GuardWatch -------------------------------------------------------------------------------
GUARDWATCH_AWS_REGIONS = env_list(
    "GUARDWATCH_AWS_REGIONS", "us-east-1,us-west-2,eu-west-1,ap-southeast-2" if not PRODUCTION else "us-east-1"
)
for _region in GUARDWATCH_AWS_REGIONS:
    if not _region.replace("-", "").isalnum() or _region.count("-") < 2:
        raise ImproperlyConfigured(f"GUARDWATCH_AWS_REGIONS has {_region!r}, which is not a region name.")
GUARDWATCH_ADMIN_ROLE_ARN = env_get("GUARDWATCH_ADMIN_ROLE_ARN", "")
if GUARDWATCH_ADMIN_ROLE_ARN and not GUARDWATCH_ADMIN_ROLE_ARN.startswith("arn:aws"):
    raise ImproperlyConfigured("GUARDWATCH_ADMIN_ROLE_ARN must be an IAM role ARN (arn:aws…:iam::…:role/…).")
# The role GuardWatch assumes in member accounts to accept invitations on their behalf. The demo names one
# (its simulator lets the administrator assume it in every member account), so "Accept on member's behalf"
# takes an added member to Monitored in one click; elsewhere it is off until set.
GUARDWATCH_MEMBER_ROLE_NAME = env_get("GUARDWATCH_MEMBER_ROLE_NAME", "GuardWatchMember" if DEMO else "")
# GuardDuty Malware Protection for S3 needs, in the account that owns each bucket, an IAM role GuardDuty assumes to
# scan (and tag) its objects ("Create or update IAM role policy", GuardDuty User Guide); a fix creates each plan with
# arn:<partition>:iam::<bucket's account>:role/<this name>. Empty: the drift page names the deviation but no fix.
GUARDWATCH_S3_MALWARE_ROLE_NAME = env_get(
    "GUARDWATCH_S3_MALWARE_ROLE_NAME", "GuardDutyS3MalwareProtection" if DEMO else ""
)
if GUARDWATCH_S3_MALWARE_ROLE_NAME and not re.fullmatch(r"[\w+=,.@-]{1,64}", GUARDWATCH_S3_MALWARE_ROLE_NAME):
    raise ImproperlyConfigured("GUARDWATCH_S3_MALWARE_ROLE_NAME must be an IAM role name (letters, digits, +=,.@_-).")
# The demo's embedded default is the local simulator that `manage.py demo` starts.
# botocore retry mode: adaptive (default) also rate-limits the client after throttling; standard only
# backs off. Tests that inject random (not rate-driven) throttling run subprocesses with standard.
GUARDWATCH_AWS_RETRY_MODE = env_str("GUARDWATCH_AWS_RETRY_MODE", "adaptive")
if GUARDWATCH_AWS_RETRY_MODE not in {"adaptive", "standard", "legacy"}:
    raise ImproperlyConfigured("GUARDWATCH_AWS_RETRY_MODE must be adaptive, standard or legacy.")
GUARDWATCH_AWS_ENDPOINT_URL = env_get("GUARDWATCH_AWS_ENDPOINT_URL", "http://127.0.0.1:4566" if DEMO else "")
if PRODUCTION and GUARDWATCH_AWS_ENDPOINT_URL:
    # It sends GuardDuty, STS and Organizations calls (signed with the administrator's credentials) to
    # that address instead of AWS: for the local simulator only.
    raise ImproperlyConfigured(
        "GUARDWATCH_AWS_ENDPOINT_URL is for the local GuardDuty simulator (demo and tests); unset it in production."
    )
GUARDWATCH_PUBLIC_URL = env_get("GUARDWATCH_PUBLIC_URL", "http://127.0.0.1:8000" if not PRODUCTION else "")
GUARDWATCH_MEMBER_SYNC_MINUTES = env_int("GUARDWATCH_MEMBER_SYNC_MINUTES", 15, minimum=1)
# Raise a coverage alert for a member still "Invited" after this many days.
GUARDWATCH_INVITE_PENDING_DAYS = env_int("GUARDWATCH_INVITE_PENDING_DAYS", 7, minimum=1)
GUARDWATCH_FINDINGS_SYNC_MINUTES = env_int("GUARDWATCH_FINDINGS_SYNC_MINUTES", 5, minimum=1)
# Findings sync: how long a new finding version may take to show in ListFindings; each run re-lists this
# far behind GuardDuty's "now" (its Date header) at the previous run's start.
GUARDWATCH_FINDINGS_SYNC_OVERLAP_SECONDS = env_int("GUARDWATCH_FINDINGS_SYNC_OVERLAP_SECONDS", 300)
# How long a sync claim lasts without renewal where advisory locks are unavailable (SQLite demo).
GUARDWATCH_FINDINGS_SYNC_LEASE_SECONDS = env_int("GUARDWATCH_FINDINGS_SYNC_LEASE_SECONDS", 300, minimum=10)
# Watchdogs (beat): a sync or bulk action whose worker died is queued again within this many seconds.
GUARDWATCH_WATCHDOG_SECONDS = env_int("GUARDWATCH_WATCHDOG_SECONDS", 30, minimum=5)
# A sync waits out throttling, 5xx and network errors (after botocore's own retries) for at most this many
# seconds in all, carrying on from its checkpoint, before the run fails (docs/reliability.md). 0 in test
# mode, where a fault is meant to fail the run unless a test gives it a budget.
GUARDWATCH_FINDINGS_SYNC_FAULT_BUDGET_SECONDS = env_int(
    "GUARDWATCH_FINDINGS_SYNC_FAULT_BUDGET_SECONDS", 0 if TESTING else 300
)
# Archive/feedback reconciliation (console changes that do not move updatedAt): how often, in minutes,
# and at most how many GetFindings calls per region and run its sweep of open findings may spend.
GUARDWATCH_FINDINGS_RECONCILE_MINUTES = env_int("GUARDWATCH_FINDINGS_RECONCILE_MINUTES", 60, minimum=1)
GUARDWATCH_FINDINGS_RECONCILE_MAX_CALLS = env_int("GUARDWATCH_FINDINGS_RECONCILE_MAX_CALLS", 200, minimum=1)
# Ids-only comparison (every finding id GuardDuty lists against the stored ones; ⌈findings / 50⌉
# ListFindings per region and run): how often, in hours.
GUARDWATCH_FINDINGS_IDS_COMPARE_HOURS = env_int("GUARDWATCH_FINDINGS_IDS_COMPARE_HOURS", 24, minimum=1)
# How often the ingestion ledger compares each region's counts per account with GuardDuty's statistics.
GUARDWATCH_FINDINGS_LEDGER_MINUTES = env_int("GUARDWATCH_FINDINGS_LEDGER_MINUTES", 60, minimum=5)
# Delete findings last seen longer ago than this many days; 0 keeps them forever.
GUARDWATCH_FINDINGS_RETENTION_DAYS = env_int("GUARDWATCH_FINDINGS_RETENTION_DAYS", 0)
# Suppression governance (docs/suppression.md). GuardDuty sends archived findings to no integration, so
# a rule waits for a second Admin's approval before it reaches GuardDuty when it would have hidden more
# than ..._THRESHOLD findings over the last 90 days or hides a whole finding type ("threshold"), or
# always ("always"). ..._APPROVAL_ALWAYS=true is the older spelling of "always".
GUARDWATCH_SUPPRESSION_APPROVAL = env_str("GUARDWATCH_SUPPRESSION_APPROVAL", "threshold").strip().lower()
if GUARDWATCH_SUPPRESSION_APPROVAL not in {"threshold", "always"}:
    raise ImproperlyConfigured(
        f"GUARDWATCH_SUPPRESSION_APPROVAL={GUARDWATCH_SUPPRESSION_APPROVAL!r} must be threshold or always."
    )
if env_bool("GUARDWATCH_SUPPRESSION_APPROVAL_ALWAYS", False):
    GUARDWATCH_SUPPRESSION_APPROVAL = "always"
GUARDWATCH_SUPPRESSION_APPROVAL_THRESHOLD = env_int("GUARDWATCH_SUPPRESSION_APPROVAL_THRESHOLD", 100)
# When a rule's expiry passes it is removed from GuardDuty; its Suppressed findings go back to New
# (unarchived) when this is true, or stay as they are.
GUARDWATCH_SUPPRESSION_REOPEN_ON_EXPIRY = env_bool("GUARDWATCH_SUPPRESSION_REOPEN_ON_EXPIRY", True)
# A new rule's review date defaults to this many days ahead; a passed review date raises an alert.
GUARDWATCH_SUPPRESSION_REVIEW_DAYS = env_int("GUARDWATCH_SUPPRESSION_REVIEW_DAYS", 90, minimum=1)
# EventBridge push ingest (docs/eventbridge.md). Refuse events whose timestamps are more than this many
# seconds ahead of our clock; requests per minute per ingest key (0 = no limit; EventBridge retries 429s);
# how often the beat confirms pushed findings with GetFindings, and after how many minutes a pushed finding
# GuardDuty still does not return is deleted.
GUARDWATCH_INGEST_MAX_FUTURE_SECONDS = env_int("GUARDWATCH_INGEST_MAX_FUTURE_SECONDS", 300)
GUARDWATCH_INGEST_RATE_PER_MINUTE = env_int("GUARDWATCH_INGEST_RATE_PER_MINUTE", 1200)

# --- REST API (/api/v1/, docs/api.md) -----------------------------------------------------------
# Requests a minute per API token (429 with Retry-After beyond; a Redis counter shared by every web
# process); 0 turns the limit off. Tokens expire after the days chosen at creation, at most MAX_DAYS.
GUARDWATCH_API_RATE_PER_MINUTE = env_int("GUARDWATCH_API_RATE_PER_MINUTE", 600)
GUARDWATCH_API_TOKEN_DEFAULT_DAYS = env_int("GUARDWATCH_API_TOKEN_DEFAULT_DAYS", 90, minimum=1)
GUARDWATCH_API_TOKEN_MAX_DAYS = env_int("GUARDWATCH_API_TOKEN_MAX_DAYS", 365, minimum=1)
REST_FRAMEWORK = {
    # Tokens only: no session, so no CSRF (the docs page signs in like every page; the API does not).
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["api.authentication.ApiTokenRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser", "rest_framework.parsers.MultiPartParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.problems.problem_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "GuardWatch API",
    "DESCRIPTION": "The REST API of GuardWatch (docs/api.md). Authenticate with `Authorization: Bearer <token>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "OAS_VERSION": "3.1.0",  # JSON Schema 2020-12 inside, so the tests validate answers with jsonschema as is
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
}
GUARDWATCH_INGEST_CONFIRM_MINUTES = env_int("GUARDWATCH_INGEST_CONFIRM_MINUTES", 5, minimum=1)
GUARDWATCH_INGEST_CONFIRM_GRACE_MINUTES = env_int("GUARDWATCH_INGEST_CONFIRM_GRACE_MINUTES", 30, minimum=1)


def env_sla_hours(name: str, default: str) -> dict[str, int]:
    """`critical=4,high=24,medium=168,low=720`: hours to handle a finding, per severity band (all four)."""
    raw = env_get(name) or default
    bands = {"low", "medium", "high", "critical"}
    hours: dict[str, int] = {}
    for part in raw.split(","):
        band, sep, value = part.strip().partition("=")
        band = band.strip().lower()
        if not sep or band not in bands or band in hours:
            raise ImproperlyConfigured(f"{name}={raw!r}: each item must be band=hours, bands {sorted(bands)} once each.")
        try:
            hours[band] = int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={raw!r}: {value.strip()!r} is not a whole number of hours.") from None
        if hours[band] < 1:
            raise ImproperlyConfigured(f"{name}={raw!r}: hours must be at least 1.")
    if set(hours) != bands:
        raise ImproperlyConfigured(f"{name}={raw!r} must give hours for every band: {', '.join(sorted(bands))}.")
    return hours


# Triage SLA: an open finding is overdue this many hours after GuardDuty created it.
GUARDWATCH_SLA_HOURS = env_sla_hours("GUARDWATCH_SLA_HOURS", "critical=4,high=24,medium=168,low=720")
# The defaults only: once an Admin saves the SLA page (findings.SlaPolicy) its values are used instead.
# Owner routing: account tags whose value names the owning team (`owner=payments`), compared as slugs.
GUARDWATCH_OWNER_TAG_KEYS = env_list("GUARDWATCH_OWNER_TAG_KEYS", "owner,team")
# Reports: seconds the coverage figures are cached (a member sync invalidates them sooner), and the
# shortest time between two background refreshes of the findings report and dashboard snapshots, which
# are also refreshed once they are this old (the dashboard) or GUARDWATCH_REPORTS_MAX_AGE_SECONDS old
# (the report) even when no finding changed. 0 turns caching and snapshots off, the default in test mode
# so tests never see each other's figures.
GUARDWATCH_REPORTS_CACHE_SECONDS = env_int("GUARDWATCH_REPORTS_CACHE_SECONDS", 0 if TESTING else 60)
GUARDWATCH_REPORTS_MAX_AGE_SECONDS = env_int("GUARDWATCH_REPORTS_MAX_AGE_SECONDS", 15 * 60, minimum=60)
# Downloads that hold a web thread while they stream (findings CSV/JSON, report CSVs): one per person at
# a time and at most this many at once, so exports cannot take every gunicorn thread (docs/deployment.md).
# The same numbers cap background exports (the list's Export button): one queued or running per person,
# at most GUARDWATCH_EXPORTS_MAX in all; their files are deleted this many hours after they are written.
GUARDWATCH_EXPORTS_MAX = env_int("GUARDWATCH_EXPORTS_MAX", 3, minimum=1)
# Scheduled reports (docs/reports.md, "Scheduled reports"): each period's PDF is kept this many days for the
# archive page; a render or send that fails is tried this many times in all, base × 2^(attempt-1) seconds apart.
GUARDWATCH_SCHEDULED_REPORTS_KEEP_DAYS = env_int("GUARDWATCH_SCHEDULED_REPORTS_KEEP_DAYS", 400, minimum=1)
GUARDWATCH_SCHEDULED_REPORTS_MAX_ATTEMPTS = env_int("GUARDWATCH_SCHEDULED_REPORTS_MAX_ATTEMPTS", 5, minimum=1)
GUARDWATCH_SCHEDULED_REPORTS_RETRY_BASE_SECONDS = env_int("GUARDWATCH_SCHEDULED_REPORTS_RETRY_BASE_SECONDS", 300,
                                                          minimum=1)  # fmt: skip

GUARDWATCH_EXPORT_KEEP_HOURS = env_int("GUARDWATCH_EXPORT_KEEP_HOURS", 24, minimum=1)
# The share of one PostgreSQL core a background export's queries may use (percent; 100: no pacing). After each
# keyset page the export waits (100 - share) / share times the page's query time (triage/exports.py).
GUARDWATCH_EXPORT_DB_SHARE = env_int("GUARDWATCH_EXPORT_DB_SHARE", 10, minimum=1)
if GUARDWATCH_EXPORT_DB_SHARE > 100:
    raise ImproperlyConfigured(f"GUARDWATCH_EXPORT_DB_SHARE is a percentage from 1 to 100, got {GUARDWATCH_EXPORT_DB_SHARE}.")

# --- Notifications ----------------------------------------------------------------------------
# Outbound mail (email destinations), in Django 6.1's MAILERS form (the EMAIL_* settings are deprecated;
# the environment variables keep their familiar names). The demo prints mail; tests use locmem.
_MAIL_BACKEND = env_get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEMO else "django.core.mail.backends.smtp.EmailBackend",
)
MAILERS = {"default": {"BACKEND": _MAIL_BACKEND}}
if _MAIL_BACKEND.endswith("smtp.EmailBackend"):
    MAILERS["default"]["OPTIONS"] = {
        "host": env_get("EMAIL_HOST", "localhost"),
        "port": env_int("EMAIL_PORT", 25, minimum=1),
        "username": env_get("EMAIL_HOST_USER", ""),
        "password": env_get("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env_bool("EMAIL_USE_TLS", False),
        "timeout": env_int("EMAIL_TIMEOUT", 10, minimum=1),
    }
DEFAULT_FROM_EMAIL = env_get("DEFAULT_FROM_EMAIL", "guardwatch@localhost")
# Every outbound notification request must be over (connect, TLS, send, whole answer) within this many seconds.
GUARDWATCH_NOTIFY_TIMEOUT_SECONDS = env_int("GUARDWATCH_NOTIFY_TIMEOUT_SECONDS", 10, minimum=1)
# A failed delivery is tried this many times in all, waiting base × 2^(attempt-1) seconds in between.
GUARDWATCH_NOTIFY_MAX_ATTEMPTS = env_int("GUARDWATCH_NOTIFY_MAX_ATTEMPTS", 5, minimum=1)
GUARDWATCH_NOTIFY_RETRY_BASE_SECONDS = env_int("GUARDWATCH_NOTIFY_RETRY_BASE_SECONDS", 30, minimum=1)
# Destination URLs on loopback addresses (127.0.0.0/8, ::1) reach the GuardWatch host itself (its Redis,
# its database, an admin port): refused unless this is on. On in the demo and tests, whose receivers
# listen on 127.0.0.1. Link-local and cloud metadata addresses are always refused.
GUARDWATCH_NOTIFY_ALLOW_LOOPBACK = env_bool("GUARDWATCH_NOTIFY_ALLOW_LOOPBACK", not PRODUCTION)
# A PEM file of extra certificate authorities for https destinations (a self-hosted Jira behind a private CA).
GUARDWATCH_NOTIFY_CA_FILE = env_get("GUARDWATCH_NOTIFY_CA_FILE", "")
# Two-way tickets (docs/notifications.md): how often open tickets' statuses are polled from Jira, how many
# links one poll checks per destination, and how old a signed ticket callback may be (its replay window).
GUARDWATCH_TICKET_POLL_SECONDS = env_int("GUARDWATCH_TICKET_POLL_SECONDS", 120, minimum=10)
GUARDWATCH_TICKET_POLL_LIMIT = env_int("GUARDWATCH_TICKET_POLL_LIMIT", 1000, minimum=1)
GUARDWATCH_TICKET_CALLBACK_WINDOW_SECONDS = env_int("GUARDWATCH_TICKET_CALLBACK_WINDOW_SECONDS", 300, minimum=30)
# A new occurrence of a resolved finding reopens it (and, through it, its tickets).
GUARDWATCH_REOPEN_RESOLVED_ON_RECURRENCE = env_bool("GUARDWATCH_REOPEN_RESOLVED_ON_RECURRENCE", True)

# Evidence exports for auditors (docs/evidence.md) are signed with this Ed25519 private key (PEM, PKCS#8:
# `openssl genpkey -algorithm ed25519`). Production starts without it (evidence export is then off and says
# so); a key that is set but not an Ed25519 private key refuses to start. The demo and tests make one under
# GUARDWATCH_VAR_DIR (evidence-signing-key.pem) the first time a pack is signed.
GUARDWATCH_EVIDENCE_SIGNING_KEY = env_get("GUARDWATCH_EVIDENCE_SIGNING_KEY") or ""
if GUARDWATCH_EVIDENCE_SIGNING_KEY:
    from guardwatch.core.signing import SigningKeyError, private_key_load

    try:
        private_key_load(GUARDWATCH_EVIDENCE_SIGNING_KEY.encode())
    except SigningKeyError as error:
        raise ImproperlyConfigured(f"GUARDWATCH_EVIDENCE_SIGNING_KEY: {error}") from None
# Days an evidence pack (its signed JSON and PDF) is kept for download.
GUARDWATCH_EVIDENCE_KEEP_DAYS = env_int("GUARDWATCH_EVIDENCE_KEEP_DAYS", 365, minimum=1)
# The commit evidence packs name: set it when building the image (else the checkout's `git rev-parse HEAD`).
GUARDWATCH_COMMIT = os.environ.get("GUARDWATCH_COMMIT", "").strip()[:64]

# Logs (docs/operations.md, "Logs"): one JSON object a line in production, readable lines in the demo and
# tests; every line of a request carries its id and user, every line of a Celery task its id, name and
# region; secrets are scrubbed from every line (guardwatch/core/logs.py).
GUARDWATCH_LOG_FORMAT = env_str("GUARDWATCH_LOG_FORMAT", "json" if PRODUCTION else "console")
if GUARDWATCH_LOG_FORMAT not in {"json", "console"}:
    raise ImproperlyConfigured(f"GUARDWATCH_LOG_FORMAT={GUARDWATCH_LOG_FORMAT!r} must be json or console.")
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} must be DEBUG, INFO, WARNING, ERROR or CRITICAL.")
LOGGING = logging_config(log_format=GUARDWATCH_LOG_FORMAT, level=LOG_LEVEL)

# --- Metrics (docs/operations.md, "Metrics") ---------------------------------------------------
def env_networks(name: str) -> list:
    """Comma-separated CIDRs (`10.0.0.0/8,192.168.1.7`); a bare address is a /32 or /128 network."""
    import ipaddress

    networks = []
    for part in env_list(name, ""):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"{name} has {part!r}, which is not an IP address or CIDR network.") from None
    return networks


# Prometheus metrics at /metrics: off unless asked for (404). When on, the scraper must present
# `Authorization: Bearer <GUARDWATCH_METRICS_TOKEN>` and/or come from GUARDWATCH_METRICS_ALLOW (CIDRs,
# the client address as the sign-in throttle reads it, GUARDWATCH_TRUSTED_PROXY_HOPS included); with
# both set, both must hold. On without either is refused: the figures name regions and backlogs.
GUARDWATCH_METRICS = env_bool("GUARDWATCH_METRICS", False)
GUARDWATCH_METRICS_TOKEN = os.environ.get("GUARDWATCH_METRICS_TOKEN", "")
GUARDWATCH_METRICS_ALLOW = env_networks("GUARDWATCH_METRICS_ALLOW")
# Seconds a web process reuses the figures it read from PostgreSQL and Redis for a scrape.
GUARDWATCH_METRICS_CACHE_SECONDS = env_int("GUARDWATCH_METRICS_CACHE_SECONDS", 5)
if GUARDWATCH_METRICS and not (GUARDWATCH_METRICS_TOKEN or GUARDWATCH_METRICS_ALLOW):
    raise ImproperlyConfigured(
        "GUARDWATCH_METRICS=true needs GUARDWATCH_METRICS_TOKEN or GUARDWATCH_METRICS_ALLOW (or both): "
        "/metrics is never open to anyone."
    )
if not GUARDWATCH_METRICS and (GUARDWATCH_METRICS_TOKEN or GUARDWATCH_METRICS_ALLOW):
    raise ImproperlyConfigured(
        "GUARDWATCH_METRICS_TOKEN or GUARDWATCH_METRICS_ALLOW is set but GUARDWATCH_METRICS is off: "
        "set GUARDWATCH_METRICS=true to serve /metrics, or unset them."
    )
if GUARDWATCH_METRICS_TOKEN and (len(GUARDWATCH_METRICS_TOKEN) < 32 or GUARDWATCH_METRICS_TOKEN.strip() != GUARDWATCH_METRICS_TOKEN):
    raise ImproperlyConfigured("GUARDWATCH_METRICS_TOKEN must be at least 32 characters, without surrounding spaces.")
# prometheus-client reads it itself: counts of every gunicorn and Celery process of this host are kept there.
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if PROMETHEUS_MULTIPROC_DIR and not (os.path.isdir(PROMETHEUS_MULTIPROC_DIR) and os.access(PROMETHEUS_MULTIPROC_DIR, os.W_OK)):
    raise ImproperlyConfigured(
        f"PROMETHEUS_MULTIPROC_DIR={PROMETHEUS_MULTIPROC_DIR!r} is not a folder this process can write: create it "
        "(shared by the web and worker processes of this host, emptied before they start) or unset it."
    )
if GUARDWATCH_METRICS:
    # Prometheus scrapes gunicorn directly, like the container's health check (see docs/operations.md).
    SECURE_REDIRECT_EXEMPT.append(r"^metrics$")
