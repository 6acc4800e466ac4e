"""One access model: every kind of requester becomes one `StudyScope` (portal.access), and every surface agrees.

The table names each requester and the studies it may see; the test asks
every surface that requester has (the exam page, the viewer's manifest, an
image, DICOMweb's search and retrieve) for each study, and requires the
answers to be the table's, on every surface alike. A share that keeps its
report back hides the report on the pages and over DICOMweb alike.
"""

import ast
import base64
from collections.abc import Callable
from pathlib import Path

import pytest
from django.http import HttpRequest
from django.test import Client, RequestFactory
from django.urls import NoReverseMatch, reverse

from accounts.models import StaffRole, User
from imaging.access import Credentials, credentials
from imaging.models import Hospital
from imaging.tokens import issue_token
from portal.sharing.shares import create_share
from tests.support.dicom import ALICE, BOB
from tests.support.exams import Exam, make_exam
from tests.support.people import ALICE_PHONE, link, make_staff, sign_in_patient, sign_in_staff

ROOT = Path(__file__).resolve().parents[2]
Exams = dict[str, Exam]


@pytest.fixture
def exams(hospital: Hospital, other_hospital: Hospital) -> Exams:
    return {"mine": make_exam(hospital, ALICE, "alice-m"), "theirs": make_exam(other_hospital, BOB, "bob-m")}


def _patient(client: Client, exams: Exams) -> None:
    link(ALICE_PHONE, exams["mine"].study.hospital, ALICE.patient_id)
    sign_in_patient(client, ALICE_PHONE)


def _owner() -> int:
    return User.objects.get_or_create(username="alice-owner")[0].pk


def _share_session(client: Client, exams: Exams, include_report: bool = True) -> None:
    new = create_share(exams["mine"].study, _owner(), with_code=False, include_report=include_report)
    assert client.post(f"/s/{new.token}").status_code == 302


def _share_session_without_report(client: Client, exams: Exams) -> None:
    _share_session(client, exams, include_report=False)


def _clerk(client: Client, exams: Exams) -> None:
    sign_in_staff(client, make_staff("clerk", StaffRole.CLERK, exams["mine"].study.hospital))


def _regional_admin(client: Client, exams: Exams) -> None:
    sign_in_staff(client, make_staff("bureau", StaffRole.REGIONAL_ADMIN, None))


def _hospital_token(client: Client, exams: Exams) -> None:
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {issue_token(exams['mine'].study.hospital)}"


def _share_credentials(client: Client, exams: Exams, include_report: bool = True) -> None:
    new = create_share(exams["mine"].study, _owner(), include_report=include_report, allow_download=True)
    pair = base64.b64encode(f"{new.token}:{new.code}".encode()).decode()
    client.defaults["HTTP_AUTHORIZATION"] = f"Basic {pair}"


def _share_credentials_without_report(client: Client, exams: Exams) -> None:
    _share_credentials(client, exams, include_report=False)


# who: (how they sign in, the namespace of their pages or None, what the pages show,
#       what DICOMweb shows or None for 401, whether they see the report)
REQUESTERS: dict[str, tuple[Callable[[Client, Exams], None], str | None, set[str], set[str] | None, bool]] = {
    "patient": (_patient, "patient", {"mine"}, None, True),
    "share session": (_share_session, "share", {"mine"}, None, True),
    "share session, report kept back": (_share_session_without_report, "share", {"mine"}, None, False),
    "clerk of one hospital": (_clerk, "staff", {"mine"}, None, True),
    "regional admin": (_regional_admin, "staff", {"mine", "theirs"}, {"mine", "theirs"}, True),
    "hospital token": (_hospital_token, None, set(), {"mine"}, True),
    "share credentials": (_share_credentials, None, set(), {"mine"}, True),
    "share credentials, report kept back": (_share_credentials_without_report, None, set(), {"mine"}, False),
}


def _page_answers(client: Client, namespace: str, exam: Exam) -> dict[str, int]:
    """Status of each exam surface the namespace has, for one exam."""
    objects = {
        "study": exam.study.pk,
        "viewer": exam.study.pk,
        "series-manifest": exam.series.pk,
        "series-thumbnail": exam.series.pk,
        "instance-preview": exam.instance.pk,
        "instance-raw": exam.instance.pk,
    }
    answers = {}
    for name, pk in objects.items():
        try:
            url = reverse(f"{namespace}:{name}", args=[pk])
        except NoReverseMatch:
            continue  # staff have no viewer of their own
        answers[name] = client.get(url).status_code
    return answers


@pytest.mark.parametrize("who", list(REQUESTERS))
def test_it_gives_every_requester_the_same_studies_on_every_surface(exams: Exams, who: str) -> None:
    sign_in, namespace, on_pages, on_dicomweb, _report = REQUESTERS[who]
    client = Client()
    sign_in(client, exams)
    for key, exam in exams.items():
        if namespace is not None:
            answers = _page_answers(client, namespace, exam)
            assert len(answers) >= 3, f"{who}: too few surfaces: {answers}"
            expected = 200 if key in on_pages else 404
            assert set(answers.values()) == {expected}, f"{who}, {key}'s exam: {answers}"
        uid = exam.study.study_uid
        found = client.get("/dicomweb/studies", {"StudyInstanceUID": uid})
        retrieved = client.get(f"/dicomweb/studies/{uid}/metadata", HTTP_ACCEPT="application/dicom+json")
        if on_dicomweb is None:
            assert (found.status_code, retrieved.status_code) == (401, 401), who
        elif key in on_dicomweb:
            assert (found.status_code, len(found.json()), retrieved.status_code) == (200, 1, 200), who
        else:
            assert found.status_code in (200, 204), who
            assert not (found.content and found.json()), who
            assert retrieved.status_code == 404, who


@pytest.mark.parametrize("who", [w for w, row in REQUESTERS.items() if "mine" in row[2] | (row[3] or set())])
def test_it_shows_the_report_only_where_the_scope_keeps_it(exams: Exams, who: str) -> None:
    sign_in, namespace, _pages, on_dicomweb, report = REQUESTERS[who]
    client = Client()
    sign_in(client, exams)
    study = exams["mine"].study
    if namespace is not None:
        pdf = client.get(reverse(f"{namespace}:report-pdf", args=[study.pk]))
        assert pdf.status_code == (200 if report else 404), who
    if on_dicomweb is not None:
        instances = client.get(f"/dicomweb/studies/{study.study_uid}/instances")
        modalities = {item["00080060"]["Value"][0] for item in instances.json()}
        assert modalities == ({"CT", "DOC"} if report else {"CT"}), who
        series = client.get(f"/dicomweb/studies/{study.study_uid}/series")
        assert len(series.json()) == (2 if report else 1), who


def _request(header: str) -> HttpRequest:
    return RequestFactory().get("/", HTTP_AUTHORIZATION=header) if header else RequestFactory().get("/")


def _basic(value: str) -> str:
    return "Basic " + base64.b64encode(value.encode()).decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", None),
        ("Bearer hos_abc", Credentials("hos_abc")),
        ("bearer   hos_abc  ", Credentials("hos_abc")),
        ("Bearer ", None),
        (_basic("token:123456"), Credentials("token", "123456")),
        (_basic("token:"), Credentials("token", "")),
        (_basic(":123456"), None),
        (_basic("no-colon"), None),
        ("Basic not base64!", None),
        ("Basic " + base64.b64encode(b"\xff:\xfe").decode(), None),
        ("Digest username=x", None),
    ],
)
def test_it_reads_every_authorization_header_one_way(header: str, expected: Credentials | None) -> None:
    assert credentials(_request(header)) == expected


def test_it_builds_scopes_only_in_the_access_modules() -> None:
    """A `StudyScope` is made where requesters are turned into one, and nowhere else in the product."""
    allowed = {"imaging/access.py", "accounts/staff.py", "portal/access.py"}
    makers = set()
    for package in ("imaging", "accounts", "portal"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text())
            calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "StudyScope"]
            if calls:
                makers.add(str(path.relative_to(ROOT)))
    assert makers <= allowed, f"scopes made outside the access modules: {makers - allowed}"
    assert "portal/access.py" in makers
