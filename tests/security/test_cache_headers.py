"""What a shared computer keeps of a patient: pages revalidated, images for minutes, nothing after sign-out.

Patient pages are `private, no-cache`; images `private` with a max-age of five
minutes and an ETag, so the viewer revalidates with a 304 instead of
downloading again. Share responses keep nothing (`no-store`). Signing out
asks the browser to drop its cache, cookies and storage for the site.
"""

import re
from typing import Any

import pytest
from django.test import Client

from imaging.models import Hospital
from tests.support.dicom import ALICE
from tests.support.exams import Exam, make_exam
from tests.support.people import ALICE_PHONE, link, sign_in_patient

pytestmark = pytest.mark.django_db

IMAGE_MAX_AGE = 300

PAGES = ["/my/", "/my/studies/{study}/", "/my/studies/{study}/view/", "/my/shares/", "/my/series/{series}/images.json"]
IMAGES = ["/my/images/{instance}/preview", "/my/images/{instance}/thumbnail", "/my/series/{series}/thumbnail"]


def directives(response: Any) -> dict[str, str]:
    header = response.get("Cache-Control", "")
    return dict((part.strip().partition("=")[::2]) for part in header.split(",") if part.strip())


def address(template: str, exam: Exam) -> str:
    return template.format(study=exam.study.pk, series=exam.series.pk, instance=exam.instance.pk)


@pytest.fixture
def exam(hospital: Hospital) -> Exam:
    found = make_exam(hospital, ALICE, "alice-cache")
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    return found


@pytest.fixture
def patient(exam: Exam) -> Client:
    client = Client()
    sign_in_patient(client, ALICE_PHONE)
    return client


@pytest.mark.parametrize("template", PAGES)
def test_it_has_the_browser_revalidate_every_patient_page(patient: Client, exam: Exam, template: str) -> None:
    response = patient.get(address(template, exam))
    assert response.status_code == 200
    found = directives(response)
    assert "private" in found
    assert "no-cache" in found or "no-store" in found, response.get("Cache-Control")


@pytest.mark.parametrize("template", IMAGES)
def test_it_lets_the_browser_keep_patient_images_for_minutes_and_revalidate(
    patient: Client, exam: Exam, template: str
) -> None:
    response = patient.get(address(template, exam))
    assert response.status_code == 200
    found = directives(response)
    assert "private" in found
    assert "immutable" not in found
    assert 0 < int(found["max-age"]) <= IMAGE_MAX_AGE
    again = patient.get(address(template, exam), HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304
    assert int(directives(again)["max-age"]) <= IMAGE_MAX_AGE


def test_it_lets_the_browser_keep_raw_values_for_minutes(patient: Client, exam: Exam) -> None:
    response = patient.get(f"/my/images/{exam.instance.pk}/raw")
    assert response.status_code == 200
    found = directives(response)
    assert "private" in found
    assert 0 < int(found["max-age"]) <= IMAGE_MAX_AGE


def test_it_asks_the_browser_to_forget_the_site_on_sign_out(patient: Client) -> None:
    response = patient.post("/sign-out/")
    assert response.status_code == 302
    wanted = {"cache", "cookies", "storage"}
    assert set(re.findall(r'"(\w+)"', response["Clear-Site-Data"])) == wanted
    assert patient.get("/my/").status_code == 302  # and the session is gone on the server
