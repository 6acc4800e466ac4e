"""Serving memory: how far the portal's processes' resident sets rise while they serve and zip one large multi-frame.

Makes in code (`imaging.synthetic.write_large_multiframe`, a frame at a time)
one native multi-frame CT of `--size-mb` MiB (frames of 512 x 512, 16-bit,
with noise so that its zip is not a fraction of its size),
ingests it into a scratch PostgreSQL database and storage, shares it
(downloads allowed), and starts the portal as in production (DEBUG off):
gunicorn with one gthread worker, and a Celery worker on `interactive` with
one prefork child. Then, one at a time, over HTTP as a clinician with the
share would:

- WADO-RS Retrieve Study (multipart/related; application/dicom), read to the end;
- WADO-RS Retrieve Frames of the middle frame;
- the viewer's raw values (`/raw`) of that frame;
- a preview of that frame (rendered by the Celery worker);
- the DICOM zip (built by the worker), then its download from gunicorn;
- the JPEG zip (built by the worker: up to 300 frames, rendered one at a time).

For each it prints the gunicorn worker's and the Celery child's peak RSS
(VmHWM, reset just before) above their RSS just before, and the seconds taken.
Each path runs once on the first frame before the figures are taken, so that
imports made on first use are not counted.

    .venv/bin/python bench/serve_memory.py [--size-mb 2048] [--big-endian]
"""

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from stow_memory import gunicorn, status_bytes

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MIB = 1024 * 1024
FRAME_SIDE = 512
FRAME_BYTES = FRAME_SIDE * FRAME_SIDE * 2
BENCH_BROKER = "redis://127.0.0.1:6379/13"  # its own (stow_memory.py uses 14, ingest.py flushes 15)
READ = 1024 * 1024

# Run in the portal's environment (manage.py shell): store the object, share it, print what the bench needs.
PREPARE = """
import json
from pathlib import Path
from accounts.models import User
from imaging.ingest import ingest_instance
from imaging.models import Hospital, Instance
from portal.sharing.shares import create_share
hospital = Hospital.objects.create(code="bench", name="Bench")
result = ingest_instance(Path({source!r}), hospital)
assert result.ok, result.reason
instance = Instance.objects.select_related("series__study").get(sop_uid=result.sop_uid)
owner = User.objects.create(username="bench-patient", phone="+8613800000099")
share = create_share(instance.series.study, owner.pk, with_code=False, allow_download=True, notify_on_open=False)
print(json.dumps({{
    "token": share.token, "instance": instance.pk, "study": instance.series.study.pk,
    "frames": instance.number_of_frames, "size": instance.size_bytes,
    "dicomweb": f"/dicomweb/studies/{{instance.series.study.study_uid}}",
    "instance_path": f"/dicomweb/studies/{{instance.series.study.study_uid}}/series/{{instance.series.series_uid}}"
    f"/instances/{{instance.sop_uid}}",
}}))
"""


@dataclass(frozen=True)
class Shared:
    """The stored object and its share, as `PREPARE` printed them."""

    token: str
    instance: int
    study: int
    frames: int
    size: int
    dicomweb: str
    instance_path: str


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=2048)
    parser.add_argument("--big-endian", action="store_true", help="store it as Explicit VR Big Endian")
    args = parser.parse_args()
    syntax = "1.2.840.10008.1.2.2" if args.big_endian else "1.2.840.10008.1.2.1"
    with tempfile.TemporaryDirectory(prefix="efilm-serve-") as folder, portal(Path(folder)) as (env, scratch):
        source = make(scratch, max(1, args.size_mb * MIB // FRAME_BYTES), syntax)
        shared = prepare(env, source)
        source.unlink()  # the stored copy is what is served
        with gunicorn(env, scratch) as (port, web), celery_worker(env, scratch) as work:
            order = "Big" if args.big_endian else "Little"
            print(f"one {shared.size / MIB:.0f} MiB object: {shared.frames} frames of 512 x 512, {order} Endian")
            run(Clinician(port, shared), web, work)


@contextlib.contextmanager
def portal(scratch: Path) -> Iterator[tuple[dict[str, str], Path]]:
    """A scratch database and storage, migrated; yields the portal's environment. Dropped afterwards."""
    import psycopg

    database = f"efilm_bench_serve_{os.getpid()}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "STORAGE_ROOT": str(scratch / "storage"),
        "CELERY_BROKER_URL": BENCH_BROKER,
        "DEBUG": "0",
        "SECRET_KEY": "bench-" + "k" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "TMPDIR": str(scratch),  # zips are built here before they are stored
    }
    try:
        for command in (["migrate", "-v0"], ["collectstatic", "--no-input", "-v0"]):  # pages name hashed files
            subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)
        yield env, scratch
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        subprocess.run(["redis-cli", "-u", BENCH_BROKER, "flushdb"], check=False, stdout=subprocess.DEVNULL)


def make(scratch: Path, frames: int, syntax: str) -> Path:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from imaging import synthetic

    patient = synthetic.PatientSpec("PID-BENCH-SERVE", "Bench^Serve", "O", dt.date(1970, 1, 1))
    study = synthetic.StudySpec(f"bench-serve-{time.time_ns()}", patient, dt.date.today(), dt.time(12), "ACC-S", "")
    return synthetic.write_large_multiframe(scratch / "large.dcm", study, frames, transfer_syntax=syntax, noise=True)


def prepare(env: dict[str, str], source: Path) -> Shared:
    command = [sys.executable, "manage.py", "shell", "-v", "0", "-c", PREPARE.format(source=str(source))]
    output = subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    return Shared(**json.loads(output.strip().splitlines()[-1]))


@contextlib.contextmanager
def celery_worker(env: dict[str, str], scratch: Path) -> Iterator[int]:
    """A Celery worker on `interactive` with one prefork child; yields the child's pid."""
    command = [str(ROOT / ".venv/bin/celery"), "-A", "portal", "worker", "-Q", "interactive", "--concurrency", "1"]
    command += ["--pool", "prefork", "--loglevel", "WARNING", "--without-gossip", "--without-mingle"]
    log = (scratch / "celery.log").open("w")
    worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield child_of(worker)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        log.close()


def child_of(worker: subprocess.Popen[bytes]) -> int:
    for _ in range(600):
        if worker.poll() is not None:
            raise RuntimeError(f"the Celery worker exited with {worker.returncode}")
        for task in Path(f"/proc/{worker.pid}/task").iterdir():
            with contextlib.suppress(OSError):
                if children := (task / "children").read_text().split():
                    return int(children[0])
        time.sleep(0.1)  # polling for start-up, not synchronising work
    raise TimeoutError("the Celery worker started no child")


@dataclass
class Clinician:
    """An HTTP client with the share: its session for the pages, its token for DICOMweb.

    Cookies are kept by hand: the portal marks them Secure, as it runs behind a
    TLS proxy, which the bench stands for with X-Forwarded-Proto.
    """

    port: int
    shared: Shared
    cookies: dict[str, str] = field(default_factory=dict)
    zip_address: str = ""

    def request(self, method: str, path: str, body: str = "", **headers: str) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=3600)
        headers = {"X-Forwarded-Proto": "https", **headers}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        connection.request(method, path, body=body.encode() or None, headers=headers)
        response = connection.getresponse()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return response

    def read(self, path: str, **headers: str) -> tuple[int, int, bytes]:
        """A GET's status, length and first MiB; the rest is read and dropped as it comes."""
        response = self.request("GET", path, **headers)
        head, length = b"", 0
        while chunk := response.read(READ):
            head = head or chunk
            length += len(chunk)
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}: {head[:200]!r}")
        return response.status, length, head

    def post_form(self, path: str, form: dict[str, str]) -> http.client.HTTPResponse:
        # As a share page loaded before its strict-origin policy posts: Origin: null (and the CSRF token).
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": "null"}
        return self.request("POST", path, urllib.parse.urlencode(form), **headers)

    def csrf_token(self, page: str) -> str:
        match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', self.read(page)[2])
        if match is None:
            raise RuntimeError(f"{page} has no form")
        return match.group(1).decode()

    def open_share(self) -> None:
        path = f"/s/{self.shared.token}"
        response = self.post_form(path, {"csrfmiddlewaretoken": self.csrf_token(path)})
        if response.status != 302:
            raise RuntimeError(f"opening the share answered {response.status}")

    def retrieve_study(self) -> str:
        started = time.monotonic()
        _, length, _ = self.read(self.shared.dicomweb, Authorization=f"Bearer {self.shared.token}")
        speed = length / MIB / (time.monotonic() - started)
        return f"{length / MIB:.0f} MiB at {speed:.0f} MiB/s"

    def frame(self, number: int) -> str:
        accept = 'multipart/related; type="application/octet-stream"'
        path = f"{self.shared.instance_path}/frames/{number}"
        return kib(self.read(path, Authorization=f"Bearer {self.shared.token}", Accept=accept))

    def raw(self, index: int) -> str:
        return kib(self.read(f"/s/x/images/{self.shared.instance}/raw?frame={index}"))

    def preview(self, index: int) -> str:
        return kib(self.read(f"/s/x/images/{self.shared.instance}/preview?frame={index}"))

    def zip(self, kind: str) -> str:
        """Ask for a zip and poll its page until it is ready, as the patient's browser does."""
        study_page = f"/s/x/studies/{self.shared.study}/"
        form = {"kind": kind, "csrfmiddlewaretoken": self.csrf_token(study_page)}
        response = self.post_form(f"{study_page}downloads/", form)
        page = response.getheader("Location", "")
        response.read()
        while b'data-status="ready"' not in self.read(page)[2]:
            time.sleep(0.5)  # polling, not synchronising work
        self.zip_address = page + "file"
        return "ready"

    def download_zip(self) -> str:
        _, length, _ = self.read(self.zip_address)
        return f"{length / MIB:.0f} MiB"


def run(clinician: Clinician, web: int, work: int) -> None:
    clinician.open_share()
    middle = clinician.shared.frames // 2
    clinician.frame(1), clinician.raw(0), clinician.preview(0)  # first use (imports, caches) is not counted
    steps: list[tuple[str, Callable[[], str]]] = [
        ("WADO-RS retrieve study", clinician.retrieve_study),
        (f"WADO-RS frame {middle + 1}", lambda: clinician.frame(middle + 1)),
        (f"/raw of frame {middle + 1}", lambda: clinician.raw(middle)),
        (f"preview of frame {middle + 1}", lambda: clinician.preview(middle)),
        ("DICOM zip built", lambda: clinician.zip("dicom")),
        ("DICOM zip downloaded", clinician.download_zip),
        ("JPEG zip built", lambda: clinician.zip("jpeg")),
    ]
    print(f"{'RSS, MiB':28} {'gunicorn worker':>16} {'Celery child':>13}")
    idle = [status_bytes(pid, "VmRSS") / MIB for pid in (web, work)]
    print(f"{'idle':28} {idle[0]:16.0f} {idle[1]:13.0f}")
    print(f"{'peak above RSS before':28}")
    for label, step in steps:
        measure(label, step, web, work)


def measure(label: str, step: Callable[[], str], web: int, work: int) -> None:
    before = {}
    for pid in (web, work):
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM from here
        before[pid] = status_bytes(pid, "VmRSS")
    started = time.monotonic()
    outcome = step()
    seconds = time.monotonic() - started
    # VmHWM follows VmRSS through the kernel's batched counters: a rise within those reads as 0, not below.
    rises = [max(status_bytes(pid, "VmHWM") - before[pid], 0) / MIB for pid in (web, work)]
    print(f"  {label:26} {rises[0]:+16.1f} {rises[1]:+13.1f} {seconds:8.1f} s  {outcome}")


def kib(result: tuple[int, int, bytes]) -> str:
    return f"{result[1] / 1024:.0f} KiB"


if __name__ == "__main__":
    main()
