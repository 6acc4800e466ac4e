"""Import DICOM files from folders and .zip archives into the regional index."""

import time
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from imaging.ingest import IngestOutcome, IngestResult, IngestUnavailable, ingest_instance
from imaging.models import Hospital
from imaging.rendering import batched_renders


@dataclass(frozen=True)
class SourceFile:
    """A file on disk, or a member of a zip archive."""

    path: Path
    member: str = ""

    @property
    def name(self) -> str:
        return f"{self.path}:{self.member}" if self.member else str(self.path)

    def read(self, limits: "ZipLimits") -> bytes:
        if not self.member:
            return self.path.read_bytes()
        return limits.read_member(self.path, self.member)


class TooLarge(Exception):
    """A zip member that inflates past a cap; the message says which cap."""


class ZipLimits:
    """Zip members inflated a chunk at a time, each up to a size, each archive up to a total.

    `ZipInfo.file_size` is whatever the archive claims, so only the bytes
    actually inflated are counted.
    """

    CHUNK = 1024 * 1024

    def __init__(self, member_max: int, total_max: int) -> None:
        self.member_max, self.total_max = member_max, total_max
        self.inflated: dict[Path, int] = defaultdict(int)

    def read_member(self, path: Path, member: str) -> bytes:
        left = self.total_max - self.inflated[path]
        if left <= 0:
            raise TooLarge(self._total_message())
        cap = min(self.member_max, left)
        data = bytearray()
        with zipfile.ZipFile(path) as archive, archive.open(member) as stream:
            while chunk := stream.read(min(self.CHUNK, cap + 1 - len(data))):
                data += chunk
                if len(data) > cap:
                    self.inflated[path] += len(data)
                    raise TooLarge(self._member_message() if cap == self.member_max else self._total_message())
        self.inflated[path] += len(data)
        return bytes(data)

    def _member_message(self) -> str:
        return f"inflates past IMPORT_ZIP_MEMBER_MAX_BYTES ({self.member_max} bytes); not imported"

    def _total_message(self) -> str:
        return f"its archive inflates past IMPORT_ZIP_TOTAL_MAX_BYTES ({self.total_max} bytes); not imported"


def collect_sources(paths: list[Path]) -> list[SourceFile]:
    """Every file under `paths`, in a stable order; zip archives opened into members."""
    sources: list[SourceFile] = []
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            sources.extend(_expand(file))
    return sources


def _expand(file: Path) -> Iterator[SourceFile]:
    if file.suffix.lower() == ".zip" and zipfile.is_zipfile(file):
        with zipfile.ZipFile(file) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    yield SourceFile(file, info.filename)
    else:
        yield SourceFile(file)


class Progress:
    """A one-line progress bar with rate and ETA on a terminal, a line every 5 s elsewhere."""

    def __init__(self, total: int, out: OutputWrapper) -> None:
        self.total, self.out, self.done = total, out, 0
        self.started = self.last_shown = time.monotonic()
        self.interactive = out.isatty()

    def advance(self) -> None:
        self.done += 1
        now = time.monotonic()
        interval = 0.1 if self.interactive else 5.0
        if now - self.last_shown >= interval or self.done == self.total:
            self.last_shown = now
            self.out.write(("\r" if self.interactive else "") + self.line(now), ending="" if self.interactive else "\n")
            self.out.flush()

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        remaining = (self.total - self.done) / rate if rate else 0.0
        filled = int(30 * self.done / self.total) if self.total else 30
        bar = "=" * filled + " " * (30 - filled)
        percent = 100 * self.done / self.total if self.total else 100
        return (
            f"[{bar}] {self.done}/{self.total} {percent:3.0f}% {rate:7.1f} files/s "
            f"ETA {int(remaining) // 60}:{int(remaining) % 60:02d}"
        )

    def finish(self) -> None:
        if self.interactive:
            self.out.write("")


@dataclass
class Summary:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    conflicts: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def add(self, source: SourceFile, result: IngestResult) -> None:
        self.counts[result.outcome] += 1
        if result.outcome == IngestOutcome.CONFLICT:
            self.conflicts.append(source.name)
        elif result.outcome == IngestOutcome.REJECTED:
            self.rejected.append((source.name, result.reason))


class Command(BaseCommand):
    help = "Import DICOM files (folders are walked, .zip archives opened) for one hospital."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, help="files, folders or .zip archives")
        parser.add_argument("--hospital", required=True, help="code of the hospital the files come from")

    def handle(self, *args: Any, **options: Any) -> None:
        hospital = Hospital.objects.filter(code=options["hospital"]).first()
        if hospital is None:
            raise CommandError(f"unknown hospital {options['hospital']!r}; add it with add_hospital first")
        missing = [str(p) for p in options["paths"] if not p.exists()]
        if missing:
            raise CommandError(f"no such file or folder: {', '.join(missing)}")
        sources = collect_sources(options["paths"])
        summary = self.import_all(sources, hospital)
        self.print_summary(summary)

    def import_all(self, sources: list[SourceFile], hospital: Hospital) -> Summary:
        summary = Summary()
        progress = Progress(len(sources), self.stderr)
        limits = ZipLimits(settings.IMPORT_ZIP_MEMBER_MAX_BYTES, settings.IMPORT_ZIP_TOTAL_MAX_BYTES)
        with batched_renders():
            for source in sources:
                try:
                    result = ingest_instance(source.read(limits), hospital, source_name=source.name)
                except TooLarge as refused:
                    result = IngestResult(IngestOutcome.REJECTED, reason=str(refused))
                except (zipfile.BadZipFile, zlib.error) as error:
                    result = IngestResult(IngestOutcome.REJECTED, reason=f"cannot be inflated: {error}")
                except OSError as error:
                    result = IngestResult(IngestOutcome.REJECTED, reason=f"cannot be read: {error.strerror or error}")
                except IngestUnavailable as error:
                    progress.finish()
                    self.print_summary(summary)
                    raise CommandError(
                        f"{error}. Stopped at {source.name}; running the import again is safe."
                    ) from None
                summary.add(source, result)
                progress.advance()
        progress.finish()
        return summary

    def print_summary(self, summary: Summary) -> None:
        counts = summary.counts
        self.stdout.write(
            f"stored: {counts[IngestOutcome.STORED]}, already present: {counts[IngestOutcome.DUPLICATE]}, "
            f"conflicts: {counts[IngestOutcome.CONFLICT]}, rejected: {counts[IngestOutcome.REJECTED]}"
        )
        for name in summary.conflicts:
            self.stdout.write(f"  conflict: {name}: different bytes under a known SOPInstanceUID; stored copy kept")
        for name, reason in summary.rejected:
            self.stdout.write(f"  rejected: {name}: {reason}")
