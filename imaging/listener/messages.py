"""DIMSE messages as the listener reads and writes them (PS3.7 6.3, E.1): command sets in Implicit
VR Little Endian (group 0000), and a C-STORE's dataset as its fragments arrive, in memory or spooled
to disk.
"""

import contextlib
import logging
import os
import struct
import tempfile
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import BinaryIO, Protocol

from pydicom.dataset import Dataset
from pynetdicom.dsutils import decode

from imaging.dicom.status import COMMAND_FIELD, MESSAGE_ID
from imaging.listener.pdu import ProtocolError

logger = logging.getLogger(__name__)

_ELEMENT = struct.Struct("<HHI")
_US = struct.Struct("<H")


@dataclass(frozen=True)
class AcceptedContext:
    context_id: int
    abstract_syntax: str
    transfer_syntax: str

    @property
    def is_implicit_vr(self) -> bool:
        return self.transfer_syntax == "1.2.840.10008.1.2"

    @property
    def is_little_endian(self) -> bool:
        return self.transfer_syntax != "1.2.840.10008.1.2.2"

    @property
    def is_deflated(self) -> bool:
        return self.transfer_syntax == "1.2.840.10008.1.2.1.99"


@dataclass(frozen=True)
class Spooling:
    """Where a C-STORE dataset larger than `above` bytes goes as it arrives, instead of memory."""

    directory: Path
    above: int


SPOOL_PREFIX = "c-store-"


class Digest(Protocol):
    """A running hash, as hashlib makes them (its type has no public name)."""

    def update(self, data: bytes | memoryview, /) -> None: ...

    def hexdigest(self) -> str: ...


@dataclass
class Message:
    """One DIMSE message: its command elements (raw values) and its dataset fragments.

    A C-STORE dataset that grows past `Spooling.above` is written to a file
    in `Spooling.directory` (its Part 10 prefix first) as its fragments
    arrive, so the listener holds a PDU or two of it, not the whole object. If
    that file cannot be written (a full disk), the rest of the message is
    still read, and dropped: `spool_error` says why.
    """

    context: AcceptedContext
    command: dict[int, bytes]
    fragments: list[memoryview] = field(default_factory=list)
    # With `AcceptorSettings.file_prefix`: what goes before the dataset in its file, and a SHA-256
    # of that and of the fragments, updated as each arrives (while the sender still sends the rest).
    prefix: bytes = b""
    digest: Digest | None = None
    size: int = 0  # dataset bytes received
    spooling: Spooling | None = None
    spool_path: Path | None = None  # the Part 10 file, once the dataset went to disk
    spool_error: OSError | None = None
    _spool: BinaryIO | None = None

    def add_fragment(self, fragment: memoryview) -> None:
        if self.digest is not None:
            self.digest.update(fragment)
        self.size += len(fragment)
        if self.spool_error is not None:
            return
        try:
            if self._spool is None and self.spooling is not None and self.size > self.spooling.above:
                self._spool_to_disk(self.spooling.directory)
            if self._spool is None:
                self.fragments.append(fragment)
            else:
                self._spool.write(fragment)
        except OSError as error:
            self._spool_failed(error)

    def received_all(self) -> None:
        """The last fragment is in: a spooled dataset's file is closed, so it can be read whole."""
        if self._spool is None:
            return
        try:
            self._spool.close()
        except OSError as error:
            self._spool_failed(error)
        self._spool = None

    def discard(self) -> None:
        """Let go of what was received: a spooled dataset's file is removed."""
        self.fragments.clear()
        if self._spool is not None:
            with contextlib.suppress(OSError):
                self._spool.close()
            self._spool = None
        if self.spool_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.spool_path.unlink()
            self.spool_path = None

    def _spool_to_disk(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"{SPOOL_PREFIX}{os.getpid()}-", dir=directory)
        self.spool_path = Path(name)
        self._spool = os.fdopen(fd, "wb")
        self._spool.write(self.prefix)
        for fragment in self.fragments:
            self._spool.write(fragment)
        self.fragments.clear()

    def _spool_failed(self, error: OSError) -> None:
        logger.warning("cannot spool a C-STORE dataset of %d bytes so far: %s", self.size, error)
        self.discard()
        self.spool_error = error

    @property
    def command_field(self) -> int:
        return command_us(self.command, COMMAND_FIELD)

    @property
    def message_id(self) -> int:
        return command_us(self.command, MESSAGE_ID)

    def uid(self, tag: int) -> str:
        return self.command.get(tag, b"").decode("ascii", "replace").rstrip("\0 ")

    def dataset_bytes(self) -> bytes:
        return b"".join(self.fragments)

    def dataset(self) -> Dataset:
        return decode(
            BytesIO(self.dataset_bytes()),
            self.context.is_implicit_vr,
            self.context.is_little_endian,
            self.context.is_deflated,
        )


def remove_stale_spool_files(directory: Path) -> int:
    """Remove the spooled datasets of listener processes that are gone (killed mid-message); how many."""
    removed = 0
    for path in directory.glob(f"{SPOOL_PREFIX}*"):
        pid = path.name.removeprefix(SPOOL_PREFIX).partition("-")[0]
        if pid.isdigit() and not _process_exists(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed


def _process_exists(pid: int) -> bool:
    """Whether `pid` runs; a zombie does not (a killed listener's children may never be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc here: ask the kernel
        return _signal_reaches(pid)
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")  # PS field 3, after the command in parentheses


def _signal_reaches(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def command_us(command: dict[int, bytes], tag: int) -> int:
    value = command.get(tag)
    if value is None or len(value) != 2:
        raise ProtocolError(f"command element ({tag >> 16:04X},{tag & 0xFFFF:04X}) is missing or not a US")
    return int(_US.unpack(value)[0])


def decode_command(data: bytes) -> dict[int, bytes]:
    """A command set's elements, raw (PS3.7 6.3.1: Implicit VR Little Endian)."""
    elements: dict[int, bytes] = {}
    offset = 0
    while offset < len(data):
        if offset + 8 > len(data):
            raise ProtocolError("the command set ends inside an element header")
        group, element, length = _ELEMENT.unpack_from(data, offset)
        offset += 8
        if offset + length > len(data):
            raise ProtocolError("a command element runs past the command set")
        elements[group << 16 | element] = bytes(data[offset : offset + length])
        offset += length
    return elements


def encode_command(elements: dict[int, bytes]) -> bytes:
    """A command set with its group length, elements in tag order, values padded to even length."""
    body = b"".join(
        _ELEMENT.pack(tag >> 16, tag & 0xFFFF, len(value)) + value for tag, value in sorted(elements.items())
    )
    return _ELEMENT.pack(0, 0, 4) + struct.pack("<I", len(body)) + body


def us(value: int) -> bytes:
    return _US.pack(value)


def ui(value: str) -> bytes:
    raw = value.encode("ascii")
    return raw + b"\0" if len(raw) % 2 else raw


def lo(value: str) -> bytes:
    raw = value.encode("ascii", "replace")[:64]
    return raw + b" " if len(raw) % 2 else raw
