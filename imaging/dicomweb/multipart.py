"""A streaming reader of multipart/related bodies (RFC 2387), as STOW-RS sends them.

Parts are read from the request stream in chunks and written to temporary
files on disk, one part at a time, so that a large upload never sits in memory;
a part and the whole body may each be capped (`BodyTooLarge`). The body may come
without a length (`Transfer-Encoding: chunked`): the close delimiter ends it.
"""

import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

CHUNK = 256 * 1024


class Readable(Protocol):
    def read(self, size: int = ...) -> bytes: ...


class MalformedMultipart(ValueError):
    pass


class BodyTooLarge(Exception):
    """A part, or the whole body, is larger than its cap; reading stopped there."""


@dataclass(frozen=True)
class Limits:
    """Caps in bytes (None: no cap), and the folder for the parts' temporary files."""

    part: int | None = None
    body: int | None = None
    directory: Path | None = None


@dataclass(frozen=True)
class ContentType:
    media_type: str
    parameters: dict[str, str]

    @classmethod
    def parse(cls, header: str) -> "ContentType":
        media_type, _, rest = header.partition(";")
        parameters = {}
        for match in re.finditer(r'\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)\s*;?', rest):
            value = match.group(2).strip()
            if value.startswith('"') and value.endswith('"'):
                value = value[1:-1]
            parameters[match.group(1).lower()] = value
        return cls(media_type.strip().lower(), parameters)


@dataclass
class Part:
    headers: dict[str, str]
    body: IO[bytes]

    @property
    def content_type(self) -> str:
        return ContentType.parse(self.headers.get("content-type", "")).media_type

    @property
    def path(self) -> Path:
        """Where the part's content is on disk (until the next part is asked for)."""
        return Path(self.body.name)


def read_parts(stream: Readable, boundary: str, length: int | None, limits: Limits = Limits()) -> Iterator[Part]:
    """Yield each part of the body, its content in a temporary file (rewound).

    `length` is the body's Content-Length, None when it came chunked. The
    caller must be done with a part before asking for the next: its file is
    closed and removed then. Raises BodyTooLarge as soon as a part or the body
    passes its cap in `limits`.
    """
    if not boundary or len(boundary) > 200:
        raise MalformedMultipart("the multipart boundary is missing or too long")
    reader = _BoundedReader(stream, length, limits.body)
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    buffer = _read_until_first_boundary(reader, delimiter[2:])
    if limits.directory is not None:
        limits.directory.mkdir(parents=True, exist_ok=True)
    while True:
        buffer = _fill(reader, buffer, 2)
        if buffer.startswith(b"--"):
            return  # the close delimiter
        buffer = _skip_line_end(reader, buffer)
        headers, buffer = _read_headers(reader, buffer)
        with tempfile.NamedTemporaryFile(prefix="part-", dir=limits.directory) as body:
            buffer = _copy_until(reader, buffer, delimiter, _CappedWriter(body, limits.part))
            body.flush()
            body.seek(0)
            yield Part(headers, body)


class _BoundedReader:
    def __init__(self, stream: Readable, length: int | None, cap: int | None) -> None:
        self.stream, self.remaining, self.cap, self.total = stream, length, cap, 0

    def read(self) -> bytes:
        size = CHUNK if self.remaining is None else min(CHUNK, self.remaining)
        if size <= 0:
            return b""
        data = self.stream.read(size)
        if self.remaining is not None:
            self.remaining -= len(data)
        self.total += len(data)
        if self.cap is not None and self.total > self.cap:
            raise BodyTooLarge(f"the request body is larger than {self.cap} bytes")
        return data


class _CappedWriter:
    """A part's file, refusing bytes past the part's cap."""

    def __init__(self, out: IO[bytes], cap: int | None) -> None:
        self.out, self.cap, self.written = out, cap, 0

    def write(self, data: bytes) -> None:
        self.written += len(data)
        if self.cap is not None and self.written > self.cap:
            raise BodyTooLarge(f"a part is larger than {self.cap} bytes")
        self.out.write(data)


def _read_until_first_boundary(reader: _BoundedReader, dash_boundary: bytes) -> bytes:
    buffer = b""
    while True:
        index = buffer.find(dash_boundary)
        if index >= 0:
            return buffer[index + len(dash_boundary) :]
        chunk = reader.read()
        if not chunk:
            raise MalformedMultipart("the body holds no part with the declared boundary")
        buffer = buffer[-len(dash_boundary) :] + chunk


def _fill(reader: _BoundedReader, buffer: bytes, needed: int) -> bytes:
    while len(buffer) < needed:
        chunk = reader.read()
        if not chunk:
            break
        buffer += chunk
    return buffer


def _skip_line_end(reader: _BoundedReader, buffer: bytes) -> bytes:
    buffer = _fill(reader, buffer, 2)
    # Transport padding (spaces) may follow a boundary before its CRLF.
    stripped = buffer.lstrip(b" \t")
    if not stripped.startswith(b"\r\n"):
        raise MalformedMultipart("a boundary is not followed by a line end")
    return stripped[2:]


def _read_headers(reader: _BoundedReader, buffer: bytes) -> tuple[dict[str, str], bytes]:
    while b"\r\n\r\n" not in buffer and not buffer.startswith(b"\r\n"):
        chunk = reader.read()
        if not chunk or len(buffer) > 64 * 1024:
            raise MalformedMultipart("a part's headers do not end")
        buffer += chunk
    if buffer.startswith(b"\r\n"):
        return {}, buffer[2:]
    raw, _, rest = buffer.partition(b"\r\n\r\n")
    headers = {}
    for line in raw.decode("latin-1").split("\r\n"):
        name, separator, value = line.partition(":")
        if not separator:
            raise MalformedMultipart(f"a part header is malformed: {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return headers, rest


def _copy_until(reader: _BoundedReader, buffer: bytes, delimiter: bytes, out: _CappedWriter) -> bytes:
    """Copy bytes to `out` up to the next delimiter; return what follows it."""
    while True:
        index = buffer.find(delimiter)
        if index >= 0:
            out.write(buffer[:index])
            return buffer[index + len(delimiter) :]
        keep = len(delimiter) - 1
        if len(buffer) > keep:
            out.write(buffer[:-keep])
            buffer = buffer[-keep:]
        chunk = reader.read()
        if not chunk:
            raise MalformedMultipart("the body ends inside a part (no closing boundary)")
        buffer += chunk
