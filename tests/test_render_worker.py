"""Renders made by real Celery workers on Redis: after ingest, on demand, racing, and broken images."""

from pathlib import Path

import pytest
from django.test import Client

from accounts.models import StaffRole
from imaging.ingest import ingest_instance
from imaging.models import Hospital, Instance, Render, RenderStatus, Series
from imaging.rendering import RenderSpec, render_instance_previews, render_series_thumbnail
from tests.support.dicom import ct_bytes
from tests.support.people import make_staff, sign_in_staff
from tests.support.workers import Workers, wait_for
from tests.test_renders import broken_instance

pytestmark = pytest.mark.slow


def ready_keys() -> set[str]:
    return set(Render.objects.filter(status=RenderStatus.READY).values_list("key", flat=True))


def test_it_renders_a_series_after_ingest_without_being_asked(
    workers: Workers, hospital: Hospital, storage_root: Path
) -> None:
    workers.start()
    for number in range(1, 6):
        ingest_instance(ct_bytes(number=number, size=64), hospital)
    series = Series.objects.get()
    instances = list(series.instances.in_anatomical_order())
    wanted = {RenderSpec().key(i) for i in instances} | {RenderSpec.thumbnail().key(instances[2])}
    assert wait_for(lambda: wanted <= ready_keys())
    assert all((storage_root / key).is_file() for key in wanted)


def test_it_makes_each_render_once_when_two_workers_race(
    workers: Workers, hospital: Hospital, storage_root: Path
) -> None:
    for number in range(1, 9):
        ingest_instance(ct_bytes(number=number, size=128), hospital)
    series = Series.objects.get()
    workers.start(count=2)
    for _ in range(3):
        render_series_thumbnail.apply_async((series.pk,), queue="bulk")
        for instance in series.instances.all():
            render_instance_previews.apply_async((instance.pk,), queue="bulk")
    assert wait_for(lambda: len(ready_keys()) >= 9 and not Render.objects.filter(status=RenderStatus.PENDING).exists())
    assert list(Render.objects.values_list("attempts", flat=True).distinct()) == [1]
    files = [p for p in (storage_root / "renders").rglob("*") if p.is_file()]
    assert len(files) == Render.objects.count()


def test_it_keeps_serving_after_a_broken_image(workers: Workers, hospital: Hospital) -> None:
    broken = broken_instance(hospital)
    good = Instance.objects.get(pk=ingest_instance(ct_bytes(number=1, size=64), hospital).instance_id)
    workers.start()
    render_instance_previews.apply_async((broken.pk,), queue="bulk")
    render_instance_previews.apply_async((good.pk,), queue="bulk")
    assert wait_for(lambda: RenderSpec().key(good) in ready_keys())
    failed = Render.objects.get(key=RenderSpec().key(broken))
    assert (failed.status, failed.attempts) == (RenderStatus.FAILED, 1)
    assert workers.alive()


def test_it_waits_for_an_interactive_render(workers: Workers, hospital: Hospital, client: Client) -> None:
    instance = Instance.objects.get(pk=ingest_instance(ct_bytes(number=1, size=64), hospital).instance_id)
    workers.start()
    sign_in_staff(client, make_staff("bureau", StaffRole.REGIONAL_ADMIN, None))
    response = client.get(f"/staff/images/instances/{instance.pk}/preview", {"window": "-600,1500"})
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert Render.objects.get(key=RenderSpec(window=(-600, 1500)).key(instance)).attempts == 1
