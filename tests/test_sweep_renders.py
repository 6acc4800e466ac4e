"""manage.py sweep_renders and the sweep_renders task: renders whose message was lost are queued again."""

import datetime as dt
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from imaging import synthetic
from imaging.ingest import ingest_instance
from imaging.models import Hospital, Instance, Render, RenderStatus, Series
from imaging.rendering import RenderSpec, middle_instance, sweep_renders, tasks
from tests.support.dicom import ct_bytes, study_spec
from tests.support.processes import background, output_of, subprocess_env
from tests.support.workers import BROKER, Workers, wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, list[int]]]:
    """The render messages the sweep sends: (series, instances) each."""
    messages: list[tuple[int, list[int]]] = []

    def record(series_id: int, instance_ids: list[int]) -> bool:
        messages.append((series_id, instance_ids))
        return True

    monkeypatch.setattr(tasks, "send_series_renders", record)
    return messages


def stored_unrendered(hospital: Hospital, monkeypatch: pytest.MonkeyPatch, count: int = 3) -> list[Instance]:
    with monkeypatch.context() as patch:
        patch.setattr(tasks, "send_series_renders", lambda series_id, instance_ids: False)
        ids = [ingest_instance(ct_bytes(number=n), hospital).instance_id for n in range(1, count + 1)]
    return list(Instance.objects.filter(pk__in=ids).order_by("pk"))


def ready_previews(instances: list[Instance]) -> int:
    keys = [RenderSpec().key(i) for i in instances]
    return Render.objects.filter(key__in=keys, status=RenderStatus.READY).count()


def test_it_renders_the_images_whose_render_message_the_broker_refused(
    hospital: Hospital, monkeypatch: pytest.MonkeyPatch, storage_root: Path
) -> None:
    instances = stored_unrendered(hospital, monkeypatch)
    assert ready_previews(instances) == 0
    out = StringIO()
    call_command("sweep_renders", "--settle-seconds", "0", stdout=out)  # no broker here: made in this process
    assert "queued the renders of 3 images never rendered" in out.getvalue()
    assert ready_previews(instances) == 3
    series = Series.objects.get()
    thumbnail = Render.objects.get(key=RenderSpec.thumbnail().key(middle_instance(series.pk)))
    assert thumbnail.status == RenderStatus.READY
    assert all((storage_root / key).is_file() for key in Render.objects.values_list("key", flat=True))


def test_it_queues_nothing_for_images_rendered_or_being_rendered(
    hospital: Hospital, monkeypatch: pytest.MonkeyPatch, sent: list[tuple[int, list[int]]]
) -> None:
    first, second, third = stored_unrendered(hospital, monkeypatch)
    Render.objects.create(instance=first, key=RenderSpec().key(first), claimed_at=timezone.now())  # being made
    Render.objects.create(
        instance=second, key=RenderSpec().key(second), status=RenderStatus.FAILED, claimed_at=timezone.now()
    )
    assert sweep_renders(settle_seconds=0) == 1
    assert sent == [(third.series_id, [third.pk])]


def test_it_leaves_images_whose_render_may_still_be_on_its_way(
    hospital: Hospital, monkeypatch: pytest.MonkeyPatch, sent: list[tuple[int, list[int]]]
) -> None:
    stored_unrendered(hospital, monkeypatch)
    assert sweep_renders(settle_seconds=60) == 0
    assert sent == []


def test_it_looks_back_only_as_far_as_it_is_told(
    hospital: Hospital, monkeypatch: pytest.MonkeyPatch, sent: list[tuple[int, list[int]]]
) -> None:
    old, recent, _ = stored_unrendered(hospital, monkeypatch)
    Instance.objects.filter(pk=old.pk).update(received_at=timezone.now() - dt.timedelta(hours=3))
    call_command("sweep_renders", "--hours", "2", "--settle-seconds", "0", stdout=StringIO())
    assert [instance_ids for _, instance_ids in sent] == [[recent.pk, recent.pk + 1]]
    since = (timezone.now() - dt.timedelta(hours=4)).isoformat()
    sent.clear()
    assert sweep_renders(since=since, settle_seconds=0) == 3


def test_it_sends_one_message_per_series_and_skips_documents(
    hospital: Hospital, monkeypatch: pytest.MonkeyPatch, sent: list[tuple[int, list[int]]]
) -> None:
    study = study_spec("sweep")
    with monkeypatch.context() as patch:
        patch.setattr(tasks, "send_series_renders", lambda series_id, instance_ids: False)
        for number, series_key in [(1, "a"), (2, "a"), (3, "b")]:
            ingest_instance(ct_bytes(study=study, number=number, series_key=series_key), hospital)
        report = synthetic.text_report(study, "No acute findings.", "Normal.")
        ingest_instance(synthetic.to_bytes(report), hospital)
    assert sweep_renders(settle_seconds=0) == 3
    assert sorted(len(instance_ids) for _, instance_ids in sent) == [1, 2]
    assert len({series_id for series_id, _ in sent}) == 2


def test_it_walks_back_through_more_images_than_one_batch(
    hospital: Hospital, monkeypatch: pytest.MonkeyPatch, sent: list[tuple[int, list[int]]]
) -> None:
    monkeypatch.setattr(tasks, "SWEEP_BATCH", 2)
    instances = stored_unrendered(hospital, monkeypatch, count=5)
    assert sweep_renders(settle_seconds=0) == 5
    assert sorted(pk for _, instance_ids in sent for pk in instance_ids) == [i.pk for i in instances]


def test_it_sweeps_on_celery_beats_schedule(
    workers: Workers, hospital: Hospital, monkeypatch: pytest.MonkeyPatch, storage_root: Path, tmp_path: Path
) -> None:
    """`make beat`: a real `celery beat` (RENDER_SWEEP_SECONDS=1) sends the sweep, a real worker renders."""
    instances = stored_unrendered(hospital, monkeypatch)
    Instance.objects.update(received_at=timezone.now() - dt.timedelta(minutes=2))  # past the sweep's settling time
    workers.start()
    env = {**subprocess_env(storage_root), "CELERY_BROKER_URL": BROKER, "RENDER_SWEEP_SECONDS": "1"}
    command = [sys.executable, "-m", "celery", "-A", "portal", "beat", "--schedule", str(tmp_path / "schedule")]
    beat = background(command, env)
    try:
        assert wait_for(lambda: ready_previews(instances) == 3, timeout=60), output_of(beat)[-2000:]
    finally:
        beat.terminate()
        beat.wait(timeout=30)
