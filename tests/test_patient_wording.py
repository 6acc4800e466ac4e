"""How the patient's pages write things: body parts in words, lists as each language lists, one date style,
and the icon a browser asks for."""

import re

import pytest
from django.test import Client
from django.utils import translation

from imaging import synthetic
from imaging.ingest import ingest_instance
from imaging.models import Hospital
from portal.exams.body_parts import body_part_name, body_part_names
from portal.sharing import shares
from tests.support.dicom import ALICE, ct_slice, study_spec
from tests.support.exams import Exam, make_exam
from tests.support.people import ALICE_PHONE, link, sign_in_patient


@pytest.fixture
def exam(hospital: Hospital) -> Exam:
    """Alice's CT of the chest (CHEST) with a series of the abdomen (ABDOMEN) and one of a code no list has."""
    found = make_exam(hospital, ALICE, "a-city", report="pdf")
    spec = study_spec("a-city", patient=ALICE)
    for number, (key, code) in enumerate((("abdomen", "ABDOMEN"), ("odd", "FOOBAR")), start=3):
        ds = ct_slice(study=spec, series_key=key)
        ds.BodyPartExamined, ds.SeriesNumber, ds.SeriesDescription = code, number, f"Test {key}"
        ingest_instance(synthetic.to_bytes(ds), hospital)
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    return found


@pytest.fixture
def alice(exam: Exam) -> Client:
    client = Client()
    sign_in_patient(client, ALICE_PHONE)
    return client


def in_language(client: Client, language: str) -> Client:
    assert client.post("/i18n/setlang/", {"language": language, "next": "/my/"}).status_code == 302
    return client


def body_parts_in_list(client: Client) -> str:
    found = re.search(r'<span class="body-part">([^<]*)</span>', client.get("/my/").content.decode())
    assert found
    return found.group(1)


# ---------------------------------------------------------------- body parts


def test_it_names_body_parts_in_chinese_joined_with_the_chinese_list_mark(alice: Client) -> None:
    assert body_parts_in_list(in_language(alice, "zh-hans")) == "胸部、腹部、FOOBAR"


def test_it_names_body_parts_in_english_joined_with_commas(alice: Client) -> None:
    assert body_parts_in_list(in_language(alice, "en")) == "Chest, Abdomen, FOOBAR"


@pytest.mark.parametrize(("code", "name"), [("CHEST", "胸部"), ("lspine", "腰椎"), ("HEAD", "头部"), ("XYZ", "XYZ")])
def test_it_translates_known_codes_and_keeps_others(code: str, name: str) -> None:
    with translation.override("zh-hans"):
        assert body_part_name(code) == name
        assert body_part_names([code, "KNEE"]) == f"{name}、膝关节"


# ---------------------------------------------------------------- one date style


@pytest.mark.parametrize(
    ("language", "written", "not_written"),
    [
        ("zh-hans", "2026年1月5日", r"\d{4}/\d{1,2}/\d{1,2}|\d{4}-\d\d-\d\d(?!\")"),
        ("en", "Jan. 5, 2026", r"\d{1,2}/\d{1,2}/\d{4}"),
    ],
)
def test_it_writes_dates_one_way_on_every_patient_page(
    alice: Client, exam: Exam, language: str, written: str, not_written: str
) -> None:
    in_language(alice, language)
    alice.post(f"/my/studies/{exam.study.pk}/downloads/", {"kind": "jpeg", "preset": "file"})
    share = shares.create_share(exam.study, exam_owner(alice), notify_on_open=False).share
    pages = [
        "/my/",
        f"/my/studies/{exam.study.pk}/",
        f"/my/studies/{exam.study.pk}/view/",
        "/my/shares/",
        f"/my/shares/{share.pk}/",
    ]
    for path in pages:
        page = alice.get(path).content.decode()
        assert not re.search(not_written, page), path
    for path in pages[:3]:
        assert written in alice.get(path).content.decode(), path


def exam_owner(client: Client) -> int:
    return int(client.session["_auth_user_id"])


# ---------------------------------------------------------------- Chinese punctuation


def test_it_writes_no_ascii_comma_after_chinese_text_on_the_shares_page(alice: Client, exam: Exam) -> None:
    share = shares.create_share(exam.study, exam_owner(alice), notify_on_open=False)
    clinician = Client()
    assert clinician.post(f"/s/{share.token}", {"code": share.code}).status_code == 302
    page = in_language(alice, "zh-hans").get("/my/shares/").content.decode()
    assert "已打开 1 次，最近 " in page
    assert not re.search(r"[\u4e00-\u9fff],", page)


# ---------------------------------------------------------------- the icon


@pytest.mark.usefixtures("db")
def test_it_sends_browsers_asking_for_favicon_ico_to_the_icon(client: Client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"].endswith("favicon.ico")
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert b"".join(icon.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO file's header


@pytest.mark.usefixtures("db")
def test_it_links_the_icon_from_every_page(client: Client) -> None:
    assert '<link rel="icon" href="/static/favicon.ico"' in client.get("/").content.decode()
