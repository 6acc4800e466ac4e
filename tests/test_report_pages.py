"""A PDF report on a phone: its pages as images at the screen's width, made by the worker, the PDF a download.

And a hint to leave WeChat's in-app browser, which saves neither zips nor PDFs.
"""

import datetime as dt
import io
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from PIL import Image

from imaging import synthetic
from imaging.ingest import ingest_instance
from imaging.models import Hospital, Report, Study
from imaging.rendering.report_pages import REPORT_PAGE_WIDTH, page_key
from imaging.rendering.tasks import render_instance_previews
from portal.sharing.shares import create_share
from tests.support.browser import PHONE
from tests.support.dicom import ALICE, study_spec
from tests.support.people import ALICE_PHONE, link, sign_in_patient, sign_in_patient_in_browser

WECHAT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
    "Mobile Safari/537.36 MicroMessenger/8.0.47.2560(0x28002F30) NetType/WIFI Language/zh_CN"
)


@pytest.fixture
def exam(hospital: Hospital) -> Study:
    spec = study_spec("report-pages", patient=ALICE, date=dt.date(2026, 3, 1))
    for ds in synthetic.ct_chest(spec, slices=2, size=64):
        ingest_instance(synthetic.to_bytes(ds), hospital)
    lines = [f"Line {n}: no abnormality." for n in range(12)]
    ingest_instance(synthetic.to_bytes(synthetic.pdf_report(spec, "CT chest report", lines)), hospital)
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    return Study.objects.get(study_uid=spec.study_uid)


@pytest.fixture
def alice(exam: Study) -> Client:
    client = Client()
    sign_in_patient(client, ALICE_PHONE)
    return client


def test_it_shows_the_pdfs_pages_as_images_with_the_pdf_to_download(alice: Client, exam: Study) -> None:
    html = alice.get(f"/my/studies/{exam.pk}/").content.decode()
    assert f'src="/my/studies/{exam.pk}/report.png?page=1"' in html
    assert "report.png?page=2" not in html  # the synthetic report has one page
    assert 'iframe class="report-pdf"' not in html
    assert f"/my/studies/{exam.pk}/report.pdf?download=1" in html
    page = alice.get(f"/my/studies/{exam.pk}/report.png", {"page": 1})
    assert page["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(page.content))
    assert image.width == REPORT_PAGE_WIDTH
    assert image.height > image.width  # a portrait page
    assert image.mode == "L"  # black text on white: one channel
    assert image.getextrema()[0] < 64  # there is text on it (the darkest pixel)


def test_it_answers_404_for_a_page_that_is_not_there(alice: Client, exam: Study) -> None:
    assert alice.get(f"/my/studies/{exam.pk}/report.png", {"page": 2}).status_code == 404
    assert alice.get(f"/my/studies/{exam.pk}/report.png", {"page": "x"}).status_code == 404
    assert alice.get(f"/my/studies/{exam.pk}/report.png", {"page": 0}).status_code == 404


def test_it_has_the_worker_make_the_pages_after_ingest(exam: Study) -> None:
    report = Report.objects.select_related("instance").get(study=exam)
    assert report.instance is not None
    key = page_key(report, 1)
    assert not default_storage.exists(key)
    # The task ingest queues for each new instance (its signal fires after commit, which this test's
    # transaction never reaches): for a PDF report, its pages.
    assert render_instance_previews(report.instance.pk) == ["ready"]
    assert default_storage.exists(key)
    assert Report.objects.get(pk=report.pk).page_count == 1


def test_it_keeps_the_pages_from_a_share_without_the_report(alice: Client, exam: Study) -> None:
    owner = alice.session["_auth_user_id"]
    kept_back = create_share(exam, int(owner), with_code=False, include_report=False)
    clinician = Client()
    assert clinician.post(f"/s/{kept_back.token}").status_code == 302
    assert clinician.get(f"/s/x/studies/{exam.pk}/report.png", {"page": 1}).status_code == 404
    assert "report.png" not in clinician.get(f"/s/x/studies/{exam.pk}/").content.decode()


def test_it_tells_a_wechat_user_to_open_the_page_in_a_browser(alice: Client, exam: Study) -> None:
    assert 'id="wechat-hint"' in alice.get(f"/my/studies/{exam.pk}/", HTTP_USER_AGENT=WECHAT).content.decode()
    assert 'id="wechat-hint"' not in alice.get(f"/my/studies/{exam.pk}/").content.decode()


@pytest.mark.browser
def test_it_fits_the_report_to_a_phones_width(chromium: Any, live_server: Any, exam: Study) -> None:
    context = chromium.new_context(**PHONE, locale="zh-CN")
    page = context.new_page()
    sign_in_patient_in_browser(page, live_server.url, ALICE_PHONE)
    page.goto(f"{live_server.url}/my/studies/{exam.pk}/")
    page.wait_for_function("() => document.querySelector('.report-pages img')?.naturalWidth > 0")
    shown = page.evaluate(
        "() => { const img = document.querySelector('.report-pages img');"
        " return [img.getBoundingClientRect().width, img.naturalWidth, document.scrollingElement.scrollWidth,"
        " window.innerWidth]; }"
    )
    width, natural, scroll_width, viewport = shown
    assert natural == REPORT_PAGE_WIDTH
    assert 300 < width <= viewport  # the page fills the phone's width, no more
    assert scroll_width <= viewport  # nothing to scroll sideways
    context.close()


def test_it_falls_back_to_the_pdf_when_its_pages_cannot_be_drawn(hospital: Hospital) -> None:
    spec = study_spec("broken-pdf", patient=ALICE, date=dt.date(2026, 3, 2))
    for ds in synthetic.ct_chest(spec, slices=1, size=64):
        ingest_instance(synthetic.to_bytes(ds), hospital)
    report = synthetic.pdf_report(spec, "Broken", ["A line."])
    report.EncapsulatedDocument = b"%PDF-1.4\n% not a PDF past its first line\n"
    report.EncapsulatedDocumentLength = len(report.EncapsulatedDocument)
    ingest_instance(synthetic.to_bytes(report), hospital)
    link(ALICE_PHONE, hospital, ALICE.patient_id)
    study = Study.objects.get(study_uid=spec.study_uid)
    client = Client()
    sign_in_patient(client, ALICE_PHONE)
    html = client.get(f"/my/studies/{study.pk}/").content.decode()
    assert "report.png" not in html
    assert 'iframe class="report-pdf"' in html  # the browser's own reader, and the download, as before
    assert client.get(f"/my/studies/{study.pk}/report.png", {"page": 1}).status_code == 404
