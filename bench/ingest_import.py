"""Import rate of the demo CT (120 slices of 512x512, 16-bit) through `import_dicom`.

Runs against a throwaway database and storage: SQLite by default, PostgreSQL
with --postgres (a scratch database on 127.0.0.1 that is dropped afterwards).

    .venv/bin/python bench/ingest_import.py [--postgres] [--slices 120]
"""

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--slices", type=int, default=120)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="efilm-bench-"))
    os.environ["VAR_DIR"] = str(scratch)
    os.environ["STORAGE_ROOT"] = str(scratch / "storage")
    os.environ.pop("CELERY_BROKER_URL", None)
    database = f"efilm_bench_{os.getpid()}"
    if args.postgres:
        create_postgres_database(database)
        os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{database}"
    else:
        os.environ.pop("DATABASE_URL", None)
    try:
        run(scratch, args.slices, "PostgreSQL" if args.postgres else "SQLite (WAL)")
    finally:
        if args.postgres:
            from django.db import connections

            connections.close_all()
            drop_postgres_database(database)


def run(scratch: Path, slices: int, database: str) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()
    from django.core.management import call_command

    from imaging import synthetic
    from imaging.models import Hospital, Instance
    from imaging.synthetic import PatientSpec, StudySpec

    call_command("migrate", verbosity=0)
    Hospital.objects.create(code="bench", name="Bench Hospital")
    import datetime as dt

    patient = PatientSpec("BENCH1", "Bench^Patient", "O", dt.date(1970, 1, 1))
    study = StudySpec("bench-ct", patient, dt.date(2026, 1, 1), dt.time(9, 0), "BENCH1", "CT Chest")
    folder = scratch / "ct"
    folder.mkdir()
    total_bytes = 0
    for ds in synthetic.ct_chest(study, slices=slices):
        data = synthetic.to_bytes(ds)
        total_bytes += len(data)
        (folder / f"{ds.InstanceNumber:04d}.dcm").write_bytes(data)
    for label in ("first import", "identical re-import"):
        started = time.perf_counter()
        call_command("import_dicom", str(folder), "--hospital", "bench", stdout=io.StringIO(), stderr=io.StringIO())
        elapsed = time.perf_counter() - started
        print(
            f"{database:14} {label:20} {slices} instances in {elapsed:6.2f} s: "
            f"{slices / elapsed:7.1f} instances/s, {total_bytes / elapsed / 1e6:6.1f} MB/s"
        )
    assert Instance.objects.count() == slices


def create_postgres_database(name: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_postgres_database(name: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


if __name__ == "__main__":
    main()
