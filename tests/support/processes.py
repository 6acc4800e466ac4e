"""Processes a test starts (manage.py commands) that share the test's database and storage."""

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent.parent


def subprocess_env(storage_root: Path, database_url: str | None = None) -> dict[str, str]:
    """The environment of a manage.py process that uses this test's database and storage."""
    env = {**os.environ, "STORAGE_ROOT": str(storage_root), "PYTHONUNBUFFERED": "1"}
    env["DICOM_SPOOL_DIR"] = str(storage_root.parent / "dicom-spool")  # beside the test's storage
    env.pop("CELERY_BROKER_URL", None)  # tasks run inline unless a test starts workers
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the browser fixture's, for the test process only
    env["DATABASE_URL"] = database_url or shared_database_url()
    return env


def shared_database_url(host: str | None = None, port: int | None = None) -> str:
    db = connection.settings_dict
    if connection.vendor != "postgresql":
        return f"sqlite:///{db['NAME']}"
    host = host or db["HOST"] or "127.0.0.1"
    port = port or int(db["PORT"] or 5432)
    return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{host}:{port}/{db['NAME']}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}: {output_of(process)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def manage_process(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """A manage.py command in the background; its output goes to a file (a pipe nobody reads fills up)."""
    return background([sys.executable, "manage.py", *args], env)


def background(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    log = tempfile.NamedTemporaryFile("w+", prefix="efilm-test-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    process.log_path = log.name  # type: ignore[attr-defined]
    return process


def output_of(process: subprocess.Popen[str]) -> str:
    path = getattr(process, "log_path", None)
    return Path(path).read_text(errors="replace") if path else ""
