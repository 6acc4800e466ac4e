"""QIDO-RS against Orthanc's: the same region in both, the same searches, the same matches.

The region (tests/support/qido_data.py) is stored in Orthanc (Debian's
`orthanc` 1.10 with `orthanc-dicomweb` 1.7, over its REST API) and in the portal
(by `ingest_instance`); each search goes to both, and the answers are compared as
sets of UIDs. Where Orthanc departs from the standard, the case says how and
where (a `Deviation`): the portal is held to the standard's answer, and
Orthanc's own answer is checked too, so that the note goes stale loudly if
Orthanc changes.

Orthanc also answers "no match" with 200 and `[]` where PS3.18 8.3.4.4 asks
for 204: both count as no match here.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from imaging import synthetic
from imaging.ingest import ingest_instance
from imaging.models import Hospital
from imaging.tokens import issue_token
from tests.support import qido_data
from tests.support.orthanc import DICOMWEB_ROOT, OrthancServer, dicomweb_config, require_orthanc, running_orthanc
from tests.support.qido_data import series_uid, sop_uid, study_uid

pytestmark = pytest.mark.django_db

LABELS = qido_data.labels()
UNIQUE_KEYS = ("00080018", "0020000E", "0020000D")  # the deepest level's UID names the match
JOHN_CT, JOHN_MR, JANE_CT = "q-john-ct", "q-john-mr", "q-jane-ct"
SMYTHE_DX, WANG_MR, WANG_CT, JANE_OLD = "q-smythe-dx", "q-wang-mr", "q-wang-ct", "q-jane-old"
EVERY_STUDY = (JOHN_CT, JOHN_MR, JANE_CT, SMYTHE_DX, WANG_MR, WANG_CT, JANE_OLD)
JOHN = f"studies/{study_uid(JOHN_CT)}"
JOHN_CT_SERIES = f"{JOHN}/series/{series_uid(JOHN_CT, 'ct')}"
# Sent to Orthanc as they are: it does not decode percent-encoded query parameters (see NOT_DECODED).
RAW = "*?^\\,"


@dataclass(frozen=True)
class Deviation:
    """Where Orthanc departs from the standard: why (with the clause), the standard's answer and Orthanc's.

    An answer is the set of matches' labels, or an HTTP status for a request the server refuses.
    """

    why: str
    standard: tuple[str, ...] | int
    orthanc: tuple[str, ...] | int


def search(name: str, path: str, params: dict[str, Any], deviation: Deviation | None = None, raw: str = RAW) -> Any:
    """A case: the search, and Orthanc's deviation if any; `raw` is what goes to Orthanc not percent-encoded."""
    return pytest.param(path, params, deviation, raw, id=name)


CASE_INSENSITIVE = "Orthanc matches LO, SH and CS values whatever their case; PS3.4 C.2.2.2.1 and C.2.2.2.4 do not"
TIME_AS_TEXT = (
    "Orthanc compares TM values as text, so 1000 is not 100000; PS3.4 C.2.2.2.1.3 matches times by their meaning"
)
NOT_COMBINED = (
    "Orthanc matches StudyDate and StudyTime each on its own; PS3.18 8.3.4.1.1 asks for combined date-time matching "
    "(PS3.4 C.2.2.2.5.4): one period from the first date and time to the last"
)
NO_BACKSLASH_LIST = "Orthanc takes a comma-separated list only; PS3.4 C.2.2.2.2 separates a list with backslashes"
NOT_DECODED = (
    "Orthanc does not percent-decode query parameters (RFC 3986 2.1); PS3.18 8.3.4.1 has every character "
    "outside qp-char percent-encoded, `^` of a person name among them"
)

CASES = [
    # ---- all studies
    search("studies", "studies", {}),
    search("patient-id", "studies", {"PatientID": "PID-1001"}),
    search("patient-id-by-tag", "studies", {"00100020": "XR-2001"}),
    search("patient-id-question-mark", "studies", {"PatientID": "PID?1001"}),
    search(
        "patient-id-star",
        "studies",
        {"PatientID": "PID*"},
        Deviation(
            CASE_INSENSITIVE, (JOHN_CT, JOHN_MR, WANG_MR, WANG_CT), (*EVERY_STUDY[:3], WANG_MR, WANG_CT, JANE_OLD)
        ),
    ),
    search("patient-name-any-case", "studies", {"PatientName": "smith^john"}),
    search(
        "patient-name-percent-encoded",
        "studies",
        {"PatientName": "SMITH^JOHN"},
        Deviation(NOT_DECODED, (JOHN_CT, JOHN_MR), ()),
        raw="",
    ),
    search("patient-name-question-mark", "studies", {"PatientName": "SM?TH*"}),
    search("patient-name-star-inside", "studies", {"00100010": "*^J*"}),
    search("accession", "studies", {"AccessionNumber": "A1001"}),
    search("accession-wildcards", "studies", {"AccessionNumber": "C*300?"}),
    search(
        "accession-wildcard-case",
        "studies",
        {"AccessionNumber": "b*"},
        Deviation(CASE_INSENSITIVE, (SMYTHE_DX,), (JANE_CT, SMYTHE_DX)),
    ),
    search("accession-underscore", "studies", {"AccessionNumber": "C_3001"}),
    search("referring-physician", "studies", {"ReferringPhysicianName": "li^ming"}),
    search("referring-physician-wildcard", "studies", {"00080090": "*WEI"}),
    search("study-id", "studies", {"StudyID": "T-5"}),
    search("study-id-wildcard", "studies", {"StudyID": "S-*"}),
    search("study-uid", "studies", {"StudyInstanceUID": study_uid(JANE_CT)}),
    search("study-uid-list", "studies", {"StudyInstanceUID": f"{study_uid(JANE_CT)},{study_uid(WANG_MR)}"}),
    search(
        "study-uid-list-backslash",
        "studies",
        {"0020000D": f"{study_uid(JANE_CT)}\\{study_uid(WANG_MR)}"},
        Deviation(NO_BACKSLASH_LIST, (JANE_CT, WANG_MR), ()),
    ),
    search("study-date", "studies", {"StudyDate": "20260105"}),
    search("study-date-range", "studies", {"StudyDate": "20260105-20260106"}),
    search("study-date-up-to", "studies", {"StudyDate": "-20251231"}),
    search("study-date-from", "studies", {"00080020": "20260106-"}),
    search("study-time", "studies", {"StudyTime": "143000"}),
    search("study-time-range", "studies", {"StudyTime": "100000-143000"}),
    search("study-time-up-to", "studies", {"StudyTime": "-081500"}),
    search("study-time-from", "studies", {"00080030": "180000-"}),
    search(
        "study-time-by-meaning",
        "studies",
        {"StudyTime": "1000"},
        Deviation(TIME_AS_TEXT, (JOHN_MR,), ()),
    ),
    search(
        "study-time-range-end-by-meaning",
        "studies",
        {"StudyTime": "0900-1800"},
        Deviation(TIME_AS_TEXT, (SMYTHE_DX, JOHN_MR, JANE_CT, WANG_MR), (SMYTHE_DX, JOHN_MR, JANE_CT)),
    ),
    search(
        "date-time-range-as-one",
        "studies",
        {"StudyDate": "20260105-20260106", "StudyTime": "120000-170000"},
        Deviation(NOT_COMBINED, (JANE_CT, SMYTHE_DX), (JANE_CT,)),
    ),
    search(
        "date-time-up-to-as-one",
        "studies",
        {"StudyDate": "-20260106", "StudyTime": "-100000"},
        Deviation(
            NOT_COMBINED, (JANE_OLD, JOHN_CT, JOHN_MR, JANE_CT, SMYTHE_DX), (JANE_OLD, JOHN_CT, JOHN_MR, SMYTHE_DX)
        ),
    ),
    search("date-and-time-of-two-forms", "studies", {"StudyDate": "20260105-20260106", "StudyTime": "-100000"}),
    search("modality", "studies", {"ModalitiesInStudy": "MR"}),
    search("modality-list", "studies", {"ModalitiesInStudy": "DX,OT"}),
    search(
        "modality-list-backslash",
        "studies",
        {"00080061": "DX\\OT"},
        Deviation(NO_BACKSLASH_LIST, (JOHN_CT, JANE_CT, SMYTHE_DX, JANE_OLD), ()),
    ),
    search("modality-wildcard", "studies", {"ModalitiesInStudy": "M?"}),
    search("two-keys", "studies", {"PatientID": "PID-1001", "ModalitiesInStudy": "CT"}),
    search("fuzzy-matching-asked", "studies", {"PatientName": "SMITH*", "fuzzymatching": "true"}),
    search("unknown-parameter-ignored", "studies", {"Foo": "bar", "StudyDate": "20260105"}),
    search("includefield", "studies", {"includefield": "StudyDescription,00100030", "PatientID": "PID_3001"}),
    search(
        "study-date-not-a-date",
        "studies",
        {"StudyDate": "yesterday"},
        Deviation("Orthanc matches nothing; PS3.18 8.3 answers 400 to a value a parameter cannot take", 400, ()),
    ),
    # ---- all series
    search("series", "series", {}),
    search("series-modality", "series", {"Modality": "CT"}),
    search(
        "series-modality-case",
        "series",
        {"Modality": "ct"},
        Deviation(CASE_INSENSITIVE, (), ("q-john-ct/ct", "q-jane-ct/ct", "q-wang-ct/ct")),
    ),
    search("series-modality-wildcard", "series", {"00080060": "M*"}),
    search("series-number", "series", {"SeriesNumber": "1"}),
    search("series-number-by-tag", "series", {"00200011": "10"}),
    search("series-uid", "series", {"SeriesInstanceUID": series_uid(JANE_CT, "dx")}),
    search("series-uid-list", "series", {"0020000E": f"{series_uid(JANE_CT, 'dx')},{series_uid(WANG_CT, 'mr')}"}),
    search("series-performed-date", "series", {"PerformedProcedureStepStartDate": "20260105-"}),
    search("series-performed-time", "series", {"PerformedProcedureStepStartTime": "100000-180000"}),
    search("series-patient-key", "series", {"PatientName": "WANG*"}),
    search("series-study-keys", "series", {"StudyDate": "20260106", "Modality": "MR"}),
    search(
        "series-number-range",
        "series",
        {"SeriesNumber": "1-3"},
        Deviation("Orthanc matches nothing; range matching is for dates and times (PS3.4 C.2.2.2.5): 400", 400, ()),
    ),
    # ---- a study's series
    search("study-series", f"{JOHN}/series", {}),
    search("study-series-modality", f"{JOHN}/series", {"Modality": "OT"}),
    search("study-series-number", f"{JOHN}/series", {"SeriesNumber": "2"}),
    search("study-series-patient-key", f"{JOHN}/series", {"PatientID": "XR-2001"}),
    search(
        "study-series-study-key",
        f"{JOHN}/series",
        {"StudyDate": "20200101"},
        Deviation(
            "Orthanc matches a study attribute in a search of a study's series, which PS3.18 10.6.1.2.1 does not "
            "allow: the portal ignores it, with a Warning",
            ("q-john-ct/ct", "q-john-ct/sc"),
            (),
        ),
    ),
    # ---- a series' instances, a study's instances, all instances
    search("series-instances", f"{JOHN_CT_SERIES}/instances", {}),
    search("series-instance-uid", f"{JOHN_CT_SERIES}/instances", {"SOPInstanceUID": sop_uid(JOHN_CT, "ct", 2)}),
    search("series-instance-number", f"{JOHN_CT_SERIES}/instances", {"InstanceNumber": "3"}),
    search("series-instance-class", f"{JOHN_CT_SERIES}/instances", {"00080016": synthetic.CT_IMAGE}),
    search("study-instances", f"{JOHN}/instances", {}),
    search("study-instance-uid", f"{JOHN}/instances", {"SOPInstanceUID": sop_uid(JOHN_CT, "sc", 1)}),
    search("study-instances-series-key", f"{JOHN}/instances", {"Modality": "OT"}),
    search("instances-number", "instances", {"InstanceNumber": "7"}),
    search("instances-number-by-tag", "instances", {"00200013": "2"}),
    search("instances-class", "instances", {"SOPClassUID": synthetic.MR_IMAGE}),
    search("instances-class-and-study-date", "instances", {"SOPClassUID": synthetic.MR_IMAGE, "StudyDate": "20260106"}),
    search("instances-series-key", "instances", {"Modality": "DX"}),
    search("instances-patient-key", "instances", {"PatientID": "XR-2001"}),
    search(
        "instances-uid-list",
        "instances",
        {"SOPInstanceUID": f"{sop_uid(WANG_MR, 'mr', 7)},{sop_uid(WANG_CT, 'mr', 1)}"},
    ),
]


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """Orthanc with its DICOMweb plugin, holding the region."""
    require_orthanc(dicomweb=True)
    folder: Path = tmp_path_factory.mktemp("orthanc-qido")
    with running_orthanc(folder, **dicomweb_config()) as server:
        for dataset in qido_data.data_set():
            server.post("/instances", synthetic.to_bytes(dataset))
        yield server


@pytest.fixture
def token(hospital: Hospital) -> str:
    for dataset in qido_data.data_set():
        assert ingest_instance(synthetic.to_bytes(dataset), hospital).ok
    return issue_token(hospital, "PACS")


def matches(status: int, body: bytes) -> tuple[str, ...] | int:
    """The labels of an answer's matches (no match: 204, or Orthanc's 200 with `[]`), or its error status."""
    if status == 204 or (status == 200 and json.loads(body) == []):
        return ()
    if status != 200:
        return status
    return tuple(sorted(LABELS[_unique_uid(row)] for row in json.loads(body)))


def _unique_uid(row: dict[str, Any]) -> str:
    return next(row[tag]["Value"][0] for tag in UNIQUE_KEYS if tag in row)


def expected(labels: tuple[str, ...] | int) -> tuple[str, ...] | int:
    return labels if isinstance(labels, int) else tuple(sorted(labels))


@pytest.mark.parametrize(("path", "params", "deviation", "raw"), CASES)
def test_it_matches_what_orthanc_matches(
    client: Client,
    token: str,
    orthanc: OrthancServer,
    path: str,
    params: dict[str, Any],
    deviation: Deviation | None,
    raw: str,
) -> None:
    ours = client.get(f"/dicomweb/{path}", params, HTTP_AUTHORIZATION=f"Bearer {token}")
    portal = matches(ours.status_code, ours.content)
    theirs = matches(*orthanc.get(f"{DICOMWEB_ROOT}/{path}", params, raw))
    if deviation is None:
        assert portal == theirs
        return
    assert portal == expected(deviation.standard), deviation.why
    assert theirs == expected(deviation.orthanc), f"Orthanc no longer answers as noted ({deviation.why})"


def test_there_are_enough_cases_at_every_level() -> None:
    paths = [case.values[0] for case in CASES]
    assert len(CASES) >= 40
    assert all(any(path.endswith(suffix) for path in paths) for suffix in ("studies", "series", "instances"))


def test_it_pages_as_orthanc_does(client: Client, token: str, orthanc: OrthancServer) -> None:
    """Pages of two (PS3.18 8.3.4.4) cover every study once, in both; the order is each server's own."""
    for path in ("studies", "series", "instances"):
        ours, theirs = [], []
        for offset in range(0, 20, 2):
            page = {"limit": 2, "offset": offset}
            answer = client.get(f"/dicomweb/{path}", page, HTTP_AUTHORIZATION=f"Bearer {token}")
            ours += matches(answer.status_code, answer.content)  # type: ignore[arg-type]
            theirs += matches(*orthanc.get(f"{DICOMWEB_ROOT}/{path}", page, RAW))  # type: ignore[arg-type]
        assert sorted(ours) == sorted(theirs)
        assert len(ours) == len(set(ours))
