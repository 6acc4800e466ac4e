"""A study as a zip: JPEGs at a window for people, or the original files with a DICOMDIR for a PACS.

Only the instances of the one study go in (they are selected by study, never
by a list a requester sends). The zip is written to a temporary file, then
saved to storage; nothing half-written is ever served.
"""

import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from pydicom.fileset import FileSet

from imaging.models import Instance, RenderStatus, Report, Study
from imaging.renders import MODALITY_PRESETS, PRESETS, RenderSpec, ensure_render, read_render

MAX_FRAMES_PER_IMAGE = 300


def build_jpeg_zip(study: Study, preset: str, target: Path) -> int:
    """Every image (and frame) as JPEG at `preset` where the modality has it, else the file's window."""
    count = 0
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        for folder, instance, position in _images(study):
            window = PRESETS[preset] if preset in MODALITY_PRESETS.get(instance.series.modality, ()) else None
            for frame in range(min(instance.number_of_frames, MAX_FRAMES_PER_IMAGE)):
                spec = RenderSpec(frame, window)
                if ensure_render(instance, spec).status != RenderStatus.READY:
                    continue
                suffix = f"-f{frame + 1:03d}" if instance.number_of_frames > 1 else ""
                archive.writestr(f"{folder}/{position:04d}{suffix}.jpg", read_render(spec.key(instance)))
                count += 1
        count += _add_report(archive, study)
    return count


def build_dicom_zip(study: Study, target: Path) -> int:
    """The stored files as a DICOM File-set (PS3.10): a DICOMDIR and the files it indexes."""
    with tempfile.TemporaryDirectory(prefix="efilm-dicomdir-") as work:
        staging, output = Path(work) / "in", Path(work) / "out"
        staging.mkdir()
        fileset = FileSet()
        fileset.ID = "EFILM"
        unindexed: list[Path] = []
        for number, instance in enumerate(_study_instances(study)):
            path = staging / f"{number:06d}.dcm"
            with default_storage.open(instance.storage_key, "rb") as source, path.open("wb") as copy:
                shutil.copyfileobj(source, copy, 1 << 20)
            try:
                fileset.add(path)
            except (ValueError, KeyError, AttributeError):
                unindexed.append(path)  # a SOP class the DICOMDIR has no record for: still shipped
        fileset.write(output)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for path in sorted(output.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(output).as_posix())
            for path in unindexed:
                archive.write(path, f"OTHER/{path.name}")
        return len(fileset) + len(unindexed)


def save_zip(source: Path, key: str) -> str:
    with source.open("rb") as handle:
        return default_storage.save(key, File(handle, name=Path(key).name))


def _study_instances(study: Study) -> Iterator[Instance]:
    return (
        Instance.objects.filter(series__study=study)
        .order_by("series__series_number", "series_id", "instance_number", "pk")
        .iterator()
    )


def _images(study: Study) -> Iterator[tuple[str, Instance, int]]:
    for series in study.series.order_by("series_number", "pk"):
        folder = f"{series.series_number or 0:03d}-{_slug(series.description or series.modality or 'series')}"
        images = series.instances.filter(has_pixels=True).in_anatomical_order().select_related("series")
        for position, instance in enumerate(images, start=1):
            yield folder, instance, position


def _add_report(archive: zipfile.ZipFile, study: Study) -> int:
    report = Report.objects.filter(study=study).select_related("instance").first()
    if report is None:
        return 0
    if report.is_pdf:
        archive.writestr("report.pdf", report.pdf())
    else:
        archive.writestr("report.txt", "\n\n".join(part for part in (report.title, report.text) if part))
    return 1


def _slug(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text, flags=re.UNICODE).strip("_")[:40] or "series"
