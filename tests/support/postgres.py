"""A PostgreSQL cluster of a test's own, which it may stop, restart or crash without disturbing anyone.

The shared server on 5432 serves every engineer's tests; a test that takes its
database away builds its own cluster instead: `initdb` into a temporary folder
(run as the `postgres` user when the test runs as root, which initdb refuses),
a free port on loopback, the socket in that folder, and `pg_ctl` to stop and
start it.
"""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.processes import free_port
from tests.support.services import require

SUPERUSER = "postgres"


def postgres_bin() -> Path | None:
    """The folder of the newest installed PostgreSQL's server programs (Debian's layout, or pg_config's)."""
    folders = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        folders.append(Path(found))
    return next((folder for folder in folders if (folder / "initdb").is_file()), None)


def as_cluster_owner() -> list[str]:
    """The prefix that runs a command as the cluster's owner: `postgres` when we are root."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", SUPERUSER, "--"]


class PrivateCluster:
    """One cluster in `folder`: `create`, `start`, `restart`, `stop`, and URLs of its databases."""

    def __init__(self, folder: Path, binaries: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "server.log"
        self.binaries = binaries
        self.port = free_port()

    def create(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C")
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.folder}'",
            "max_connections": "40",
            "shared_buffers": "'32MB'",
            "fsync": "on",  # what a restart must not lose is what was committed
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def start(self) -> None:
        self._pg_ctl("start", "-l", str(self.log))

    def stop(self, mode: str = "fast") -> None:
        """`fast`: sessions are ended and a checkpoint written; `immediate`: the server is killed (a crash)."""
        self._pg_ctl("stop", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        self._pg_ctl("restart", "-m", mode, "-l", str(self.log))

    def url(self, database: str) -> str:
        return f"postgres://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str) -> "psycopg.Connection[tuple[object, ...]]":
        return psycopg.connect(self.url(database), autocommit=True)

    def create_database(self, name: str) -> str:
        with self.connect("postgres") as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def server_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "60", *args)

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [*as_cluster_owner(), str(self.binaries / program), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr}\n{self.server_log()}")


@pytest.fixture
def private_postgres() -> Iterator[PrivateCluster]:
    """A started cluster of this test's own, crashed and removed when it ends."""
    binaries = postgres_bin()
    require(binaries is not None, "PostgreSQL's server programs (initdb, pg_ctl)")
    assert binaries is not None
    require(os.geteuid() != 0 or shutil.which("runuser") is not None, "runuser, to run initdb as postgres")
    # Not under pytest's tmp_path: its parent is private to root, and the server runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="efilm-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, SUPERUSER, SUPERUSER)
    cluster = PrivateCluster(folder, binaries)
    try:
        cluster.create()
        cluster.start()
        yield cluster
    finally:
        if (cluster.data / "postmaster.pid").exists():
            subprocess.run(
                [*as_cluster_owner(), str(binaries / "pg_ctl"), "-D", str(cluster.data), "stop", "-m", "immediate"],
                capture_output=True,
                check=False,
                timeout=60,
            )
        shutil.rmtree(folder, ignore_errors=True)
