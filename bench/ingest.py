"""C-STORE ingest rate: DCMTK's storescu into our listener, and into Orthanc when it is installed.

Sends the demo CT (120 slices of 512x512, 16-bit) and 2,000 small instances,
over one association and over two, and prints instances/s and MB/s. Every run
sends new UIDs into a fresh index, so each figure is first-time ingest.

Our listener runs on PostgreSQL (a scratch database on 127.0.0.1, dropped
afterwards) with one process per core. Orthanc 1.10 listens on every address,
so it runs with its sender inside `unshare -n` with only the loopback up.
storescu gets TCP_NODELAY=1 (DCMTK reads it; without it every receiver waits
on delayed ACKs).

    .venv/bin/python bench/ingest.py [--small 2000] [--processes 2]
"""

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SENDER = "BENCHSCU"
BENCH_BROKER = "redis://127.0.0.1:6379/15"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="efilm-ingest-"))
    try:
        datasets = make_datasets(scratch, args.small)
        print(f"{'receiver':24} {'data':14} {'assocs':>6} {'instances/s':>12} {'MB/s':>8}")
        for line in bench_ours(scratch, datasets, args.processes):
            print(line, flush=True)
        if shutil.which("Orthanc") and shutil.which("unshare"):
            for line in bench_orthanc(scratch, datasets):
                print(line, flush=True)
        else:
            print("Orthanc is not installed (apt-get install orthanc): no comparison")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def make_datasets(scratch: Path, small: int) -> dict[str, list[Path]]:
    """Per (data set, run): folders of files with UIDs of their own, split in two halves."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from imaging import synthetic
    from imaging.synthetic import PatientSpec, StudySpec

    patient = PatientSpec("BENCH1", "Bench^Patient", "O", dt.date(1970, 1, 1))
    folders: dict[str, list[Path]] = {}
    for receiver in ("ours", "orthanc"):
        for data in ("demo CT", f"{small} small"):
            for assocs in (1, 2):
                key = f"{receiver}/{data}/{assocs}"
                study = StudySpec(key, patient, dt.date(2026, 1, 1), dt.time(9, 0), "BENCH", data)
                made = synthetic.ct_chest(study) if data == "demo CT" else synthetic.small_instances(study, small)
                halves = [scratch / key / "a", scratch / key / "b"]
                for half in halves:
                    half.mkdir(parents=True)
                for number, ds in enumerate(made):
                    (halves[number % 2] / f"{number:05d}.dcm").write_bytes(synthetic.to_bytes(ds))
                folders[key] = halves
    return folders


def send(port: int, aet: str, halves: list[Path], assocs: int, prefix: list[str] | None = None) -> float:
    """Seconds for storescu to send both halves, over one association or two at once."""
    env = {**os.environ, "TCP_NODELAY": "1"}
    groups = [halves] if assocs == 1 else [[half] for half in halves]
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [*(prefix or []), "storescu", "-aet", SENDER, "-aec", aet, "+sd", "127.0.0.1", str(port), *map(str, group)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for group in groups
    ]
    for process in processes:
        _, errors = process.communicate()
        if process.returncode != 0 or "Store Failed" in errors:
            raise RuntimeError(f"storescu failed ({process.returncode}): {errors[-2000:]}")
    return time.perf_counter() - started


def figures(receiver: str, data: str, assocs: int, halves: list[Path], seconds: float) -> str:
    files = [f for half in halves for f in half.iterdir()]
    megabytes = sum(f.stat().st_size for f in files) / 1e6
    return f"{receiver:24} {data:14} {assocs:>6} {len(files) / seconds:12.1f} {megabytes / seconds:8.1f}"


def bench_ours(scratch: Path, datasets: dict[str, list[Path]], processes: int) -> list[str]:
    import psycopg

    database = f"efilm_bench_{os.getpid()}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "STORAGE_ROOT": str(scratch / "storage"),
        # As in production: renders are queued for the workers (none runs here,
        # and the queue is emptied afterwards), and DEBUG is off.
        "CELERY_BROKER_URL": BENCH_BROKER,
        "DEBUG": "0",
        "SECRET_KEY": "bench-" + "k" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    port = 11190
    manage = [sys.executable, "manage.py"]
    lines = []
    try:
        subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        subprocess.run(
            [*manage, "add_hospital", "bench", "--name", "Bench", "--ae-title", SENDER],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        listener = subprocess.Popen(
            [*manage, "dicom_listener", "--port", str(port), "--processes", str(processes)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_echo(port, "REGION")
            for key, halves in datasets.items():
                receiver, data, assocs = key.split("/")
                if receiver == "ours":
                    seconds = send(port, "REGION", halves, int(assocs))
                    lines.append(figures(f"ours ({processes} processes)", data, int(assocs), halves, seconds))
        finally:
            listener.terminate()
            listener.wait(timeout=60)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        subprocess.run(["redis-cli", "-u", BENCH_BROKER, "flushdb"], check=False, stdout=subprocess.DEVNULL)
    return lines


def wait_for_echo(port: int, aet: str, prefix: list[str] | None = None) -> None:
    for _ in range(300):
        result = subprocess.run(
            [*(prefix or []), "echoscu", "-aet", SENDER, "-aec", aet, "127.0.0.1", str(port)],
            capture_output=True,
            check=False,
        )
        if result.returncode == 0:
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing answers C-ECHO on port {port}")


ORTHANC_RUN = r"""
set -e
ip link set lo up
Orthanc "$CONFIG" > "$LOG" 2>&1 &
ORTHANC=$!
trap 'kill $ORTHANC; wait $ORTHANC || true' EXIT
"$PYTHON" "$BENCH" --orthanc-inside "$SPEC"
"""


def bench_orthanc(scratch: Path, datasets: dict[str, list[Path]]) -> list[str]:
    """Run Orthanc and its sender in a network namespace with only the loopback."""
    lines = []
    for key, halves in datasets.items():
        receiver, data, assocs = key.split("/")
        if receiver != "orthanc":
            continue
        storage = scratch / "orthanc" / key.replace("/", "_").replace(" ", "_")
        storage.mkdir(parents=True)
        config = storage / "orthanc.json"
        config.write_text(
            json.dumps(
                {
                    "Name": "bench",
                    "StorageDirectory": str(storage / "db"),
                    "IndexDirectory": str(storage / "db"),
                    "DicomAet": "ORTHANC",
                    "DicomPort": 4242,
                    "HttpPort": 8042,
                    "RemoteAccessAllowed": False,
                    "DicomCheckCalledAet": False,
                    "DicomAlwaysAllowStore": True,
                    "Plugins": [],
                }
            )
        )
        spec = storage / "spec.json"
        spec.write_text(json.dumps({"halves": [str(h) for h in halves], "assocs": int(assocs)}))
        env = {
            **os.environ,
            "CONFIG": str(config),
            "LOG": str(storage / "orthanc.log"),
            "PYTHON": sys.executable,
            "BENCH": str(Path(__file__).resolve()),
            "SPEC": str(spec),
            "TCP_NODELAY": "1",
        }
        result = subprocess.run(
            ["unshare", "-n", "sh", "-c", ORTHANC_RUN], env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            lines.append(f"Orthanc run failed: {result.stderr[-500:]}")
            continue
        seconds = float(result.stdout.strip().splitlines()[-1])
        lines.append(figures("Orthanc 1.10", data, int(assocs), halves, seconds))
    return lines


def orthanc_inside(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    wait_for_echo(4242, "ORTHANC")
    print(send(4242, "ORTHANC", [Path(h) for h in spec["halves"]], spec["assocs"]))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--orthanc-inside":
        orthanc_inside(sys.argv[2])
    else:
        main()
