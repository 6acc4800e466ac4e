"""STOW-RS memory: how far a gunicorn worker's resident set rises while it stores one large object.

Starts gunicorn as the README's production command does (gthread) with one
worker, on a scratch PostgreSQL database (dropped afterwards) and a scratch
storage folder, then posts one multi-frame CT of about `--size-mb` MiB (frames
of 4096 x 4096, 16-bit: 32 MiB each), made as it is sent, chunked
(`Transfer-Encoding: chunked`) or with a Content-Length.
The worker's peak RSS (VmHWM, reset just before the upload) is printed beside
its RSS when idle and after the upload.

    .venv/bin/python bench/stow_memory.py [--size-mb 2048] [--chunked]
"""

import argparse
import contextlib
import datetime as dt
import http.client
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BOUNDARY = "efilm-bench-boundary"
CHUNK = 1024 * 1024
MIB = 1024 * 1024
FRAME_BYTES = 4096 * 4096 * 2
BENCH_BROKER = "redis://127.0.0.1:6379/14"  # its own (bench/ingest.py flushes 15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=2048)
    parser.add_argument("--chunked", action="store_true")
    args = parser.parse_args()
    frames = max(1, args.size_mb * MIB // FRAME_BYTES)
    with tempfile.TemporaryDirectory(prefix="efilm-stow-") as scratch, portal(Path(scratch)) as (port, token, worker):
        idle = status_bytes(worker, "VmRSS")
        Path(f"/proc/{worker}/clear_refs").write_text("5")  # VmHWM from here
        started = time.monotonic()
        status, answer = post(port, token, frames, args.chunked)
        seconds = time.monotonic() - started
        peak, after = status_bytes(worker, "VmHWM"), status_bytes(worker, "VmRSS")
    stored = "stored" if status == 200 else f"answered {status}: {answer[:200]}"
    how = "chunked" if args.chunked else "with Content-Length"
    size = frames * FRAME_BYTES / MIB
    print(
        f"one {size:.0f} MiB object ({frames} frames), {how}: {stored} in {seconds:.1f} s ({size / seconds:.0f} MiB/s)"
    )
    print(f"worker RSS: idle {idle / MIB:.0f} MiB, peak {peak / MIB:.0f} MiB (+{(peak - idle) / MIB:.0f}), ", end="")
    print(f"after {after / MIB:.0f} MiB (+{(after - idle) / MIB:.0f})")


@contextlib.contextmanager
def portal(scratch: Path) -> Iterator[tuple[int, str, int]]:
    """gunicorn on a scratch database; yields its port, a hospital token and the worker's pid."""
    import psycopg

    database = f"efilm_bench_stow_{os.getpid()}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "STORAGE_ROOT": str(scratch / "storage"),
        "DICOMWEB_STOW_SPOOL_DIR": str(scratch / "spool"),
        # Renders are queued for workers (none runs here; the queue is emptied afterwards): without a
        # broker they would be made in the request, and the figure would be the renderer's.
        "CELERY_BROKER_URL": BENCH_BROKER,
        "DEBUG": "0",
        "SECRET_KEY": "bench-" + "k" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    try:
        token = prepare(env)
        with gunicorn(env, scratch) as (port, worker):
            yield port, token, worker
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        subprocess.run(["redis-cli", "-u", BENCH_BROKER, "flushdb"], check=False, stdout=subprocess.DEVNULL)


def prepare(env: dict[str, str]) -> str:
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    add = [*manage, "add_hospital", "bench", "--name", "Bench", "--ae-title", "BENCHSCU"]
    subprocess.run(add, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    issue = [*manage, "issue_hospital_token", "bench"]
    return subprocess.run(issue, cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout.strip()


@contextlib.contextmanager
def gunicorn(env: dict[str, str], scratch: Path) -> Iterator[tuple[int, int]]:
    port = 18780 + os.getpid() % 1000
    command = [str(ROOT / ".venv/bin/gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", "1", "--worker-class", "gthread", "--threads", "4", "--timeout", "600"]
    log = (scratch / "gunicorn.log").open("w")
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_answer(port, server)
        yield port, worker_of(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def wait_for_answer(port: int, server: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/dicomweb/studies")
            connection.getresponse().read()
            return
        time.sleep(0.1)  # polling for start-up, not synchronising work
    raise TimeoutError("gunicorn does not answer")


def worker_of(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    if len(children) != 1:
        raise RuntimeError(f"expected one gunicorn worker, found {children}")
    return int(children[0])


def post(port: int, token: str, frames: int, chunked: bool) -> tuple[int, str]:
    header, pixel_bytes = ct_header(frames), frames * FRAME_BYTES
    opening = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + header
    element = b"\xe0\x7f\x10\x00OW\x00\x00" + pixel_bytes.to_bytes(4, "little")  # (7FE0,0010), PS3.5 7.1.2
    closing = f"\r\n--{BOUNDARY}--\r\n".encode()
    headers = {
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={BOUNDARY}',
        "Authorization": f"Bearer {token}",
        "X-Forwarded-Proto": "https",  # as from the TLS proxy in front (DEBUG off redirects plain HTTP)
    }
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
    else:
        headers["Content-Length"] = str(len(opening) + len(element) + pixel_bytes + len(closing))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    body = body_chunks(opening + element, pixel_bytes, closing)
    with contextlib.suppress(BrokenPipeError):  # a refusal comes before the body is read: read it below
        connection.request("POST", "/dicomweb/studies", body=body, headers=headers, encode_chunked=chunked)
    response = connection.getresponse()
    return response.status, response.read().decode(errors="replace")


def body_chunks(head: bytes, pixel_bytes: int, closing: bytes) -> Iterator[bytes]:
    yield head
    pixels = bytes(range(256)) * (CHUNK // 256)
    for offset in range(0, pixel_bytes, CHUNK):
        yield pixels[: min(CHUNK, pixel_bytes - offset)]
    yield closing


def status_bytes(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


def ct_header(frames: int) -> bytes:
    """A multi-frame CT's Part 10 bytes up to its Pixel Data: `frames` frames of 4096 x 4096, 16-bit."""
    from imaging import synthetic

    patient = synthetic.PatientSpec("PID-BENCH", "Bench^Stow", "O", dt.date(1970, 1, 1), "")
    study = synthetic.StudySpec(f"bench-{time.time_ns()}", patient, dt.date.today(), dt.time(12), "ACC-B", "STOW bench")
    ds = synthetic.base_dataset(study, synthetic.CT_IMAGE, "ct", 2, 1, "CT")
    ds.Rows = ds.Columns = 4096
    ds.NumberOfFrames = frames
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    return synthetic.to_bytes(synthetic.with_file_meta(ds))


if __name__ == "__main__":
    main()
