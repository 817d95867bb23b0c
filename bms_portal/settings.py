"""Settings of the battery fleet portal: one module, configured from environment variables.

See docs/configuration.md for every variable. A missing or malformed value stops the start-up with
a message naming the variable (``bms_portal.env``).
"""

from __future__ import annotations

from pathlib import Path

from bms_portal.api.rates import env_rate
from bms_portal.env import (
    cache_settings,
    env_bool,
    env_int,
    env_list,
    env_str,
    parse_database_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if len(SECRET_KEY) < 32:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters (50 random ones advised)")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
#: Absolute URL of the portal, used in e-mails and reports ("open this battery").
PORTAL_URL = env_str("PORTAL_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_plotly_dash.apps.DjangoPlotlyDashConfig",
    "bms_portal",
    "sites",
    "acquisition",
    "alarms",
    "forecasting",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "bms_portal.csp.ContentSecurityPolicyMiddleware",  # CSP header on HTML (security block below)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_plotly_dash.middleware.BaseMiddleware",
    "bms_portal.security.LoginRateLimitMiddleware",  # 429 for rate-limited sign-ins
    "bms_portal.routers.ReplicaReadsMiddleware",  # page reads on the replica, if configured
]

ROOT_URLCONF = "bms_portal.urls"
WSGI_APPLICATION = "bms_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "bms_portal" / "templates"],
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

# -- database: PostgreSQL only ---------------------------------------------------------------------
DATABASES = {"default": parse_database_url(env_str("DATABASE_URL"))}
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
#: The few hot queries whose planning outweighs their run (the live latest-values table, the
#: ingest's token lookup and bookkeeping) are prepared per connection (bms_portal/db.py). Off
#: behind PgBouncer < 1.21 in transaction mode.
DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", True)
if DB_PREPARED_STATEMENTS:
    # psycopg prepares what a server-binding cursor runs: only bms_portal.db's; Django's own
    # cursors bind client-side and never prepare.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# -- read replica (bms_portal/routers.py, docs/scaling.md) -----------------------------------------
#: A streaming replica of the primary. When set, GET pages of these URL namespaces (and Dash chart
#: callbacks) read the fleet's data from it; everything else stays on the primary.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL", "")
DATABASE_REPLICA_NAMESPACES = env_list("DATABASE_REPLICA_NAMESPACES", "sites,acquisition")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = parse_database_url(DATABASE_REPLICA_URL, name="DATABASE_REPLICA_URL")
    DATABASES["replica"]["CONN_MAX_AGE"] = DATABASES["default"]["CONN_MAX_AGE"]
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["bms_portal.routers.ReplicaRouter"]

# -- auth ------------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "sites:fleet"
LOGOUT_REDIRECT_URL = "login"

# -- i18n / time -----------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# -- static files (served by WhiteNoise; Dash assets served locally, never from a CDN) ----------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "var" / "static")))
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "django_plotly_dash.finders.DashAssetFinder",
    "django_plotly_dash.finders.DashComponentFinder",
    "django_plotly_dash.finders.DashAppDirectoryFinder",
]
WHITENOISE_USE_FINDERS = DEBUG or env_bool("WHITENOISE_USE_FINDERS", False)
X_FRAME_OPTIONS = "DENY"  # Dash charts render in the page ({% plotly_direct %}), not in iframes
PLOTLY_DASH = {"serve_locally": True, "cache_arguments": False}
PLOTLY_COMPONENTS = ["dpd_components"]

# -- security (production values; see deploy/production.env) ---------------------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True

# -- cache: shared by every gunicorn worker (API rate limits) --------------------------------------
#: Redis when REDIS_URL is set (sessions then read through it); else a database table
#: (``bms_portal.env.cache_settings``).
REDIS_URL = env_str("REDIS_URL", "")
_CACHE = cache_settings(REDIS_URL)
CACHES = _CACHE["CACHES"]
SESSION_ENGINE = _CACHE["SESSION_ENGINE"]

# -- REST API (docs/api.md) ------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "bms_portal.api.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PAGINATION_CLASS": "bms_portal.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "bms_portal.api.errors.exception_handler",
    # Rate limits: "<requests>/<second|minute|hour|day>". The edge agents' ingest is not DRF and
    # is never throttled. "user" caps a user over the portal session and all their tokens
    # together, "token" each personal token, "anon" callers that are not signed in (per IP).
    "DEFAULT_THROTTLE_CLASSES": [
        "bms_portal.api.throttling.AnonThrottle",
        "bms_portal.api.throttling.UserThrottle",
        "bms_portal.api.throttling.TokenThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_rate("API_RATE_ANON", "60/hour"),
        "user": env_rate("API_RATE_USER", "5000/hour"),
        "token": env_rate("API_RATE_TOKEN", "2000/hour"),
    },
    #: Proxies in front of gunicorn (X-Forwarded-For entries to trust for the anonymous rate).
    "NUM_PROXIES": env_int("API_NUM_PROXIES", 1 if env_bool("BEHIND_TLS_PROXY", False) else 0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Battery fleet portal API",
    "DESCRIPTION": (
        "Sites, banks, batteries, their readings and alarms. Authenticate with a personal API "
        "token (`Authorization: Token <key>` or `Bearer <key>`), created on the portal's "
        '"API tokens" page. All lists are scoped to the sites the caller may see; objects of '
        'other sites answer 404. Errors are JSON `{"error": <code>, "detail": ...}`. '
        "See docs/api.md."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "bms_portal.api.schema.add_error_responses",
    ],
    # Swagger UI assets come from drf-spectacular-sidecar: served by the portal, no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# -- Celery ----------------------------------------------------------------------------------------
#: With no broker configured (the embedded demo), tasks run in-process, at once.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", env_str("REDIS_URL", ""))
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
#: A task whose worker died unacknowledged goes back to the queue after this many seconds (Redis
#: has no acknowledgement of its own). Keep it above the longest task, or a slow task runs twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_S", 3600, minimum=1)
}
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "alarms.*": {"queue": "alarms"},
    "forecasting.*": {"queue": "forecasting"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
#: Periodic tasks. Apps append their own entries below; the database scheduler of
#: django-celery-beat picks them up and lets admins pause or re-time them.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    f"heartbeat-{queue}": {
        "task": "bms_portal.heartbeat",
        "schedule": 60.0,
        "args": (queue,),
        "options": {"queue": queue, "expires": 55},
    }
    for queue in ("default", "alarms", "forecasting")
}

# -- e-mail ----------------------------------------------------------------------------------------
#: ANYMAIL_PROVIDER=mailgun|sendgrid|postmark|amazon_ses|... picks that django-anymail backend, with
#: its keys from ANYMAIL_* variables; otherwise SMTP (self-hosting) when EMAIL_HOST is set, else the
#: console (the demo prints e-mails in its log).
ANYMAIL_PROVIDER = env_str("ANYMAIL_PROVIDER", "")
if ANYMAIL_PROVIDER:
    EMAIL_BACKEND = f"anymail.backends.{ANYMAIL_PROVIDER}.EmailBackend"
    ANYMAIL = {
        key: env_str(f"ANYMAIL_{key}")
        for key in env_list("ANYMAIL_SETTINGS", "API_KEY")  # e.g. API_KEY,SENDER_DOMAIN
    }
elif env_str("EMAIL_HOST", ""):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
else:
    EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "BMS portal <bms@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# -- acquisition -----------------------------------------------------------------------------------
#: Largest accepted ingest body; a 254-battery scan is about 40 kB of JSON.
INGEST_MAX_BODY_BYTES = env_int("INGEST_MAX_BODY_BYTES", 8 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = INGEST_MAX_BODY_BYTES
#: The ingest hands stored batches to the alarm evaluation in one Celery message per web process
#: per window of this many milliseconds (acquisition/handoff.py); 0 sends one message per request.
INGEST_HANDOFF_WINDOW_MS = env_int("INGEST_HANDOFF_WINDOW_MS", 100, minimum=0)
#: Readings older than this many days are dropped with their partition (0 keeps everything).
READINGS_RETENTION_DAYS = env_int("READINGS_RETENTION_DAYS", 730, minimum=0)

# -- logging ---------------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOG_FORMAT = env_str("LOG_FORMAT", "text")
if LOG_FORMAT not in {"text", "json"}:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} must be 'text' or 'json'")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "bms_portal.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# -- acquisition: periodic storage upkeep (owned by acquisition/tasks.py) --------------------------
#: Added to the schedule above (django_celery_beat's DatabaseScheduler syncs it at beat start).
CELERY_BEAT_SCHEDULE |= {
    "acquisition-manage-partitions": {
        "task": "acquisition.tasks.manage_partitions",
        "schedule": 6 * 3600.0,  # daily would do; 4x a day so one failed run costs nothing
        "options": {"queue": "default"},
    },
    "acquisition-rollup-readings": {
        "task": "acquisition.tasks.rollup_readings",
        "schedule": 300.0,
        "options": {"queue": "default"},
    },
}

# -- alarms: evaluation sweeps and notifications (owned by alarms/; see docs/alarms.md) ------------
#: New alarms of one site within this many seconds go out as one message. 0 with no broker (the
#: in-process demo has no beat to send a delayed message).
ALARMS_DEBOUNCE_S = env_int("ALARMS_DEBOUNCE_S", 0 if CELERY_TASK_ALWAYS_EAGER else 30, minimum=0)
#: Remind the primary contacts of unacknowledged alarms every N hours (0: never).
ALARMS_REMINDER_HOURS = env_int("ALARMS_REMINDER_HOURS", 4, minimum=0)
#: Tell the escalation contacts about alarms unacknowledged for M minutes (0: never).
ALARMS_ESCALATE_AFTER_MIN = env_int("ALARMS_ESCALATE_AFTER_MIN", 30, minimum=0)
#: Delivery attempts per message before it is marked failed (logged at ERROR, shown in the admin);
#: the wait doubles from ALARMS_RETRY_BASE_S up to ALARMS_RETRY_MAX_S.
ALARMS_NOTIFY_MAX_ATTEMPTS = env_int("ALARMS_NOTIFY_MAX_ATTEMPTS", 8, minimum=1)
ALARMS_RETRY_BASE_S = env_int("ALARMS_RETRY_BASE_S", 30, minimum=1)
ALARMS_RETRY_MAX_S = env_int("ALARMS_RETRY_MAX_S", 3600, minimum=1)
#: Float-voltage rules stay held this many minutes after a discharge ended (string recovery).
ALARMS_RECOVERY_MIN = env_int("ALARMS_RECOVERY_MIN", 30, minimum=0)
ALARMS_WEBHOOK_TIMEOUT_S = env_int("ALARMS_WEBHOOK_TIMEOUT_S", 10, minimum=1)
#: A stored batch whose evaluation has not run this long after its hand-off (the broker lost the
#: message) is queued again by the sweep; a backlog longer than this only evaluates twice.
ALARMS_HANDOFF_RETRY_S = env_int("ALARMS_HANDOFF_RETRY_S", 60, minimum=1)
#: Period of the sweep (pending alarms past their delay, communication loss): one scan interval.
ALARMS_SWEEP_S = env_int("ALARMS_SWEEP_S", 10, minimum=1)
CELERY_BEAT_SCHEDULE |= {
    "alarms-sweep": {
        "task": "alarms.tasks.sweep",
        "schedule": float(ALARMS_SWEEP_S),
        "options": {"queue": "alarms", "expires": float(ALARMS_SWEEP_S)},
    },
    "alarms-notify-due": {
        "task": "alarms.tasks.notify_due",
        "schedule": float(ALARMS_SWEEP_S),
        "options": {"queue": "alarms", "expires": float(ALARMS_SWEEP_S)},
    },
}

# -- reports: scheduled PDF/CSV reports (owned by sites/reports/; see docs/reports.md) -------------
#: The report templates live with their code in the sites.reports sub-package.
TEMPLATES[0]["DIRS"].append(BASE_DIR / "sites" / "reports" / "templates")
#: Attempts per report e-mail before its delivery is marked failed (logged at ERROR, in the
#: admin); the wait doubles from REPORTS_RETRY_BASE_S up to REPORTS_RETRY_MAX_S.
REPORTS_MAX_ATTEMPTS = env_int("REPORTS_MAX_ATTEMPTS", 6, minimum=1)
REPORTS_RETRY_BASE_S = env_int("REPORTS_RETRY_BASE_S", 60, minimum=1)
REPORTS_RETRY_MAX_S = env_int("REPORTS_RETRY_MAX_S", 3600, minimum=1)
CELERY_BEAT_SCHEDULE |= {
    # claims due subscriptions (one conditional UPDATE each) and retries failed deliveries
    "reports-send-due": {
        "task": "sites.reports.tasks.send_due",
        "schedule": 300.0,
        "options": {"queue": "default", "expires": 290.0},
    },
}

# -- operations: sign-in rate limit, Content-Security-Policy, /metrics (docs/operations.md) --------
#: Failed sign-ins allowed per username and client address within the window; after that every
#: attempt of that pair, the right password included, is refused (429) until the window ends.
LOGIN_RATE_LIMIT_ATTEMPTS = env_int("LOGIN_RATE_LIMIT_ATTEMPTS", 5, minimum=1)
LOGIN_RATE_LIMIT_WINDOW_S = env_int("LOGIN_RATE_LIMIT_WINDOW_S", 900, minimum=1)
AUTHENTICATION_BACKENDS = ["bms_portal.security.RateLimitedModelBackend"]
#: Content-Security-Policy (bms_portal/csp.py); CSP_REPORT_ONLY=1 to try a policy change first.
CSP_ENABLED = env_bool("CSP_ENABLED", True)
CSP_REPORT_ONLY = env_bool("CSP_REPORT_ONLY", False)
CSP_REPORT_URI = env_str("CSP_REPORT_URI", "")
CSP_EXTRA_SCRIPT_HASHES = env_list("CSP_EXTRA_SCRIPT_HASHES")
#: /metrics: with this bearer token from anywhere, without it only from loopback (no proxy).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_ALLOW_LOOPBACK = env_bool("METRICS_ALLOW_LOOPBACK", True)
#: Prometheus and load-balancer probes talk plain http to gunicorn on the private side.
SECURE_REDIRECT_EXEMPT = [r"^metrics$", r"^healthz$"]

# -- forecasting: fleet models and remaining life (owned by forecasting/; docs/forecasting.md) ----
#: EngineConfig fields overriding the engine's defaults (e.g. {"num_boost_round": 100}).
#: ``max_rows``: training rows per parameter model whatever the fleet size (400k: about a minute
#: per parameter on 2 cores; the forecast_train benchmark trains 10,000 batteries at that size).
FORECASTING_ENGINE: dict[str, object] = {
    "max_rows": env_int("FORECASTING_MAX_TRAINING_ROWS", 400_000, minimum=1000)
}
#: Days of daily rollups read per site for a prediction.
FORECASTING_HISTORY_DAYS = env_int("FORECASTING_HISTORY_DAYS", 1100, minimum=30)
from celery.schedules import crontab  # noqa: E402

CELERY_BEAT_SCHEDULE |= {
    "forecasting-train": {  # weekly, Sunday night; predicts every site when done
        "task": "forecasting.tasks.train",
        "schedule": crontab(minute=30, hour=1, day_of_week=0),
        "options": {"queue": "forecasting", "expires": 6 * 3600.0},
    },
    "forecasting-predict": {  # daily
        "task": "forecasting.tasks.predict_all",
        "schedule": crontab(minute=30, hour=3),
        "options": {"queue": "forecasting", "expires": 6 * 3600.0},
    },
}
