"""A PDF report's pages as images, so that a phone shows them at its width (PDFium, through pypdfium2).

A worker makes them after the report is stored (`tasks.render_instance_previews`);
a page asked for before it has is made in the request, one page at a time. Each
is a PNG `REPORT_PAGE_WIDTH` pixels wide, kept in storage under a key that names
the report's instance and the page, as renders are.
"""

import contextlib
import io
from collections.abc import Iterator

import pypdfium2 as pdfium
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from imaging.models import Report

REPORT_PAGE_WIDTH = 1080  # a phone's width at two to three device pixels per CSS pixel
MAX_REPORT_PAGES = 30  # a report longer than this shows its first pages; the PDF has the rest


class ReportPageError(ValueError):
    """The PDF cannot be read, or has no such page."""


def page_key(report: Report, page: int) -> str:
    assert report.instance is not None
    return f"renders/{report.instance.sop_uid}/report/p{page}/w{REPORT_PAGE_WIDTH}/v1.png"


def page_count(report: Report) -> int:
    """The number of pages shown as images, counted once and kept on the report."""
    if report.page_count is None:
        with _opened(report) as document:
            count = min(len(document), MAX_REPORT_PAGES)
        Report.objects.filter(pk=report.pk).update(page_count=count)
        report.page_count = count
    return report.page_count


def report_page(report: Report, page: int) -> bytes:
    """Page `page` (from 1) as a PNG: kept, or made now and kept."""
    if not 1 <= page <= page_count(report):
        raise ReportPageError("no such page")
    key = page_key(report, page)
    with contextlib.suppress(FileNotFoundError), default_storage.open(key, "rb") as handle:
        kept: bytes = handle.read()
        return kept
    with _opened(report) as document:
        return _make(report, document, page)


def render_report_pages(report: Report) -> int:
    """Every page shown not yet made, made and kept (the worker's job after ingest); how many were made."""
    made = 0
    with _opened(report) as document:
        for page in range(1, min(len(document), MAX_REPORT_PAGES) + 1):
            if not default_storage.exists(page_key(report, page)):
                _make(report, document, page)
                made += 1
    page_count(report)
    return made


@contextlib.contextmanager
def _opened(report: Report) -> Iterator[pdfium.PdfDocument]:
    try:
        document = pdfium.PdfDocument(report.pdf())
    except (pdfium.PdfiumError, ValueError, OSError) as error:
        raise ReportPageError(f"the report's PDF cannot be read: {error}") from error
    try:
        yield document
    finally:
        document.close()


def _make(report: Report, document: pdfium.PdfDocument, page: int) -> bytes:
    pdf_page = document[page - 1]
    try:
        scale = REPORT_PAGE_WIDTH / max(pdf_page.get_width(), 1)
        image = pdf_page.render(scale=scale).to_pil()
    finally:
        pdf_page.close()
    out = io.BytesIO()
    image.convert("L" if _is_grey(image) else "RGB").save(out, "PNG", optimize=False, compress_level=6)
    data = out.getvalue()
    with contextlib.suppress(FileExistsError):  # the same page, made by another request or the worker
        default_storage.save(page_key(report, page), ContentFile(data))
    return data


def _is_grey(image: Image.Image) -> bool:
    """Most reports are black text on white: one channel is a third of the bytes."""
    red, green, blue = image.convert("RGB").resize((64, 64)).split()
    return red.tobytes() == green.tobytes() == blue.tobytes()
