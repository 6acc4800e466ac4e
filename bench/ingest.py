"""C-STORE ingest rate: DCMTK's storescu into our listener, and into Orthanc when it is installed.

Sends the demo CT (120 slices of 512x512, 16-bit) and 2,000 small instances,
over one association and over two, and prints instances/s and MB/s. Every run
sends new UIDs, so each figure is first-time ingest.

This machine's disk flushes take from 0.25 ms to over 1 ms from one minute to
the next, and both receivers flush every file. So the runs alternate, ours then
Orthanc's, for each data set, and each figure is the median of `--rounds`
rounds, with the slowest and fastest beside it.

Our listener runs on PostgreSQL (a scratch database on 127.0.0.1, dropped
afterwards) with one process per core. Orthanc 1.10 listens on every address,
so it runs with its sender inside `unshare -n` with only the loopback up, with
its default SyncStorageArea (an fsync per file) and SQLite index. storescu gets
TCP_NODELAY=1 (DCMTK reads it; without it every receiver waits on delayed ACKs).

    .venv/bin/python bench/ingest.py [--small 2000] [--processes 2] [--rounds 3]
"""

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from orthanc_config import write_orthanc_config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SENDER = "BENCHSCU"
BENCH_BROKER = "redis://127.0.0.1:6379/15"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="efilm-ingest-"))
    with_orthanc = bool(shutil.which("Orthanc") and shutil.which("unshare"))
    receivers = ["ours", "orthanc"] if with_orthanc else ["ours"]
    try:
        datasets = make_datasets(scratch, args.small, receivers, args.rounds)
        # The data sets on disk before any run: their writeback is no receiver's work (our
        # listener's syncfs would otherwise flush them in the first round).
        os.sync()
        runs = run_rounds(scratch, datasets, receivers, args)
        print(f"{'receiver':20} {'data':12} {'assocs':>6} {'instances/s':>12} {'(slowest-fastest)':>18} {'MB/s':>7}")
        for (receiver, data, assocs), timings in runs.items():
            name = f"ours ({args.processes} processes)" if receiver == "ours" else "Orthanc 1.10"
            print(figures(name, data, assocs, datasets[f"{receiver}/{data}/{assocs}/0"], timings))
        if not with_orthanc:
            print("Orthanc is not installed (apt-get install orthanc): no comparison")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_rounds(
    scratch: Path, datasets: dict[str, list[Path]], receivers: list[str], args: argparse.Namespace
) -> dict[tuple[str, str, int], list[float]]:
    """Seconds per run, by (receiver, data set, associations): ours and Orthanc's in turn."""
    runs: dict[tuple[str, str, int], list[float]] = {}
    with our_listener(scratch, args.processes) as port:
        for round_number in range(args.rounds):
            for data in ("demo CT", f"{args.small} small"):
                for assocs in (1, 2):
                    for receiver in receivers:
                        halves = datasets[f"{receiver}/{data}/{assocs}/{round_number}"]
                        if receiver == "ours":
                            seconds = send(port, "REGION", halves, assocs)
                        else:
                            seconds = orthanc(halves, assocs)
                        runs.setdefault((receiver, data, assocs), []).append(seconds)
    return runs


def make_datasets(scratch: Path, small: int, receivers: list[str], rounds: int) -> dict[str, list[Path]]:
    """Per receiver, data set, associations and round: folders of files with UIDs of their own, in two halves."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from imaging import synthetic
    from imaging.synthetic import PatientSpec, StudySpec

    patient = PatientSpec("BENCH1", "Bench^Patient", "O", dt.date(1970, 1, 1))
    folders: dict[str, list[Path]] = {}
    for receiver in receivers:
        for data in ("demo CT", f"{small} small"):
            for assocs in (1, 2):
                for round_number in range(rounds):
                    key = f"{receiver}/{data}/{assocs}/{round_number}"
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


def figures(receiver: str, data: str, assocs: int, halves: list[Path], runs: list[float]) -> str:
    files = [f for half in halves for f in half.iterdir()]
    megabytes = sum(f.stat().st_size for f in files) / 1e6
    rates = sorted(len(files) / seconds for seconds in runs)
    median = statistics.median(rates)
    spread = f"({rates[0]:.0f}-{rates[-1]:.0f})"
    return f"{receiver:20} {data:12} {assocs:>6} {median:12.1f} {spread:>18} {median * megabytes / len(files):7.1f}"


@contextlib.contextmanager
def our_listener(scratch: Path, processes: int, flags: Sequence[str] = ()) -> Iterator[int]:
    """Our listener on a scratch PostgreSQL database, as in production: DEBUG off, renders queued."""
    import psycopg

    database = f"efilm_bench_{os.getpid()}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "STORAGE_ROOT": str(scratch / "storage"),
        # Renders are queued for the workers (none runs here; the queue is emptied afterwards).
        "CELERY_BROKER_URL": BENCH_BROKER,
        "DEBUG": "0",
        "SECRET_KEY": "bench-" + "k" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    port = 11190
    manage = [sys.executable, "manage.py"]
    log = (scratch / "listener.log").open("w")
    try:
        subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        subprocess.run(
            [*manage, "add_hospital", "bench", "--name", "Bench", "--ae-title", SENDER, "--network", "127.0.0.0/8"],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        listener = subprocess.Popen(
            [*manage, "dicom_listener", "--port", str(port), "--processes", str(processes), *flags],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            wait_for_echo(port, "REGION")
            yield port
        except RuntimeError:
            print("the listener's log ends:", *(scratch / "listener.log").read_text().splitlines()[-20:], sep="\n")
            raise
        finally:
            listener.terminate()
            listener.wait(timeout=60)
            log.close()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        subprocess.run(["redis-cli", "-u", BENCH_BROKER, "flushdb"], check=False, stdout=subprocess.DEVNULL)


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


def orthanc(halves: list[Path], assocs: int) -> float:
    """Seconds for storescu to send `halves` to a fresh Orthanc, both in a network namespace of their own."""
    storage = halves[0].parent / "orthanc"
    storage.mkdir()
    config = write_orthanc_config(storage)
    spec = storage / "spec.json"
    spec.write_text(json.dumps({"halves": [str(h) for h in halves], "assocs": assocs}))
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
        raise RuntimeError(f"Orthanc run failed: {result.stderr[-500:]}")
    return float(result.stdout.strip().splitlines()[-1])


def orthanc_inside(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    wait_for_echo(4242, "ORTHANC")
    print(send(4242, "ORTHANC", [Path(h) for h in spec["halves"]], spec["assocs"]))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--orthanc-inside":
        orthanc_inside(sys.argv[2])
    else:
        main()
