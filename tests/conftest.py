"""Shared fixtures: a fresh storage per test, named hospitals, and service guards.

A test that needs a real service (PostgreSQL, Redis, DCMTK, Chromium) is skipped
when it is missing on a developer's machine, and fails when CI is set.
"""

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.signals import request_finished
from django.db import connection, connections

from accounts.sms import SMS, outbox
from imaging.models import Hospital, HospitalAETitle
from tests.support.services import require

pytest_plugins = [
    "tests.support.workers",
    "tests.support.browser",
    "tests.support.clock",
    "tests.support.postgres",
    "tests.support.redis_server",
]

LOOPBACK = "127.0.0.0/8\n::1/128"  # where the tests' DICOM senders are


@pytest.fixture
def live_server(live_server: Any) -> Iterator[Any]:
    """pytest-django's live server, whose request threads close their database connections.

    They are persistent (CONN_MAX_AGE), and a client's kept-alive connection keeps
    its server thread: its database connection outlived the test database.
    """

    def close_in_server_threads(**kwargs: object) -> None:
        if threading.current_thread() is not threading.main_thread():
            connections.close_all()

    request_finished.connect(close_in_server_threads, dispatch_uid="tests-live-server")
    yield live_server
    request_finished.disconnect(dispatch_uid="tests-live-server")


@pytest.fixture
def require_postgres() -> None:
    require(connection.vendor == "postgresql", "PostgreSQL (set DATABASE_URL)")


@pytest.fixture
def require_dcmtk() -> None:
    require(all(shutil.which(tool) for tool in ("storescu", "echoscu", "dcmj2pnm")), "DCMTK (apt-get install dcmtk)")


@pytest.fixture(autouse=True)
def storage_root(tmp_path: Path, settings: Any) -> Path:
    """Every test writes to its own storage folder."""
    root = tmp_path / "storage"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "imaging.storage.AtomicFileSystemStorage", "OPTIONS": {"location": root}},
    }
    settings.STORAGE_ROOT = root
    return root


@pytest.fixture(autouse=True)
def inline_tasks(settings: Any) -> None:
    """Tasks run in the test's process unless a test starts real workers (tests/support/workers.py)."""
    from portal.celery import app

    app.conf.task_always_eager = True
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CELERY_BROKER_URL = ""


@pytest.fixture(autouse=True)
def sms_outbox(settings: Any) -> list[SMS]:
    """SMS go to the locmem backend's outbox, emptied for every test."""
    settings.SMS_BACKEND = "locmem"
    outbox.clear()
    return outbox


@pytest.fixture
def hospital(db: None) -> Hospital:
    hospital = Hospital.objects.create(code="city1", name="City First Hospital")
    HospitalAETitle.objects.create(hospital=hospital, ae_title="CITY1_PACS", allowed_networks=LOOPBACK)
    return hospital


@pytest.fixture
def other_hospital(db: None) -> Hospital:
    hospital = Hospital.objects.create(code="tcm", name="TCM Hospital")
    HospitalAETitle.objects.create(hospital=hospital, ae_title="TCM_PACS", allowed_networks=LOOPBACK)
    return hospital
