"""QIDO-RS (PS3.18 10.6): each kind of matching (PS3.4 C.2.2.2) at each level, includefield, paging, warnings.

The region is tests/support/qido_data.py: seven studies of four patients, every
match named by its label (`q-john-ct`, `q-john-ct/ct`, `q-john-ct/ct/2`).
"""

import json
import re
from typing import Any

import pytest
from django.test import Client

from imaging import synthetic
from imaging.ingest import ingest_instance
from imaging.models import Hospital
from imaging.tokens import issue_token
from tests.support import qido_data
from tests.support.qido_data import series_uid, sop_uid, study_uid

pytestmark = pytest.mark.django_db

LABELS = qido_data.labels()
UNIQUE_KEYS = {"study": "0020000D", "series": "0020000E", "instance": "00080018"}
JOHN_CT, JOHN_MR, JANE_CT = "q-john-ct", "q-john-mr", "q-jane-ct"
SMYTHE_DX, WANG_MR, WANG_CT, JANE_OLD = "q-smythe-dx", "q-wang-mr", "q-wang-ct", "q-jane-old"
ALL_STUDIES = sorted([JOHN_CT, JOHN_MR, JANE_CT, SMYTHE_DX, WANG_MR, WANG_CT, JANE_OLD])
MR_MODALITY = synthetic.MR_IMAGE


@pytest.fixture
def token(hospital: Hospital) -> str:
    for dataset in qido_data.data_set():
        assert ingest_instance(synthetic.to_bytes(dataset), hospital).ok
    return issue_token(hospital, "PACS")


def qido(client: Client, token: str, path: str, params: dict[str, Any] | None = None) -> Any:
    return client.get(f"/dicomweb/{path}", params or {}, HTTP_AUTHORIZATION=f"Bearer {token}")


def rows(response: Any) -> list[dict[str, Any]]:
    assert response.status_code in (200, 204), response.content[:300]
    return json.loads(response.content) if response.status_code == 200 else []


def found(response: Any, level: str) -> list[str]:
    return sorted(LABELS[row[UNIQUE_KEYS[level]]["Value"][0]] for row in rows(response))


def case(name: str, params: dict[str, Any], expected: list[str]) -> Any:
    return pytest.param(params, sorted(expected), id=name)


# ---------------------------------------------------------------- studies

STUDY_CASES = [
    case("patient-id", {"PatientID": "PID-1001"}, [JOHN_CT, JOHN_MR]),
    case("patient-id-by-tag", {"00100020": "PID-1001"}, [JOHN_CT, JOHN_MR]),
    case("patient-id-star", {"PatientID": "PID*"}, [JOHN_CT, JOHN_MR, WANG_MR, WANG_CT]),
    case("patient-id-question-mark", {"PatientID": "PID?1001"}, [JOHN_CT, JOHN_MR]),
    case("patient-id-is-case-sensitive", {"PatientID": "pid-1001"}, []),
    case("patient-id-wildcards-are-case-sensitive", {"PatientID": "pid*"}, [JANE_CT, JANE_OLD]),
    case("patient-id-underscore-is-literal", {"PatientID": "PID_1001"}, []),
    case("patient-id-question-mark-matches-underscore", {"PatientID": "PID?3001"}, [WANG_MR, WANG_CT]),
    case("accession", {"AccessionNumber": "A1001"}, [JOHN_CT]),
    case("accession-by-tag", {"00080050": "B2001"}, [JANE_CT]),
    case("accession-wildcards-are-case-sensitive", {"AccessionNumber": "b*"}, [SMYTHE_DX]),
    case("accession-percent-is-literal", {"AccessionNumber": "C%3002"}, [WANG_CT]),
    case("accession-star-in-the-middle", {"AccessionNumber": "C*300?"}, [WANG_MR, WANG_CT]),
    case("accession-star-alone-matches-all", {"AccessionNumber": "*"}, ALL_STUDIES),
    case("patient-name-ignores-case", {"PatientName": "smith^john"}, [JOHN_CT, JOHN_MR]),
    case("patient-name-wildcards", {"PatientName": "SM?TH*"}, [JOHN_CT, JOHN_MR, JANE_CT, JANE_OLD, SMYTHE_DX]),
    case("referring-physician-ignores-case", {"ReferringPhysicianName": "li^ming"}, [JOHN_CT, JOHN_MR, WANG_CT]),
    case("referring-physician-by-tag-wildcard", {"00080090": "*WEI"}, [JANE_CT, SMYTHE_DX]),
    case("study-id", {"StudyID": "T-5"}, [WANG_MR]),
    case("study-id-is-case-sensitive", {"StudyID": "t-5"}, []),
    case("study-id-wildcard", {"00200010": "S-*"}, [JOHN_CT, JOHN_MR, JANE_CT, SMYTHE_DX, JANE_OLD]),
    case("study-uid", {"StudyInstanceUID": study_uid(JANE_CT)}, [JANE_CT]),
    case(
        "study-uid-list-comma", {"StudyInstanceUID": f"{study_uid(JANE_CT)},{study_uid(WANG_MR)}"}, [JANE_CT, WANG_MR]
    ),
    case("study-uid-list-backslash", {"0020000D": f"{study_uid(JANE_CT)}\\{study_uid(WANG_MR)}"}, [JANE_CT, WANG_MR]),
    case("study-uid-repeated", {"StudyInstanceUID": [study_uid(JANE_CT), study_uid(WANG_MR)]}, [JANE_CT, WANG_MR]),
    case("study-date", {"StudyDate": "20260105"}, [JOHN_MR, JANE_CT]),
    case("study-date-range", {"StudyDate": "20260105-20260106"}, [JOHN_MR, JANE_CT, SMYTHE_DX, WANG_MR]),
    case("study-date-up-to", {"StudyDate": "-20251231"}, [JOHN_CT, JANE_OLD]),
    case("study-date-from", {"00080020": "20260106-"}, [SMYTHE_DX, WANG_MR, WANG_CT]),
    case("study-time-by-meaning", {"StudyTime": "1000"}, [JOHN_MR]),
    case("study-time", {"StudyTime": "143000"}, [JANE_CT]),
    case("study-time-range-inclusive", {"StudyTime": "0900-1800"}, [SMYTHE_DX, JOHN_MR, JANE_CT, WANG_MR]),
    case("study-time-up-to", {"StudyTime": "-0815"}, [JANE_OLD, JOHN_CT]),
    case("study-time-from", {"00080030": "180000-"}, [WANG_MR, WANG_CT]),
    case(
        "date-time-range-as-one",
        {"StudyDate": "20260105-20260106", "StudyTime": "1200-1700"},
        [JANE_CT, SMYTHE_DX],
    ),
    case(
        "date-time-up-to-as-one",
        {"StudyDate": "-20260106", "StudyTime": "-1000"},
        [JANE_OLD, JOHN_CT, JOHN_MR, JANE_CT, SMYTHE_DX],
    ),
    case(
        "date-time-from-as-one",
        {"StudyDate": "20260105-", "StudyTime": "1430-"},
        [JANE_CT, SMYTHE_DX, WANG_MR, WANG_CT],
    ),
    case(
        "date-and-time-of-other-forms-apart",
        {"StudyDate": "20260105-20260106", "StudyTime": "-1000"},
        [JOHN_MR, SMYTHE_DX],
    ),
    case("date-range-and-one-time", {"StudyDate": "20260101-20260131", "StudyTime": "0900"}, [SMYTHE_DX]),
    case("modality", {"ModalitiesInStudy": "MR"}, [JOHN_MR, WANG_MR, WANG_CT]),
    case("modality-list-backslash", {"ModalitiesInStudy": "DX\\OT"}, [JOHN_CT, JANE_CT, SMYTHE_DX, JANE_OLD]),
    case("modality-list-comma", {"00080061": "DX,OT"}, [JOHN_CT, JANE_CT, SMYTHE_DX, JANE_OLD]),
    case("modality-wildcard", {"ModalitiesInStudy": "M?"}, [JOHN_MR, WANG_MR, WANG_CT]),
    case("modality-is-case-sensitive", {"ModalitiesInStudy": "mr"}, []),
    case("every-key-must-match", {"PatientID": "PID-1001", "ModalitiesInStudy": "CT"}, [JOHN_CT]),
    case("empty-value-matches-all", {"PatientName": "", "StudyDate": ""}, ALL_STUDIES),
    case("patient-birth-date", {"PatientBirthDate": "-19700101"}, [WANG_MR, WANG_CT]),
    case("patient-sex", {"PatientSex": "F"}, [JANE_CT, JANE_OLD, SMYTHE_DX]),
]


@pytest.mark.parametrize(("params", "expected"), STUDY_CASES)
def test_it_matches_studies(client: Client, token: str, params: dict[str, Any], expected: list[str]) -> None:
    assert found(qido(client, token, "studies", params), "study") == expected


# ---------------------------------------------------------------- series

SERIES_CASES = [
    case("modality", {"Modality": "CT"}, ["q-john-ct/ct", "q-jane-ct/ct", "q-wang-ct/ct"]),
    case("modality-is-case-sensitive", {"Modality": "ct"}, []),
    case("modality-wildcard", {"00080060": "M*"}, ["q-john-mr/mr", "q-wang-mr/mr", "q-wang-ct/mr"]),
    case("series-uid", {"SeriesInstanceUID": series_uid(JANE_CT, "dx")}, ["q-jane-ct/dx"]),
    case(
        "series-uid-list",
        {"0020000E": f"{series_uid(JANE_CT, 'dx')},{series_uid(WANG_CT, 'mr')}"},
        ["q-jane-ct/dx", "q-wang-ct/mr"],
    ),
    case("series-number", {"SeriesNumber": "1"}, ["q-john-ct/ct", "q-jane-ct/ct", "q-smythe-dx/dx", "q-jane-old/ot"]),
    case("series-number-by-value", {"00200011": "010"}, ["q-jane-ct/dx"]),
    case(
        "performed-date-from",
        {"PerformedProcedureStepStartDate": "20260105-"},
        ["q-john-mr/mr", "q-jane-ct/ct", "q-wang-mr/mr"],
    ),
    case(
        "performed-time-range",
        {"00400245": "1000-1800"},
        ["q-john-mr/mr", "q-jane-ct/ct", "q-wang-mr/mr"],
    ),
    case(
        "performed-date-time-as-one",
        {"PerformedProcedureStepStartDate": "20260105-20260106", "PerformedProcedureStepStartTime": "1430-1800"},
        ["q-jane-ct/ct", "q-wang-mr/mr"],
    ),
    case("patient-key", {"PatientName": "WANG*"}, ["q-wang-mr/mr", "q-wang-ct/ct", "q-wang-ct/mr"]),
    case("study-and-series-keys", {"StudyDate": "20260106", "Modality": "MR"}, ["q-wang-mr/mr"]),
    case("study-uid-key", {"StudyInstanceUID": study_uid(JOHN_CT)}, ["q-john-ct/ct", "q-john-ct/sc"]),
]


@pytest.mark.parametrize(("params", "expected"), SERIES_CASES)
def test_it_matches_all_series(client: Client, token: str, params: dict[str, Any], expected: list[str]) -> None:
    assert found(qido(client, token, "series", params), "series") == expected


STUDY_SERIES_CASES = [
    case("all", {}, ["q-john-ct/ct", "q-john-ct/sc"]),
    case("modality", {"Modality": "OT"}, ["q-john-ct/sc"]),
    case("series-number", {"SeriesNumber": "2"}, ["q-john-ct/sc"]),
    case("series-uid", {"SeriesInstanceUID": series_uid(JOHN_CT, "ct")}, ["q-john-ct/ct"]),
    case("patient-key", {"PatientID": "XR-2001"}, []),
    case("performed-date", {"PerformedProcedureStepStartDate": "20251230"}, ["q-john-ct/ct"]),
]


@pytest.mark.parametrize(("params", "expected"), STUDY_SERIES_CASES)
def test_it_matches_a_studys_series(client: Client, token: str, params: dict[str, Any], expected: list[str]) -> None:
    assert found(qido(client, token, f"studies/{study_uid(JOHN_CT)}/series", params), "series") == expected


# ---------------------------------------------------------------- instances

JOHN_CT_SERIES = f"studies/{study_uid(JOHN_CT)}/series/{series_uid(JOHN_CT, 'ct')}/instances"
SERIES_INSTANCE_CASES = [
    case("all", {}, ["q-john-ct/ct/1", "q-john-ct/ct/2", "q-john-ct/ct/3"]),
    case("sop-uid", {"SOPInstanceUID": sop_uid(JOHN_CT, "ct", 2)}, ["q-john-ct/ct/2"]),
    case("sop-uid-by-tag", {"00080018": sop_uid(JOHN_CT, "ct", 3)}, ["q-john-ct/ct/3"]),
    case(
        "sop-uid-list",
        {"SOPInstanceUID": f"{sop_uid(JOHN_CT, 'ct', 1)}\\{sop_uid(JOHN_CT, 'ct', 3)}"},
        ["q-john-ct/ct/1", "q-john-ct/ct/3"],
    ),
    case("sop-uid-of-another-series", {"SOPInstanceUID": sop_uid(JOHN_CT, "sc", 1)}, []),
    case("instance-number", {"InstanceNumber": "2"}, ["q-john-ct/ct/2"]),
    case("instance-number-by-tag", {"00200013": "3"}, ["q-john-ct/ct/3"]),
    case("sop-class", {"SOPClassUID": synthetic.CT_IMAGE}, ["q-john-ct/ct/1", "q-john-ct/ct/2", "q-john-ct/ct/3"]),
    case("sop-class-of-none", {"00080016": MR_MODALITY}, []),
    case("rows", {"Rows": "8"}, ["q-john-ct/ct/1", "q-john-ct/ct/2", "q-john-ct/ct/3"]),
]


@pytest.mark.parametrize(("params", "expected"), SERIES_INSTANCE_CASES)
def test_it_matches_a_series_instances(client: Client, token: str, params: dict[str, Any], expected: list[str]) -> None:
    assert found(qido(client, token, JOHN_CT_SERIES, params), "instance") == expected


ALL_INSTANCE_CASES = [
    case("sop-uid", {"SOPInstanceUID": sop_uid(WANG_MR, "mr", 8)}, ["q-wang-mr/mr/8"]),
    case("instance-number", {"InstanceNumber": "7"}, ["q-wang-mr/mr/7"]),
    case(
        "sop-class",
        {"SOPClassUID": MR_MODALITY},
        ["q-john-mr/mr/1", "q-john-mr/mr/2", "q-wang-mr/mr/7", "q-wang-mr/mr/8", "q-wang-mr/mr/9", "q-wang-ct/mr/1"],
    ),
    case(
        "study-key",
        {"SOPClassUID": MR_MODALITY, "StudyDate": "20260106"},
        ["q-wang-mr/mr/7", "q-wang-mr/mr/8", "q-wang-mr/mr/9"],
    ),
    case("series-key", {"Modality": "DX"}, ["q-jane-ct/dx/1", "q-smythe-dx/dx/1", "q-smythe-dx/dx/2"]),
    case("patient-key", {"PatientID": "XR-2001"}, ["q-smythe-dx/dx/1", "q-smythe-dx/dx/2"]),
    case("content-date", {"ContentDate": "-20241231"}, ["q-jane-old/ot/1", "q-jane-old/ot/2"]),
]


@pytest.mark.parametrize(("params", "expected"), ALL_INSTANCE_CASES)
def test_it_matches_all_instances(client: Client, token: str, params: dict[str, Any], expected: list[str]) -> None:
    assert found(qido(client, token, "instances", params), "instance") == expected


STUDY_INSTANCE_CASES = [
    case("all", {}, ["q-john-ct/ct/1", "q-john-ct/ct/2", "q-john-ct/ct/3", "q-john-ct/sc/1"]),
    case("series-key", {"Modality": "OT"}, ["q-john-ct/sc/1"]),
    case("sop-uid", {"SOPInstanceUID": sop_uid(JOHN_CT, "ct", 1)}, ["q-john-ct/ct/1"]),
    case("instance-number", {"InstanceNumber": "1"}, ["q-john-ct/ct/1", "q-john-ct/sc/1"]),
]


@pytest.mark.parametrize(("params", "expected"), STUDY_INSTANCE_CASES)
def test_it_matches_a_studys_instances(client: Client, token: str, params: dict[str, Any], expected: list[str]) -> None:
    assert found(qido(client, token, f"studies/{study_uid(JOHN_CT)}/instances", params), "instance") == expected


# ---------------------------------------------------------------- what cannot be matched

INVALID = [
    ("studies", {"StudyDate": "yesterday"}),
    ("studies", {"StudyDate": "2026*"}),
    ("studies", {"StudyDate": "-"}),
    ("studies", {"StudyDate": "20261301"}),
    ("studies", {"StudyTime": "2500"}),
    ("studies", {"StudyTime": "10*"}),
    ("studies", {"StudyInstanceUID": "1.2.*"}),
    ("studies", {"PatientID": ["PID-1001", "PID-1002"]}),
    ("studies", {"limit": "-1"}),
    ("studies", {"offset": "two"}),
    ("studies", {"fuzzymatching": "maybe"}),
    ("studies", {"includefield": "Not a name"}),
    ("series", {"SeriesNumber": "1-3"}),
    ("instances", {"InstanceNumber": "first"}),
]


@pytest.mark.parametrize(("path", "params"), INVALID)
def test_it_answers_400_to_a_value_it_cannot_match(
    client: Client, token: str, path: str, params: dict[str, Any]
) -> None:
    response = qido(client, token, path, params)
    assert response.status_code == 400
    assert json.loads(response.content)["detail"]


# ---------------------------------------------------------------- warnings

SERVICE = "http://testserver/dicomweb"


def warnings_of(response: Any) -> list[str]:
    """The texts of the Warning header, each `299 <service>: "<text>"` (PS3.18 8.3.4.2), comma-joined."""
    header = response.headers.get("Warning", "")
    texts = re.findall(r'"([^"]*)"', header)
    assert header == ", ".join(f'299 {SERVICE}: "{text}"' for text in texts)
    return texts


def test_it_warns_of_a_key_it_does_not_match_and_ignores_it(client: Client, token: str) -> None:
    response = qido(client, token, "studies", {"PatientAge": "045Y", "PatientID": "XR-2001"})
    assert found(response, "study") == [SMYTHE_DX]
    assert warnings_of(response) == ["The index does not match on these attributes; they were ignored: PatientAge"]


def test_it_warns_of_a_key_given_by_a_tag_it_does_not_match(client: Client, token: str) -> None:
    response = qido(client, token, "studies", {"00101010": "045Y", "00091001": "x", "00081110.00081150": "1.2"})
    assert found(response, "study") == ALL_STUDIES
    assert warnings_of(response) == [
        "The index does not match on these attributes; they were ignored: 00101010, 00091001, 00081110.00081150"
    ]


def test_it_warns_of_parameters_it_does_not_know(client: Client, token: str) -> None:
    response = qido(client, token, "studies", {"foo": "bar", "emptyvaluematching": "true"})
    assert found(response, "study") == ALL_STUDIES
    assert warnings_of(response) == [
        "These query parameters are not supported and were ignored: foo, emptyvaluematching"
    ]


def test_it_warns_of_a_study_key_in_a_search_of_a_studys_series(client: Client, token: str) -> None:
    response = qido(client, token, f"studies/{study_uid(JOHN_CT)}/series", {"StudyDate": "20200101"})
    assert found(response, "series") == ["q-john-ct/ct", "q-john-ct/sc"]
    assert warnings_of(response) == [
        "A search of a study's series does not match these attributes (PS3.18 10.6.1.2.1); they were ignored: StudyDate"
    ]


def test_it_warns_that_fuzzy_matching_is_not_done(client: Client, token: str) -> None:
    response = qido(client, token, "studies", {"PatientName": "smith^john", "fuzzymatching": "true"})
    assert found(response, "study") == [JOHN_CT, JOHN_MR]
    assert warnings_of(response) == [
        "The fuzzymatching parameter is not supported. Only literal matching has been performed."
    ]
    assert "Warning" not in qido(client, token, "studies", {"fuzzymatching": "false"})


def test_it_warns_of_results_left_after_a_page(client: Client, token: str) -> None:
    response = qido(client, token, "studies", {"limit": "2", "offset": "1"})
    assert len(rows(response)) == 2
    assert warnings_of(response) == ["There are 4 additional results that can be requested"]
    last = qido(client, token, "studies", {"limit": "2", "offset": "5"})
    assert len(rows(last)) == 2
    assert "Warning" not in last


def test_it_sends_no_warning_for_a_plain_query(client: Client, token: str) -> None:
    assert "Warning" not in qido(client, token, "studies", {"PatientID": "PID-1001", "includefield": "all"})


# ---------------------------------------------------------------- paging and order


def test_it_pages_through_every_match_once(client: Client, token: str) -> None:
    pages = [
        found(qido(client, token, "instances", {"limit": 4, "offset": offset}), "instance")
        for offset in (0, 4, 8, 12, 16, 20)
    ]
    seen = [label for page in pages for label in page]
    assert sorted(seen) == sorted(label for label in LABELS.values() if label.count("/") == 2)
    assert len(seen) == len(set(seen)) == 18


def test_it_lists_studies_newest_first(client: Client, token: str) -> None:
    listed = [LABELS[row["0020000D"]["Value"][0]] for row in rows(qido(client, token, "studies"))]
    assert listed == [WANG_CT, WANG_MR, SMYTHE_DX, JANE_CT, JOHN_MR, JOHN_CT, JANE_OLD]


def test_it_answers_204_when_nothing_matches(client: Client, token: str) -> None:
    response = qido(client, token, "studies", {"PatientID": "nobody"})
    assert response.status_code == 204
    assert response.content == b""


def test_it_answers_406_to_an_accept_it_does_not_make(client: Client, token: str) -> None:
    response = client.get(
        "/dicomweb/studies",
        HTTP_ACCEPT='multipart/related; type="application/dicom+xml"',
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 406


# ---------------------------------------------------------------- what an answer carries

STUDY_RETURN_TAGS = {
    "00080020", "00080030", "00080050", "00080056", "00080061", "00080090", "00081190", "00100010", "00100020",
    "00100030", "00100040", "0020000D", "00200010", "00201206", "00201208",
}  # fmt: skip
SERIES_RETURN_TAGS = {"00080060", "0008103E", "00081190", "0020000E", "00200011", "00201209"}
INSTANCE_RETURN_TAGS = {
    "00080016",
    "00080018",
    "00080056",
    "00081190",
    "00200013",
    "00280010",
    "00280011",
    "00280100",
    "00280008",
}


def only(response: Any) -> dict[str, Any]:
    [row] = rows(response)
    return row


def test_it_answers_a_study_with_the_standards_attributes(client: Client, token: str) -> None:
    row = only(qido(client, token, "studies", {"StudyInstanceUID": study_uid(JOHN_CT)}))
    assert set(row) >= STUDY_RETURN_TAGS
    assert row["00080061"]["Value"] == ["CT", "OT"]
    assert row["00080056"]["Value"] == ["ONLINE"]
    assert row["00080030"]["Value"] == ["081500"]
    assert row["00080090"]["Value"] == [{"Alphabetic": "LI^MING"}]
    assert row["00081190"]["Value"] == [f"http://testserver/dicomweb/studies/{study_uid(JOHN_CT)}"]
    assert row["00201206"]["Value"] == [2]
    assert row["00201208"]["Value"] == [4]


def test_it_answers_a_series_with_the_standards_attributes(client: Client, token: str) -> None:
    row = only(qido(client, token, f"studies/{study_uid(JOHN_CT)}/series", {"Modality": "CT"}))
    assert SERIES_RETURN_TAGS | {"00400244", "00400245"} <= set(row)
    assert not STUDY_RETURN_TAGS - {"0020000D", "00081190"} & set(row)
    assert row["00400244"]["Value"] == ["20251230"]
    assert row["00201209"]["Value"] == [3]
    unperformed = only(qido(client, token, f"studies/{study_uid(JOHN_CT)}/series", {"Modality": "OT"}))
    assert "00400244" not in unperformed


def test_it_answers_all_series_with_their_studys_attributes(client: Client, token: str) -> None:
    row = only(qido(client, token, "series", {"SeriesInstanceUID": series_uid(WANG_MR, "mr")}))
    assert set(row) >= STUDY_RETURN_TAGS | SERIES_RETURN_TAGS
    assert row["00081190"]["Value"] == [
        f"http://testserver/dicomweb/studies/{study_uid(WANG_MR)}/series/{series_uid(WANG_MR, 'mr')}"
    ]


def test_it_answers_an_instance_with_the_standards_attributes(client: Client, token: str) -> None:
    row = only(qido(client, token, JOHN_CT_SERIES, {"InstanceNumber": "2"}))
    assert set(row) >= INSTANCE_RETURN_TAGS
    assert not SERIES_RETURN_TAGS - {"0020000E", "00081190"} & set(row)
    assert row["00280008"]["Value"] == [1]
    assert row["00280100"]["Value"] == [16]
    in_study = only(qido(client, token, f"studies/{study_uid(JOHN_CT)}/instances", {"InstanceNumber": "2"}))
    assert set(in_study) >= SERIES_RETURN_TAGS | INSTANCE_RETURN_TAGS
    anywhere = only(qido(client, token, "instances", {"SOPInstanceUID": sop_uid(JOHN_CT, "ct", 2)}))
    assert set(anywhere) >= STUDY_RETURN_TAGS | SERIES_RETURN_TAGS | INSTANCE_RETURN_TAGS


INCLUDES = [
    pytest.param("studies", {"includefield": "StudyDescription"}, {"00081030"}, set(), id="keyword"),
    pytest.param("studies", {"includefield": "00081030,00100021"}, {"00081030", "00100021"}, set(), id="tags-comma"),
    pytest.param(
        "studies", {"includefield": ["PatientSex", "00081030"]}, {"00100040", "00081030"}, set(), id="repeated"
    ),
    pytest.param("studies", {"includefield": "SeriesNumber"}, set(), {"00200011"}, id="no-lower-level"),
    pytest.param("studies", {"PatientBirthDate": "-20000101"}, {"00100030"}, set(), id="match-key"),
    pytest.param("studies", {"includefield": "all"}, {"00081030", "00100021"}, {"00200011"}, id="all"),
    pytest.param(
        f"studies/{study_uid(JOHN_CT)}/series", {"includefield": "StudyDate"}, {"00080020"}, set(), id="study-in-series"
    ),
    pytest.param(
        JOHN_CT_SERIES, {"includefield": "all"}, {"00083002", "00080023", "00080033"}, set(), id="all-instance"
    ),
    pytest.param(
        JOHN_CT_SERIES, {"includefield": "PatientName,Modality"}, {"00100010", "00080060"}, set(), id="upper-levels"
    ),
]


@pytest.mark.parametrize(("path", "params", "present", "absent"), INCLUDES)
def test_it_includes_fields_as_asked(
    client: Client, token: str, path: str, params: dict[str, Any], present: set[str], absent: set[str]
) -> None:
    row = rows(qido(client, token, path, params))[0]
    assert present <= set(row)
    assert not absent & set(row)


def test_it_warns_of_an_includefield_it_does_not_hold(client: Client, token: str) -> None:
    response = qido(client, token, "studies", {"includefield": "PatientAge,00091001", "limit": "1"})
    assert len(rows(response)) == 1
    assert (
        warnings_of(response)[0]
        == "The index does not hold these attributes; they are not returned: PatientAge, 00091001"
    )


# ---------------------------------------------------------------- scope


def test_it_shows_another_hospital_none_of_it(client: Client, token: str, other_hospital: Hospital) -> None:
    theirs = issue_token(other_hospital, "PACS")
    for path in ("studies", "series", "instances"):
        assert qido(client, theirs, path).status_code == 204
    assert qido(client, theirs, f"studies/{study_uid(JOHN_CT)}/instances").status_code == 404
    assert qido(client, theirs, "instances", {"SOPInstanceUID": sop_uid(JOHN_CT, "ct", 1)}).status_code == 204


def test_it_answers_a_search_in_a_fixed_number_of_queries(
    client: Client, token: str, django_assert_max_num_queries: Any
) -> None:
    """The token (found, then marked used), the matches with every level above them, the count of a full page."""
    with django_assert_max_num_queries(4):
        assert len(rows(qido(client, token, "instances", {"includefield": "all", "limit": 18}))) == 18
