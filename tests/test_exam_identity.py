"""Whose exam it is, on every page that shows one: the patient's, the share's and the staff's.

Zhang San (张三, a man born 15 June 1960) had a CT on 5 January 2026 at City
First Hospital: 65 then. His pages and the staff's show his whole name; a
share shows 张* unless he chose to show it all.
"""

import datetime as dt
import re

import pytest
from django.test import Client

from accounts.models import StaffRole, User
from imaging import synthetic
from imaging.ingest import ingest_instance
from imaging.models import Hospital, Study
from imaging.synthetic import PatientSpec
from portal.sharing import shares
from portal.sharing.models import ShareLink
from tests.support.dicom import ALICE, ZHANG, ct_slice, study_spec
from tests.support.exams import Exam, make_exam
from tests.support.people import ALICE_PHONE, ZHANG_PHONE, link, make_staff, sign_in_patient, sign_in_staff


@pytest.fixture
def exam(hospital: Hospital) -> Exam:
    found = make_exam(hospital, ZHANG, "zhang-ct", report="text")
    link(ZHANG_PHONE, hospital, ZHANG.patient_id)
    return found


@pytest.fixture
def zhang(exam: Exam) -> Client:
    client = Client()
    sign_in_patient(client, ZHANG_PHONE)
    return client


def identity(page: str) -> str:
    """The identity block's text, tags and runs of blank space taken out."""
    found = re.search(r'<div class="exam-identity".*?</div>', page, re.S)
    assert found, "no identity block"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(0)).split())


def in_language(client: Client, language: str) -> Client:
    assert client.post("/i18n/setlang/", {"language": language, "next": "/"}).status_code == 302
    return client


def share_session(study: Study, owner: str = ZHANG_PHONE, **options: bool) -> Client:
    """A clinician's browser that opened a share of `study` made by its patient with `options`."""
    new = shares.create_share(study, User.objects.get(phone=owner).pk, notify_on_open=False, **options)
    clinician = Client()
    assert clinician.post(f"/s/{new.token}", {"code": new.code}).status_code == 302
    return clinician


# ---------------------------------------------------------------- the patient


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("zh-hans", "患者 张三 · 男 · 65岁 City First Hospital · 2026年1月5日"),
        ("en", "Patient Zhang, San · Male · 65 years City First Hospital · Jan. 5, 2026"),
    ],
)
def test_it_shows_the_patient_their_whole_name_sex_age_hospital_and_date(
    zhang: Client, exam: Exam, language: str, expected: str
) -> None:
    page = in_language(zhang, language).get(f"/my/studies/{exam.study.pk}/").content.decode()
    assert identity(page) == expected


def test_it_shows_the_patient_their_whole_name_in_the_viewer(zhang: Client, exam: Exam) -> None:
    page = zhang.get(f"/my/studies/{exam.study.pk}/view/").content.decode()
    text = identity(page)
    assert "张三" in text
    assert "65岁" in text
    assert exam.study.description in text


# ---------------------------------------------------------------- a share


@pytest.mark.usefixtures("zhang")
def test_it_masks_the_name_to_the_family_name_on_a_share(exam: Exam) -> None:
    clinician = share_session(exam.study)
    page = clinician.get(f"/s/x/studies/{exam.study.pk}/").content.decode()
    assert identity(page) == "患者 张* · 男 · 65岁 City First Hospital · 2026年1月5日"
    assert "张三" not in page
    assert "Zhang" not in page


@pytest.mark.usefixtures("zhang")
def test_it_masks_the_name_in_the_shares_viewer(exam: Exam) -> None:
    clinician = share_session(exam.study)
    page = clinician.get(f"/s/x/studies/{exam.study.pk}/view/").content.decode()
    assert "张*" in identity(page)
    assert "张三" not in page
    assert "Zhang" not in page


def test_it_masks_a_latin_name_to_the_family_name_and_a_star(hospital: Hospital) -> None:
    alice = make_exam(hospital, ALICE, "alice-ct", report="")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    sign_in_patient(Client(), ALICE_PHONE)
    clinician = in_language(share_session(alice.study, ALICE_PHONE), "en")
    page = clinician.get(f"/s/x/studies/{alice.study.pk}/").content.decode()
    assert identity(page) == "Patient Alice * · Female · 46 years City First Hospital · Jan. 5, 2026"
    assert "Alice, Test" not in page


@pytest.mark.usefixtures("zhang")
def test_it_shows_the_whole_name_on_a_share_whose_patient_chose_it(exam: Exam) -> None:
    clinician = share_session(exam.study, show_full_name=True)
    for path in (f"/s/x/studies/{exam.study.pk}/", f"/s/x/studies/{exam.study.pk}/view/"):
        assert "张三" in identity(clinician.get(path).content.decode())


def test_it_offers_the_whole_name_in_the_share_form_unticked(zhang: Client, exam: Exam) -> None:
    page = zhang.get(f"/my/studies/{exam.study.pk}/").content.decode()
    field = re.search(r'<input type="checkbox" name="show_full_name"[^>]*>', page)
    assert field
    assert "checked" not in field.group(0)


@pytest.mark.parametrize(("ticked", "shown"), [(True, "显示全名"), (False, "只显示姓氏")])
def test_it_keeps_the_patients_choice_of_name_with_the_share(
    zhang: Client, exam: Exam, ticked: bool, shown: str
) -> None:
    data = {"expiry": "7d", "with_code": "on", "include_report": "on", **({"show_full_name": "on"} if ticked else {})}
    assert zhang.post(f"/my/studies/{exam.study.pk}/shares/", data).status_code == 302
    share = ShareLink.objects.get()
    assert share.show_full_name is ticked
    assert shown in zhang.get(f"/my/shares/{share.pk}/").content.decode()


# ---------------------------------------------------------------- staff


def test_it_shows_staff_the_whole_name_on_the_exam_page_and_in_the_search(hospital: Hospital, exam: Exam) -> None:
    clerk = Client()
    sign_in_staff(clerk, make_staff("clerk", StaffRole.CLERK, hospital))
    page = clerk.get(f"/staff/studies/{exam.study.pk}/").content.decode()
    assert identity(page) == "患者 张三 · 男 · 65岁 City First Hospital · 2026年1月5日"
    assert "<td>张三</td>" in clerk.get("/staff/", {"mrn": ZHANG.patient_id}).content.decode()


# ---------------------------------------------------------------- what the index knows


def test_it_takes_the_age_the_modality_wrote_when_the_record_has_no_birth_date(hospital: Hospital) -> None:
    ds = ct_slice(study=study_spec("baby", patient=PatientSpec("PID-BABY", "李^小宝", "F", dt.date(2025, 7, 1))))
    del ds.PatientBirthDate
    ds.PatientAge = "006M"
    ingest_instance(synthetic.to_bytes(ds), hospital)
    study = Study.objects.get(study_uid=ds.StudyInstanceUID)
    assert (study.patient.birth_date, study.patient_age) == (None, "006M")
    link(ZHANG_PHONE, hospital, "PID-BABY")
    client = Client()
    sign_in_patient(client, ZHANG_PHONE)
    assert identity(client.get(f"/my/studies/{study.pk}/").content.decode()).startswith("患者 李小宝 · 女 · 6个月 ")


def test_it_says_when_the_name_is_unknown(hospital: Hospital) -> None:
    ds = ct_slice(study=study_spec("nameless", patient=PatientSpec("PID-NONAME", "", "", dt.date(1990, 3, 3))))
    ingest_instance(synthetic.to_bytes(ds), hospital)
    link(ZHANG_PHONE, hospital, "PID-NONAME")
    client = Client()
    sign_in_patient(client, ZHANG_PHONE)
    study = Study.objects.get(study_uid=ds.StudyInstanceUID)
    assert identity(client.get(f"/my/studies/{study.pk}/").content.decode()).startswith("患者 姓名不详 · 35岁 ")
