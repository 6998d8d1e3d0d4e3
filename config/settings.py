"""Settings, driven by environment variables.

With nothing set, the product runs on the embedded default: SQLite and Celery's
``filesystem://`` broker under ``DATA_DIR``. Set ``DATABASE_URL`` and
``CELERY_BROKER_URL`` for PostgreSQL and RabbitMQ.
"""

import os
from pathlib import Path

import dj_database_url

from config.secret_key import persisted_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / "data"))
DATA_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return default if value in (None, "") else float(value)


# Off unless asked for (DEBUG=1): a debug page shows settings and code to whoever hits an error.
DEBUG = env_bool("DEBUG", False)
# Unset: a random key made once and kept in DATA_DIR/secret_key (0600), shared by the processes
# of one DATA_DIR. Set it when several hosts serve the site, or DATA_DIR is not kept.
SECRET_KEY = os.environ.get("SECRET_KEY") or persisted_secret_key(DATA_DIR)
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_celery_results",
    "accounts",
    "activity_log",
    "elections",
    "scheduling",
    "notifications",
    "automations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT: the recursive tree query's row estimate is huge, and compiling it cost
    # ~120 ms per status change; short OLTP queries never gain from it.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} -c jit=off".strip()
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # Writers queue for the lock instead of failing: web, worker and beat share
        # this file. IMMEDIATE makes every transaction take the write lock at BEGIN,
        # which serialises writers as select_for_update does on PostgreSQL.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so the worker processes that tests start see the test data.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Every password check goes through the login limiter (accounts/ratelimit.py): at most
# LOGIN_RATE_LIMIT failed checks per client address and per username, on every log-in door.
AUTHENTICATION_BACKENDS = ["accounts.backends.RateLimitedModelBackend"]
LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10/min")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "election-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]

# Behind a TLS-terminating proxy: SECURE_SSL_REDIRECT=1 HSTS_SECONDS=31536000 TRUST_X_FORWARDED_PROTO=1
# (docker-compose.yml sets them). Secure cookies follow DEBUG unless SECURE_COOKIES says otherwise.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # probes on the plain-HTTP side of the proxy
SECURE_HSTS_SECONDS = int(env_float("HSTS_SECONDS", 0))
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# Shared by every process (web workers included). The login limiter does not use it (accounts/ratelimit.py).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                      "LOCATION": "django_cache"}}
if os.environ.get("CACHE_URL", "").startswith("redis://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": os.environ["CACHE_URL"]}}

# A bigger request body is refused (the API answers 413 in JSON; Django's default is 2.5 MB).
# 6 MiB holds a configuration of the 100,001 elections one upload may create (a top election
# and 100,000 children with their titles take about 3.5 MB; each child's own schedule adds ~110 bytes).
DATA_UPLOAD_MAX_MEMORY_SIZE = 6_291_456

# --- REST framework ----------------------------------------------------------
REST_FRAMEWORK = {
    # Token first, so an anonymous request gets 401 with WWW-Authenticate, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's parsers plus a JSON depth limit and no NUL or lone surrogate in any string (config/input.py).
    "DEFAULT_PARSER_CLASSES": ["config.input.JSONParser", "config.input.FormParser",
                               "config.input.MultiPartParser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    # How many proxies in front of the app append to X-Forwarded-For (read by the login
    # limiter's client_address). 0 (the default) ignores the header: a client could
    # otherwise name any address and dodge the limit.
    "NUM_PROXIES": int(env_float("TRUSTED_PROXIES", 0)),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Election scheduler API",
    "DESCRIPTION": "Schedule when elections open and close for voting.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery ----------------------------------------------------------------
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for folder in ("queue", "control", "processed"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery closes Django's connection around every task unless this is set; a reconnect cost
# more than firing an event. scheduling.tasks drops broken or old connections before each task.
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_STORE_ERRORS_EVEN_IF_IGNORED = True
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "scheduling")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_SEND_TASK_EVENTS = False

# --- Scheduling ---------------------------------------------------------------
# Only events due within the horizon are published with an ETA; the planner
# publishes the rest as they come within it (RabbitMQ's consumer_timeout is 30 min).
# Events due at one instant that the planner publishes travel together in one message;
# an event scheduled within the horizon goes alone, on commit. A short horizon (30 s,
# six planner ticks) lets more instants be published together (docs/benchmarks.md, 8).
SCHEDULING_HORIZON_SECONDS = env_float("SCHEDULING_HORIZON_SECONDS", 30)
SCHEDULING_PLANNER_INTERVAL_SECONDS = env_float("SCHEDULING_PLANNER_INTERVAL_SECONDS", 5)
# A pending event still not executed this long after its time (or after its last
# publish) is published again: its message was lost or no worker was there.
SCHEDULING_REDISPATCH_AFTER_SECONDS = env_float("SCHEDULING_REDISPATCH_AFTER_SECONDS", 15)
# --- Automations ---------------------------------------------------------------
# An account with no log-in for this many days is "inactive": automations leave it out of
# their recipients unless a recipients flag includes it (docs/automations.md).
INACTIVE_USER_DAYS = int(env_float("INACTIVE_USER_DAYS", 90))

CELERY_BEAT_SCHEDULE = {
    "scheduling-planner": {
        "task": "scheduling.tasks.plan",
        "schedule": SCHEDULING_PLANNER_INTERVAL_SECONDS,
        "options": {"expires": SCHEDULING_PLANNER_INTERVAL_SECONDS * 2},
    },
}
# The activity log's sealer links committed entries into its tamper-evident seal chain
# (activity_log.sealing); writers never wait for it. An entry older than the grace
# period without a seal is reported; one committed later than the lookback after it
# was written (a log-writing transaction open that long) is reported, not sealed.
ACTIVITY_LOG_SEAL_INTERVAL_SECONDS = env_float("ACTIVITY_LOG_SEAL_INTERVAL_SECONDS", 5)
ACTIVITY_LOG_SEAL_GRACE_SECONDS = env_float("ACTIVITY_LOG_SEAL_GRACE_SECONDS", 60)
ACTIVITY_LOG_SEAL_LOOKBACK_SECONDS = env_float("ACTIVITY_LOG_SEAL_LOOKBACK_SECONDS", 600)
CELERY_BEAT_SCHEDULE["activity-log-sealer"] = {
    "task": "activity_log.tasks.seal",
    "schedule": ACTIVITY_LOG_SEAL_INTERVAL_SECONDS,
    "options": {"expires": ACTIVITY_LOG_SEAL_INTERVAL_SECONDS * 2},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # the planner's tick (every few seconds) logs at DEBUG, not INFO (config/logging_filters.py)
    "filters": {"planner_tick_at_debug": {"()": "config.logging_filters.PlannerTickAtDebug"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain",
                             "filters": ["planner_tick_at_debug"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Email ---------------------------------------------------------------------
# EMAIL_URL: smtp://user:pass@host:port, smtp+tls://… (STARTTLS), smtp+ssl://… (implicit
# TLS), console://, file:///path. Unset: .eml files under DATA_DIR/outbox (docs/email.md).
from config.email_url import parse_email_url  # noqa: E402

EMAIL_CONFIG = parse_email_url(os.environ.get("EMAIL_URL", ""), data_dir=DATA_DIR)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Election scheduler <elections@localhost>")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Delivery runs on its own queue, so a slow mail server never delays a status change.
EMAIL_QUEUE = os.environ.get("EMAIL_QUEUE", "email")
CELERY_TASK_ROUTES = {"notifications.tasks.*": {"queue": EMAIL_QUEUE}}
EMAIL_BATCH_SIZE = int(env_float("EMAIL_BATCH_SIZE", 200))  # messages per delivery task (one connection)
EMAIL_RETRY_FIRST_SECONDS = env_float("EMAIL_RETRY_FIRST_SECONDS", 60)  # then doubling
EMAIL_GIVE_UP_AFTER_SECONDS = env_float("EMAIL_GIVE_UP_AFTER_SECONDS", 24 * 3600)
# A queued message whose delivery task has not run this long after it was published, or a
# message left 'sending' this long (its worker died), is published again by the sweep.
EMAIL_REDELIVER_AFTER_SECONDS = env_float("EMAIL_REDELIVER_AFTER_SECONDS", 120)
EMAIL_SWEEP_INTERVAL_SECONDS = env_float("EMAIL_SWEEP_INTERVAL_SECONDS", 10)
EMAIL_MAX_BODY_CHARS = int(env_float("EMAIL_MAX_BODY_CHARS", 200_000))  # per body, template and rendered
ALERT_LATE_SECONDS = env_float("ALERT_LATE_SECONDS", 60)
CELERY_BEAT_SCHEDULE["notifications-sweep"] = {
    "task": "notifications.tasks.sweep",
    "schedule": EMAIL_SWEEP_INTERVAL_SECONDS,
    "options": {"expires": EMAIL_SWEEP_INTERVAL_SECONDS * 2},
}
