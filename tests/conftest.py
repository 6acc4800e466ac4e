"""Shared fixtures: a fresh storage per test, named hospitals, and service guards.

A test that needs a real service (PostgreSQL, Redis, DCMTK, Chromium) is skipped
when it is missing on a developer's machine, and fails when CI is set.
"""

import shutil
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from accounts.sms import SMS, outbox
from imaging.models import Hospital, HospitalAETitle
from tests.support.services import require

pytest_plugins = ["tests.support.workers", "tests.support.browser"]


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
    HospitalAETitle.objects.create(hospital=hospital, ae_title="CITY1_PACS")
    return hospital


@pytest.fixture
def other_hospital(db: None) -> Hospital:
    hospital = Hospital.objects.create(code="tcm", name="TCM Hospital")
    HospitalAETitle.objects.create(hospital=hospital, ae_title="TCM_PACS")
    return hospital
