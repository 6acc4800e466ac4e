"""Listener memory: the DICOM listener's resident set while it stores the region's largest objects.

Makes in code (`imaging.synthetic.write_large_multiframe`, a frame at a time)
one native multi-frame CT of `--large-mb` MiB and four of `--each-mb` MiB,
then sends them with DCMTK's storescu: the large one alone, then the four at
once on four associations. Our listener runs as in production (DEBUG off, its
default process count, a scratch PostgreSQL database, renders queued). For
each round it prints, summed over the listener's processes: RSS when idle, the
peak (VmHWM, reset before the round) above idle, and RSS afterwards against
idle. Orthanc 1.10, when installed, gets the same objects the same way.

    .venv/bin/python bench/listener_memory.py [--large-mb 2048] [--each-mb 500] [--without-orthanc]
"""

import argparse
import contextlib
import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ingest import SENDER, our_listener, wait_for_echo
from orthanc_config import write_orthanc_config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MIB = 1024 * 1024
FRAME_BYTES = 512 * 512 * 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large-mb", type=int, default=2048)
    parser.add_argument("--each-mb", type=int, default=500)
    parser.add_argument("--without-orthanc", action="store_true")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="efilm-listener-memory-"))
    try:
        large = [make(scratch, "large", args.large_mb)]
        four = [make(scratch, f"four-{n}", args.each_mb) for n in range(4)]
        print(f"objects: one of {size_of(large)} MiB, four of {size_of(four[:1])} MiB; RSS in MiB, all processes")
        os.environ["DICOM_SPOOL_DIR"] = str(scratch / "spool")
        with our_listener(scratch, os.cpu_count() or 2) as port:
            report("ours", listener_pids(port), port, "REGION", large, four)
        if args.without_orthanc:
            pass
        elif shutil.which("Orthanc"):
            with orthanc(scratch) as (port, pid):
                report("Orthanc 1.10", [pid], port, "ORTHANC", large, four)
        else:
            print("Orthanc is not installed (apt-get install orthanc): no comparison")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def make(scratch: Path, key: str, megabytes: int) -> Path:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from imaging import synthetic

    patient = synthetic.PatientSpec("PID-BENCH-MEM", "Bench^Memory", "O", dt.date(1970, 1, 1))
    study = synthetic.StudySpec(
        f"bench-memory-{key}-{time.time_ns()}", patient, dt.date.today(), dt.time(12), "ACC-M", ""
    )
    frames = max(1, megabytes * MIB // FRAME_BYTES)
    return synthetic.write_large_multiframe(scratch / f"{key}.dcm", study, frames)


def size_of(paths: list[Path]) -> int:
    return round(sum(path.stat().st_size for path in paths) / MIB)


def report(name: str, pids: list[int], port: int, aet: str, large: list[Path], four: list[Path]) -> None:
    for label, paths in ((f"one of {size_of(large)} MiB", large), (f"four of {size_of(four[:1])} MiB at once", four)):
        idle = total(pids, "VmRSS")
        for pid in pids:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM from here
        started = time.monotonic()
        stored = send(port, aet, paths)
        seconds = time.monotonic() - started
        peak = total(pids, "VmHWM")
        time.sleep(2.0)  # what is let go after the answer has been let go
        after = total(pids, "VmRSS")
        outcome = "stored" if stored else "NOT all stored"
        print(
            f"{name:14} {label:26} {outcome} in {seconds:5.1f} s: idle {idle / MIB:5.0f}, "
            f"peak +{(peak - idle) / MIB:5.0f}, after {(after - idle) / MIB:+5.0f} ({(after - idle) / idle:+.0%})"
        )


def send(port: int, aet: str, paths: list[Path]) -> bool:
    """storescu for each path at once; True when every C-STORE was answered with success."""
    command = ["storescu", "-v", "-aet", SENDER, "-aec", aet, "127.0.0.1", str(port)]
    senders = [
        subprocess.Popen([*command, str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for path in paths
    ]
    outputs = [sender.communicate(timeout=3600)[0] for sender in senders]
    return all("Received Store Response (Success)" in output for output in outputs)


def total(pids: list[int], field: str) -> int:
    return sum(status_bytes(pid, field) for pid in pids)


def status_bytes(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


def listener_pids(port: int) -> list[int]:
    """The listener's processes: the one started with `--port port`, and the children it forked."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                arguments = (entry / "cmdline").read_bytes().split(b"\0")
                if b"dicom_listener" in arguments and str(port).encode() in arguments:
                    parent = int(entry.name)
                    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
                    return [parent, *map(int, children)]
    raise LookupError(f"no listener on port {port}")


@contextlib.contextmanager
def orthanc(scratch: Path) -> Iterator[tuple[int, int]]:
    storage = scratch / "orthanc"
    storage.mkdir()
    dicom_port, http_port = free_port(), free_port()
    config = write_orthanc_config(storage, DicomPort=dicom_port, HttpPort=http_port)
    with (storage / "orthanc.log").open("w") as log:
        process = subprocess.Popen(["Orthanc", str(config)], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_echo(dicom_port, "ORTHANC")
            yield dicom_port, process.pid
        finally:
            process.terminate()
            process.wait(timeout=60)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    main()
