"""A database made before the apps inside portal/ (commit 1260398) keeps every row of portal's tables.

The models of `portal` moved to portal.audit, portal.exams, portal.sharing and
portal.issuance with their tables kept (issue 17). This test takes the test
database back to the migrations that commit had, writes a row into every table
of the old `portal` app through the models as they were then, migrates to now,
and reads each row back through today's models. The content types of the moved
models keep their ids (so their permissions stay theirs) under the new labels.
"""

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps.registry import Apps
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts.models import PhoneLink
from portal.audit.models import AuditEvent
from portal.exams.models import Download
from portal.issuance.models import Issuance
from portal.sharing.models import ShareLink, ShareOpen

# The leaf migrations of the project's apps at 1260398 (the same names are in the tree now).
AT_1260398 = [
    ("portal", "0005_issuance_phone_link"),
    ("accounts", "0002_patients_and_staff"),
    ("imaging", "0008_unflushedfile_content"),
]
MOVED = {
    "auditevent": "audit",
    "download": "exams",
    "sharelink": "sharing",
    "shareopen": "sharing",
    "issuance": "issuance",
}

pytestmark = pytest.mark.django_db(transaction=True)


def migrate(targets: list[tuple[str, str]]) -> Apps:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def latest() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.fixture
def old_database() -> Iterator[Apps]:
    """The test database at 1260398's migrations; brought back to the latest whatever happens."""
    try:
        yield migrate(AT_1260398)
    finally:
        migrate(latest())
        ContentType.objects.clear_cache()


def old_content_types(apps: Apps) -> dict[str, int]:
    """The moved models' content types as the old database had them (label `portal`), each with a permission."""
    content_types = apps.get_model("contenttypes", "ContentType")
    permissions = apps.get_model("auth", "Permission")
    ids = {}
    for model, label in MOVED.items():
        content_types.objects.filter(app_label__in=["portal", label], model=model).delete()
        made = content_types.objects.create(app_label="portal", model=model)
        permissions.objects.create(content_type=made, codename=f"view_{model}", name=f"Can view {model}")
        ids[model] = made.pk
    return ids


def write_old_rows(apps: Apps) -> dict[str, Any]:
    """One row in every table of the old portal app (and what they point at), through the models of then."""
    model = apps.get_model
    now = timezone.now()
    hospital = model("imaging", "Hospital").objects.create(code="old1", name="Old Hospital")
    record = model("imaging", "PatientRecord").objects.create(hospital=hospital, patient_id="MRN-1")
    study = model("imaging", "Study").objects.create(study_uid="1.2.3", patient=record, hospital=hospital)
    series = model("imaging", "Series").objects.create(series_uid="1.2.3.1", study=study)
    patient = model("accounts", "User").objects.create(username="+8613800000001", phone="+8613800000001")
    clerk = model("accounts", "User").objects.create(username="clerk-old")
    link = model("accounts", "PhoneLink").objects.create(phone=patient.phone, patient_record=record, source="staff")
    share = model("portal", "ShareLink").objects.create(
        study=study, created_by=patient, token_hash="a" * 64, code_hash="b" * 64, code_salt="c" * 32,
        expires_at=now + dt.timedelta(days=7), wrong_codes=2, opens=3,
    )  # fmt: skip
    opening = model("portal", "ShareOpen").objects.create(share=share, network="10.0.0.0/24", browser="Chrome")
    download = model("portal", "Download").objects.create(
        study=study, kind="dicom", status="ready", share=share, storage_key="downloads/1/x.zip", size_bytes=123, files=4
    )
    first = model("portal", "Issuance").objects.create(
        hospital=hospital, patient_record=record, phone=patient.phone, choice="efilm", issued_by=clerk, share=share
    )
    second = model("portal", "Issuance").objects.create(
        hospital=hospital, patient_record=record, choice="print", issued_by=clerk, phone_link=link, replaces=first
    )
    second.studies.set([study])
    event = model("portal", "AuditEvent").objects.create(
        actor="patient", user=patient, action="share_create", study=study, series=series, detail={"share": share.pk}
    )
    return {
        "study": study.pk, "series": series.pk, "patient": patient.pk, "link": link.pk, "share": share.pk,
        "opening": opening.pk, "download": download.pk, "first": first.pk, "second": second.pk, "event": event.pk,
    }  # fmt: skip


def test_it_keeps_every_row_of_portals_tables(old_database: Apps) -> None:
    old = write_old_rows(old_database)
    migrate(latest())

    share = ShareLink.objects.get(pk=old["share"])
    assert (share.study_id, share.created_by_id, share.token_hash, share.wrong_codes, share.opens) == (
        old["study"], old["patient"], "a" * 64, 2, 3,
    )  # fmt: skip
    assert (share.locks, share.suspended_at) == (0, None)  # columns added since, at their defaults
    assert ShareOpen.objects.get(pk=old["opening"]).share == share
    download = Download.objects.get(pk=old["download"])
    assert (download.share_id, download.study_id, download.size_bytes, download.files) == (
        share.pk,
        old["study"],
        123,
        4,
    )
    assert list(share.downloads.all()) == [download]
    second = Issuance.objects.get(pk=old["second"])
    assert second.replaces_id == old["first"]
    assert second.phone_link == PhoneLink.objects.get(pk=old["link"])
    assert list(second.studies.values_list("pk", flat=True)) == [old["study"]]
    assert Issuance.objects.get(pk=old["first"]).share == share
    event = AuditEvent.objects.get(pk=old["event"])
    assert (event.user_id, event.study_id, event.series_id, event.detail) == (
        old["patient"], old["study"], old["series"], {"share": share.pk},
    )  # fmt: skip


def test_it_relabels_the_moved_models_content_types(old_database: Apps) -> None:
    ids = old_content_types(old_database)
    migrate(latest())
    ContentType.objects.clear_cache()
    for model, label in MOVED.items():
        content_type = ContentType.objects.get(pk=ids[model])
        assert (content_type.app_label, content_type.model) == (label, model)
        assert Permission.objects.filter(content_type=content_type, codename=f"view_{model}").exists()
    assert not ContentType.objects.filter(app_label="portal").exists()
