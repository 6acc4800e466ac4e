"""Patient pages on a region-sized index, under load, and the viewer's first image in Chromium.

The index: --studies studies (headers only, no files: written by COPY) over 12 hospitals
and 0.4 patient records a study, 1-3 series a study and 1-4 instance rows a series;
beside them a patient whose number is linked to records in 3 hospitals holding 50
studies, the newest a 120-slice CT (512x512, 16-bit) ingested with `ingest_instance`,
its previews rendered inline as ingest does without a broker.

Prints:
- p50/p95/p99 latency and requests per second of the study list (/my/) and of the
  exam page of the newest study, under --clients concurrent connections of wrk (C, two
  threads; a new connection a request, as gunicorn's sync workers close each one) against
  gunicorn (--workers sync workers, DEBUG off) on PostgreSQL;
- milliseconds from navigation start to the viewer's first image drawn
  (`#viewer[data-shown]`) in Chromium, median of --runs: cold browser cache (a fresh
  context), warm (reload in that context), renders cached on the server; then with
  the CT's previews deleted first (server cold), after which they are made again;
  with when the page, the series manifest and the first preview had arrived.

Targets (issue): study list p95 under 100 ms; first image under 1 s for a 120-slice CT
with renders cached.

The database (efilm_bench on 127.0.0.1, efilm_bench_quick with --quick) and its storage
(/tmp/efilm-bench/<database>) are kept: the index is made once and reused while it has
the wanted size. PostgreSQL, gunicorn and wrk share the machine's cores: wrk took 0.27 ms of
CPU a request of the list, the asyncio client it replaced 0.72 ms. Needs wrk (apt-get install wrk).

    .venv/bin/python bench/portal.py [--quick] [--studies 200000] [--clients 20] [--seconds 15]
                                     [--workers 4] [--runs 5] [--database efilm_bench]
"""

import argparse
import contextlib
import datetime as dt
import http.client
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from django.db.models import Model
    from playwright.sync_api import Browser

    from accounts.models import User
    from imaging.models import Hospital, PatientRecord, Series, Study
    from imaging.synthetic import StudySpec

POSTGRES = "postgres://postgres:postgres@127.0.0.1:5432"
SECRET_KEY = "bench-portal-" + "k" * 50  # the same here and in gunicorn: the session must verify
PHONE = "+8613912345678"
END = dt.date(2026, 11, 1)  # the newest study; the index spans the 5 years before
UID_ROOT = "1.2.826.0.1.3680043.8.498.4711."  # bulk studies: 1.<n>, series 2.<n>.<s>, instances 3.<n>.<s>.<i>
PATIENT_UID_ROOT = "1.2.826.0.1.3680043.8.498.4712."  # then <record>. and the same
PATIENT_STUDIES = (20, 15, 15)  # per linked record; the first record holds the CT
CT_SLICES = 120
LIST_TARGET_MS = 100.0
FIRST_IMAGE_TARGET_MS = 1000.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
HOSPITALS = (
    "市第一人民医院",
    "市第二人民医院",
    "市中医医院",
    "市妇幼保健院",
    "市中心医院",
    "市肿瘤医院",
    "市儿童医院",
    "市第三人民医院",
    "县人民医院",
    "市骨科医院",
    "市胸科医院",
    "市口腔医院",
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英")
DOCTORS = ("Li^Ming", "Wang^Jun", "Zhang^Hua", "Chen^Lei", "Liu^Yang", "")


@dataclass(frozen=True)
class Kind:
    """A kind of exam: what its header rows say."""

    modality: str
    weight: int
    descriptions: tuple[str, ...]
    body_part: str
    sop_class: str
    size: tuple[int, int]
    bits: int
    signed: bool
    photometric: str
    window: tuple[float, float] | None
    intercept: float | None
    bytes_per_instance: int


KINDS = (
    Kind(
        "CT",
        30,
        ("CT Chest", "CT Head", "CT Abdomen with contrast", "CT Chest low dose"),
        "CHEST",
        "1.2.840.10008.5.1.4.1.1.2",
        (512, 512),
        12,
        True,
        "MONOCHROME2",
        (40.0, 400.0),
        -1024.0,
        526_000,
    ),
    Kind(
        "DX",
        25,
        ("Chest PA", "Knee AP/LAT", "Lumbar spine", "Hand"),
        "CHEST",
        "1.2.840.10008.5.1.4.1.1.1.1",
        (2500, 2048),
        12,
        False,
        "MONOCHROME2",
        (2048.0, 4096.0),
        None,
        10_240_000,
    ),
    Kind(
        "MR",
        15,
        ("MR Head", "MR Lumbar spine", "MR Knee"),
        "HEAD",
        "1.2.840.10008.5.1.4.1.1.4",
        (256, 256),
        12,
        False,
        "MONOCHROME2",
        (600.0, 1200.0),
        None,
        132_000,
    ),
    Kind(
        "US",
        15,
        ("US Abdomen", "US Thyroid", "US Obstetric"),
        "ABDOMEN",
        "1.2.840.10008.5.1.4.1.1.3.1",
        (480, 640),
        8,
        False,
        "YBR_FULL_422",
        None,
        None,
        2_800_000,
    ),
    Kind(
        "MG",
        5,
        ("Mammography screening",),
        "BREAST",
        "1.2.840.10008.5.1.4.1.1.1.2",
        (3328, 2560),
        14,
        False,
        "MONOCHROME2",
        (8192.0, 16384.0),
        None,
        17_000_000,
    ),
    Kind(
        "CR",
        10,
        ("Chest AP", "Pelvis", "Skull"),
        "CHEST",
        "1.2.840.10008.5.1.4.1.1.1",
        (2140, 1760),
        12,
        False,
        "MONOCHROME1",
        (2048.0, 4096.0),
        None,
        7_500_000,
    ),
)
KIND_WEIGHTS = [k.weight for k in KINDS]


@dataclass(frozen=True)
class Plan:
    """One generated study: who, when, what, and how many instances each series has."""

    number: int
    record: int  # index into the records
    date: dt.date
    time: dt.time
    kind: Kind
    description: str
    series: tuple[int, ...]
    has_report: bool
    doctor: str


@dataclass(frozen=True)
class Load:
    """What wrk saw: answers with status 200, failures, and latency percentiles in ms."""

    answered: int
    failed: int
    seconds: float
    p50: float
    p95: float
    p99: float


def main() -> None:
    args = parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing (apt-get install wrk): it drives the load")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops gunicorn
    storage = Path(args.storage or f"/tmp/efilm-bench/{args.database}")
    env = configure_environment(args.database, storage)
    create_database(args.database)
    setup_django()
    index = prepare_index(args.studies, storage)
    ct_series = ensure_ct_renders()
    session_key = sign_in(patient_user())
    newest = newest_study()
    print(
        f"index: {index:,} studies (+{sum(PATIENT_STUDIES)} of the patient), "
        f"{record_count(args.studies):,} patient records, {len(HOSPITALS)} hospitals; "
        f"PostgreSQL database {args.database}; {os.cpu_count()} CPUs shared by wrk, gunicorn and PostgreSQL "
        f"(load average {os.getloadavg()[0]:.1f} before measuring)"
    )
    with gunicorn(env, args.workers) as port:
        check_pages(port, session_key, newest.pk)
        setup = f"{args.clients} clients, {args.workers} workers, {index:,} studies"
        for label, path in (("study list", "/my/"), ("exam page", f"/my/studies/{newest.pk}/")):
            load = run_load(port, path, session_key, args.clients, args.seconds)
            print_load(label, path, load, setup, LIST_TARGET_MS if label == "study list" else None)
        viewer_first_image(port, session_key, newest.pk, ct_series, args.runs)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20,000 studies, 5 s of load, 3 runs")
    parser.add_argument("--studies", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0, help="of load per page, after 2 s of warm-up")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--runs", type=int, default=5, help="viewer openings per figure")
    parser.add_argument("--database", default="")
    parser.add_argument("--storage", default="", help="STORAGE_ROOT (default /tmp/efilm-bench/<database>)")
    args = parser.parse_args()
    if args.quick:
        args.studies, args.seconds, args.runs = 20_000, 5.0, 3
    args.database = args.database or ("efilm_bench_quick" if args.quick else "efilm_bench")
    return args


def configure_environment(database: str, storage: Path) -> dict[str, str]:
    """The settings for this process and gunicorn: production-like, plain HTTP on loopback."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": f"{POSTGRES}/{database}",
            "STORAGE_ROOT": str(storage),
            "VAR_DIR": str(storage.parent / f"{database}-var"),
            "SECRET_KEY": SECRET_KEY,
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",  # SESSION_COOKIE_SECURE is forced on: the cookie is sent by hand
            "LOG_LEVEL": "WARNING",
        }
    )
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CACHE_URL", "STORAGE_BACKEND"):
        os.environ.pop(name, None)  # no broker: ingest renders inline
    return dict(os.environ)


def create_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)


# ---------------------------------------------------------------- the index


def prepare_index(studies: int, storage: Path) -> int:
    """The bulk index and the patient, made unless both are there as wanted; the bulk count."""
    from imaging.models import Study

    bulk = Study.objects.filter(study_uid__startswith=UID_ROOT).count()
    if bulk == studies and patient_ready():
        return bulk
    started = time.perf_counter()
    wipe(storage)
    write_bulk_index(studies)
    print(f"index of {studies:,} studies written in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    make_patient()
    print(
        f"patient with {sum(PATIENT_STUDIES)} studies and a {CT_SLICES}-slice CT: {time.perf_counter() - started:.0f} s"
    )
    return studies


def wipe(storage: Path) -> None:
    """Empty the portal's tables of this bench database, and its storage."""
    from django.apps import apps
    from django.db import connection

    tables = [
        model._meta.db_table
        for label in ("imaging", "accounts", "audit", "exams", "sharing", "issuance", "sessions")
        for model in apps.get_app_config(label).get_models()
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    shutil.rmtree(storage, ignore_errors=True)


def record_count(studies: int) -> int:
    return max(studies * 2 // 5, 1)


def write_bulk_index(studies: int) -> None:
    """Hospitals by the ORM; records, studies, series and instances by COPY, in one transaction."""
    from django.db import connection, transaction

    from imaging.models import Hospital, PatientRecord

    rng = random.Random(20261101)
    with transaction.atomic():
        hospitals = [
            Hospital.objects.create(code=f"bench{n + 1:02d}", name=name).pk for n, name in enumerate(HOSPITALS)
        ]
        records = [hospitals[rng.randrange(len(hospitals))] for _ in range(record_count(studies))]
        first = copy_rows(PatientRecord, (record_row(rng, n, h) for n, h in enumerate(records)))
        owners = [(first + n, hospital) for n, hospital in enumerate(records)]
        write_studies([plan_study(rng, n, len(records)) for n in range(studies)], owners, UID_ROOT)
        reset_sequences(PatientRecord)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def write_studies(plans: list[Plan], owners: list[tuple[int, int]], root: str) -> None:
    """Studies (each of record and hospital `owners[plan.record]`), their series and instances, by COPY."""
    from imaging.models import Instance, Series, Study

    first_study = copy_rows(Study, (study_row(p, *owners[p.record], root) for p in plans))
    first_series = copy_rows(Series, series_rows(plans, first_study, root))
    copy_rows(Instance, instance_rows(plans, first_series, root))
    reset_sequences(Study, Series, Instance)


def reset_sequences(*models: "type[Model]") -> None:
    """After COPY with ids given: the next id the ORM takes is past them."""
    from django.db import connection

    for model in models:
        table = model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
            )


def copy_rows(model: "type[Model]", rows: Iterable[dict[str, Any]]) -> int:
    """COPY rows (field attname -> value; ids given here, counting up) into the model's table; the first id."""
    from django.db import connection

    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")  # noqa: S608
        first = int(cursor.fetchone()[0])
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    defaults = {f.attname: f.get_default() for f in fields}
    columns = ", ".join(["id", *(connection.ops.quote_name(str(f.column)) for f in fields)])
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for number, row in enumerate(rows, start=first):
            copy.write_row([number, *(row.get(f.attname, defaults[f.attname]) for f in fields)])
    return first


def plan_study(rng: random.Random, number: int, records: int) -> Plan:
    kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
    date = END - dt.timedelta(days=rng.randrange(1, 5 * 365))  # the CT, at END, is the newest
    return Plan(
        number=number,
        record=rng.randrange(records),
        date=date,
        time=dt.time(rng.randrange(7, 20), rng.randrange(60), rng.randrange(60)),
        kind=kind,
        description=rng.choice(kind.descriptions),
        series=tuple(rng.randint(1, 4) for _ in range(rng.randint(1, 3))),
        has_report=rng.random() < (0.5 if (END - date).days < 3 else 0.9),
        doctor=rng.choice(DOCTORS),
    )


def record_row(rng: random.Random, number: int, hospital_id: int) -> dict[str, Any]:
    return {
        "hospital_id": hospital_id,
        "patient_id": f"P{number:08d}",
        "name": rng.choice(SURNAMES) + rng.choice(GIVEN),
        "sex": rng.choice("FM"),
        "birth_date": dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(80 * 365)),
        "telephone_numbers": f"13{rng.randrange(10**9):09d}",
        "created_at": dt.datetime(2021, 1, 1, tzinfo=dt.UTC),
    }


def study_row(plan: Plan, patient_id: int, hospital_id: int, root: str) -> dict[str, Any]:
    received = dt.datetime.combine(plan.date, plan.time, tzinfo=dt.UTC) + dt.timedelta(hours=1)
    instances = sum(plan.series)
    return {
        "study_uid": f"{root}1.{plan.number}",
        "patient_id": patient_id,
        "hospital_id": hospital_id,
        "study_date": plan.date,
        "study_time": plan.time,
        "accession_number": f"A{plan.date:%Y%m%d}{plan.number % 100_000:05d}",
        "study_id": str(plan.number % 10**8),
        "description": plan.description,
        "referring_physician": plan.doctor,
        "modalities": plan.kind.modality + ("\\SR" if plan.has_report else ""),
        "body_parts": plan.kind.body_part,
        "number_of_series": len(plan.series),
        "number_of_instances": instances,
        "number_of_images": instances,
        "size_bytes": instances * plan.kind.bytes_per_instance,
        "has_report": plan.has_report,
        "received_at": received,
        "updated_at": received,
    }


def series_rows(plans: list[Plan], first_study: int, root: str) -> Iterator[dict[str, Any]]:
    for index, plan in enumerate(plans):
        received = dt.datetime.combine(plan.date, plan.time, tzinfo=dt.UTC)
        for s, count in enumerate(plan.series):
            yield {
                "series_uid": f"{root}2.{plan.number}.{s}",
                "study_id": first_study + index,
                "modality": plan.kind.modality,
                "series_number": s + 1,
                "description": f"{plan.description} {s + 1}",
                "body_part": plan.kind.body_part,
                "number_of_instances": count,
                "received_at": received,
            }


def instance_rows(plans: list[Plan], first_series: int, root: str) -> Iterator[dict[str, Any]]:
    series_id = first_series
    for plan in plans:
        for s, count in enumerate(plan.series):
            for i in range(count):
                yield instance_row(plan, series_id, f"{root}3.{plan.number}.{s}.{i}", i)
            series_id += 1


def instance_row(plan: Plan, series_id: int, sop_uid: str, index: int) -> dict[str, Any]:
    kind = plan.kind
    sliced = kind.modality in ("CT", "MR")
    received = dt.datetime.combine(plan.date, plan.time, tzinfo=dt.UTC)
    return {
        "sop_uid": sop_uid,
        "series_id": series_id,
        "sop_class_uid": kind.sop_class,
        "transfer_syntax_uid": "1.2.840.10008.1.2.1",
        "instance_number": index + 1,
        "slice_position": -300.0 + 2.5 * index if sliced else None,
        "image_position": f"-175\\-175\\{-300 + 2.5 * index:g}" if sliced else "",
        "image_orientation": "1\\0\\0\\0\\1\\0" if sliced else "",
        "content_date": plan.date,
        "content_time": plan.time,
        "has_pixels": False,
        "rows": kind.size[0],
        "columns": kind.size[1],
        "number_of_frames": 1,
        "bits_allocated": 16 if kind.bits > 8 else 8,
        "bits_stored": kind.bits,
        "pixel_representation": int(kind.signed),
        "photometric_interpretation": kind.photometric,
        "window_center": kind.window[0] if kind.window else None,
        "window_width": kind.window[1] if kind.window else None,
        "rescale_slope": 1.0 if kind.intercept is not None else None,
        "rescale_intercept": kind.intercept,
        "pixel_spacing": "0.68359375\\0.68359375" if sliced else "0.143\\0.143",
        "pixel_spacing_kind": "patient",
        "lossy": kind.modality == "US",
        "storage_key": f"dicom/{sop_uid}.{series_id:016x}.dcm",
        "size_bytes": kind.bytes_per_instance,
        "sha256": f"{series_id:032x}{index:032x}",
        "received_at": received,
        "render_error": "",
    }


# ---------------------------------------------------------------- the patient


def patient_ready() -> bool:
    from imaging.models import Instance

    user = patient_user(create=False)
    if user is None or patient_study_count() != sum(PATIENT_STUDIES):
        return False
    ct = Instance.objects.filter(series__study__study_uid=ct_spec().study_uid, has_pixels=True)
    first = ct.order_by("pk").first()
    return ct.count() == CT_SLICES and first is not None and storage_has(first.storage_key)


def storage_has(key: str) -> bool:
    from django.core.files.storage import default_storage

    return bool(default_storage.exists(key))


def patient_study_count() -> int:
    from accounts.models import PhoneLink
    from imaging.models import Study

    records = PhoneLink.objects.filter(phone=PHONE).values_list("patient_record_id", flat=True)
    return Study.objects.filter(patient_id__in=records).count()


def patient_user(create: bool = True) -> "User | None":
    from accounts.models import User

    user = User.objects.filter(phone=PHONE).first()
    if user is None and create:
        user = User(username=PHONE, phone=PHONE)
        user.set_unusable_password()
        user.save()
    return user


def make_patient() -> None:
    """Records in 3 hospitals linked to the number, header-only studies, and the CT with a report."""
    from accounts.links import link_phone
    from accounts.models import LinkSource
    from imaging.models import Hospital, PatientRecord

    patient_user()
    rng = random.Random(PHONE)
    hospitals = list(Hospital.objects.order_by("code")[: len(PATIENT_STUDIES)])
    for number, (hospital, count) in enumerate(zip(hospitals, PATIENT_STUDIES, strict=True)):
        record = PatientRecord.objects.create(
            hospital=hospital,
            patient_id=f"BENCH-ME-{number + 1}",
            name="赵敏",
            sex="F",
            birth_date=dt.date(1979, 4, 2),
            telephone_numbers=PHONE,
        )
        link_phone(PHONE, record, LinkSource.COMMAND, hospital=hospital)
        header_only = count - 1 if number == 0 else count  # the CT is the first record's last study
        write_patient_studies(rng, record, header_only)
    ingest_ct(hospitals[0])


def write_patient_studies(rng: random.Random, record: "PatientRecord", count: int) -> None:
    plans = [plan_study(rng, n, 1) for n in range(count)]
    write_studies(plans, [(record.pk, record.hospital_id)], f"{PATIENT_UID_ROOT}{record.pk}.")


def ct_spec() -> "StudySpec":
    from imaging.synthetic import PatientSpec, StudySpec

    patient = PatientSpec("BENCH-ME-1", "Zhao^Min", "F", dt.date(1979, 4, 2))
    return StudySpec("bench-portal-ct", patient, END, dt.time(10, 30), "BENCHCT0001", "CT Chest")


def ingest_ct(hospital: "Hospital") -> None:
    """The CT through `ingest_instance`: renders are made inline (no broker), as they are cached in production."""
    from imaging import synthetic
    from imaging.ingest import ingest_instance

    spec = ct_spec()
    datasets = [*synthetic.ct_chest(spec, slices=CT_SLICES), synthetic.text_report(spec, "No nodules.", "Normal.")]
    for ds in datasets:
        result = ingest_instance(synthetic.to_bytes(ds), hospital, source_name="bench")
        if not result.ok:
            raise RuntimeError(f"ingest of the CT failed: {result.reason}")


def ensure_ct_renders() -> "Series":
    """The CT series, with every preview and the thumbnail in storage (made again if missing)."""
    from imaging.models import Instance, Series
    from imaging.rendering import RenderSpec, ensure_render

    series = Series.objects.get(study__study_uid=ct_spec().study_uid, modality="CT")
    images = list(Instance.objects.filter(series=series, has_pixels=True).order_by("pk"))
    specs = [RenderSpec(), RenderSpec.thumbnail()]
    for instance in images:
        for spec in specs:
            if not storage_has(spec.key(instance)):
                ensure_render(instance, spec)
    return series


def newest_study() -> "Study":
    from accounts.models import PhoneLink
    from imaging.models import Study

    records = PhoneLink.objects.filter(phone=PHONE).values_list("patient_record_id", flat=True)
    newest = Study.objects.filter(patient_id__in=records).for_list().first()
    if newest is None:
        raise RuntimeError("the patient has no study")
    return newest


def sign_in(user: "User | None") -> str:
    """A session as the sign-in view leaves it (login + mark_signed_in), without the SMS; its key."""
    from django.contrib.sessions.backends.cached_db import SessionStore

    assert user is not None
    now = int(time.time())
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "accounts.backends.UserBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session["signed_in_at"] = now
    session["touched_at"] = now
    session.create()
    assert session.session_key
    return session.session_key


# ---------------------------------------------------------------- serving and load


@contextlib.contextmanager
def gunicorn(env: dict[str, str], workers: int) -> Iterator[int]:
    """gunicorn on a free loopback port, stopped on the way out whatever happens; the port."""
    port = free_port()
    command = [str(ROOT / ".venv/bin/gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", str(workers), "--log-level", "warning"]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        wait_until_listening(port, server)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_listening(port: int, server: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        with contextlib.suppress(OSError):
            get(port, "/", "")
            return
        time.sleep(0.1)
    raise RuntimeError("gunicorn does not answer")


def get(port: int, path: str, session_key: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Cookie": f"sessionid={session_key}"} if session_key else {})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def check_pages(port: int, session_key: str, study_pk: int) -> None:
    """The list shows the patient's 50 studies and the exam page answers, as the signed-in patient."""
    status, body = get(port, "/my/", session_key)
    shown = body.count('<li class="study"')
    if status != 200 or shown != sum(PATIENT_STUDIES):
        raise RuntimeError(f"/my/ answered {status} with {shown} studies, not 200 with {sum(PATIENT_STUDIES)}")
    status, _body = get(port, f"/my/studies/{study_pk}/", session_key)
    if status != 200:
        raise RuntimeError(f"/my/studies/{study_pk}/ answered {status}")


# Counts answers other than 200 (a 302 to sign-in would look like success to wrk) and prints the figures.
WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) not_ok = 0 end
function response(status, headers, body) if status ~= 200 then not_ok = not_ok + 1 end end
function done(summary, latency, requests)
  local not_ok = 0
  for _, thread in ipairs(threads) do not_ok = not_ok + thread:get("not_ok") end
  local e = summary.errors
  io.write(string.format("figures %d %d %d %d %d %d %d\\n", summary.requests, not_ok,
    e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def run_load(port: int, path: str, session_key: str, clients: int, seconds: float) -> Load:
    """wrk (C, two threads) as the clients: it takes less of the cores it measures than a Python client."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_SCRIPT)
        script.flush()
        wrk(port, path, session_key, clients, 2.0, script.name)  # warm-up: connections, caches
        return wrk(port, path, session_key, clients, seconds, script.name)


def wrk(port: int, path: str, session_key: str, clients: int, seconds: float, script: str) -> Load:
    command = ["wrk", "-t", "2", "-c", str(clients), "-d", f"{seconds:g}s", "-s", script, "--timeout", "10s"]
    for header in (f"Cookie: sessionid={session_key}", "Accept: text/html", "Accept-Encoding: identity"):
        command += ["-H", header]
    output = subprocess.run([*command, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True)
    figures = next((line.split()[1:] for line in output.stdout.splitlines() if line.startswith("figures ")), None)
    if figures is None:
        raise RuntimeError(f"wrk printed no figures: {output.stdout} {output.stderr}")
    requests, not_ok, errors, duration, p50, p95, p99 = (int(value) for value in figures)
    return Load(requests - not_ok, not_ok + errors, duration / 1e6, p50 / 1000, p95 / 1000, p99 / 1000)


def print_load(label: str, path: str, load: Load, setup: str, target_ms: float | None) -> None:
    if load.answered < 2:
        raise RuntimeError(f"{label}: too few answers ({load.answered}), {load.failed} failed")
    line = (
        f"{label} {path}: p50 {load.p50:.1f} ms, p95 {load.p95:.1f} ms, p99 {load.p99:.1f} ms, "
        f"{load.answered / load.seconds:.0f} req/s ({setup}, {load.seconds:.0f} s)"
    )
    if load.failed:
        line += f"; {load.failed} failed (not 200, or no answer)"
    if target_ms is not None:
        line += f"; target p95 < {target_ms:.0f} ms: {'met' if load.p95 < target_ms else 'NOT met'}"
    print(line)


# ---------------------------------------------------------------- the viewer in Chromium

# Records when the viewer marks its first image drawn, in ms since navigation start.
FIRST_IMAGE_PROBE = """
new MutationObserver((changes, observer) => {
  for (const change of changes) {
    if (change.target.id === 'viewer' && change.target.dataset.shown) {
      window.__firstImageMs = performance.now();
      observer.disconnect();
    }
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-shown']});
"""
SHOWN = "() => document.querySelector('#viewer')?.dataset.shown"
TIMINGS = """() => {
  const done = (part) => Math.min(...performance.getEntriesByType('resource')
    .filter((e) => e.name.includes(part)).map((e) => e.responseEnd), 1e9);
  const page = performance.getEntriesByType('navigation')[0];
  return [window.__firstImageMs ?? performance.now(), page.responseEnd, done('images.json'), done('/preview')];
}"""


def viewer_first_image(port: int, session_key: str, study_pk: int, series: "Series", runs: int) -> None:
    path = f"/my/studies/{study_pk}/view/"
    status, _body = get(port, path, session_key)
    if status != 200:
        print(f"viewer {path} answered {status}: first image not measured")
        return
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing (apt-get install chromium): first image not measured")
        return
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # ORM calls beside Playwright's event loop, in one thread
    url = f"http://127.0.0.1:{port}{path}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            measure_viewer(browser, url, session_key, series, runs)
        finally:
            browser.close()


@dataclass(frozen=True)
class Opening:
    """Milliseconds from navigation start: first image drawn, and the responses it waited for."""

    first_image: float
    page: float
    manifest: float
    preview: float


def measure_viewer(browser: "Browser", url: str, session_key: str, series: "Series", runs: int) -> None:
    open_viewer(browser, url, session_key, lambda: None)  # Chromium's own start-up, not counted
    cold, warm = [], []
    for _ in range(runs):
        first, again = open_viewer(browser, url, session_key, lambda: None, reload=True)
        cold.append(first)
        warm.append(again or first)
    server_cold = [open_viewer(browser, url, session_key, lambda: forget_previews(series))[0] for _ in range(runs)]
    ensure_ct_renders()
    median = statistics.median(o.first_image for o in cold)
    verdict = "met" if median < FIRST_IMAGE_TARGET_MS else "NOT met"
    each = "/".join(f"{o.first_image:.0f}" for o in cold)
    print(
        f"viewer first image, {CT_SLICES}-slice CT, renders cached, median of {runs}: "
        f"cold browser cache {median:.0f} ms ({each}), warm (reload) "
        f"{statistics.median(o.first_image for o in warm):.0f} ms; target < {FIRST_IMAGE_TARGET_MS:.0f} ms: {verdict}"
    )
    print(f"  cold, responses done at: {milestones(cold)}")
    print(
        f"viewer first image, previews not yet made (server cold, rendered on request), median of {runs}: "
        f"{statistics.median(o.first_image for o in server_cold):.0f} ms; responses done at: {milestones(server_cold)}"
    )


def milestones(openings: list[Opening]) -> str:
    page, manifest, preview = (
        statistics.median(getattr(o, name) for o in openings) for name in ("page", "manifest", "preview")
    )
    return f"page {page:.0f} ms, manifest (images.json) {manifest:.0f} ms, first preview {preview:.0f} ms"


def open_viewer(
    browser: "Browser", url: str, session_key: str, before: Callable[[], None], reload: bool = False
) -> tuple[Opening, Opening | None]:
    """A fresh context (empty HTTP cache) opens the viewer; the timings, then again on reload."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    try:
        context.add_cookies([{"name": "sessionid", "value": session_key, "domain": "127.0.0.1", "path": "/"}])
        context.add_init_script(FIRST_IMAGE_PROBE)
        context.route("**/favicon.ico", lambda route: route.fulfill(status=204))  # the portal has none
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        before()
        page.goto(url, wait_until="commit")
        first = first_image(page, errors)
        if not reload:
            return first, None
        page.reload(wait_until="commit")
        return first, first_image(page, errors)
    finally:
        context.close()


def first_image(page: Any, errors: list[str]) -> Opening:
    """Wait for the first image, then for the page's prefetches to end: the next opening starts on a quiet server."""
    try:
        page.wait_for_function(SHOWN, timeout=30_000)
    except Exception as error:
        raise RuntimeError(f"the viewer showed no image in 30 s: {error}; page errors: {errors[:3]}") from error
    opening = Opening(*page.evaluate(TIMINGS))
    with contextlib.suppress(Exception):
        page.wait_for_load_state("networkidle", timeout=15_000)
    return opening


def forget_previews(series: "Series") -> None:
    """Delete the CT's preview renders, rows and files, so that the viewer's requests make them."""
    from django.core.files.storage import default_storage

    from imaging.models import Render
    from imaging.rendering import PREVIEW_MAX_SIDE

    renders = Render.objects.filter(instance__series=series, key__contains=f"/max{PREVIEW_MAX_SIDE}/")
    for key in renders.values_list("key", flat=True):
        default_storage.delete(key)
    renders.delete()


if __name__ == "__main__":
    main()
