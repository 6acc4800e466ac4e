"""imaging.rendering.tasks: how renders are scheduled after ingest."""

import pytest

from imaging.rendering import RenderBatch, batched_renders, schedule_renders, tasks


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, list[int]]]:
    """The render messages that would go to the broker: (series, instances) each."""
    messages: list[tuple[int, list[int]]] = []
    monkeypatch.setattr(tasks, "send_series_renders", lambda series_id, ids: messages.append((series_id, ids)))
    return messages


def test_it_sends_each_instance_on_its_own_outside_a_batch(sent: list[tuple[int, list[int]]]) -> None:
    schedule_renders(None, instance_id=1, series_id=10)
    schedule_renders(None, instance_id=2, series_id=10)
    assert sent == [(10, [1]), (10, [2])]


def test_it_sends_one_message_per_series_when_the_batch_ends(sent: list[tuple[int, list[int]]]) -> None:
    with batched_renders():
        for instance_id, series_id in [(1, 10), (2, 10), (3, 11), (4, 10)]:
            schedule_renders(None, instance_id=instance_id, series_id=series_id)
        assert sent == []
    assert sent == [(10, [1, 2, 4]), (11, [3])]


def test_it_flushes_a_full_batch_on_the_way(sent: list[tuple[int, list[int]]]) -> None:
    batch = RenderBatch(max_instances=3)
    with batched_renders(batch):
        for instance_id in range(1, 5):
            schedule_renders(None, instance_id=instance_id, series_id=10)
    assert sent == [(10, [1, 2, 3])]
    batch.flush()
    assert sent == [(10, [1, 2, 3]), (10, [4])]


def test_it_flushes_an_old_batch_on_the_way(sent: list[tuple[int, list[int]]]) -> None:
    batch = RenderBatch(max_age=0.0)
    with batched_renders(batch):
        schedule_renders(None, instance_id=1, series_id=10)
    assert sent == [(10, [1])]


def test_it_keeps_a_carried_batch_open_across_blocks(sent: list[tuple[int, list[int]]]) -> None:
    batch = RenderBatch()
    for instance_id in (1, 2):
        with batched_renders(batch):
            schedule_renders(None, instance_id=instance_id, series_id=10)
    assert sent == []
    batch.flush()
    assert sent == [(10, [1, 2])]


def test_it_sends_nothing_for_an_empty_batch(sent: list[tuple[int, list[int]]]) -> None:
    with batched_renders():
        pass
    assert sent == []


def test_it_keeps_the_task_names_messages_were_queued_under() -> None:
    """The tasks moved from imaging/tasks.py: a message in the broker, and CELERY_TASK_ROUTES, still name them."""
    moved = [tasks.render_instance_previews, tasks.render_series_thumbnail, tasks.render_series, tasks.render_on_demand]
    assert [task.name for task in moved] == [
        "imaging.tasks.render_instance_previews",
        "imaging.tasks.render_series_thumbnail",
        "imaging.tasks.render_series",
        "imaging.tasks.render_on_demand",
    ]
