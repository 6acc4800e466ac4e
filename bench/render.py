"""Rendering speed on the demo CT (512x512, 16-bit signed), and serving speed over HTTP.

Prints:
- milliseconds per preview in-process (decode + window + JPEG) and per thumbnail;
- images per second for the whole 120-slice series rendered by one worker process;
- requests per second for a cached preview from gunicorn under concurrent clients (wrk);
- Orthanc's /instances/{id}/rendered requests per second on the same files, when Orthanc
  is installed (it runs with its client inside `unshare -n`, loopback only).

    .venv/bin/python bench/render.py [--connections 16] [--seconds 10] [--in-process-only]
"""

import argparse
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orthanc_config import write_orthanc_config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--gunicorn", default="--workers 4 --worker-class gthread --threads 4", help="server options (make serve's)"
    )
    parser.add_argument("--in-process-only", action="store_true", help="only the in-process preview figures")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="efilm-render-"))
    os.environ.update(
        {
            "VAR_DIR": str(scratch),
            "STORAGE_ROOT": str(scratch / "storage"),
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "SECRET_KEY": "bench-" + "k" * 50,  # the same for this process and gunicorn: sessions must verify
        }
    )
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("CELERY_BROKER_URL", None)
    try:
        files = write_demo_ct(scratch / "ct")
        in_process(files)
        if args.in_process_only:
            return
        series_on_one_worker(files)
        if shutil.which("wrk"):
            http_cached_preview(scratch, args.connections, args.seconds, args.gunicorn.split())
            if shutil.which("Orthanc") and shutil.which("unshare"):
                orthanc_rendered(scratch, files, args.connections, args.seconds)
            else:
                print("Orthanc is not installed (apt-get install orthanc): no comparison")
        else:
            print("wrk is not installed (apt-get install wrk): no HTTP figures")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def write_demo_ct(folder: Path) -> list[Path]:
    import django

    django.setup()
    from imaging import synthetic
    from imaging.synthetic import PatientSpec, StudySpec

    folder.mkdir(parents=True)
    patient = PatientSpec("BENCH1", "Bench^Patient", "O", dt.date(1970, 1, 1))
    study = StudySpec("bench-render", patient, dt.date(2026, 1, 1), dt.time(9, 0), "BENCH", "CT Chest")
    paths = []
    for ds in synthetic.ct_chest(study):
        path = folder / f"{ds.InstanceNumber:04d}.dcm"
        path.write_bytes(synthetic.to_bytes(ds))
        paths.append(path)
    return paths


def in_process(files: list[Path]) -> None:
    """make_render's steps on each slice file: dcmread, render_frame, then JPEG preview and thumbnail."""
    import pydicom

    from imaging.rendering import RenderSpec, encode, render_frame

    paths = files[:60] * 3
    # CPU time of this process: wall time on a shared VM swings by half with the neighbours.
    clock = time.process_time
    timings = {"read": 0.0, "render_frame": 0.0, "JPEG q90": 0.0, "thumbnail 256": 0.0}
    for path in paths:
        started = clock()
        with path.open("rb") as handle:
            ds = pydicom.dcmread(handle)
        read = clock()
        pixels = render_frame(ds)
        rendered = clock()
        encode(pixels, RenderSpec())
        encoded = clock()
        encode(pixels, RenderSpec.thumbnail())
        thumbnailed = clock()
        timings["read"] += read - started
        timings["render_frame"] += rendered - read
        timings["JPEG q90"] += encoded - rendered
        timings["thumbnail 256"] += thumbnailed - encoded
    count = len(paths)
    preview = (timings["read"] + timings["render_frame"] + timings["JPEG q90"]) / count * 1000
    thumbnail = (timings["read"] + timings["render_frame"] + timings["thumbnail 256"]) / count * 1000
    print("in-process CPU time, demo CT 512x512 16-bit signed, mean of", count, "slices:")
    for label, seconds in timings.items():
        print(f"  {label:16} {seconds / count * 1000:6.2f} ms")
    print(f"  preview          {preview:6.2f} ms  (read + decode and window + JPEG)")
    print(f"  thumbnail        {thumbnail:6.2f} ms  (read + decode and window + resize + JPEG)")


def series_on_one_worker(files: list[Path]) -> None:
    """The bulk work after ingest of a 120-slice series, in one process: previews and thumbnail."""
    from django.core.management import call_command

    from imaging.ingest import ingest_instance
    from imaging.models import Hospital, Instance, Series
    from imaging.rendering import render_instance_previews, render_series_thumbnail

    call_command("migrate", verbosity=0)
    hospital = Hospital.objects.create(code="bench", name="Bench")
    from imaging import ingest

    receivers = ingest.instance_stored.receivers
    ingest.instance_stored.receivers = []  # ingest without rendering: the renders are what is timed
    try:
        for path in files:
            ingest_instance(path.read_bytes(), hospital)
    finally:
        ingest.instance_stored.receivers = receivers
    series = Series.objects.get()
    started = time.perf_counter()
    for instance_id in Instance.objects.filter(series=series).values_list("pk", flat=True):
        render_instance_previews(instance_id)
    render_series_thumbnail(series.pk)
    elapsed = time.perf_counter() - started
    print(
        f"series of {len(files)} slices on one worker process: {len(files) / elapsed:6.1f} images/s "
        f"({elapsed:.2f} s, storage writes included)"
    )


def http_cached_preview(scratch: Path, connections: int, seconds: int, options: list[str]) -> None:
    from django.contrib.sessions.backends.db import SessionStore
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.models import StaffMembership, StaffRole, User
    from imaging.models import Instance
    from imaging.rendering import RenderSpec, ensure_render

    user = User.objects.create_user("bench", password="bench-password-0123")
    # Staff read every hospital's images by the regional-admin role (superuser status grants nothing).
    StaffMembership.objects.create(user=user, role=StaffRole.REGIONAL_ADMIN, hospital=None)
    # A staff session counts only once a TOTP device is verified in it (django-otp).
    device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    session = SessionStore()
    session["otp_device_id"] = device.persistent_id
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "accounts.backends.UserBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    instance = Instance.objects.order_by("pk")[60]
    ensure_render(instance, RenderSpec())
    env = {
        **os.environ,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
    }
    port = 8123
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "portal.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            *options,
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        url = f"http://127.0.0.1:{port}/staff/images/instances/{instance.pk}/preview"
        wait_for_http(url, session.session_key or "")
        cookie = [f"Cookie: sessionid={session.session_key}"]
        wrk(url, connections, 2, cookie)  # every worker process past its first requests
        rate = wrk(url, connections, seconds, cookie)
        print(f"cached preview from gunicorn ({' '.join(options)}), {connections} connections: {rate:8.1f} requests/s")
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_for_http(url: str, session_key: str) -> None:
    for _ in range(100):
        result = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Cookie: sessionid={session_key}", url],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.stdout == "200":
            return
        time.sleep(0.2)
    raise RuntimeError(f"{url} does not answer 200")


def wrk(url: str, connections: int, seconds: int, headers: list[str], prefix: list[str] | None = None) -> float:
    command = [*(prefix or []), "wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s"]
    for header in headers:
        command += ["-H", header]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        raise RuntimeError(f"{non_2xx.group(1)} failed requests: {output}")
    return float(match.group(1)) if match else 0.0


ORTHANC_RUN = r"""
set -e
ip link set lo up
Orthanc "$CONFIG" > "$LOG" 2>&1 &
ORTHANC=$!
trap 'kill $ORTHANC; wait $ORTHANC || true' EXIT
for i in $(seq 100); do curl -sf http://127.0.0.1:8042/system >/dev/null && break; sleep 0.1; done
TCP_NODELAY=1 storescu -aec ORTHANC +sd 127.0.0.1 4242 "$FILES" 2>/dev/null
ID=$(curl -s http://127.0.0.1:8042/instances | "$PYTHON" -c 'import json,sys; print(sorted(json.load(sys.stdin))[60])')
curl -sf -o /dev/null http://127.0.0.1:8042/instances/$ID/rendered
wrk -t 2 -c "$CONNECTIONS" -d "${SECONDS_}s" -H "Accept: image/jpeg" http://127.0.0.1:8042/instances/$ID/rendered
"""


def orthanc_rendered(scratch: Path, files: list[Path], connections: int, seconds: int) -> None:
    storage = scratch / "orthanc"
    storage.mkdir()
    config = write_orthanc_config(storage, AuthenticationEnabled=False, HttpThreadsCount=50)
    env = {
        **os.environ,
        "CONFIG": str(config),
        "LOG": str(storage / "orthanc.log"),
        "FILES": str(files[0].parent),
        "PYTHON": sys.executable,
        "CONNECTIONS": str(connections),
        "SECONDS_": str(seconds),
    }
    result = subprocess.run(
        ["unshare", "-n", "sh", "-c", ORTHANC_RUN], env=env, capture_output=True, text=True, check=False
    )
    match = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if result.returncode != 0 or not match:
        print(f"Orthanc run failed: {result.stderr[-500:]} {result.stdout[-500:]}")
        return
    print(
        f"Orthanc 1.10 /instances/{{id}}/rendered (JPEG), {connections} connections: "
        f"{float(match.group(1)):8.1f} requests/s"
    )


if __name__ == "__main__":
    main()
