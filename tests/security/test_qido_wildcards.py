"""QIDO-RS wildcards: linear time on every database, and still exact matching.

The attack of the review: a name of wildcards with a tail that cannot match,
against a few hundred studies. A regular expression of `.*` runs backtracks
(SQLite's REGEXP is Python's `re`: 6.7 s for ten `*`); a `LIKE` does not, nor
SQLite's `GLOB`, which matches the case-sensitive keys (PatientID) there.
"""

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from imaging.models import Hospital, PatientRecord, Study
from imaging.tokens import issue_token

pytestmark = pytest.mark.django_db

_uids = itertools.count(1)


def add_studies(hospital: Hospital, names: list[str]) -> None:
    patients = PatientRecord.objects.bulk_create(
        PatientRecord(hospital=hospital, patient_id=f"PID-{next(_uids)}", name=name) for name in names
    )
    Study.objects.bulk_create(
        Study(hospital=hospital, patient=patient, study_uid=f"1.2.826.0.1.3680043.10.9.{next(_uids)}")
        for patient in patients
    )


def names_found(client: Client, token: str, query: str, key: str = "PatientName") -> list[str]:
    response = client.get("/dicomweb/studies", {key: query, "limit": "1000"}, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code in (200, 204), response.content[:300]
    rows = json.loads(response.content) if response.status_code == 200 else []
    return sorted(row["00100010"]["Value"][0]["Alphabetic"] for row in rows)


@pytest.fixture
def token(hospital: Hospital) -> str:
    return issue_token(hospital, "PACS")


@pytest.mark.parametrize("key", ["PatientName", "PatientID"])
def test_it_answers_a_name_of_ten_wildcards_quickly(client: Client, token: str, hospital: Hospital, key: str) -> None:
    add_studies(hospital, [f"PATIENT^N{number:03d}" for number in range(300)])
    started = time.perf_counter()
    found = names_found(client, token, "*" * 10 + "NOT-THERE", key)
    elapsed = time.perf_counter() - started
    assert found == []
    # Backtracking took seconds here (PATIENT^N000 is 12 characters; each one more multiplies the time).
    assert elapsed < 1.0, f"{elapsed:.2f} s"


def test_it_answers_a_name_of_ten_wildcards_quickly_on_sqlite_too(tmp_path: Path) -> None:
    """The embedded default is SQLite, where the old REGEXP backtracked: the same test, run there.

    CI's database is PostgreSQL, whose regular expressions do not backtrack, so only this
    run shows the attack on the database a small site runs by default.
    """
    if connection.vendor == "sqlite":
        pytest.skip("this run is on SQLite already")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTEST_ADDOPTS")}
    env["VAR_DIR"] = str(tmp_path / "var")
    test = f"{__file__}::test_it_answers_a_name_of_ten_wildcards_quickly"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert "2 passed" in result.stdout


NAMES = [
    "SMITH^JOHN",
    "smith^jane",
    "SMYTHE^JO",
    "100%^PURE",
    "1000^MORE",
    "A_B^C",
    "AXB^C",
    "BACK\\SLASH",
    "BACKXSLASH",
]

CASES = [
    ("*", NAMES),
    ("SMITH^JOHN", ["SMITH^JOHN"]),
    ("smith^john", ["SMITH^JOHN"]),
    ("SMITH*", ["SMITH^JOHN", "smith^jane"]),
    ("sm?th^*", ["SMITH^JOHN", "smith^jane"]),
    ("SM*", ["SMITH^JOHN", "SMYTHE^JO", "smith^jane"]),
    ("*^JO*", ["SMITH^JOHN", "SMYTHE^JO"]),
    ("SMITH", []),
    ("100%*", ["100%^PURE"]),
    ("A_B^C", ["A_B^C"]),
    ("A?B^C", ["A_B^C", "AXB^C"]),
    ("BACK\\SLASH", ["BACK\\SLASH"]),
]


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_it_matches_wildcards_exactly(
    client: Client, token: str, hospital: Hospital, query: str, expected: list[str]
) -> None:
    add_studies(hospital, NAMES)
    assert names_found(client, token, query) == sorted(expected)
