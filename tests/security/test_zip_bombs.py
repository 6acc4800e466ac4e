"""import_dicom and zip bombs: members inflated a chunk at a time, up to a size each and in all.

The review's bomb: 1 MB of archive that inflates to gigabytes took 2.2 GB of
memory, because a member was read whole. Here a member of 200 MB of one letter
(about 200 kB deflated) is refused by name, memory stays far below its size,
and the archive's other members still import.
"""

import io
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from imaging.models import Hospital, Instance
from tests.support.dicom import ct_bytes

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


def write_filler(archive: zipfile.ZipFile, name: str, size: int) -> None:
    """`size` bytes of one letter: deflated a thousandfold, and refused at once by ingest if ever
    read whole (zeros would keep the DICOM parser busy for minutes before the assertions)."""
    with archive.open(name, "w", force_zip64=True) as member:
        for _ in range(size // MB):
            member.write(b"A" * MB)


def run_import(path: Path) -> str:
    out = io.StringIO()
    call_command("import_dicom", str(path), "--hospital", "city1", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_it_refuses_a_member_that_inflates_past_its_cap_and_imports_the_rest(
    hospital: Hospital, tmp_path: Path, settings: Any
) -> None:
    settings.IMPORT_ZIP_MEMBER_MAX_BYTES = 8 * MB
    path = tmp_path / "cd.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("DICOM/IM1", ct_bytes(number=1))
        write_filler(archive, "DICOM/BOMB", 200 * MB)
        archive.writestr("DICOM/IM2", ct_bytes(number=2))
    assert path.stat().st_size < 2 * MB
    tracemalloc.start()
    try:
        out = run_import(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * MB, f"peak {peak // MB} MB"
    assert "stored: 2, already present: 0, conflicts: 0, rejected: 1" in out
    assert f"rejected: {path}:DICOM/BOMB: inflates past IMPORT_ZIP_MEMBER_MAX_BYTES ({8 * MB} bytes)" in out
    assert Instance.objects.count() == 2


def test_it_refuses_the_members_past_the_archives_total_cap(hospital: Hospital, tmp_path: Path, settings: Any) -> None:
    settings.IMPORT_ZIP_MEMBER_MAX_BYTES = 8 * MB
    settings.IMPORT_ZIP_TOTAL_MAX_BYTES = 10 * MB
    path = tmp_path / "cd.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("DICOM/IM1", ct_bytes(number=1))
        for number in range(1, 4):
            write_filler(archive, f"PAD/{number}", 4 * MB)
        archive.writestr("DICOM/IM2", ct_bytes(number=2))
    out = run_import(path)
    total = f"its archive inflates past IMPORT_ZIP_TOTAL_MAX_BYTES ({10 * MB} bytes)"
    assert f"rejected: {path}:PAD/3: {total}" in out
    assert f"rejected: {path}:DICOM/IM2: {total}" in out
    assert "stored: 1," in out


def test_it_refuses_a_member_whose_declared_size_is_forged(hospital: Hospital, tmp_path: Path) -> None:
    path = tmp_path / "cd.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        write_filler(archive, "DICOM/BOMB", 32 * MB)
        archive.writestr("DICOM/IM1", ct_bytes(number=1))
    # The central directory's entry for BOMB says 1 kB: the archive's sizes are its sender's word.
    data = bytearray(path.read_bytes())
    entry = data.index(b"PK\x01\x02")
    data[entry + 24 : entry + 28] = (1024).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    out = run_import(path)
    assert f"rejected: {path}:DICOM/BOMB: cannot be inflated" in out
    assert "stored: 1," in out
