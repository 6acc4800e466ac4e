"""Every message a form shows is in the page's language: each form's errors, labels and choices in zh-hans.

A message is untranslated when it has Latin letters and no Chinese character:
a string of digits and punctuation says the same in every language. The staff
sign-in forms are posted through their pages (the view, django-otp and
django-axes all take part); the others are bound here with each wrong input.
"""

import re
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation

from accounts.forms import CodeForm, PhoneForm
from accounts.models import StaffRole
from imaging.access import StudyScope
from imaging.models import Hospital
from portal.issuance.bulk import BULK_MAX_ROWS, read_bulk_csv
from portal.issuance.forms import BulkUploadForm, IssueForm, StudySearchForm
from portal.sharing.forms import ShareForm
from tests.support.dicom import ALICE
from tests.support.exams import make_exam
from tests.support.people import ALICE_PHONE, STAFF_PASSWORD, Staff, link, make_staff, sign_in_patient

pytestmark = pytest.mark.django_db

CHINESE = re.compile(r"[\u3400-\u9fff\uff00-\uffef]")
LATIN = re.compile(r"[A-Za-z]")
LANDLINE = "+86 10 6552 9988"  # Beijing


def untranslated(messages: Iterable[str]) -> list[str]:
    return [m for m in messages if LATIN.search(m) and not CHINESE.search(m)]


def in_chinese(make: Callable[[], Any]) -> list[str]:
    """What `make` returns, its lazy strings made in zh-hans."""
    with translation.override("zh-hans"):
        return [str(message) for message in make()]


def errors(form: forms.Form) -> list[str]:
    form.is_valid()
    return [str(message) for messages in form.errors.values() for message in messages]


def texts(form: forms.Form) -> list[str]:
    """The labels and choices a page shows of the form's fields."""
    shown: list[str] = []
    for field in form.fields.values():
        shown.append(str(field.label))
        shown.extend(str(label) for _value, label in getattr(field, "choices", ()))
    return shown


def upload(content: bytes) -> dict[str, SimpleUploadedFile]:
    return {"file": SimpleUploadedFile("day.csv", content, "text/csv")}


WRONG_INPUTS: dict[str, Callable[[], forms.Form]] = {
    "phone: none": lambda: PhoneForm({}),
    "phone: too long": lambda: PhoneForm({"phone": "1" * 40}),
    "phone: not a number": lambda: PhoneForm({"phone": "abc"}),
    "phone: too short": lambda: PhoneForm({"phone": "12345"}),
    "phone: a landline": lambda: PhoneForm({"phone": LANDLINE}),
    "code: none": lambda: CodeForm({}),
    "code: too short": lambda: CodeForm({"code": "123"}),
    "code: too long": lambda: CodeForm({"code": "1" * 13}),
    "share: no expiry": lambda: ShareForm({}),
    "share: an unknown expiry": lambda: ShareForm({"expiry": "5y"}),
    "search: not a date": lambda: StudySearchForm({"date_from": "yesterday"}),
    "search: dates reversed": lambda: StudySearchForm({"date_from": "2026-02-01", "date_to": "2026-01-01"}),
    "search: too long": lambda: StudySearchForm({"mrn": "M" * 65}),
    "issue: no phone for an e-film": lambda: IssueForm({"choice": "efilm"}),
    "issue: not a phone": lambda: IssueForm({"phone": "abc", "choice": "efilm"}),
    "issue: a landline": lambda: IssueForm({"phone": LANDLINE, "choice": "print"}),
    "issue: an unknown choice": lambda: IssueForm({"choice": "video"}),
    "bulk: no file": lambda: BulkUploadForm({}, {}),
    "bulk: an empty file": lambda: BulkUploadForm({}, upload(b"")),
}


@pytest.mark.parametrize("case", list(WRONG_INPUTS))
def test_it_translates_every_error_of_a_form(case: str) -> None:
    messages = in_chinese(lambda: errors(WRONG_INPUTS[case]()))
    assert messages, f"{case}: no error to check"
    assert untranslated(messages) == []


@pytest.mark.parametrize("form", [PhoneForm, CodeForm, ShareForm, StudySearchForm, IssueForm, BulkUploadForm])
def test_it_translates_the_labels_and_choices_of_a_form(form: type[forms.Form]) -> None:
    assert untranslated(in_chinese(lambda: texts(form()))) == []


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe not UTF-8",
        b"name,phone\n",
        b"mrn,accession,phone,choice\nM1,A1,abc,video\nM1,A1,abc,video\n",
        b"mrn,accession,phone,choice\n" + b"M1,A1,13800000001,efilm\n" * (BULK_MAX_ROWS + 1),
    ],
)
def test_it_translates_every_error_of_a_bulk_file(content: bytes) -> None:
    def messages() -> list[str]:
        preview = read_bulk_csv(content, StudyScope())
        return [*preview.errors, *(error for row in preview.rows for error in row.errors)]

    found = in_chinese(messages)
    assert found
    assert untranslated(found) == []


# ---------------------------------------------------------------- staff sign-in, through its pages


@pytest.fixture
def staff(hospital: Hospital) -> Staff:
    return make_staff("clerk", StaffRole.CLERK, hospital)


def wrong_code(staff: Staff) -> str:
    return f"{(int(staff.code()) + 1) % 10**6:06d}"


def page_errors(path: str, data: dict[str, str]) -> list[str]:
    response = Client().post(path, data, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code in (200, 400), response.status_code
    assert response.context["form"].errors, f"{path} accepted {data}"
    page = response.content.decode()
    shown = re.findall(r'<p class="error[^"]*"[^>]*>\s*(.*?)\s*</p>', page, re.S)
    shown += re.findall(r'<p class="errornote">\s*(.*?)\s*</p>', page, re.S)
    lists = "".join(re.findall(r'<ul class="errorlist[^"]*"[^>]*>.*?</ul>', page, re.S))
    shown += re.findall(r"<li>(.*?)</li>", lists, re.S)
    assert shown, f"{path} shows no error"
    return shown


SIGN_IN_PAGES = ["/staff/sign-in/", "/admin/login/"]


@pytest.mark.parametrize("path", SIGN_IN_PAGES)
@pytest.mark.parametrize("posted", ["nothing", "a wrong password", "no code", "a wrong code"])
def test_it_answers_a_failed_staff_sign_in_in_chinese(staff: Staff, path: str, posted: str) -> None:
    data = {
        "nothing": {"username": "", "password": "", "otp_token": ""},
        "a wrong password": {"username": staff.username, "password": "wrong-password", "otp_token": staff.code()},
        "no code": {"username": staff.username, "password": STAFF_PASSWORD},
        "a wrong code": {"username": staff.username, "password": STAFF_PASSWORD, "otp_token": wrong_code(staff)},
    }[posted]
    assert untranslated(page_errors(path, data)) == []


@pytest.mark.parametrize("path", SIGN_IN_PAGES)
def test_it_answers_a_locked_staff_sign_in_in_chinese(staff: Staff, settings: Any, path: str) -> None:
    settings.AXES_FAILURE_LIMIT = 1
    wrong = {"username": staff.username, "password": STAFF_PASSWORD, "otp_token": wrong_code(staff)}
    page_errors(path, wrong)
    right = {"username": staff.username, "password": STAFF_PASSWORD, "otp_token": staff.code()}
    assert untranslated(page_errors(path, right)) == []


def test_it_labels_the_admins_sign_in_in_chinese(db: None) -> None:
    page = Client().get("/admin/login/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    labels = re.findall(r"<label[^>]*>(.*?)</label>", page, re.S)
    assert labels
    assert untranslated(label for label in labels if label != "&nbsp;") == []


# What the viewer says in the same words in every language: a unit after a number.
SAME_IN_EVERY_LANGUAGE = {"length-mm", "value-hu"}


def test_it_gives_the_viewer_every_string_in_chinese(hospital: Hospital) -> None:
    """The viewer's strings (#viewer-strings) in zh-hans: those with %(...)s too, which the
    template asks for with the % doubled (Django's translate tag), so a catalogue entry
    written with single % is never found."""
    exam = make_exam(hospital, ALICE, "strings", report="none")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    client = Client()
    sign_in_patient(client, ALICE_PHONE)
    url = f"/my/studies/{exam.study.pk}/view/"
    pages = {lang: client.get(url, HTTP_ACCEPT_LANGUAGE=lang).content.decode() for lang in ("en", "zh-hans")}
    strings = {
        lang: dict(re.findall(r'\s+data-([a-z-]+)="([^"]*)"', html.split('id="viewer-strings"', 1)[1].split(">", 1)[0]))
        for lang, html in pages.items()
    }
    assert len(strings["en"]) >= 20
    assert strings["en"].keys() == strings["zh-hans"].keys()
    same = sorted(name for name, text in strings["en"].items() if strings["zh-hans"][name] == text)
    assert same == sorted(SAME_IN_EVERY_LANGUAGE)
    assert untranslated(t for name, t in strings["zh-hans"].items() if name not in SAME_IN_EVERY_LANGUAGE) == []
    assert strings["zh-hans"]["image-and-frame"] == "%(image)s，%(frame)s"
