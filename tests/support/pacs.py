"""A hospital's PACS: DCMTK's storescu sending a study, each store's answer (and its wait) recorded as it comes.

storescu is what hospitals run, and it keeps each answer: pynetdicom's SCU now
and then loses one to its reactor thread and waits out its DIMSE timeout
(pydicom/pynetdicom#850), which a fault test would read as a store the
listener never answered. storescu sends a file's dataset as the file holds it
when it keeps the transfer syntax (`tests/test_dicom_peers.py` compares it
with DCMTK's bit-preserving storescp), so what was sent is the file's dataset.
"""

import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from pydicom.dataset import Dataset

from imaging import synthetic

CALLING = "CITY1_PACS"
SUCCESS, OUT_OF_RESOURCES = 0x0000, 0xA700
NO_ANSWER = -1  # sent, and the association ended before its answer

_SENDING_FILE = re.compile(r"Sending file: (.+)$")
_SENDING_REQUEST = re.compile(r"Sending Store Request")
_STATUS = re.compile(r"DIMSE Status\s*: 0x([0-9a-fA-F]{4})")


class Pacs:
    """Sends datasets with storescu, one association per process, and records by SOP Instance UID
    each answer (`answers`) and how long the store waited for it (`waits`, seconds)."""

    def __init__(self, port: int, folder: Path, on_answer: Callable[[], None] = lambda: None) -> None:
        self.port = port
        self.folder = folder
        self.on_answer = on_answer
        self.sent: dict[str, Dataset] = {}
        self.answers: dict[str, int] = {}
        self.in_order: list[int] = []  # the statuses, in the order they came
        self.waits: dict[str, float] = {}
        self.processes: list[subprocess.Popen[str]] = []
        self._readers: list[threading.Thread] = []
        self._lock = threading.Lock()

    def send(self, datasets: Iterable[Dataset], associations: int = 1, timeout: float = 120) -> None:
        self.start(datasets, associations)
        self.wait(timeout)

    def start(self, datasets: Iterable[Dataset], associations: int = 1) -> None:
        """Start sending `datasets`, spread over `associations` storescu processes; returns at once."""
        batch = list(datasets)
        for number in range(associations if batch else 0):
            folder = self.folder / f"send{len(self.processes)}"
            folder.mkdir(parents=True)
            files = {}
            for index, ds in enumerate(batch[number::associations]):
                path = folder / f"{index:05d}.dcm"
                path.write_bytes(synthetic.to_bytes(ds))
                files[str(path)] = str(ds.SOPInstanceUID)
                self.sent[str(ds.SOPInstanceUID)] = ds
            command = [
                "storescu",
                "-d",
                "-R",
                "--no-halt",
                "-aet",
                CALLING,
                "-aec",
                "REGION",
                "+sd",
                "127.0.0.1",
                str(self.port),
            ]
            process = subprocess.Popen(
                [*command, str(folder)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "TCP_NODELAY": "1"},
            )
            self.processes.append(process)
            reader = threading.Thread(target=self._read, args=(process, files), daemon=True)
            reader.start()
            self._readers.append(reader)

    def wait(self, timeout: float = 120) -> None:
        for reader in self._readers:
            reader.join(timeout)
        for process in self.processes:
            process.wait(timeout)

    def acknowledged(self) -> set[str]:
        return {uid for uid, status in self.answers.items() if status == SUCCESS}

    def count(self, status: int) -> int:
        return sum(1 for answer in self.in_order if answer == status)

    def not_acknowledged(self) -> list[Dataset]:
        """Everything sent but not answered 0x0000: refused, unanswered, or never sent."""
        acknowledged = self.acknowledged()
        return [ds for uid, ds in self.sent.items() if uid not in acknowledged]

    def _read(self, process: subprocess.Popen[str], files: dict[str, str]) -> None:
        """storescu's log, a line as it is written: the file it sends, its request, then its answer's status."""
        assert process.stderr is not None
        current, asked_at = "", 0.0
        for line in process.stderr:
            if found := _SENDING_FILE.search(line):
                current = files.get(found.group(1).strip(), "")
            elif _SENDING_REQUEST.search(line):
                asked_at = time.monotonic()
            elif (found := _STATUS.search(line)) and current:
                self._record(current, int(found.group(1), 16), time.monotonic() - asked_at)
                current = ""
        if current:  # its request went, its answer never came
            self._record(current, NO_ANSWER, 0.0)

    def _record(self, sop_uid: str, status: int, waited: float) -> None:
        with self._lock:
            self.answers[sop_uid] = status
            self.in_order.append(status)
            self.waits[sop_uid] = waited
        self.on_answer()
