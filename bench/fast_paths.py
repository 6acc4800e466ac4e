"""What the hand-written fast paths replaced, beside them (docs/architecture.md: "The hand-written fast paths").

Prints:
- per small image (a 64x64 secondary capture, about 9 KB), the CPU time of reading
  the index's header fields: pydicom's `dcmread` with `stop_before_pixels`, the same
  with `specific_tags` naming only the fields the index keeps, each followed by
  `read_header`, and the raw reader (`imaging.dicom.raw_header`) with `read_header`;
- C-STOREs per second from DCMTK's storescu (one association, --count small images)
  into pynetdicom's acceptor with a handler that does nothing, at pynetdicom's own
  poll delay (`DULServiceProvider._run_loop_delay`, 1 ms) and at none.

    .venv/bin/python bench/fast_paths.py [--count 2000] [--reads 2000]
"""

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

import pydicom  # noqa: E402
import pynetdicom  # noqa: E402
from pynetdicom import AE, evt  # noqa: E402
from pynetdicom.sop_class import SecondaryCaptureImageStorage, Verification  # noqa: E402

from imaging import synthetic  # noqa: E402
from imaging.dicom import headers, raw_header  # noqa: E402
from imaging.synthetic import PatientSpec, StudySpec  # noqa: E402

# The DCMTK tool, not pynetdicom's script of the same name in .venv/bin.
STORESCU = next((p for p in ("/usr/bin/storescu", "/usr/local/bin/storescu") if Path(p).exists()), "storescu")
INDEX_KEYWORDS = [
    "SOPInstanceUID",
    "SOPClassUID",
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyDescription",
    "AccessionNumber",
    "StudyID",
    "ReferringPhysicianName",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "Modality",
    "BodyPartExamined",
    "InstanceNumber",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "PhotometricInterpretation",
    "BitsAllocated",
    "PixelRepresentation",
    "WindowCenter",
    "WindowWidth",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "SliceLocation",
    "SpecificCharacterSet",
    "PatientTelephoneNumbers",
    "LossyImageCompression",
    "FrameTime",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
]


def small_files(count: int) -> list[bytes]:
    patient = PatientSpec("BENCH1", "Bench^Patient", "O", dt.date(1970, 1, 1))
    study = StudySpec("fast-paths", patient, dt.date(2026, 1, 1), dt.time(9, 0), "BENCH", "fast paths")
    return [synthetic.to_bytes(ds) for ds in synthetic.small_instances(study, count)]


def per_read(files: list[bytes], read: object) -> float:
    started = time.process_time()
    for data in files:
        read(data)  # type: ignore[operator]
    return (time.process_time() - started) / len(files) * 1000


def header_reads(files: list[bytes]) -> None:
    def pydicom_read(data: bytes) -> None:
        headers.read_header(pydicom.dcmread(BytesIO(data), stop_before_pixels=True))

    def pydicom_specific(data: bytes) -> None:
        headers.read_header(pydicom.dcmread(BytesIO(data), stop_before_pixels=True, specific_tags=INDEX_KEYWORDS))

    def raw(data: bytes) -> None:
        found = raw_header.read_raw_header(data)
        assert found is not None, "the raw reader declined a plain image"
        headers.read_header(found)

    print(f"header fields of a small image ({len(files[0]):,} bytes), CPU ms per image, mean of {len(files)}:")
    for name, read in (
        ("pydicom dcmread, stop_before_pixels", pydicom_read),
        ("pydicom dcmread, + specific_tags", pydicom_specific),
        ("raw_header", raw),
    ):
        per_read(files[:50], read)  # warm
        print(f"  {name:40} {per_read(files, read):6.3f}")


def pynetdicom_rates(files: list[bytes], scratch: Path) -> None:
    folder = scratch / "small"
    folder.mkdir()
    for number, data in enumerate(files):
        (folder / f"{number:05d}.dcm").write_bytes(data)
    print(f"pynetdicom {pynetdicom.__version__} acceptor, handler does nothing, storescu, one association:")
    for delay in (0.001, 0.0):
        print(f"  _run_loop_delay {delay * 1000:g} ms: {acceptor_rate(folder, delay):8.1f} C-STOREs/s")


def acceptor_rate(folder: Path, delay: float) -> float:
    def set_delay(event: evt.Event) -> None:
        # Each association's DUL provider sets its own delay when made; this sets it as the request arrives.
        event.assoc.dul._run_loop_delay = delay

    ae = AE(ae_title="BENCHSCP")
    ae.add_supported_context(SecondaryCaptureImageStorage, pydicom.uid.ExplicitVRLittleEndian)
    ae.add_supported_context(Verification)
    handlers = [(evt.EVT_C_STORE, lambda event: 0x0000), (evt.EVT_REQUESTED, set_delay)]
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
    port = server.server_address[1]
    try:
        started = time.perf_counter()
        subprocess.run(
            [STORESCU, "-xe", "-aec", "BENCHSCP", "+sd", "127.0.0.1", str(port), str(folder)],
            env={**os.environ, "TCP_NODELAY": "1"},
            check=True,
            capture_output=True,
        )
        return len(list(folder.iterdir())) / (time.perf_counter() - started)
    finally:
        server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--reads", type=int, default=2000)
    args = parser.parse_args()
    files = small_files(max(args.count, args.reads))
    header_reads(files[: args.reads])
    scratch = Path(tempfile.mkdtemp(prefix="efilm-fast-paths-"))
    try:
        pynetdicom_rates(files[: args.count], scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
