"""portal.settings: read from the environment, loud on bad values, strict in production."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k" * 20 + "-production-secret-with-enough-entropy-9f8e7d",
    "ALLOWED_HOSTS": "efilm.example.org",
}


# Set for the test process by the browser fixture (tests/support/browser.py), never for a server.
PRODUCTION_UNSAFE = {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC_UNSAFE"}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_UNSAFE}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_it_refuses_to_start_in_production_without_a_secret_key() -> None:
    result = manage("check", DEBUG="0", ALLOWED_HOSTS="efilm.example.org")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_it_refuses_to_start_in_production_without_allowed_hosts() -> None:
    result = manage("check", DEBUG="0", SECRET_KEY=PRODUCTION["SECRET_KEY"])
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must be set when DEBUG is off" in result.stderr


@pytest.mark.parametrize(("name", "value"), [("DEBUG", "maybe"), ("DICOM_LISTENER_PORT", "eleven")])
def test_it_fails_loudly_on_a_malformed_value(name: str, value: str) -> None:
    result = manage("check", **{name: value})
    assert result.returncode != 0
    assert f"{name}={value!r}" in result.stderr


def test_it_passes_the_deployment_checks_in_production() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_it_runs_on_sqlite_and_inline_tasks_by_default() -> None:
    code = (
        "from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER, s.DEBUG)"
    )
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "DEBUG"}}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.split() == ["django.db.backends.sqlite3", "True", "True"]


def test_it_selects_postgresql_and_redis_from_the_environment() -> None:
    code = (
        "from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'], s.CELERY_TASK_ALWAYS_EAGER, "
        "s.CELERY_BROKER_URL)"
    )
    env = {**os.environ, "DATABASE_URL": "postgres://u@db.example:5432/efilm", "CELERY_BROKER_URL": "redis://r:6379/1"}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.split() == ["django.db.backends.postgresql", "efilm", "False", "redis://r:6379/1"]


def test_it_refuses_an_unknown_storage_backend() -> None:
    result = manage("check", STORAGE_BACKEND="minio")
    assert result.returncode != 0
    assert "STORAGE_BACKEND='minio'" in result.stderr


def test_it_refuses_an_object_store_without_a_bucket() -> None:
    result = manage("check", STORAGE_BACKEND="s3", S3_BUCKET="")
    assert result.returncode != 0
    assert "S3_BUCKET must be set when STORAGE_BACKEND is s3" in result.stderr


def test_it_selects_the_object_store_from_the_environment() -> None:
    """The README's S3 settings load in a process of their own: boto3 and django-storages are installed."""
    code = (
        "from django.core.files.storage import storages; d = storages['default']; "
        "print(type(d).__name__, d.bucket_name, d.endpoint_url, d.access_key, d.file_overwrite)"
    )
    env = {"STORAGE_BACKEND": "s3", "S3_BUCKET": "efilm", "S3_ENDPOINT_URL": "http://minio.example:9000"}
    result = manage("shell", "-v", "0", "-c", code, **env, S3_ACCESS_KEY_ID="portal", S3_SECRET_ACCESS_KEY="secret")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["S3Storage", "efilm", "http://minio.example:9000", "portal", "True"]


def test_it_refuses_a_middleware_list_without_the_portals_csrf_protection(settings: Any, db: None) -> None:
    # db: the deployment checks also look for demo identities in the database (accounts.checks).
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "portal.middleware.CsrfViewMiddleware"]
    with pytest.raises(SystemCheckError, match=r"portal\.E001"):
        call_command("check", "--deploy")


def test_it_fails_loudly_on_a_share_token_key_that_is_not_a_fernet_key() -> None:
    result = manage("check", SHARE_TOKEN_KEY="not-a-key-but-a-secret-all-the-same")
    assert result.returncode != 0
    assert "SHARE_TOKEN_KEY: key 1 of 1 is not a Fernet key" in result.stderr
    assert "not-a-key-but-a-secret" not in result.stderr  # a secret is never echoed


def test_it_derives_the_share_token_key_from_the_secret_key_unless_one_is_set(monkeypatch: Any) -> None:
    from cryptography.fernet import Fernet

    from portal.settings import share_token_keys

    monkeypatch.delenv("SHARE_TOKEN_KEY", raising=False)
    derived = share_token_keys("SHARE_TOKEN_KEY", "one secret key")
    assert derived == share_token_keys("SHARE_TOKEN_KEY", "one secret key")
    assert derived != share_token_keys("SHARE_TOKEN_KEY", "another secret key")
    Fernet(derived[0])
    new, old = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("SHARE_TOKEN_KEY", f"{new}, {old}")
    assert share_token_keys("SHARE_TOKEN_KEY", "one secret key") == [new, old]
