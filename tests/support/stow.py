"""STOW-RS request bodies made as they are read, and a way to post them without a copy."""

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, cast

from django.http import HttpResponse
from django.test.client import ClientHandler

from tests.test_dicomweb import BOUNDARY, MULTIPART

PIXEL_CHUNK = 1024 * 1024


class WsgiInput(Protocol):
    def read(self, size: int = ...) -> bytes: ...

    def readline(self, size: int = ...) -> bytes: ...


class LazyStowBody:
    """A STOW-RS body whose last part is a large CT, made as it is read: never whole in memory.

    `leading` parts (whole DICOM objects) go before it. `read_bytes` counts what was read.
    """

    def __init__(self, header: bytes, pixel_bytes: int, leading: tuple[bytes, ...] = ()) -> None:
        opening = b"".join(_opening() + part + b"\r\n" for part in leading) + _opening()
        element = b"\xe0\x7f\x10\x00OW\x00\x00" + pixel_bytes.to_bytes(4, "little")  # (7FE0,0010), PS3.5 7.1.2
        closing = f"\r\n--{BOUNDARY}--\r\n".encode()
        self.length = len(opening) + len(header) + len(element) + pixel_bytes + len(closing)
        self.chunks = self._generate([opening, header, element], pixel_bytes, closing)
        self.pending = b""
        self.read_bytes = 0

    @staticmethod
    def _generate(head: list[bytes], pixel_bytes: int, closing: bytes) -> Iterator[bytes]:
        yield from head
        pixels = bytes(range(256)) * (PIXEL_CHUNK // 256)
        for offset in range(0, pixel_bytes, PIXEL_CHUNK):
            yield pixels[: min(PIXEL_CHUNK, pixel_bytes - offset)]
        yield closing

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.pending) < size:
            try:
                self.pending += next(self.chunks)
            except StopIteration:
                break
        if size < 0:
            size = len(self.pending)
        data, self.pending = self.pending[:size], self.pending[size:]
        self.read_bytes += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:  # WSGI input's; multipart is not read by lines
        raise NotImplementedError


def _opening() -> bytes:
    return f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()


def post_stream(
    body: WsgiInput, token: str, length: int | None, path: str = "/dicomweb/studies", terminated: bool = True
) -> tuple[int, dict[str, Any]]:
    """POST `body` through the test client's handler, as its input stream (`Client.post` would copy it).

    With `length` None the body goes as a chunked one does under gunicorn: no
    Content-Length, and `wsgi.input_terminated` (unless not `terminated`: a
    server that does not decode chunked bodies).
    """
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": MULTIPART,
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
    }
    if length is None:
        environ["wsgi.input_terminated"] = terminated
    else:
        environ["CONTENT_LENGTH"] = str(length)
    response = cast(HttpResponse, ClientHandler(enforce_csrf_checks=False)(environ))
    return response.status_code, json.loads(response.content)


class PeakResidentRise:
    """How far the process's resident set (VmHWM, Linux) rose above where it stood on entering.

    Entering resets the peak to the current size (`clear_refs` 5); tracemalloc
    sees Python's allocations only, this also sees mapped file pages.
    """

    def __enter__(self) -> "PeakResidentRise":
        Path("/proc/self/clear_refs").write_text("5")
        self.start = _status_bytes("VmRSS")
        self.rise = 0
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.rise = _status_bytes("VmHWM") - self.start


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)
