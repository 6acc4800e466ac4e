"""Faults behind the DICOM listener, with real services: what a sender was told is what the region holds.

Each test breaks a real part while a study is being sent (PostgreSQL restarted
or crashed, Redis stopped, the listener killed) and then checks every answer
against the index and the storage: an instance answered 0x0000 is in the index,
and its file holds exactly the bytes sent; one answered 0xA700 is absent; one
not answered at all (the listener killed) is absent or whole; no index row names
a missing or damaged file; and the sender's retry completes the study. The
sender is DCMTK's storescu (`tests.support.pacs`).
"""

import contextlib
import hashlib
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import build_context
from pynetdicom.pdu import A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import A_ASSOCIATE, ImplementationClassUIDNotification, MaximumLengthNotification

from imaging import synthetic
from imaging.dicom.status import AFFECTED_SOP_CLASS, AFFECTED_SOP_INSTANCE, COMMAND_FIELD, DATASET_TYPE, MESSAGE_ID
from imaging.listener.messages import encode_command, ui, us
from imaging.models import Hospital, Instance, Render, RenderStatus, Series, Study, UnflushedFile
from imaging.rendering import RenderSpec, middle_instance
from tests.support.dicom import ct_slice, stored_files, study_spec
from tests.support.pacs import CALLING, OUT_OF_RESOURCES, SUCCESS, Pacs
from tests.support.postgres import PrivateCluster
from tests.support.processes import ROOT, output_of, subprocess_env
from tests.support.redis_server import PrivateRedis
from tests.support.workers import Workers, use_broker, wait_for
from tests.test_dicom_listener import Listener, dataset_bytes, start_listener
from tests.test_upper_layer import read_pdu

pytestmark = [pytest.mark.dcmtk, pytest.mark.usefixtures("require_dcmtk")]
C_STORE_RQ, PRIORITY, DATASET_PRESENT = 0x0001, 0x00000700, 0x0000  # PS3.7 9.3.1.1, E.1
SMALL, LARGE = 16, 256  # pixels a side: ~1.5 KB (its bytes go in the index), ~130 KB (flushed meanwhile)


def fault_study(key: str, count: int, large_every: int = 10) -> list[Dataset]:
    """`count` CT images of one study in two series, every `large_every`-th one larger than the journal takes."""
    study = study_spec(key)
    return [
        ct_slice(study=study, number=n, series_key=f"ct{n % 2}", size=LARGE if n % large_every == 0 else SMALL)
        for n in range(1, count + 1)
    ]


Rows = dict[str, tuple[str, str]]  # SOP UID: (storage key, SHA-256)

INDEX_ROWS = "SELECT sop_uid, storage_key, sha256 FROM imaging_instance"


def sent_bytes(ds: Dataset) -> bytes:
    """The dataset as storescu put it on the wire: as its file holds it (Explicit VR Little Endian)."""
    return dataset_bytes(synthetic.to_bytes(ds))


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_acknowledged_are_kept(pacs: Pacs, rows: Rows, storage_root: Path) -> None:
    """Every instance answered 0x0000 has its index row, and its file holds the bytes sent, whole."""
    lost = sorted(uid for uid in pacs.acknowledged() if uid not in rows)
    assert not lost, f"{len(lost)} acknowledged instances are not in the index"
    for uid in pacs.acknowledged():
        key, sha256 = rows[uid]
        path = storage_root / key
        assert path.is_file(), f"acknowledged {uid}: its file is missing"
        assert file_sha256(path) == sha256, f"acknowledged {uid}: its file does not hash to the index's SHA-256"
        assert dataset_bytes(path.read_bytes()) == sent_bytes(pacs.sent[uid]), f"acknowledged {uid}: not as sent"


def assert_rows_name_whole_files(rows: Rows, storage_root: Path) -> None:
    """No index row, acknowledged or not, points at a missing or half-written file."""
    for uid, (key, sha256) in rows.items():
        path = storage_root / key
        assert path.is_file(), f"{uid}: the index names a missing file"
        assert file_sha256(path) == sha256, f"{uid}: the index names a damaged file"


def assert_index_names_whole_files(rows: Rows, storage_root: Path) -> None:
    """Every row names a whole file, and no file lies outside the index."""
    assert_rows_name_whole_files(rows, storage_root)
    assert {str(p.relative_to(storage_root)) for p in stored_files(storage_root)} == {key for key, _ in rows.values()}


def shared_rows() -> Rows:
    """The index rows of the test database (the listener's, when it runs on the shared server)."""
    with connection.cursor() as cursor:
        cursor.execute(INDEX_ROWS)
        return {uid: (key, sha256) for uid, key, sha256 in cursor.fetchall()}


def assert_counts_match_rows() -> None:
    for study in Study.objects.all():
        assert study.number_of_instances == Instance.objects.filter(series__study=study).count()
        assert study.number_of_images == Instance.objects.filter(series__study=study, has_pixels=True).count()
    for series in Series.objects.all():
        assert series.number_of_instances == series.instances.count()


def images_without_ready_preview() -> int:
    ready = set(Render.objects.filter(status=RenderStatus.READY).values_list("key", flat=True))
    keys = [RenderSpec().key_of(sop_uid) for sop_uid in Instance.objects.values_list("sop_uid", flat=True)]
    return sum(1 for key in keys if key not in ready)


def instance_files(storage_root: Path, ds: Dataset) -> list[Path]:
    """The files stored for an instance, whatever their content (keys end in a prefix of its SHA-256)."""
    folder = storage_root / "dicom" / str(ds.StudyInstanceUID) / str(ds.SeriesInstanceUID)
    return sorted(folder.glob(f"{ds.SOPInstanceUID}.*.dcm"))


class Outage:
    """A service stopped once `begins()` holds, on a thread of its own while the sender carries on, and
    started again at once, or once `ends()` holds: `check` is called on every answer."""

    def __init__(
        self,
        stop: Callable[[], None],
        start: Callable[[], None],
        begins: Callable[[], bool],
        ends: Callable[[], bool] | None = None,
    ) -> None:
        self.stop, self.start = stop, start
        self.begins, self.ends = begins, ends
        self.failures: list[BaseException] = []
        self._steps: list[threading.Thread] = []
        self._lock = threading.Lock()

    def check(self) -> None:
        with self._lock:
            if not self._steps and self.begins():
                self._run(self.stop if self.ends is not None else self._stop_and_start)
            elif len(self._steps) == 1 and self.ends is not None and self.ends():
                self._run(self._start_after_stop)

    def wait(self) -> None:
        """Until the service is back; fails if the send ended before the outage did, or a step failed."""
        assert self._steps, "the send ended before the service was stopped"
        assert self.ends is None or len(self._steps) == 2, "the send ended before the service was started again"
        for step in self._steps:
            step.join(timeout=60)
        assert not self.failures, self.failures

    def _run(self, step: Callable[[], None]) -> None:
        thread = threading.Thread(target=self._recorded, args=(step,))
        self._steps.append(thread)
        thread.start()

    def _stop_and_start(self) -> None:
        self.stop()
        self.start()

    def _start_after_stop(self) -> None:
        self._steps[0].join(timeout=60)
        self.start()

    def _recorded(self, step: Callable[[], None]) -> None:
        try:
            step()
        except BaseException as error:
            self.failures.append(error)
            raise


def manage(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------------ PostgreSQL restarted


@pytest.fixture
def region_on_private_postgres(private_postgres: PrivateCluster, storage_root: Path) -> str:
    """A migrated index on the test's own cluster, with hospital city1 sending as CALLING from loopback."""
    url = private_postgres.create_database("efilm")
    env = subprocess_env(storage_root, url)
    manage(["migrate", "--no-input", "-v0"], env)
    manage(["add_hospital", "city1", "--name", "City First", "--ae-title", CALLING, "--network", "127.0.0.0/8"], env)
    return url


def private_rows(cluster: PrivateCluster) -> Rows:
    with cluster.connect("efilm") as db:
        return {uid: (key, sha256) for uid, key, sha256 in db.execute(INDEX_ROWS).fetchall()}


def private_counts(cluster: PrivateCluster) -> list[tuple[object, ...]]:
    """Each study's and series' instance count beside the rows they count."""
    with cluster.connect("efilm") as db:
        return db.execute(
            "SELECT 'study', st.number_of_instances, (SELECT count(*) FROM imaging_instance i "
            "JOIN imaging_series se ON se.id = i.series_id WHERE se.study_id = st.id) FROM imaging_study st "
            "UNION ALL SELECT 'study images', st.number_of_images, (SELECT count(*) FROM imaging_instance i "
            "JOIN imaging_series se ON se.id = i.series_id WHERE se.study_id = st.id AND i.has_pixels) "
            "FROM imaging_study st "
            "UNION ALL SELECT 'series', se.number_of_instances, "
            "(SELECT count(*) FROM imaging_instance i WHERE i.series_id = se.id) FROM imaging_series se"
        ).fetchall()


def unflushed_rows(cluster: PrivateCluster) -> int:
    with cluster.connect("efilm") as db:
        row = db.execute("SELECT count(*) FROM imaging_unflushedfile").fetchone()
    return int(row[0]) if row else -1


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_it_answers_each_store_stored_or_a700_and_absent_across_a_postgres_restart(
    private_postgres: PrivateCluster, region_on_private_postgres: str, storage_root: Path, tmp_path: Path, mode: str
) -> None:
    """PostgreSQL stopped mid-send, `fast` (sessions ended, a checkpoint) or `immediate` (killed: a crash,
    recovered from its WAL at start), and started again: every store's fate is what its answer said.

    A store whose commit was flushed just before the server went, its answer
    lost with the connection, must not be told 0xA700 while it is kept, nor
    leave a row naming a file removed as a failure's.
    """
    listener = start_listener(storage_root, region_on_private_postgres, processes=2)
    outage = Outage(
        stop=lambda: private_postgres.stop(mode),
        start=private_postgres.start,
        begins=lambda: pacs.count(SUCCESS) >= 150,
    )
    pacs = Pacs(listener.port, tmp_path / "pacs", on_answer=outage.check)
    try:
        pacs.send(fault_study(f"pg-{mode}", 500), associations=2)
        outage.wait()
        assert len(pacs.answers) == 500, output_of(listener.process)[-3000:]
        assert set(pacs.answers.values()) <= {SUCCESS, OUT_OF_RESOURCES}, output_of(listener.process)[-6000:]

        rows = private_rows(private_postgres)
        assert_acknowledged_are_kept(pacs, rows, storage_root)
        refused = pacs.not_acknowledged()
        assert not [ds.SOPInstanceUID for ds in refused if str(ds.SOPInstanceUID) in rows], "0xA700, yet indexed"
        assert not [ds.SOPInstanceUID for ds in refused if instance_files(storage_root, ds)], "0xA700, yet stored"
        assert_index_names_whole_files(rows, storage_root)

        assert_retry_completes_the_study(pacs, listener.port, private_postgres, storage_root, tmp_path)
    finally:
        assert listener.stop() == 0


def assert_retry_completes_the_study(
    pacs: Pacs, port: int, cluster: PrivateCluster, storage_root: Path, tmp_path: Path
) -> None:
    """The sender sends again what was not answered 0x0000: every one is, and the study is whole."""
    retry = Pacs(port, tmp_path / "retry")
    retry.send(pacs.not_acknowledged())
    assert set(retry.answers.values()) <= {SUCCESS}
    assert len(retry.answers) == len(pacs.not_acknowledged())
    rows = private_rows(cluster)
    assert set(rows) == set(pacs.sent)
    assert_acknowledged_are_kept(retry, rows, storage_root)
    assert_index_names_whole_files(rows, storage_root)
    assert all(expected == counted for _, expected, counted in private_counts(cluster))
    assert wait_for(lambda: unflushed_rows(cluster) == 0, timeout=10)


# ------------------------------------------------------------ Redis stopped


@pytest.fixture
def private_workers(
    transactional_db: None,
    private_redis: PrivateRedis,
    storage_root: Path,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Workers]:
    """A Celery worker on the test's own Redis, sharing its database and storage."""
    monkeypatch.setenv("CELERY_BROKER_URL", private_redis.url)  # read by Celery before its configuration
    use_broker(private_redis.url)  # the test's app pings the workers there
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = private_redis.url
    running = Workers(storage_root)
    running.env["CELERY_BROKER_URL"] = private_redis.url
    try:
        running.start()
        yield running
    finally:
        running.stop()
        from portal.celery import app

        app.conf.update(task_always_eager=True)


@pytest.mark.slow
def test_it_answers_stores_at_once_while_redis_is_down_and_renders_them_once_it_is_back(
    private_redis: PrivateRedis, private_workers: Workers, hospital: Hospital, storage_root: Path, tmp_path: Path
) -> None:
    """Redis stopped a fifth of the way through a 500-image send and started again near its end.

    No store waits for the broker (kombu would retry each message for 6 s),
    and every image is rendered: what Redis lost with its queue, and what was
    stored while it was away, the listener's sweep queues once it is back.
    """
    listener = start_listener(
        storage_root, processes=1, env={"CELERY_BROKER_URL": private_redis.url, "CELERY_RESULT_BACKEND": ""}
    )
    outage = Outage(
        stop=private_redis.stop,
        start=private_redis.start,
        begins=lambda: pacs.count(SUCCESS) >= 100,
        ends=lambda: pacs.count(SUCCESS) >= 400,
    )
    pacs = Pacs(listener.port, tmp_path / "pacs", on_answer=outage.check)
    try:
        pacs.send(fault_study("redis-down", 500, large_every=50))
        outage.wait()
        assert set(pacs.answers.values()) == {SUCCESS}
        assert len(pacs.answers) == 500
        assert max(pacs.waits.values()) < 1.0, "a store waited for the broker"
        assert "not scheduled" in output_of(listener.process), "no render message met the outage"

        assert wait_for(lambda: images_without_ready_preview() == 0, timeout=60), output_of(listener.process)[-3000:]
        for series in Series.objects.all():
            thumbnail = RenderSpec.thumbnail().key(middle_instance(series.pk))
            assert wait_for(lambda key=thumbnail: Render.objects.filter(key=key, status=RenderStatus.READY).exists())
        assert private_workers.alive()
    finally:
        assert listener.stop() == 0


# ------------------------------------------------------------ the listener killed


def kill(listener: Listener) -> None:
    """SIGKILL every listener process at once, its children first: nothing of theirs runs after."""
    pid = listener.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for process_id in [*map(int, children), pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process_id, signal.SIGKILL)
    listener.process.wait(timeout=30)


def half_sent_store(port: int, ds: Dataset) -> socket.socket:
    """An association by hand that has sent a C-STORE-RQ and half its dataset, and sends no more."""
    peer = socket.create_connection(("127.0.0.1", port), timeout=10)
    peer.sendall(storage_associate_request())
    assert read_pdu(peer)[:1] == b"\x02"  # A-ASSOCIATE-AC
    command = {
        AFFECTED_SOP_CLASS: ui(synthetic.CT_IMAGE),
        COMMAND_FIELD: us(C_STORE_RQ),
        MESSAGE_ID: us(1),
        PRIORITY: us(0),
        DATASET_TYPE: us(DATASET_PRESENT),
        AFFECTED_SOP_INSTANCE: ui(str(ds.SOPInstanceUID)),
    }
    dataset = sent_bytes(ds)
    peer.sendall(p_data(0x03, encode_command(command)) + p_data(0x00, dataset[: len(dataset) // 2]))
    return peer


def storage_associate_request() -> bytes:
    """An A-ASSOCIATE-RQ from CALLING to REGION for CT Image Storage in Explicit VR Little Endian."""
    primitive = A_ASSOCIATE()
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"
    primitive.calling_ae_title, primitive.called_ae_title = CALLING, "REGION"
    context = build_context(synthetic.CT_IMAGE, ExplicitVRLittleEndian)
    context.context_id = 1
    primitive.presentation_context_definition_list = [context]
    maximum = MaximumLengthNotification()
    maximum.maximum_length_received = 16384
    implementation = ImplementationClassUIDNotification()
    implementation.implementation_class_uid = "1.2.826.0.1.3680043.9.9999"
    primitive.user_information = [maximum, implementation]
    request = A_ASSOCIATE_RQ()
    request.from_primitive(primitive)
    return bytes(request.encode())


def p_data(control: int, fragment: bytes) -> bytes:
    """A P-DATA-TF with one PDV on presentation context 1 (PS3.8 9.3.5, E.2)."""
    item = struct.pack(">IBB", len(fragment) + 2, 1, control) + fragment
    return struct.pack(">BBI", 0x04, 0, len(item)) + item


@pytest.mark.slow
@pytest.mark.usefixtures("require_postgres")
def test_it_keeps_every_acknowledged_instance_whole_when_the_listener_is_killed_mid_stream(
    transactional_db: None, hospital: Hospital, storage_root: Path, tmp_path: Path
) -> None:
    """SIGKILL, every listener process at once, while three associations send small and large images and
    a fourth is halfway through one: what was acknowledged is kept whole, the half-received one left
    nothing, and once the listener is back the sender's retry completes the study and its renders.

    The large images, and the half-sent one, go to the spool as they arrive
    (`imaging.listener.Spooling`): what a killed listener left there is gone
    once it is back.
    """
    spooled = {"DICOM_SPOOL_ABOVE_BYTES": str(32 * 1024)}
    spool = storage_root.parent / "dicom-spool"  # tests.support.processes.subprocess_env's
    listener = start_listener(storage_root, processes=2, env=spooled)
    cut_short = ct_slice(study=study_spec("killed"), number=10_000, series_key="ct0", size=LARGE)
    peer = half_sent_store(listener.port, cut_short)
    killed = threading.Event()

    def kill_mid_stream() -> None:
        if not killed.is_set() and pacs.count(SUCCESS) >= 150:
            killed.set()
            kill(listener)

    pacs = Pacs(listener.port, tmp_path / "pacs", on_answer=kill_mid_stream)
    try:
        pacs.send(fault_study("killed", 600, large_every=3), associations=3)
        assert killed.is_set(), "the send ended before the listener was killed"
        assert len(pacs.acknowledged()) < 600
        rows = shared_rows()
        assert_acknowledged_are_kept(pacs, rows, storage_root)
        assert_rows_name_whole_files(rows, storage_root)  # a store killed before its answer left no row, or a whole one
        assert str(cut_short.SOPInstanceUID) not in rows
        assert not instance_files(storage_root, cut_short)
    finally:
        peer.close()

    listener = start_listener(storage_root, processes=2, env=spooled)
    try:
        assert not [p for p in spool.rglob("*") if p.is_file()], "a half-received object stayed in the spool"
        retry = Pacs(listener.port, tmp_path / "retry")
        retry.send([*pacs.not_acknowledged(), cut_short])
        assert set(retry.answers.values()) == {SUCCESS}
        rows = shared_rows()
        assert set(rows) == {*pacs.sent, str(cut_short.SOPInstanceUID)}
        assert_acknowledged_are_kept(retry, rows, storage_root)
        assert_index_names_whole_files(rows, storage_root)
        assert_counts_match_rows()
        assert wait_for(lambda: not UnflushedFile.objects.exists(), timeout=10)
        # The renders the killed process had not sent yet: its successor's sweep makes them (inline: no broker).
        assert wait_for(lambda: images_without_ready_preview() == 0, timeout=60)
    finally:
        assert listener.stop() == 0


@pytest.mark.slow
@pytest.mark.usefixtures("require_postgres")
def test_it_writes_again_at_start_up_the_acknowledged_small_files_a_power_loss_takes(
    transactional_db: None, hospital: Hospital, storage_root: Path, tmp_path: Path
) -> None:
    """Killed right after acknowledging small images whose files were not yet flushed, then the files lost.

    A small image is answered once its bytes have committed with its index row
    (`imaging.listener.flushing`), its file flushed up to a second later. SIGKILL keeps
    the page cache; a power cut would not: the test cuts those files short or
    removes them, as the cut would, before the listener starts again.
    """
    listener = start_listener(storage_root, processes=1)
    pacs = Pacs(listener.port, tmp_path / "pacs")
    pacs.start(fault_study("power-cut", 600, large_every=10**6))
    journaled = UnflushedFile.objects.filter(content__isnull=False)
    while True:  # stop the listener at a moment when acknowledged images wait for their flush
        assert wait_for(lambda: journaled.exists(), timeout=30), "no small image waited for its flush"
        listener.process.send_signal(signal.SIGSTOP)
        unflushed = dict(journaled.values_list("instance__sop_uid", "instance__storage_key"))
        if set(unflushed) & pacs.acknowledged():
            break
        listener.process.send_signal(signal.SIGCONT)
    kill(listener)
    pacs.wait()
    acknowledged_unflushed = set(unflushed) & pacs.acknowledged()
    for number, key in enumerate(unflushed.values()):  # what the power cut takes of unflushed files
        path = storage_root / key
        if number % 2:
            path.unlink()
        else:
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    listener = start_listener(storage_root, processes=1)
    try:
        assert f"{len(unflushed)} written again from the index" in output_of(listener.process)
        rows = shared_rows()
        assert acknowledged_unflushed <= set(rows)
        assert_acknowledged_are_kept(pacs, rows, storage_root)
        retry = Pacs(listener.port, tmp_path / "retry")
        retry.send(pacs.not_acknowledged())
        assert set(retry.answers.values()) <= {SUCCESS}
        rows = shared_rows()
        assert set(rows) == set(pacs.sent)
        assert_index_names_whole_files(rows, storage_root)
        assert_counts_match_rows()
        assert wait_for(lambda: not UnflushedFile.objects.exists(), timeout=10)
    finally:
        assert listener.stop() == 0
