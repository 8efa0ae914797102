"""One settings module, driven by the environment.

Defaults run the whole console on one machine with nothing installed beyond
requirements.txt: SQLite, kombu's filesystem broker, a local storage folder.
Set DATABASE_URL / REDIS_URL (and CONSOLE_PRODUCTION=1 behind a TLS proxy) for
a real deployment.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise ImproperlyConfigured(f"Set the {name} environment variable.")
    return value


def envbool(name: str, default: str) -> bool:
    value = env(name, default).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}.")


def envint(name: str, default: str) -> int:
    value = env(name, default)
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}.") from None


def envfloat(name: str, default: str) -> float:
    value = env(name, default)
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}.") from None


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


# Where the one-machine install keeps its database, broker folders and buckets.
VAR_DIR = Path(env("CONSOLE_VAR_DIR", str(BASE_DIR / "var"))).resolve()

PRODUCTION = envbool("CONSOLE_PRODUCTION", "0")
DEBUG = envbool("DEBUG", "0")

if PRODUCTION:
    SECRET_KEY = env("SECRET_KEY")
else:
    # One machine: a key generated on first start and kept beside the data.
    _key_file = VAR_DIR / "secret_key"
    SECRET_KEY = os.environ.get("SECRET_KEY") or (_key_file.read_text().strip() if _key_file.exists() else "")
    if not SECRET_KEY:
        from django.core.management.utils import get_random_secret_key

        VAR_DIR.mkdir(parents=True, exist_ok=True)
        SECRET_KEY = get_random_secret_key()
        _key_file.write_text(SECRET_KEY)
        _key_file.chmod(0o600)

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.admin",
    "django_htmx",
    "axes",
    "console.core",
    "console.accounts",
    "console.audit",
    # Listed bottom-up, as the layers go (docs/LAYERS.md): an app's ready() may count on those above it in this list.
    "console.authorizations",
    "console.storage",
    "console.nodepools",
    "console.mymodels",
    "console.versions",
    "console.training",
    "console.notebooks",
    "console.services",
    "console.api",
    "console.dashboard",
]

MIDDLEWARE = [
    # First, so every response carries X-Request-Id: static files and HTTPS redirects too.
    "console.core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Outside everything that reads the database: a database that is down or out of
    # connections answers 503 (page or API body), not 500.
    "console.core.db_outage.DatabaseOutageMiddleware",
    # NUL / lone surrogates in the path, query, form or JSON: a 400 naming where, before any
    # query sees them (cookies holding one are dropped before the session is read).
    "console.core.hostile_input.HostileInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "console.accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "console.core.middleware.VaryOnHtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "console.urls"
CSRF_FAILURE_VIEW = "console.core.views.csrf_failure"
WSGI_APPLICATION = "console.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "console.accounts.context_processors.console_nav",
                # The owner's jobs that ended since they last looked (lazy: one query, only on full pages).
                "console.training.notices.job_notices",
                # The owner's notebook stop warnings, fetched after the page loads (no query here).
                "console.notebooks.context_processors.notebook_warnings",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", "")
# PostgreSQL: each process shares a bounded pool (Django's psycopg pool) among its threads
# instead of keeping one idle connection per thread. A request waits up to DATABASE_POOL_TIMEOUT
# for a free connection, then gets a 503 (console.core.db_outage). 0 turns the pool off: the
# Celery worker runs without one (its prefork children must not inherit the main process's pool).
DATABASE_POOL_MIN_SIZE = envint("DATABASE_POOL_MIN_SIZE", "1")
DATABASE_POOL_MAX_SIZE = envint("DATABASE_POOL_MAX_SIZE", "4")
DATABASE_POOL_TIMEOUT = envfloat("DATABASE_POOL_TIMEOUT", "10")
if DATABASE_POOL_MAX_SIZE > 0 and not 0 <= DATABASE_POOL_MIN_SIZE <= DATABASE_POOL_MAX_SIZE:
    raise ImproperlyConfigured("DATABASE_POOL_MIN_SIZE must be between 0 and DATABASE_POOL_MAX_SIZE.")
# psycopg-pool is pinned in requirements.txt; an install without it runs unpooled and the
# health page says so, rather than refusing to start.
DATABASE_POOL_MISSING = False
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DATABASE_POOL_MAX_SIZE > 0:
        import importlib.util

        if importlib.util.find_spec("psycopg_pool") is None:
            DATABASE_POOL_MISSING = True
        else:
            DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django requires it with a pool
            DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
                "min_size": DATABASE_POOL_MIN_SIZE,
                "max_size": DATABASE_POOL_MAX_SIZE,
                "timeout": DATABASE_POOL_TIMEOUT,
                # Connections above min_size go back to the server after a minute unused.
                "max_idle": 60,
            }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "console.sqlite3",
            "OPTIONS": {
                # SQLite has no row locks: IMMEDIATE takes the write lock at BEGIN,
                # so two writers serialise instead of failing half-way.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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

LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

# Repeated sign-in failures: locked out per user+IP, answered with 429.
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", "5")
AXES_COOLOFF_TIME = envfloat("AXES_COOLOFF_HOURS", "0.25")
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_CALLABLE = "console.accounts.views.locked_out"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "console.core.staticfiles.ConsoleStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# Local buckets live here unless an administrator points a bucket elsewhere.
STORAGE_ROOT = Path(env("CONSOLE_STORAGE_ROOT", str(VAR_DIR / "buckets"))).resolve()

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", str(60 * 60 * 12))
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

if PRODUCTION:
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "1")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Celery -----------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
BROKER_DIR = VAR_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than any task's hard time limit, so a slow task is never run twice
        # by redelivery; stale work is re-enqueued by the beat sweep instead.
        "visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", "3600"),
    }
else:
    CELERY_BROKER_URL = "filesystem://"
    # kombu does not create its folders, and any process (web, a management command)
    # may be the first to send a message.
    for _sub in ("queue", "control", "processed"):
        (BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", "900")
CELERY_TASK_SOFT_TIME_LIMIT = envint("CELERY_TASK_SOFT_TIME_LIMIT", "840")
CELERY_TASK_DEFAULT_QUEUE = "platform"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The worker never gives up on the broker: Celery's default stops after 100 reconnection
# attempts (its backoff grows to 30 s between them, so under an hour of outage) and the worker
# exits. Queued work is resent by the broker check once it is back (console.core.work).
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A task in progress when the broker goes away keeps running: its row is claimed by
# compare-and-set, so the redelivered message is a no-op; cancelling it would only waste the work.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "console.core.beat:HeartbeatScheduler"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Background work: how often running work proves it is alive, when it counts as
# stale, how often beat sweeps, and how many attempts before giving up.
WORK_HEARTBEAT_SECONDS = envfloat("WORK_HEARTBEAT_SECONDS", "5")
WORK_STALE_SECONDS = envfloat("WORK_STALE_SECONDS", "30")
WORK_MAX_ATTEMPTS = envint("WORK_MAX_ATTEMPTS", "3")
WORK_LOST_MESSAGE_SECONDS = envfloat("WORK_LOST_MESSAGE_SECONDS", "300")
SWEEP_INTERVAL_SECONDS = envfloat("SWEEP_INTERVAL_SECONDS", "10")
BEAT_HEARTBEAT_SECONDS = envfloat("BEAT_HEARTBEAT_SECONDS", "5")
# The health page calls beat down when its last tick is older than this.
BEAT_DOWN_AFTER_SECONDS = envfloat("BEAT_DOWN_AFTER_SECONDS", "30")
# Workers are pinged and inspected in the background (console.core.tasks.observe_workers, by beat)
# every WORKERS_OBSERVE_SECONDS, each broadcast waiting at most WORKERS_INSPECT_TIMEOUT (≤ 1 s); the
# health page shows the last answer and calls it stale after WORKERS_STALE_SECONDS.
WORKERS_OBSERVE_SECONDS = envfloat("WORKERS_OBSERVE_SECONDS", "10")
WORKERS_INSPECT_TIMEOUT = envfloat("WORKERS_INSPECT_TIMEOUT", "1")
WORKERS_STALE_SECONDS = envfloat("WORKERS_STALE_SECONDS", "30")
# The dashboard's storage use of each project, summed by beat (walking buckets is never done on a page load).
DASHBOARD_STORAGE_USE_SECONDS = envfloat("DASHBOARD_STORAGE_USE_SECONDS", "300")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"client_errors_one_line": {"()": "console.core.log_filters.ClientErrorsOneLine"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "axes": {"level": "WARNING"},
        # A 403/404 is logged as one line, not with the traceback of the exception that refused it.
        "django.request": {"filters": ["client_errors_one_line"]},
        # Beat sends the poller and the sweep every few seconds: one line per task
        # received and succeeded would drown everything else. Failures still show.
        "celery.app.trace": {"level": env("CELERY_TASK_LOG_LEVEL", "WARNING")},
        "celery.worker.strategy": {"level": env("CELERY_TASK_LOG_LEVEL", "WARNING")},
        "celery.beat": {"level": env("CELERY_TASK_LOG_LEVEL", "WARNING")},
    },
}

# --- training ---------------------------------------------------------------
# Training jobs and the nodes that run them (console.training, console.nodepools).
# Queues: "platform" (the platform's own work, incl. the poller), "pool.<name>"
# (a pool's job starts, consumed only by that pool's workers) and "node.<name>"
# (launching a runner on one node).
TRAINING_WORK_DIR = Path(env("TRAINING_WORK_DIR", str(VAR_DIR / "training"))).resolve()
# How often beat reconciles every non-terminal job.
TRAINING_POLL_SECONDS = envfloat("TRAINING_POLL_SECONDS", "2")
# A runner reports this often; silent for TRAINING_RUNNER_TIMEOUT_SECONDS → its task is Lost.
TRAINING_RUNNER_HEARTBEAT_SECONDS = envfloat("TRAINING_RUNNER_HEARTBEAT_SECONDS", "1")
TRAINING_RUNNER_TIMEOUT_SECONDS = envfloat("TRAINING_RUNNER_TIMEOUT_SECONDS", "10")
# A task assigned to a node whose runner has not started after this long is Lost.
TRAINING_LAUNCH_TIMEOUT_SECONDS = envfloat("TRAINING_LAUNCH_TIMEOUT_SECONDS", "60")
# Log lines are written to the database at most this long after the script printed them.
TRAINING_LOG_FLUSH_SECONDS = envfloat("TRAINING_LOG_FLUSH_SECONDS", "0.25")
TRAINING_LOG_CAP_BYTES = envint("TRAINING_LOG_CAP_BYTES", str(10 * 1024 * 1024))
# Scalars a script logs (event files, MA_METRIC lines): points and names kept per job, and how
# often the runner looks for new TensorBoard events.
TRAINING_SCALAR_CAP = envint("TRAINING_SCALAR_CAP", "200000")
TRAINING_SCALAR_NAME_CAP = envint("TRAINING_SCALAR_NAME_CAP", "50")
TRAINING_SCALAR_POLL_SECONDS = envfloat("TRAINING_SCALAR_POLL_SECONDS", "1")
TRAINING_METRIC_INTERVAL_SECONDS = envfloat("TRAINING_METRIC_INTERVAL_SECONDS", "2")
# Outputs are uploaded this often while the job runs (seed: upload_periodically, period 30).
TRAINING_OUTPUT_UPLOAD_PERIOD = envint("TRAINING_OUTPUT_UPLOAD_PERIOD", "30")
# Stop: SIGTERM to the process group, SIGKILL after this grace.
TRAINING_STOP_GRACE_SECONDS = envfloat("TRAINING_STOP_GRACE_SECONDS", "5")
# A Creating job no pool worker picked up is shown Pending (with the reason) after this long.
TRAINING_CREATING_GRACE_SECONDS = envfloat("TRAINING_CREATING_GRACE_SECONDS", "3")
NODE_HEARTBEAT_SECONDS = envfloat("NODE_HEARTBEAT_SECONDS", "2")
NODE_TIMEOUT_SECONDS = envfloat("NODE_TIMEOUT_SECONDS", "15")
# --- end training -----------------------------------------------------------

# --- Ray cluster pools (console.nodepools.raycluster, console.training.services.ray_jobs) ---
# How often beat asks each Ray pool's head for its jobs (one GET /api/jobs/ per pool per cycle).
RAY_POLL_SECONDS = envfloat("RAY_POLL_SECONDS", "3")
# How often beat refreshes a Ray cluster's health and nodes (GET /api/version and /api/v0/nodes).
RAY_CLUSTER_REFRESH_SECONDS = envfloat("RAY_CLUSTER_REFRESH_SECONDS", "15")
RAY_HTTP_TIMEOUT_SECONDS = envfloat("RAY_HTTP_TIMEOUT_SECONDS", "10")
# Every Ray job the console submits has an id starting with this (it keeps only its own jobs).
RAY_SUBMISSION_PREFIX = env("RAY_SUBMISSION_PREFIX", "modelarts-")
# A job assigned to a Ray pool and not confirmed submitted after this long is submitted again
# (the same submission_id: Ray never runs it twice).
RAY_SUBMIT_RETRY_SECONDS = envfloat("RAY_SUBMIT_RETRY_SECONDS", "20")
# Logs: Ray returns a job's whole log each time; the console keeps an offset and appends at most
# this much per job per cycle, for at most this many jobs per cycle (the others wait a cycle).
RAY_LOG_BYTES_PER_CYCLE = envint("RAY_LOG_BYTES_PER_CYCLE", str(256 * 1024))
RAY_LOG_JOBS_PER_CYCLE = envint("RAY_LOG_JOBS_PER_CYCLE", "20")
# The bootstrap's job-scoped credential: valid while the job runs, and never longer than this.
RAY_CREDENTIAL_MAX_AGE_SECONDS = envint("RAY_CREDENTIAL_MAX_AGE_SECONDS", str(7 * 24 * 3600))
# The console's address as Ray nodes reach it (a Ray pool's default; each pool may set its own).
CONSOLE_PUBLIC_URL = env("CONSOLE_PUBLIC_URL", "http://" + env("CONSOLE_BIND", "127.0.0.1:8000"))

# --- notebooks (console.notebooks) -------------------------------------------
# Flavors a notebook can take (ModelArts names); a notebook holds this share of its node.
NOTEBOOK_FLAVORS = [
    {"flavor_id": "modelarts.vm.cpu.1u", "name": "CPU 1 vCPU | 4 GiB", "cpu_cores": 1, "memory_gb": 4},
    {"flavor_id": "modelarts.vm.cpu.2u", "name": "CPU 2 vCPUs | 8 GiB", "cpu_cores": 2, "memory_gb": 8},
    {"flavor_id": "modelarts.vm.cpu.8u", "name": "CPU 8 vCPUs | 32 GiB", "cpu_cores": 8, "memory_gb": 32},
]
# STARTING (or CREATING without a node) longer than this → START_FAILED / CREATE_FAILED with the reason.
NOTEBOOK_START_TIMEOUT_SECONDS = envfloat("NOTEBOOK_START_TIMEOUT_SECONDS", "180")
# The warning before any automatic stop (lease or idle) comes at least this long before it.
NOTEBOOK_STOP_WARNING_SECONDS = envfloat("NOTEBOOK_STOP_WARNING_SECONDS", "600")
# How often beat sweeps notebooks, and how often a runner reads Jupyter's activity.
NOTEBOOK_SWEEP_SECONDS = envfloat("NOTEBOOK_SWEEP_SECONDS", "5")
NOTEBOOK_ACTIVITY_SECONDS = envfloat("NOTEBOOK_ACTIVITY_SECONDS", "10")
# Running (or starting) notebooks one user may have in one project.
NOTEBOOK_MAX_RUNNING_PER_USER = envint("NOTEBOOK_MAX_RUNNING_PER_USER", "2")
# Largest work folder (GB, the volume's capacity): files beyond it are not saved.
NOTEBOOK_WORK_QUOTA_GB = envint("NOTEBOOK_WORK_QUOTA_GB", "5")
# Jupyter listens on a unix socket (the web host is the node); set on nodes that are other hosts.
NOTEBOOK_LISTEN_TCP = envbool("NOTEBOOK_LISTEN_TCP", "0")
CELERY_BEAT_SCHEDULE = {
    "notebooks sweep": {
        "task": "console.notebooks.tasks.sweep",
        "schedule": NOTEBOOK_SWEEP_SECONDS,
        "options": {"queue": "platform", "expires": max(NOTEBOOK_SWEEP_SECONDS * 4, 10)},
    },
}
# --- end notebooks -----------------------------------------------------------

# --- inference services (console.services) ------------------------------------
# Flavors an instance can take (ModelArts names); an instance holds this share of its node.
SERVICE_FLAVORS = [
    {"flavor_id": "modelarts.vm.cpu.1u", "name": "CPU 1 vCPU | 4 GiB", "cpu_cores": 1, "memory_gb": 4},
    {"flavor_id": "modelarts.vm.cpu.2u", "name": "CPU 2 vCPUs | 8 GiB", "cpu_cores": 2, "memory_gb": 8},
    {"flavor_id": "modelarts.vm.cpu.8u", "name": "CPU 8 vCPUs | 32 GiB", "cpu_cores": 8, "memory_gb": 32},
]
# Memory an instance needs beyond its weights (the interpreter, torch, activations).
SERVICE_MEMORY_OVERHEAD_BYTES = envint("SERVICE_MEMORY_OVERHEAD_BYTES", str(1024**3))
# How often beat reconciles services (and at most this long before a change is acted on).
SERVICE_RECONCILE_SECONDS = envfloat("SERVICE_RECONCILE_SECONDS", "3")
# Engine limits per instance: concurrent requests, max_tokens cap, request timeout (s).
SERVICE_MAX_CONCURRENCY = envint("SERVICE_MAX_CONCURRENCY", "4")
SERVICE_MAX_NEW_TOKENS_CAP = envint("SERVICE_MAX_NEW_TOKENS_CAP", "1024")
SERVICE_REQUEST_TIMEOUT_SECONDS = envint("SERVICE_REQUEST_TIMEOUT_SECONDS", "120")
# An instance not ready this long after its start fails (and is replaced).
SERVICE_START_TIMEOUT_SECONDS = envfloat("SERVICE_START_TIMEOUT_SECONDS", "300")
# Consecutive failed runs of one instance before the service is failed (no more replacements).
SERVICE_MAX_RESTARTS = envint("SERVICE_MAX_RESTARTS", "5")
# A draining instance stops after this long even if requests are still open.
SERVICE_DRAIN_TIMEOUT_SECONDS = envfloat("SERVICE_DRAIN_TIMEOUT_SECONDS", "150")
# The "Try it" panel's short-lived API key.
SERVICE_TRY_KEY_SECONDS = envint("SERVICE_TRY_KEY_SECONDS", "900")
CELERY_BEAT_SCHEDULE["services reconcile"] = {
    "task": "console.services.tasks.reconcile",
    "schedule": SERVICE_RECONCILE_SECONDS,
    "options": {"queue": "platform", "expires": max(SERVICE_RECONCILE_SECONDS * 4, 10)},
}
# --- end inference services -------------------------------------------------------

# The currency of node-pool prices and costs (ISO 4217 code): CNY shows as ¥, USD as $, EUR as €, others as the code.
CONSOLE_CURRENCY = env("CONSOLE_CURRENCY", "CNY").strip().upper() or "CNY"

# Worker children import torch/transformers when they start instead of on the first check.
WEIGHTCHECK_WARM_UP = envbool("WEIGHTCHECK_WARM_UP", "1")

# --- storage ---
# The seed: a single browser upload to OBS may not exceed 5 GB; larger files go
# through `manage.py storage_upload`, which uploads in parts.
STORAGE_MAX_BROWSER_UPLOAD = envint("STORAGE_MAX_BROWSER_UPLOAD", str(5 * 1024**3))
STORAGE_UPLOAD_PART_SIZE = envint("STORAGE_UPLOAD_PART_SIZE", str(64 * 1024**2))
