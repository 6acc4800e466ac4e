"""A study as a zip: JPEGs at a window for people, or the original files with a DICOMDIR for a PACS.

Only the instances of the one study go in (they are selected by study, never
by a list a requester sends). The zip is written to a temporary file, then
saved to storage; nothing half-written is ever served. Memory stays flat
whatever the study's size: stored files are copied in a chunk at a time and
pictures rendered one at a time, each from its one frame (`imaging.dicom.frames`).
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

from imaging.dicom import CHUNK, read_without_pixels
from imaging.models import Instance, RenderStatus, Report, Study
from imaging.rendering import MODALITY_PRESETS, PRESETS, RenderSpec, ensure_render, read_render

MAX_FRAMES_PER_IMAGE = 300
# A member of this size or more is written with ZIP64 sizes: zipfile must know before it writes
# the member's header, and a deflated copy can end up a little larger than the file.
ZIP64_FROM = 1 << 31


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
    """The stored files as a DICOM File-set (PS3.10): a DICOMDIR and the files it indexes, in constant memory.

    Steps: index each instance's header (read up to its pixel data) in
    pydicom's `FileSet`, which writes a stand-in file of that header; write the
    File-set to learn each instance's File ID and get the DICOMDIR; then zip
    the DICOMDIR and copy each stored file under its File ID a chunk at a time.
    The members are the stored files byte for byte; a file the DICOMDIR has no
    record for (its SOP class has none) goes under OTHER/.
    """
    with tempfile.TemporaryDirectory(prefix="efilm-dicomdir-") as work:
        fileset = FileSet()
        fileset.ID = "EFILM"
        instances = list(_study_instances(study))
        indexed = {instance.sop_uid for instance in instances if _index(fileset, instance)}
        fileset.write(Path(work))
        file_ids = {str(entry.SOPInstanceUID): Path(entry.FileID).as_posix() for entry in fileset}
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            archive.write(Path(work) / "DICOMDIR", "DICOMDIR")
            for number, instance in enumerate(instances):
                name = file_ids[instance.sop_uid] if instance.sop_uid in indexed else f"OTHER/{number:06d}.dcm"
                _copy_into(archive, name, instance)
        return len(instances)


def _index(fileset: FileSet, instance: Instance) -> bool:
    """Add the instance's header to the File-set; False for a SOP class the DICOMDIR has no record for."""
    with default_storage.open(instance.storage_key, "rb") as handle:
        header = read_without_pixels(handle)
    try:
        fileset.add(header)
    except (ValueError, KeyError, AttributeError):
        return False
    return True


def _copy_into(archive: zipfile.ZipFile, name: str, instance: Instance) -> None:
    """The stored file as member `name`, copied a chunk at a time; a large one gets ZIP64 sizes (APPNOTE 4.5.3)."""
    with (
        default_storage.open(instance.storage_key, "rb") as source,
        archive.open(name, "w", force_zip64=source.size >= ZIP64_FROM) as copy,
    ):
        shutil.copyfileobj(source, copy, CHUNK)


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
    """Each image with its series' folder and its place in it; two series of one number and name
    (an unnumbered localiser and its repeat) get folders of their own, "-2" on."""
    used: set[str] = set()
    for series in study.series.order_by("series_number", "pk"):
        base = f"{series.series_number or 0:03d}-{_slug(series.description or series.modality or 'series')}"
        folder, copy = base, 1
        while folder in used:
            copy += 1
            folder = f"{base}-{copy}"
        used.add(folder)
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
