"""Idle connections against real senders: how long echoscu and storescu take behind N silent connections.

An attacker (or a broken device) opens N TCP connections to the listener and
sends nothing. Then a modality sends: the figure is the seconds DCMTK's
echoscu, and storescu with one small CT image, take from start to exit. Our
listener runs with its default process count and its per-address and
unauthenticated-connection caps raised above N, as if the connections came
from many addresses (with the defaults, most of them are closed at once).
Orthanc 1.10, when installed, runs inside `unshare -n` as in bench/ingest.py.

    .venv/bin/python bench/idle_connections.py [--idle 500] [--rounds 3]
"""

import argparse
import contextlib
import errno
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ingest import SENDER, our_listener
from orthanc_config import write_orthanc_config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
GIVE_UP = 60.0  # seconds: a sender that waits longer has failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle", type=int, default=500)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-caps", action="store_true", help="for a listener without the cap flags")
    parser.add_argument("--without-orthanc", action="store_true")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="efilm-idle-"))
    try:
        image = small_image(scratch)
        caps = [] if args.no_caps else ["--max-connections-per-address", str(max(2 * args.idle, 64))]
        caps += [] if args.no_caps else ["--max-unauthenticated-connections", str(max(2 * args.idle, 64))]
        with our_listener(scratch, args.processes, caps) as port:
            ours = [measure(port, "REGION", args.idle, image) for _ in range(args.rounds)]
        print(f"behind {args.idle} idle connections, medians of {args.rounds} rounds (seconds):")
        print(row(f"ours ({args.processes} processes)", ours))
        if args.without_orthanc:
            pass
        elif shutil.which("Orthanc") and shutil.which("unshare"):
            print(row("Orthanc 1.10", [orthanc(scratch, args.idle, image) for _ in range(args.rounds)]))
        else:
            print("Orthanc is not installed (apt-get install orthanc): no comparison")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def small_image(scratch: Path) -> Path:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from tests.support.dicom import ct_bytes

    path = scratch / "ct.dcm"
    path.write_bytes(ct_bytes())
    return path


def measure(port: int, aet: str, idle: int, image: Path) -> tuple[float, float]:
    """Seconds for echoscu, then storescu, behind `idle` silent connections (inf: failed or gave up)."""
    with idle_connections(port, idle):
        time.sleep(2.0)  # the receiver has had time to take them in (or to fill its backlog)
        address = ["-aet", SENDER, "-aec", aet, "127.0.0.1", str(port)]
        return timed(["echoscu", *address]), timed(["storescu", *address, str(image)])


@contextlib.contextmanager
def idle_connections(port: int, count: int) -> Iterator[None]:
    peers = []
    try:
        for _ in range(count):
            peer = socket.socket()
            peer.setblocking(False)
            if peer.connect_ex(("127.0.0.1", port)) not in (0, errno.EINPROGRESS):
                raise RuntimeError("cannot connect")
            peers.append(peer)
        yield
    finally:
        for peer in peers:
            peer.close()


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    try:
        result = subprocess.run(
            command, capture_output=True, timeout=GIVE_UP, env={**os.environ, "TCP_NODELAY": "1"}, check=False
        )
    except subprocess.TimeoutExpired:
        return float("inf")
    return time.perf_counter() - started if result.returncode == 0 else float("inf")


def row(name: str, runs: list[tuple[float, float]]) -> str:
    echo = statistics.median(run[0] for run in runs)
    store = statistics.median(run[1] for run in runs)
    return f"{name:24} echoscu {figure(echo)}  storescu {figure(store)}"


def figure(seconds: float) -> str:
    return "failed" if seconds == float("inf") else f"{seconds:7.3f}"


ORTHANC_RUN = r"""
set -e
ip link set lo up
Orthanc "$CONFIG" > "$LOG" 2>&1 &
ORTHANC=$!
trap 'kill $ORTHANC; wait $ORTHANC || true' EXIT
"$PYTHON" "$BENCH" --orthanc-inside "$SPEC"
"""


def orthanc(scratch: Path, idle: int, image: Path) -> tuple[float, float]:
    """One round against a fresh Orthanc, it and the senders in a network namespace of their own."""
    storage = Path(tempfile.mkdtemp(prefix="orthanc-", dir=scratch))
    spec = storage / "spec.json"
    spec.write_text(json.dumps({"idle": idle, "image": str(image)}))
    env = {
        **os.environ,
        "CONFIG": str(write_orthanc_config(storage)),
        "LOG": str(storage / "orthanc.log"),
        "PYTHON": sys.executable,
        "BENCH": str(Path(__file__).resolve()),
        "SPEC": str(spec),
    }
    result = subprocess.run(
        ["unshare", "-n", "sh", "-c", ORTHANC_RUN], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"Orthanc run failed: {result.stderr[-500:]}")
    echo, store = json.loads(result.stdout.strip().splitlines()[-1])
    return float(echo), float(store)


def orthanc_inside(spec_path: str) -> None:
    from ingest import wait_for_echo

    spec = json.loads(Path(spec_path).read_text())
    wait_for_echo(4242, "ORTHANC")
    echo, store = measure(4242, "ORTHANC", spec["idle"], Path(spec["image"]))
    print(json.dumps([echo, store]))  # Infinity for a failure, which json reads back


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--orthanc-inside":
        orthanc_inside(sys.argv[2])
    else:
        main()
