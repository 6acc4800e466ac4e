"""imaging.rendering.tasks: how renders are scheduled after ingest."""

import datetime as dt
import threading
from typing import Any

import pytest
from django.utils import timezone

from imaging.rendering import RenderBatch, RenderSender, batched_renders, schedule_renders, tasks
from tests.support.workers import wait_for


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


# The listener's sender: its thread sends; a refused message makes renders owed, and a sweep is
# offered to the broker until it takes one.


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A broker that takes render messages (or not, while `down`) and records sweep offers."""
    state: dict[str, Any] = {"down": False, "sent": [], "threads": set(), "sweeps": []}

    def send(series_id: int, instance_ids: list[int]) -> bool:
        state["threads"].add(threading.current_thread().name)
        if state["down"]:
            return False
        state["sent"].append((series_id, instance_ids))
        return True

    def publish(task: Any, args: tuple[object, ...] = (), what: str = "", **kwargs: object) -> bool:
        state["sweeps"].append(kwargs)
        return not state["down"]

    monkeypatch.setattr(tasks, "send_series_renders", send)
    monkeypatch.setattr(tasks, "publish_once", publish)
    return state


def test_it_sends_render_messages_from_a_thread_of_its_own(broker: dict[str, Any]) -> None:
    sender = RenderSender().start()
    batch = RenderBatch(send=sender.send)
    with batched_renders(batch):
        schedule_renders(None, instance_id=1, series_id=10)
    batch.flush()
    sender.stop()
    assert broker["sent"] == [(10, [1])]
    assert broker["threads"] == {"render-sender"}
    assert broker["sweeps"] == []


def test_it_offers_a_sweep_until_the_broker_takes_one(broker: dict[str, Any]) -> None:
    broker["down"] = True
    sender = RenderSender(retry_every=0.01, lookback=dt.timedelta(minutes=10)).start()
    sender.send(10, [1])
    assert wait_for(lambda: len(broker["sweeps"]) >= 3, timeout=10)
    owed_since = sender.owed_since
    assert owed_since is not None
    sender.send(10, [2])  # while renders are owed, messages are not tried: the sweep finds them
    broker["down"] = False
    assert wait_for(lambda: sender.owed_since is None, timeout=10)
    sender.stop()
    assert broker["sent"] == []
    since = dt.datetime.fromisoformat(broker["sweeps"][-1]["since"])
    assert since == owed_since
    assert dt.timedelta(minutes=10) <= timezone.now() - since < dt.timedelta(minutes=11)
    assert broker["sweeps"][-1]["settle_seconds"] == 0
    offers = len(broker["sweeps"])
    sender = RenderSender(retry_every=0.01).start()
    sender.send(11, [3])
    sender.stop()
    assert broker["sent"] == [(11, [3])]
    assert len(broker["sweeps"]) == offers  # nothing owed, nothing offered


def test_it_offers_a_sweep_of_the_last_hour_when_started_so(broker: dict[str, Any], settings: Any) -> None:
    """What a listener killed before it sent its renders left unqueued."""
    settings.RENDER_SWEEP_LOOKBACK_MINUTES = 60
    sender = RenderSender().start(sweep=True)
    assert wait_for(lambda: sender.owed_since is None, timeout=10)
    sender.stop()
    assert len(broker["sweeps"]) == 1
    since = dt.datetime.fromisoformat(broker["sweeps"][0]["since"])
    assert dt.timedelta(minutes=60) <= timezone.now() - since < dt.timedelta(minutes=61)
    assert sender.owed_since is None


def test_it_keeps_the_task_names_messages_were_queued_under() -> None:
    """The tasks moved from imaging/tasks.py: a message in the broker, CELERY_TASK_ROUTES and
    CELERY_BEAT_SCHEDULE still name them so."""
    moved = [
        tasks.render_instance_previews,
        tasks.render_series_thumbnail,
        tasks.render_series,
        tasks.render_on_demand,
        tasks.sweep_renders,
    ]
    assert [task.name for task in moved] == [
        "imaging.tasks.render_instance_previews",
        "imaging.tasks.render_series_thumbnail",
        "imaging.tasks.render_series",
        "imaging.tasks.render_on_demand",
        "imaging.tasks.sweep_renders",
    ]
