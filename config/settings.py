"""Settings, read from the environment.

With no environment set the app runs embedded: SQLite (WAL) under ``var/`` and a Celery worker on
kombu's filesystem transport, so nothing but Python is needed. Production sets ``DATABASE_URL``
(PostgreSQL) and ``CELERY_BROKER_URL`` (Redis). Every variable is documented in the README.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab

from config.keys import secrets_announce, secrets_load

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TRUST_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", default=False)

# --- Secrets (docs/security.md, "Secrets"; config/keys.py) -----------------------------------
# A server (a DATABASE_URL other than SQLite, or DJANGO_REQUIRE_SECRET_KEY on) takes
# DJANGO_SECRET_KEY, TRUST_FIELD_ENCRYPTION_KEYS, TRUST_BLIND_INDEX_KEY and TRUST_AUDIT_SIGNING_KEY
# from the environment and refuses to load without any of them, so web, worker and beat do not
# start. The embedded default (SQLite) makes each missing one once into var/keys/ (mode 0600) and
# reuses it; TRUST_EMBEDDED_KEYS=1 does so beside PostgreSQL too: tests and local trials only,
# never production. No key is written here, and none is derived from another.
_database_url = os.environ.get("DATABASE_URL", "").strip().lower()
EMBEDDED_KEYS = not env_bool("DJANGO_REQUIRE_SECRET_KEY") and (
    not _database_url or _database_url.startswith("sqlite:") or env_bool("TRUST_EMBEDDED_KEYS")
)
SECRETS_REQUIRED = not EMBEDDED_KEYS
KEYS_DIR = VAR_DIR / "keys"
_secrets = secrets_load(environ=os.environ, directory=KEYS_DIR, embedded=EMBEDDED_KEYS)
secrets_announce(
    _secrets,
    directory=KEYS_DIR,
    database=None if os.environ.get("DATABASE_URL") else VAR_DIR / "trust.sqlite3",
)
SECRET_KEY = _secrets.values["DJANGO_SECRET_KEY"]
# --- end of secrets ---------------------------------------------------------------------------

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "djmoney",
    "django_celery_beat",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",  # before "trust": it counts a failed sign-in before the audit trail looks
    "trust",
    "disbursements",
    "reports",
]

MIDDLEWARE = [
    # First: a request id and one log line per request, timed and counted for /metrics
    # (docs/operations.md, "Logs" and "Metrics").
    "config.operations.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # A view failing because the database is away answers 503 with Retry-After (the same
    # fault in another middleware: handler500, config/views.py).
    "config.middleware.DatabaseUnavailableMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "config.middleware.NoStoreMiddleware",
    "trust.audit.signin.AuditActorMiddleware",
    "trust.access.AccessMiddleware",
    "trust.twofactor.SecondFactorMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "trust.sessions.SessionLimitMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out sign-in into its page
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "config" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "trust.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
SQLITE_OPTIONS = {
    # Writers queue for the lock instead of failing with "database is locked" (DECISIONS.md).
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
}


def database_from_env() -> dict:
    url = os.environ.get("DATABASE_URL")
    if not url:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{VAR_DIR / 'trust.sqlite3'}"
    # A kept connection is checked before a request (or task) reuses it: after a server restart
    # the first query reconnects instead of failing (docs/operations.md, "Database faults").
    config = dj_database_url.parse(
        url,
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = dict(SQLITE_OPTIONS)
        config["CONN_MAX_AGE"] = 0
        test_name = os.environ.get("TEST_DATABASE_NAME")
        if test_name:
            # A file, not memory, so that a real worker process sees the test database.
            config["TEST"] = {"NAME": test_name}
    else:
        config.setdefault("TEST", {})
        if os.environ.get("TEST_DATABASE_NAME"):
            config["TEST"]["NAME"] = os.environ["TEST_DATABASE_NAME"]
        # A server that does not answer is a 503 after this many seconds, not a request hanging
        # for minutes (libpq waits for ever by default). A ?connect_timeout= in the URL wins.
        config.setdefault("OPTIONS", {}).setdefault(
            "connect_timeout", int(os.environ.get("DB_CONNECT_TIMEOUT", "5"))
        )
        if env_bool("DB_PGBOUNCER"):
            # Behind PgBouncer in transaction pooling a session's statements may reach a different
            # server connection each transaction: no server-side prepared statements (psycopg's
            # automatic ones and the ledger's and reports' prepare=True alike) and no cursors
            # held across transactions (README, "PgBouncer").
            config.setdefault("OPTIONS", {})["prepare_threshold"] = None
            config["DISABLE_SERVER_SIDE_CURSORS"] = True
    return config


DATABASES = {"default": database_from_env()}
# The reports' hot reads use server-side prepared statements on PostgreSQL (reports/db.py); off
# behind a pooler that cannot keep them (PgBouncer in transaction mode before 1.21).
REPORTS_PREPARED_STATEMENTS = env_bool("TRUST_PG_PREPARE", default=not env_bool("DB_PGBOUNCER"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# A reset link (docs/security.md, "Sign-in") works once, for an hour.
PASSWORD_RESET_TIMEOUT = 3600

# Sign-in lockout (django-axes; trust/lockout.py): after TRUST_SIGNIN_FAILURES failed sign-ins for
# one username, or from one address, every sign-in form refuses it, the right password too, until
# TRUST_SIGNIN_LOCKOUT_MINUTES have passed since the last failed try (or an administrator runs
# `manage.py axes_reset_username`). Its table holds the tries of the window only.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out sign-in
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("TRUST_SIGNIN_FAILURES", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("TRUST_SIGNIN_LOCKOUT_MINUTES", "30")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each alone: either one locks
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "trust.lockout.client_address"
AXES_LOCKOUT_CALLABLE = "trust.lockout.lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are in the audit trail
AXES_VERBOSE = False

# Sessions (trust/sessions.py): end after TRUST_SESSION_IDLE_MINUTES without a request, and
# TRUST_SESSION_MAX_HOURS after the sign-in however busy.
SESSION_COOKIE_AGE = 60 * int(os.environ.get("TRUST_SESSION_IDLE_MINUTES", "30"))
SESSION_SAVE_EVERY_REQUEST = True
SESSION_ABSOLUTE_AGE = 3600 * int(os.environ.get("TRUST_SESSION_MAX_HOURS", "12"))
SESSION_COOKIE_SAMESITE = "Lax"

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TRUST_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media files -----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "config" / "static"]
MEDIA_ROOT = Path(os.environ.get("TRUST_MEDIA_ROOT", VAR_DIR / "media"))
# Supporting documents of disbursement requests (PDF, JPEG, PNG): the largest accepted.
UPLOAD_MAX_BYTES = int(os.environ.get("TRUST_UPLOAD_MAX_BYTES", str(10 * 1024 * 1024)))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("DJANGO_MANIFEST_STATIC", default=False)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Money ----------------------------------------------------------------------------------
CURRENCIES = tuple(env_list("TRUST_CURRENCIES", "USD,PHP,EUR,GBP,JPY,BHD,THB,KHR,VND,INR"))
DEFAULT_CURRENCY = "USD"

# --- Background work ------------------------------------------------------------------------
# No broker configured: kombu's filesystem transport, a real worker with no server (DECISIONS.md).
CELERY_QUEUE_DIR = VAR_DIR / "celery" / "queue"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_QUEUE_DIR.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_QUEUE_DIR),
        "data_folder_out": str(CELERY_QUEUE_DIR),
        # kombu keeps its exchange table here; left unset it writes ./control in the working dir.
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "polling_interval": 0.1,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", "3600"))
# Bounded retries (trust.background.JobTask): a task is tried at most this many times more on a
# temporary fault, with exponential backoff, then becomes a failed job that trustees can retry.
TASK_MAX_RETRIES = int(os.environ.get("TRUST_TASK_MAX_RETRIES", "5"))
# The outbox (docs/operations.md): beat sends what could not be sent at commit every this many
# seconds; sent rows are kept this many days, for the record, then deleted.
OUTBOX_DRAIN_SECONDS = int(os.environ.get("TRUST_OUTBOX_DRAIN_SECONDS", "15"))
OUTBOX_KEEP_DAYS = int(os.environ.get("TRUST_OUTBOX_KEEP_DAYS", "7"))
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# The worker logs through LOGGING below (JSON in production) instead of replacing its handlers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    # The outbox (trust.background): messages the broker refused at commit, sent again; a run
    # that waited longer than one interval in the queue is dropped (the next one does its work).
    "outbox-drain": {
        "task": "trust.tasks.outbox_drain_task",
        "schedule": OUTBOX_DRAIN_SECONDS,
        # django-celery-beat's name for Celery's ``expires`` (its database scheduler).
        "options": {"expire_seconds": OUTBOX_DRAIN_SECONDS},
    },
    "outbox-purge-daily": {
        "task": "trust.tasks.outbox_purge_task",
        "schedule": crontab(hour=4, minute=20),
    },
    "check-ledger-nightly": {
        "task": "trust.tasks.check_ledger_task",
        "schedule": crontab(hour=2, minute=15),
    },
    # Audit trail (docs/audit.md): every minute, new events are sealed and, when there are any,
    # a tree head is signed and witnessed (so what no checkpoint covers is at most a minute old);
    # a full verification nightly. The same schedule runs embedded (`make demo`: worker -B).
    "audit-checkpoint-every-minute": {
        "task": "trust.tasks.audit_checkpoint_task",
        "schedule": crontab(),
    },
    # Notices (docs/roles.md): children reaching majority, care partners' vetting expiring.
    "notify-majority-daily": {
        "task": "trust.tasks.notify_majority_task",
        "schedule": crontab(hour=6, minute=0),
    },
    "notify-vetting-expiry-daily": {
        "task": "disbursements.tasks.notify_vetting_expiry_task",
        "schedule": crontab(hour=6, minute=5),
    },
    # The API's kept responses to an Idempotency-Key (trust/api/idempotency.py): kept 48 hours.
    "idempotency-purge-daily": {
        "task": "trust.tasks.idempotency_purge_task",
        "schedule": crontab(hour=4, minute=10),
    },
    "audit-verify-nightly": {
        "task": "trust.tasks.audit_verify_task",
        "schedule": crontab(hour=2, minute=45),
    },
    # Reports (docs/reports.md): each beneficiary's statement for the month before, on the 1st;
    # each trust's account to the court for the quarter before, on the 1st of a quarter.
    "statements-monthly": {
        "task": "reports.tasks.schedule_statements_task",
        "schedule": crontab(day_of_month=1, hour=3, minute=0),
        "kwargs": {"kind": "beneficiary_statement"},
    },
    "court-accounts-quarterly": {
        "task": "reports.tasks.schedule_statements_task",
        "schedule": crontab(month_of_year="1,4,7,10", day_of_month=1, hour=3, minute=30),
        "kwargs": {"kind": "court_account"},
    },
}

# --- The second factor (trust/twofactor.py, docs/security.md) -------------------------------
OTP_TOTP_ISSUER = "Restitution Trust Ledger"
# The embedded demo's users may skip it (README); never on a server.
DEMO_SKIP_SECOND_FACTOR = env_bool("TRUST_DEMO_SKIP_SECOND_FACTOR")
if DEMO_SKIP_SECOND_FACTOR and os.environ.get("DATABASE_URL"):
    raise RuntimeError(
        "TRUST_DEMO_SKIP_SECOND_FACTOR is for the embedded demo only: unset it with DATABASE_URL"
    )

# --- The API (docs/api.md) ------------------------------------------------------------------
KNOX_TOKEN_MODEL = "trust.ApiToken"  # noqa: S105 (a model label)
# knox's own migrations would create its default token table (and a foreign key to every user)
# although our model replaces it: knox is installed for its code only.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {"TOKEN_TTL": timedelta(days=90), "AUTO_REFRESH": False, "AUTH_HEADER_PREFIX": "Token"}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # The token first: its scheme is what a 401 names (WWW-Authenticate: Token).
        "trust.api.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "trust.api.auth.TokenScope",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "trust.api.throttles.TokenRateThrottle",
        "trust.api.throttles.AddressRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "token": os.environ.get("TRUST_API_RATE_TOKEN", "1200/min"),
        "address": os.environ.get("TRUST_API_RATE_ADDRESS", "3000/min"),
    },
    "DEFAULT_PAGINATION_CLASS": "trust.api.paging.Cursor",
    "PAGE_SIZE": 50,
    # JSON only: people read the API at /api/docs/ (Swagger UI) and /api/redoc/.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "trust.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "trust.api.problems.problem_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    "NUM_PROXIES": int(os.environ.get("TRUST_NUM_PROXIES", "0")),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Restitution Trust Ledger API",
    "DESCRIPTION": (
        "Every action of the pages, with the same rules (one permission layer). Authenticate with "
        "the browser's session or a token (`Authorization: Token <token>`, created on "
        "/account/tokens/). Money is a decimal string with its currency code, never a float. "
        "Every POST that changes anything accepts an `Idempotency-Key` header: a retry with the "
        "same key and body returns the first response and writes nothing; the same key with "
        "another body is refused with 422. Refusals are RFC 9457 problem details "
        "(`application/problem+json`) with a stable `code`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "TrustStatusEnum": "trust.models.Trust.Status",
        "BeneficiaryStatusEnum": "trust.models.Beneficiary.Status",
        "OrderStatusEnum": "trust.models.RestitutionOrder.Status",
        "ReceiptStatusEnum": "trust.models.Receipt.Status",
        "AccountRoleEnum": "trust.models.Account.Role",
        "EntryKindEnum": "trust.models.EntryKind",
        "CurrencyEnum": list(CURRENCIES),
        "ReportKindEnum": "reports.models.Kind",
        "ReportStatusEnum": "reports.models.Report.Status",
        "ReconciliationStatusEnum": "trust.bank.models.Reconciliation.Status",
        "VerificationStatusEnum": "trust.audit.models.AuditVerification.Status",
        "RequestStatusEnum": "disbursements.models.Status",
        "VettingStatusEnum": "disbursements.models.CarePartner.Vetting",
        "DocumentKindEnum": "disbursements.models.RequestDocument.Kind",
        "FeeBearerEnum": "disbursements.models.DisbursementPolicy.FeeBearer",
    },
}
# Throttle counters and other short-lived shared state: Redis in production (several web
# processes must count together), memory in the embedded default.
CACHES = (
    {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["TRUST_CACHE_URL"],
        }
    }
    if os.environ.get("TRUST_CACHE_URL")
    else {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
)

# --- Email ----------------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "trust-ledger@localhost")

# --- Security in production (docs/security.md, "Headers") -----------------------------------
# A server (SECRETS_REQUIRED above: the four secrets are required), not in debug, turns each switch
# here on by default; each is still set from the environment (plain HTTP in a lab).
SECURE_BY_DEFAULT = SECRETS_REQUIRED and not DEBUG
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", default=SECURE_BY_DEFAULT)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", default=SECURE_BY_DEFAULT)
SECURE_HSTS_SECONDS = int(
    os.environ.get("DJANGO_HSTS_SECONDS", str(365 * 24 * 3600 if SECURE_BY_DEFAULT else 0))
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool(
    "DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=SECURE_BY_DEFAULT
)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", default=SECURE_BY_DEFAULT)


def proxy_ssl_header(value: str) -> tuple[str, str] | None:
    """``X-Forwarded-Proto`` (meaning ``=https``) or ``X-Forwarded-Ssl=on``, as Django's META key.

    Only behind a TLS proxy that always sets (or strips) that header: a client could send it."""
    if not value.strip():
        return None
    name, _, expected = value.partition("=")
    meta = "HTTP_" + name.strip().upper().replace("-", "_")
    return (meta, expected.strip() or "https")


SECURE_PROXY_SSL_HEADER = proxy_ssl_header(os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER", ""))
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# A strict policy on every page (not only in production, so that tests and the demo catch an inline
# script or style): scripts and styles come from our static files only. The API's docs pages get
# their own, looser one (config/api.py). Chromium's PDF viewer works under it (a report with
# ?inline=1): tests/browser/test_content_security_policy.py.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- Operations (docs/operations.md: "Health checks", "Metrics", "Logs") ---------------------
# Seconds /readyz and `manage.py healthcheck` wait for the database, the broker and a worker.
HEALTH_TIMEOUT = float(os.environ.get("TRUST_HEALTH_TIMEOUT", "2"))
# The nightly ledger check and audit verification: older than this many hours is a warning.
HEALTH_NIGHTLY_MAX_HOURS = int(os.environ.get("TRUST_HEALTH_NIGHTLY_MAX_HOURS", "26"))
# The bearer token of /metrics (and of /readyz's details); unset, /metrics is not there (404).
METRICS_TOKEN = os.environ.get("TRUST_METRICS_TOKEN", "").strip()
# A load balancer's probe comes over plain HTTP: the probes are answered without the redirect.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# "json" (one object per line, the default on a server) or "text" (readable: embedded, dev).
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json" if SECURE_BY_DEFAULT else "text").strip().lower()
if LOG_FORMAT not in {"json", "text"}:
    raise ValueError(f"LOG_FORMAT={LOG_FORMAT}: use json or text")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "config.logs.ContextFilter"},
        "expected_refusals": {"()": "config.logs.ExpectedRefusalFilter"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context", "expected_refusals"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # A 4xx is the request's own line (trust.request), without Django's traceback.
        "django.request": {"filters": ["expected_refusals"]},
        # The task's own line (trust.task) replaces Celery's "received" and "succeeded: <result>";
        # an unexpected failure still logs its traceback (ERROR).
        "celery.app.trace": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
    },
}

# The demo logins (manage.py demo_users) are refused on a configured production database.
DEMO_ALLOWED = env_bool("TRUST_ALLOW_DEMO", default="DATABASE_URL" not in os.environ)

# --- Encryption of identifying data (docs/security.md) ---------------------------------------
# From the environment or var/keys/ (the secrets section above), never from SECRET_KEY.
# The first key encrypts, every key decrypts; rotate with `manage.py rotate_field_keys`.
FIELD_ENCRYPTION_KEYS = [
    key.strip() for key in _secrets.values["TRUST_FIELD_ENCRYPTION_KEYS"].split(",") if key.strip()
]
# A key of its own, so that rotating the field keys leaves every stored index valid.
BLIND_INDEX_KEY = _secrets.values["TRUST_BLIND_INDEX_KEY"]
# --- end of encryption of identifying data ---------------------------------------------------


# --- audit trail (docs/audit.md) -------------------------------------------------------------
# The Ed25519 private key that signs checkpoints (32 bytes, base64url): from the environment on a
# server, from var/keys/ in the embedded default (the secrets section above); never the database.
AUDIT_SIGNING_KEY = _secrets.values["TRUST_AUDIT_SIGNING_KEY"]
# Public keys of earlier signing keys (base64url, comma-separated): their checkpoints still verify.
AUDIT_PREVIOUS_PUBLIC_KEYS = env_list("TRUST_AUDIT_PREVIOUS_PUBLIC_KEYS")
# Names this log in every signed tree head, so that one installation's heads cannot pass for
# another's.
AUDIT_LOG_ID = os.environ.get("TRUST_AUDIT_LOG_ID", "").strip() or "restitution-trust-ledger"
# The witness (trust/audit/witness.py, docs/audit.md "The witness"): every signed tree head is
# also written where the database cannot rewrite it. "storage": one file per head through
# STORAGES["audit_witness"] (a folder by default; an object store with object lock is a settings
# change); "email": mailed to the trusts' auditors and TRUST_AUDIT_WITNESS_EMAILS. Both by
# default "storage"; "storage,email" for both. Signing refuses a head that does not extend the
# last one the storage witnessed.
AUDIT_WITNESS = tuple(env_list("TRUST_AUDIT_WITNESS", "storage"))
if set(AUDIT_WITNESS) - {"storage", "email", "none"}:
    raise ValueError(
        f"TRUST_AUDIT_WITNESS={','.join(AUDIT_WITNESS)}: use storage, email, storage,email or none"
    )
AUDIT_WITNESS = tuple(mode for mode in AUDIT_WITNESS if mode != "none")
AUDIT_WITNESS_DIR = Path(os.environ.get("TRUST_AUDIT_WITNESS_DIR", VAR_DIR / "audit-witness"))
STORAGES["audit_witness"] = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    # Read-only files: a head once written is never replaced (the storage refuses to overwrite).
    "OPTIONS": {"location": str(AUDIT_WITNESS_DIR), "file_permissions_mode": 0o444},
}
# Addresses that receive every mailed head besides the trusts' auditors (kept out of the
# database, so that editing users cannot divert the mail).
AUDIT_WITNESS_EMAILS = env_list("TRUST_AUDIT_WITNESS_EMAILS")
# A head is mailed when none was signed earlier in the same window of this many minutes.
AUDIT_WITNESS_EMAIL_MINUTES = int(os.environ.get("TRUST_AUDIT_WITNESS_EMAIL_MINUTES", "60"))
