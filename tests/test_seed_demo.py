"""manage.py seed_demo: the demo region, idempotent."""

import io
from typing import Any

import pytest
from django.core.management import call_command

from accounts.models import FamilyLink, FamilyStatus, PhoneLink
from imaging.models import Hospital, HospitalAETitle, Instance, PatientRecord, Report, Series, Study


def index_counts() -> dict[str, int]:
    models = (Hospital, HospitalAETitle, PatientRecord, Study, Series, Instance, Report)
    return {model.__name__: model.objects.count() for model in models}


@pytest.mark.slow
@pytest.mark.django_db
def test_it_seeds_the_demo_and_a_second_run_adds_nothing(settings: Any) -> None:
    settings.DEBUG = True
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    first = index_counts()
    assert first["Hospital"] == 3
    assert "0 rejected" in out.getvalue()
    ct = Series.objects.get(study__accession_number="A2026101201", modality="CT")
    assert ct.number_of_instances >= 120
    ct_slice = ct.instances.first()
    assert ct_slice is not None
    assert (ct_slice.rows, ct_slice.columns, ct_slice.pixel_representation) == (512, 512, 1)
    assert ct_slice.rescale_intercept == -1024
    assert Instance.objects.filter(series__modality="DX", photometric_interpretation="MONOCHROME1").exists()
    assert Instance.objects.filter(series__modality="US", number_of_frames__gt=1).exists()
    assert Report.objects.filter(kind="pdf").exists()
    sample_count = Instance.objects.filter(series__study__accession_number__startswith="S").count()
    assert sample_count > 50
    # Zhang Wei's number is linked at both hospitals that know him, as the README's demo sign-in needs.
    zhang = PhoneLink.objects.filter(phone="+8613800138000")
    assert sorted(zhang.values_list("patient_record__hospital__code", flat=True)) == ["city1", "tcm"]
    # Li Na sees her father's exams too, under 爸爸 (the README's family demo).
    daughter = FamilyLink.objects.get(viewer__phone="+8613700137000")
    assert (daughter.phone, daughter.status, daughter.label) == ("+8613800138000", FamilyStatus.ACTIVE, "爸爸")

    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert index_counts() == first
    assert "0 stored" in out.getvalue()
    assert FamilyLink.objects.count() == 1


def test_it_prints_a_demo_staff_members_current_code(db: None, settings: Any) -> None:
    from accounts.models import StaffRole
    from tests.support.people import make_staff

    settings.DEBUG = True
    clerk = make_staff("democlerk", StaffRole.REGIONAL_ADMIN, None)
    out = io.StringIO()
    call_command("demo_totp", "democlerk", stdout=out)
    assert out.getvalue().strip() == clerk.code()
