"""Real Celery workers on Redis, started by a test and sharing its database and storage."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from portal.celery import app
from tests.support.processes import background, output_of, subprocess_env
from tests.support.services import require

BROKER = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")


def redis_answers() -> bool:
    try:
        return bool(redis.Redis.from_url(BROKER, socket_connect_timeout=1).ping())
    except redis.exceptions.RedisError:
        return False


class Workers:
    def __init__(self, storage_root: Path) -> None:
        self.storage_root = storage_root
        self.env: dict[str, str] = {}  # more of the workers' environment (another storage)
        self.processes: list[subprocess.Popen[str]] = []

    def start(self, count: int = 1, concurrency: int = 1) -> None:
        env = {**subprocess_env(self.storage_root), "CELERY_BROKER_URL": BROKER, "CELERY_RESULT_BACKEND": ""}
        env.update(self.env)
        for number in range(count):
            name = f"test{len(self.processes) + number}@%h"
            command = [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", "interactive,bulk"]
            command += ["-c", str(concurrency), "-n", name, "--without-gossip", "--without-mingle"]
            self.processes.append(background([*command, "--loglevel=WARNING"], env))
        self.wait_until_ready(len(self.processes))

    def wait_until_ready(self, expected: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(app.control.ping(timeout=0.5) or []) >= expected:
                return
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a worker exited: {output_of(process)}")
        raise TimeoutError(f"the workers did not answer a ping: {[output_of(p)[-3000:] for p in self.processes]}")

    def alive(self) -> bool:
        return all(process.poll() is None for process in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def workers(
    transactional_db: None, storage_root: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workers]:
    require(redis_answers(), f"Redis at {BROKER}")
    redis.Redis.from_url(BROKER).flushdb()
    # Celery reads CELERY_BROKER_URL from the environment before its configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", BROKER)
    use_broker(BROKER)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = BROKER
    running = Workers(storage_root)
    try:
        yield running
    finally:
        running.stop()
        app.conf.update(task_always_eager=True)


def use_broker(url: str) -> None:
    """Point the app at `url`, dropping connections pooled for an earlier broker."""
    app.conf.update(task_always_eager=False, broker_url=url, result_backend=None)
    app.close()
    app.amqp._producer_pool = None


def wait_for(condition: Any, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False
