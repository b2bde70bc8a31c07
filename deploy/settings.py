"""Settings for the trial backend, read from the environment with strict parsing.

Two shapes:
- the embedded default (``TRIAL_ENV=local``, the default): SQLite in WAL mode with IMMEDIATE
  transactions, a filesystem Celery broker under ``var/``, console e-mail, no Redis needed;
- production (``TRIAL_ENV=production``): refuses to start without a real ``SECRET_KEY`` and
  ``ALLOWED_HOSTS``; ``DATABASE_URL`` selects PostgreSQL and ``REDIS_URL`` the broker and cache.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("TRIAL_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

TRIAL_ENV = env.str("TRIAL_ENV", default="local")
if TRIAL_ENV not in {"local", "production"}:
    raise ImproperlyConfigured(f"TRIAL_ENV must be 'local' or 'production', not {TRIAL_ENV!r}")
PRODUCTION = TRIAL_ENV == "production"

DEBUG = env.bool("DEBUG", default=False)


def _local_secret_key() -> str:
    """A per-checkout random key for the local demo, kept in var/ so sessions survive restarts."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure"):
        raise ImproperlyConfigured("production needs SECRET_KEY: at least 50 random characters")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
    if not ALLOWED_HOSTS or "*" in ALLOWED_HOSTS:
        raise ImproperlyConfigured("production needs ALLOWED_HOSTS: explicit host names")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secret_key()
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "axes",
    "django_htmx",
    "trial",
    "randomization",
    "monitoring",
    "monitoring.dashboard",
]

MIDDLEWARE = [
    # Probes first: the kubelet and Docker call them by IP over plain HTTP (deploy/health.py).
    "deploy.health.HealthProbeMiddleware",
    # X-Request-ID in and out, one JSON access line per request (deploy/logging.py).
    "deploy.logging.RequestIdMiddleware",
    "trial.middleware.RefuseNulBytesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "trial.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "deploy.urls"
WSGI_APPLICATION = "deploy.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'trial.sqlite3'}"),
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL makes single-row commits ~12x faster; IMMEDIATE serialises writers, since SQLite
    # ignores SELECT ... FOR UPDATE.
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    _db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
else:
    # Persistent connections: without them a worker served 113 req/s instead of ~670.
    _db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
    _db["CONN_HEALTH_CHECKS"] = True
    if _db["ENGINE"].startswith("django.db.backends.postgresql"):
        # No JIT: on the dashboards' aggregates over 50k patients compiling the plan cost
        # seconds and saved nothing (short OLTP queries never reach its thresholds anyway).
        _options = _db.setdefault("OPTIONS", {})
        _options["options"] = " ".join(filter(None, [_options.get("options", ""), "-c jit=off"]))
    _db.setdefault("TEST", {})["NAME"] = env.str("TEST_DATABASE_NAME", default="test_trial")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker and cache ----------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("out", "processed"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "data_folder_processed": str(_broker_dir / "processed"),
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Auth -----------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
# Lock the account, not the address: a hospital's staff share one NAT address, and an attacker
# rotating addresses must not get more password guesses per account.
AXES_LOCKOUT_PARAMETERS = ["username"]
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
API_TOKEN_TTL_DAYS = env.int("API_TOKEN_TTL_DAYS", default=90)

# --- I18N -----------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("fr", _("French"))]
LOCALE_PATHS = [BASE_DIR / "trial" / "locale"]
USE_I18N = True
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Paris")
USE_TZ = True

# --- Static ---------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
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
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(VAR_DIR / "media"))

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="trial@localhost")
SPONSOR_SAFETY_EMAIL = env.str("SPONSOR_SAFETY_EMAIL", default="safety@localhost")

# --- REST -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "trial.api.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["trial.api.permissions.IsActiveStaff"],
    "DEFAULT_PARSER_CLASSES": [
        "trial.api.parsers.TrialJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "trial.api.schema.TrialAutoSchema",
    "EXCEPTION_HANDLER": "trial.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "trial.api.pagination.TrialPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_RATES": {
        "lab": env.str("LAB_THROTTLE_RATE", default="6000/min"),
        "user": env.str("USER_THROTTLE_RATE", default="2000/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # ?format=csv selects our CSV exports, not a DRF renderer.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Adaptive trial backend API",
    "DESCRIPTION": (
        "REST API v1 for site staff, central roles and laboratories. Every error is "
        '`{"code", "message", "details"}` with a stable `code`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- Logging --------------------------------------------------------------------------------
# One JSON object per line in production (time, level, logger, message, request_id, ...), a
# readable line locally; web, workers and beat share it (deploy/logging.py).
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if PRODUCTION else "text")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'json' or 'text', not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "deploy.logging.JsonFormatter"},
        "text": {"()": "deploy.logging.TextFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# --- Health ---------------------------------------------------------------------------------
# Bound on each readiness check that waits on the network (Redis, Celery ping).
HEALTH_CHECK_TIMEOUT_S = env.float("HEALTH_CHECK_TIMEOUT_S", default=1.0)

# Lab batches and FHIR Bundles: ~0.3 KB a result, so 10 MB holds some 30,000 results. Larger
# bodies are refused with 413 ``payload_too_large``.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)

# --- Product --------------------------------------------------------------------------------
TRIAL_PUBLIC_URL = env.str("TRIAL_PUBLIC_URL", default="http://127.0.0.1:8000")

# --- Central monitoring ---------------------------------------------------------------------
# The heavy dashboard pages are served from snapshots younger than this many seconds (computed
# by the beat once older than half of it, or by a request that found none); 0: every request live.
DASHBOARD_SNAPSHOT_MAX_AGE = env.int("DASHBOARD_SNAPSHOT_MAX_AGE", default=300)
