"""manage.py import_dicom: folders, zip archives, progress, summary, concurrency."""

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from pydicom.data import get_testdata_file

from imaging import synthetic
from imaging.models import Hospital, IngestConflict, Instance, Series, Study
from tests.support.dicom import bundled_files, ct_bytes, stored_files, study_spec
from tests.support.processes import subprocess_env

ROOT = Path(__file__).resolve().parent.parent


def write_tree(folder: Path, slices: int) -> list[bytes]:
    """A study as a PACS export would look: nested folders, one file per slice."""
    study = study_spec("tree")
    contents = []
    for number in range(1, slices + 1):
        data = ct_bytes(study=study, number=number)
        target = folder / f"series{number % 3}" / f"IM{number:04d}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        contents.append(data)
    return contents


def run_import(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_dicom", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_it_imports_a_folder_and_prints_a_summary(hospital: Hospital, tmp_path: Path, storage_root: Path) -> None:
    write_tree(tmp_path / "export", 6)
    (tmp_path / "export" / "notes.txt").write_text("not an image")
    out, err = run_import(str(tmp_path / "export"), "--hospital", "city1")
    assert "stored: 6, already present: 0, conflicts: 0, rejected: 1" in out
    assert f"rejected: {tmp_path / 'export' / 'notes.txt'}: not a DICOM file" in out
    assert "7/7 100%" in err
    assert "files/s" in err
    assert "ETA" in err
    assert Instance.objects.count() == 6
    out, _ = run_import(str(tmp_path / "export"), "--hospital", "city1")
    assert "stored: 0, already present: 6, conflicts: 0, rejected: 1" in out


@pytest.mark.django_db
def test_it_opens_zip_archives(hospital: Hospital, tmp_path: Path) -> None:
    archive = tmp_path / "cd.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("DICOM/IM1", ct_bytes(number=1))
        zf.writestr("DICOM/IM2", ct_bytes(number=2))
        zf.writestr("DICOM/", b"")
    out, _ = run_import(str(archive), "--hospital", "city1")
    assert "stored: 2," in out
    assert Series.objects.get().number_of_instances == 2


@pytest.mark.django_db
def test_it_reports_conflicts_by_file(hospital: Hospital, tmp_path: Path) -> None:
    original = synthetic.with_file_meta(synthetic.base_dataset(study_spec(), synthetic.CT_IMAGE, "x", 1, 1, "CT"))
    (tmp_path / "a.dcm").write_bytes(synthetic.to_bytes(original))
    original.SeriesDescription = "edited"
    (tmp_path / "b.dcm").write_bytes(synthetic.to_bytes(original))
    out, _ = run_import(str(tmp_path), "--hospital", "city1")
    assert "stored: 1, already present: 0, conflicts: 1, rejected: 0" in out
    assert f"conflict: {tmp_path / 'b.dcm'}" in out
    assert IngestConflict.objects.count() == 1


@pytest.mark.django_db
def test_it_refuses_an_unknown_hospital(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="unknown hospital"):
        run_import(str(tmp_path), "--hospital", "nowhere")


def test_it_imports_every_bundled_file_in_a_process_that_exits_cleanly(
    transactional_db: None, hospital: Hospital, storage_root: Path
) -> None:
    folder = Path(get_testdata_file("CT_small.dcm", download=False)).parent
    result = subprocess.run(
        [sys.executable, "manage.py", "import_dicom", str(folder), "--hospital", "city1"],
        cwd=ROOT,
        env=subprocess_env(storage_root),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = result.stdout.splitlines()[0]
    counted = sum(int(part.rsplit(": ", 1)[1]) for part in summary.split(", "))
    files = [str(f) for f in bundled_files()]
    assert counted == len(files)
    assert Instance.objects.count() > 100


@pytest.mark.slow
def test_it_ends_two_concurrent_imports_with_the_same_index_as_one(
    require_postgres: None, transactional_db: None, tmp_path: Path, storage_root: Path
) -> None:
    Hospital.objects.create(code="city1", name="City First Hospital")
    contents = write_tree(tmp_path / "export", 80)
    command = [sys.executable, "manage.py", "import_dicom", str(tmp_path / "export"), "--hospital", "city1"]
    env = subprocess_env(storage_root)
    processes = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert Instance.objects.count() == 80
    study = Study.objects.get()
    assert (study.number_of_instances, study.number_of_series) == (80, 1)
    assert Series.objects.get().number_of_instances == 80
    assert IngestConflict.objects.count() == 0
    stored = [p for p in stored_files(storage_root) if not p.name.startswith(".tmp-")]
    assert sorted(p.read_bytes() for p in stored) == sorted(contents)
    assert len(stored_files(storage_root)) == 80
