"""Settings of the e-film portal, read from the environment.

Every value has a default that runs on a laptop (SQLite under var/, tasks run
inline, SMS printed to the console). With DEBUG off the portal refuses to start
without SECRET_KEY and ALLOWED_HOSTS: production never falls back silently.
"""

import base64
import binascii
import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from boto3.s3.transfer import TransferConfig

# Lets ModelAdmin[...] and QuerySet[...] be subscripted at run time, for the type checker.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false)")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "insecure-development-key-do-not-use-in-production-0123456789"  # noqa: S105


def share_token_keys(name: str, secret_key: str) -> list[str]:
    """The Fernet keys that seal share tokens (portal.sharing.sealing), the first sealing, all opening.

    `name` holds one key or several, comma-separated (a rotation: the new key
    first); unset, one key is derived from SECRET_KEY with HKDF-SHA256. A key is
    never echoed in the error: it is a secret.
    """
    keys = env_list(name, [])
    for number, key in enumerate(keys, start=1):
        try:
            valid = len(base64.urlsafe_b64decode(key.encode())) == 32
        except (binascii.Error, ValueError):
            valid = False
        if not valid:
            raise ImproperlyConfigured(
                f"{name}: key {number} of {len(keys)} is not a Fernet key (32 bytes in URL-safe base64; make one "
                'with python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())")'
            )
    if keys:
        return keys
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"efilm share tokens").derive(
        secret_key.encode()
    )
    return [base64.urlsafe_b64encode(derived).decode()]


# Share tokens are kept sealed so the patient can be shown a link again; see share_token_keys.
SHARE_TOKEN_KEYS = share_token_keys("SHARE_TOKEN_KEY", SECRET_KEY)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off")

VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
STORAGE_ROOT = Path(env_str("STORAGE_ROOT", str(VAR_DIR / "storage")))
# The address `make run`/`make serve` listen on (the Makefile passes HOST and PORT): the default of
# SITE_URL, so that links and QR codes point at the port the portal is served on.
HOST = env_str("HOST", "127.0.0.1") or "127.0.0.1"
PORT = env_int("PORT", 8000)
SITE_URL = (env_str("SITE_URL") or f"http://{HOST}:{PORT}").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "accounts",
    "imaging",
    # The product, as apps inside the project (portal/<app>/), and the project itself last.
    "portal.audit",
    "portal.exams",
    "portal.sharing",
    "portal.issuance",
    "portal.dashboard",
    "portal",
]

MIDDLEWARE = [
    "portal.middleware.ClientAddressMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.middleware.CompressPagesMiddleware",  # below WhiteNoise, whose files come compressed already
    "portal.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "portal.middleware.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.VerifiedDeviceMiddleware",  # django-otp's, with a cheaper device lookup
    "accounts.middleware.SessionLimitsMiddleware",
    # After the session's limits: a session they end is restored from a remembered phone (accounts.remembering).
    "accounts.middleware.RememberedDeviceMiddleware",
    "accounts.middleware.DeviceCookieMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it sees the response of a locked sign-in
]

# Origins of DICOMweb viewers (OHIF) allowed to call /dicomweb/ from a browser.
DICOMWEB_CORS_ORIGINS = env_list("DICOMWEB_CORS_ORIGINS", [])
# STOW-RS caps, in bytes; past either the request is answered 413. A part is one
# instance: the largest the region sends (a multi-frame object) is under 3 GB. A
# request may carry a whole exam, up to 3 GB, with room to spare.
DICOMWEB_STOW_MAX_PART_BYTES = env_int("DICOMWEB_STOW_MAX_PART_BYTES", 4 * 1024**3)
DICOMWEB_STOW_MAX_REQUEST_BYTES = env_int("DICOMWEB_STOW_MAX_REQUEST_BYTES", 8 * 1024**3)
# Where STOW-RS parts wait on disk while they are ingested: a disk, not a tmpfs
# (a tmpfs would hold a 3 GB part in memory).
DICOMWEB_STOW_SPOOL_DIR = Path(env_str("DICOMWEB_STOW_SPOOL_DIR", str(VAR_DIR / "stow-spool")))

# How many reverse proxies (each appending to X-Forwarded-For) stand in front of the portal.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
# django-axes first: it refuses a locked sign-in before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "accounts.backends.UserBackend"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
            ],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL says otherwise. SQLite runs in
# WAL mode (a commit is cheaper than with the rollback journal: docs/architecture.md,
# Settings) and takes its write lock at BEGIN so concurrent writers wait instead of failing.
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so that a process a test starts can share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-portal.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's cursors bind on the client and never prepare; psycopg prepares
    # only the statements that ask for it (ingest's index write, whose planning
    # costs more than its execution). Django's default, None, forbids even those.
    DATABASES["default"]["OPTIONS"] = {"prepare_threshold": 1_000_000}

STORAGES = {
    "default": {
        "BACKEND": "imaging.storage.AtomicFileSystemStorage",
        "OPTIONS": {"location": STORAGE_ROOT},
    },
    "staticfiles": {
        # WhiteNoise's compressed manifest storage, rewriting the viewer's module imports to hashed names.
        "BACKEND": "portal.staticfiles.ManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage",
    },
}
STORAGE_BACKEND = env_str("STORAGE_BACKEND", "filesystem") or "filesystem"
if STORAGE_BACKEND not in {"filesystem", "s3"}:
    raise ImproperlyConfigured(f"STORAGE_BACKEND={STORAGE_BACKEND!r} is not a storage (use filesystem or s3)")


def _s3_transfer_config() -> "TransferConfig":
    """Uploads in parts of 8 MiB, four at a time, at most five parts in memory: ~40 MiB however large the object."""
    from boto3.s3.transfer import TransferConfig

    part = 8 * 1024**2
    config = TransferConfig(multipart_threshold=part, multipart_chunksize=part, max_concurrency=4)
    # s3transfer's parts read ahead of the uploading threads (boto3's constructor
    # does not take it): 10 by default, so that an upload held 11 parts, 88 MiB.
    config.max_in_memory_upload_chunks = 4
    return config


def s3_storage(bucket: str, endpoint_url: str, access_key: str, secret_key: str) -> dict[str, Any]:
    """The STORAGES entry of an S3-compatible object store (django-storages), bounded in memory."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url or None,
            # Unset: boto3's own chain (AWS_* variables, an instance role).
            "access_key": access_key or None,
            "secret_key": secret_key or None,
            # Keys name their content (imaging.storage): a second PUT of a key
            # writes the same bytes. Not overwriting, django-storages would
            # store a racing writer's copy under a random name nobody reads.
            "file_overwrite": True,
            # An object opened for reading is fetched whole into a spooled file:
            # past 8 MiB it goes to a temporary file (FILE_UPLOAD_TEMP_DIR), not
            # memory. django-storages' default, 0, keeps a 3 GB object in memory.
            "max_memory_size": 8 * 1024**2,
            "transfer_config": _s3_transfer_config(),
        },
    }


if STORAGE_BACKEND == "s3":
    if not env_str("S3_BUCKET"):
        raise ImproperlyConfigured("S3_BUCKET must be set when STORAGE_BACKEND is s3")
    STORAGES["default"] = s3_storage(
        env_str("S3_BUCKET"), env_str("S3_ENDPOINT_URL"), env_str("S3_ACCESS_KEY_ID"), env_str("S3_SECRET_ACCESS_KEY")
    )

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Languages: Simplified Chinese first, English second.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# One date style per language on every page (portal/formats).
FORMAT_MODULE_PATH = ["portal.formats"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = env_str("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
if DEBUG:
    STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every request otherwise

# Sessions are read from the cache and written through to the database: a
# request for an image then costs no session query.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env_str("CACHE_URL"),
    }
    if env_str("CACHE_URL")
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# Security: strict by default, stricter when DEBUG is off.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    # Both reach beyond this site, so the operator opts in: includeSubDomains forces HTTPS on every
    # host of the domain (an intranet host on plain HTTP becomes unreachable), and preload asks
    # browsers to build the policy in, which takes months to undo.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Celery: with no broker, tasks run in the calling process.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", CELERY_BROKER_URL) or None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240)
CELERY_TASK_DEFAULT_QUEUE = "bulk"
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A sign-in code is awaited by someone at the page, as an image rendered on demand is.
CELERY_TASK_ROUTES = {
    "imaging.tasks.render_on_demand": {"queue": "interactive"},
    "accounts.tasks.send_sms_through_gateway": {"queue": "interactive"},
}
RENDER_WAIT_SECONDS = env_int("RENDER_WAIT_SECONDS", 10)
# Renders whose message the broker never took (it was down) are queued by the task imaging.tasks.sweep_renders
# (imaging/rendering/tasks.py):
# run by `celery beat` every RENDER_SWEEP_SECONDS, over the images received in the last
# RENDER_SWEEP_LOOKBACK_MINUTES (`manage.py sweep_renders --hours N` looks further back).
RENDER_SWEEP_SECONDS = env_int("RENDER_SWEEP_SECONDS", 600)
RENDER_SWEEP_LOOKBACK_MINUTES = env_int("RENDER_SWEEP_LOOKBACK_MINUTES", 60)
CELERY_BEAT_SCHEDULE = {
    "sweep-renders": {"task": "imaging.tasks.sweep_renders", "schedule": RENDER_SWEEP_SECONDS},
    # An expired share is never shown again: its sealed token goes (portal.sharing.shares.forget_expired_tokens).
    "forget-expired-share-tokens": {"task": "portal.sharing.tasks.forget_expired_tokens", "schedule": 24 * 3600},
    # A child who came of age leaves the guardian's view: their shares end, the link lapses (accounts.family).
    "lapse-grown-children": {"task": "portal.sharing.tasks.lapse_grown_children", "schedule": 24 * 3600},
}
# Studies up to this many instances and bytes are zipped in the request; larger ones by a worker
# (one 2 GB multi-frame is a single instance, and zipping it outlasts a request).
DOWNLOAD_INLINE_MAX_INSTANCES = env_int("DOWNLOAD_INLINE_MAX_INSTANCES", 50)
DOWNLOAD_INLINE_MAX_BYTES = env_int("DOWNLOAD_INLINE_MAX_BYTES", 256 * 1024 * 1024)

# import_dicom inflates zip members as it reads them and stops at these sizes: the sizes an
# archive declares are the sender's word (a 1 MB zip bomb once took 2.2 GB of memory). A member
# is held in memory whole, so the first bounds memory; the second bounds one archive's work.
IMPORT_ZIP_MEMBER_MAX_BYTES = env_int("IMPORT_ZIP_MEMBER_MAX_BYTES", 512 * 1024 * 1024)
IMPORT_ZIP_TOTAL_MAX_BYTES = env_int("IMPORT_ZIP_TOTAL_MAX_BYTES", 16 * 1024 * 1024 * 1024)
LOGIN_URL = "/staff/sign-in/"
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_timeout": 5, "socket_connect_timeout": 5}

# DICOM
DICOM_AE_TITLE = env_str("DICOM_AE_TITLE", "REGION")
DICOM_LISTENER_HOST = env_str("DICOM_LISTENER_HOST", "127.0.0.1")
DICOM_LISTENER_PORT = env_int("DICOM_LISTENER_PORT", 11112)
DICOM_MAX_PDU = env_int("DICOM_MAX_PDU", 262144)
DICOM_MAX_ASSOCIATIONS = env_int("DICOM_MAX_ASSOCIATIONS", 40)
DICOM_LISTENER_PROCESSES = env_int("DICOM_LISTENER_PROCESSES", 0)  # 0: one per core
# Connections each listener process holds, closed at accept beyond these: from one source address
# (the busiest modality or PACS opens a handful of associations at once), and, from everyone, not
# yet accepted by A-ASSOCIATE-AC (a handshake takes milliseconds; these are peers nobody trusts yet).
DICOM_MAX_CONNECTIONS_PER_ADDRESS = env_int("DICOM_MAX_CONNECTIONS_PER_ADDRESS", 32)
DICOM_MAX_UNAUTHENTICATED_CONNECTIONS = env_int("DICOM_MAX_UNAUTHENTICATED_CONNECTIONS", 64)
# ARTIM (PS3.8 9.1.5): seconds from a connection (its TLS handshake included) to A-ASSOCIATE-AC/RJ,
# in all; a peer still handshaking then is disconnected. A real sender needs milliseconds.
DICOM_ARTIM_SECONDS = env_int("DICOM_ARTIM_SECONDS", 30)
# Connections completed by the kernel and not yet accepted; Linux caps it at net.core.somaxconn.
# A burst of silent connections must not fill it before a real sender's (it was 40).
DICOM_LISTEN_BACKLOG = env_int("DICOM_LISTEN_BACKLOG", 4096)
# A C-STORE object up to this size goes into the index with its row, and its file is flushed later
# (imaging.listener.flushing); a larger one is flushed while its row is written. 0: every file flushed at once.
DICOM_JOURNAL_MAX_BYTES = env_int("DICOM_JOURNAL_MAX_BYTES", 64 * 1024)
# A C-STORE dataset larger than this is written to DICOM_SPOOL_DIR as it arrives instead of being
# held in memory (the region's largest objects are GBs); smaller ones, most of them, stay in memory.
DICOM_SPOOL_ABOVE_BYTES = env_int("DICOM_SPOOL_ABOVE_BYTES", 4 * 1024**2)
# A disk, not a tmpfs (a tmpfs would hold a spooled object in memory).
DICOM_SPOOL_DIR = Path(env_str("DICOM_SPOOL_DIR", str(VAR_DIR / "dicom-spool")))

# SMS: console (printed), locmem (tests), file, http (a gateway), or a dotted path.
SMS_BACKEND = env_str("SMS_BACKEND", "console")
SMS_FILE_PATH = Path(env_str("SMS_FILE_PATH", str(VAR_DIR / "sms")))
SMS_GATEWAY_URL = env_str("SMS_GATEWAY_URL")
SMS_GATEWAY_KEY = env_str("SMS_GATEWAY_KEY")
SMS_GATEWAY_SENDER = env_str("SMS_GATEWAY_SENDER")
SMS_GATEWAY_TEMPLATE = env_str("SMS_GATEWAY_TEMPLATE")
# Seconds the gateway has for each step of a POST (connect, send, read); at most 60:
# accounts.tasks derives the task's time limits from it, below CELERY_TASK_*_TIME_LIMIT.
SMS_GATEWAY_TIMEOUT = env_int("SMS_GATEWAY_TIMEOUT", 10)
# A text the gateway refuses or does not answer is tried again this many times, after
# SMS_GATEWAY_BACKOFF seconds doubled at each retry (plus up to half again, at random),
# then given up on with an ERROR log line naming the masked number. The defaults try
# for about two minutes: a sign-in code is valid for five.
SMS_GATEWAY_RETRIES = env_int("SMS_GATEWAY_RETRIES", 4)
SMS_GATEWAY_BACKOFF = env_int("SMS_GATEWAY_BACKOFF", 5)
if SMS_BACKEND == "http" and not SMS_GATEWAY_URL:
    raise ImproperlyConfigured("SMS_BACKEND=http needs SMS_GATEWAY_URL")
if not 1 <= SMS_GATEWAY_TIMEOUT <= 60:
    raise ImproperlyConfigured(f"SMS_GATEWAY_TIMEOUT={SMS_GATEWAY_TIMEOUT} must be between 1 and 60 seconds")
if SMS_BACKEND == "http" and not DEBUG and not CELERY_BROKER_URL:
    # Without a broker the texts go from threads of the web process: lost when it restarts.
    raise ImproperlyConfigured("SMS_BACKEND=http needs CELERY_BROKER_URL (a worker sends the texts) when DEBUG is off")
PHONE_DEFAULT_REGION = env_str("PHONE_DEFAULT_REGION", "CN")
# Sign-in limits (issue 5): per number and per client address.
SMS_RESEND_SECONDS = 60
SMS_PER_NUMBER_10_MINUTES = 5
SMS_PER_NUMBER_DAY = 10
SMS_PER_IP_HOUR = env_int("SMS_PER_IP_HOUR", 20)
# Family members a patient may ask to see in a day: each request may send a text to a number they name.
FAMILY_REQUESTS_PER_DAY = 5
# Wrong codes (accounts.throttle): counted over a sliding window, per device cookie, or per number
# and per network from other clients; the doubling wait is capped so nobody is kept out long.
SIGN_IN_FAILURE_WINDOW = dt.timedelta(hours=env_int("SIGN_IN_FAILURE_WINDOW_HOURS", 24))
SIGN_IN_MAX_WAIT = env_int("SIGN_IN_MAX_WAIT", 15 * 60)
SIGN_IN_NETWORK_FREE_FAILURES = env_int("SIGN_IN_NETWORK_FREE_FAILURES", 10)
# Staff sign-in (django-axes, accounts.staff_lockout): per username and per client network, with the
# device-cookie rule; a locked sign-in answers like any failed one. django-otp's own TOTP delay doubles
# without cap, so it is off: axes counts a wrong TOTP code as a failure instead.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # a lock ends 15 minutes after it began
AXES_RESET_ON_SUCCESS = False  # an attacker's failures do not vanish when the person signs in
AXES_CLIENT_IP_CALLABLE = "accounts.staff_lockout.client_address"
AXES_WHITELIST_CALLABLE = "accounts.staff_lockout.trusted_device_of_user"
AXES_LOCKOUT_CALLABLE = "accounts.staff_lockout.same_page_when_locked"
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token"]
AXES_DISABLE_ACCESS_LOG = True  # sign-ins are in the audit log; axes' own would keep patients' numbers too
OTP_TOTP_THROTTLE_FACTOR = 0
# Patients' sessions end after 30 minutes idle and 12 hours in all.
SESSION_COOKIE_AGE = 30 * 60
SESSION_ABSOLUTE_SECONDS = 12 * 3600
# Sharing, a share's new access code and the original DICOM files ask for an SMS code entered in the
# session within this many seconds (accounts.stepup): a session restored from a remembered phone has none.
FRESH_CODE_SECONDS = env_int("FRESH_CODE_SECONDS", 15 * 60)
OTP_TOTP_ISSUER = "Regional e-film"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}
SPECTACULAR_SETTINGS = {"TITLE": "E-film portal API", "VERSION": "1"}

# Django's W003 looks for its own CSRF class by name; portal.middleware.CsrfViewMiddleware
# subclasses it (share pages post with Origin: null) and portal.E001 checks that it is installed.
SILENCED_SYSTEM_CHECKS = ["security.W003"]
# W005 and W021 ask for includeSubDomains and preload; off is the deliberate default (above), so
# they are silenced only while off, and `check --deploy` stays clean either way.
if not DEBUG and not SECURE_HSTS_INCLUDE_SUBDOMAINS:
    SILENCED_SYSTEM_CHECKS.append("security.W005")
if not DEBUG and not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS.append("security.W021")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"share_tokens": {"()": "portal.logging.RedactShareTokens"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["share_tokens"]},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Access lines and 404 warnings name the path: through the filter like everything else.
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.request": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "pynetdicom": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},
        "pydicom": {"level": "ERROR"},
    },
}
