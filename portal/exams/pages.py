"""What every requester's exam pages share: the list, the exam, the viewer's manifest, pixels, downloads.

Nothing here checks access: the views (portal.exams.views, and the staff's
own pages in portal.issuance.views) load objects through their `Requester`
and pass them in with it: it says what they may do and where their URLs live.
"""

import base64
import datetime as dt
import functools
import gzip
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.staticfiles import finders
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.dateformat import format as format_date
from django.utils.formats import get_format
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from imaging.access import STUDY_LIST_COLUMNS, listed_studies
from imaging.dicom import read_frame
from imaging.models import DOCUMENT_MODALITIES, Instance, PixelSpacingKind, Report, Series, Study
from imaging.rendering import (
    IMAGE_CACHE,
    MODALITY_PRESETS,
    PRESETS,
    RenderSpec,
    ReportPageError,
    UnsupportedImage,
    middle_instance,
    modality_frame,
    page_count,
    read_render,
    report_page,
    serve_preview,
    serve_series_thumbnail,
    serve_thumbnail,
)
from portal.audit import trail
from portal.audit.models import AuditAction
from portal.exams.body_parts import body_part_names
from portal.exams.models import Download, DownloadKind
from portal.exams.requesters import Requester

STRIP_LENGTH = 6  # series thumbnails per study in the list


def preset_labels() -> dict[str, str]:
    return {
        "file": _("File window"),
        "soft_tissue": _("Soft tissue"),
        "lung": _("Lung"),
        "bone": _("Bone"),
        "brain": _("Brain"),
        "liver": _("Liver"),
    }


@dataclass(frozen=True)
class StudyFilters:
    hospital: str = ""
    modality: str = ""

    @classmethod
    def from_query(cls, params: Any) -> "StudyFilters":
        return cls(str(params.get("hospital", ""))[:32], str(params.get("modality", ""))[:16].upper())

    def match(self, study: dict[str, Any]) -> bool:
        if self.hospital and study["hospital__code"] != self.hospital:
            return False
        return not (self.modality and self.modality not in study["modalities"].split("\\"))


@dataclass(frozen=True)
class StudyRow:
    """One line of a study list, its links and texts made once, its markup made here.

    Template work was most of a list's cost (a URL reversed, a plural chosen
    and a dozen variables looked up per study: docs/architecture.md, Speed of
    the patient pages): a row is one string built here, and the page's
    template places them.
    """

    pk: int
    url: str
    date: str
    modalities: list[str]
    description: str
    hospital: str
    body_parts: str
    images: str
    report: str
    has_report: bool
    strip: list[str]

    def __str__(self) -> str:
        return self.__html__()  # templates call str() first: keep it marked safe

    def __html__(self) -> SafeString:
        # Every value goes through html.escape (quotes too): Django's format_html per badge and
        # thumbnail was most of the cost of a fifty-study list.
        e = html.escape
        badges = "".join(f'<span class="badge">{e(m)}</span> ' for m in self.modalities)
        facts = f'<span class="body-part">{e(self.body_parts)}</span> · ' if self.body_parts else ""
        report_class = "report-ready" if self.has_report else "report-pending"
        strip = "".join(f'<img src="{e(u)}" alt="" width="64" height="64" loading="lazy">' for u in self.strip)
        strip = f'<div class="strip" aria-hidden="true">{strip}</div>' if strip else ""
        return mark_safe(  # noqa: S308 - built from escaped values only
            f'<li class="study" data-study="{self.pk}"><a class="study-link" href="{e(self.url)}">'
            f'<span class="date">{e(self.date)}</span><span class="what">{badges}{e(self.description)}</span>'
            f'<span class="hospital">{e(self.hospital)}</span><span class="facts">{facts}'
            f'<span class="images">{e(self.images)}</span> · <span class="{report_class}">{e(self.report)}</span>'
            f"</span></a>{strip}</li>"
        )


LIST_SECTIONS_KEPT = 64  # per process: a fifty-study section and its key take about 0.1 MB


def study_list(requester: Requester, filters: StudyFilters, empty_text: str = "") -> dict[str, Any]:
    """The requester's studies, newest first, filtered, as the page's list section.

    Steps: one query loads the scope's studies with their image series
    (`imaging.access.listed_studies`); the section is made from exactly those
    rows (`_list_section`), and kept by them. The query runs on every request,
    so the number of queries is fixed and what the list shows is never older
    than the request.
    """
    section = _list_section(
        listed_studies(requester.scope),
        filters,
        get_language(),
        requester.url("study", 0),
        requester.url("series-thumbnail", 0),
        empty_text
        or _("No exams yet. When a hospital of the region has images of you under this number, they appear here."),
    )
    return {"study_list": section}


@functools.lru_cache(maxsize=LIST_SECTIONS_KEPT)
def _list_section(
    listed: tuple[tuple[Any, ...], ...],
    filters: StudyFilters,
    language: str,
    study_url: str,
    thumbnail_url: str,
    empty_text: str,
) -> SafeString:
    """The list section (filters, count, rows) made from the listed rows, kept by its arguments.

    A request that finds the section made costs the query and no markup. It
    can be kept because it is a function of its arguments alone: the rows
    are the query's whole answer for the requester's scope, compared value by
    value (not a version, a timestamp or a hash), so a new study, series or
    report, a record linked or unlinked, changes the key and shows at once,
    and two requesters share a section only when their scopes list the very
    same rows. It is rendered without the request (no context processors), so
    nothing else of the requester can enter it.
    """
    with translation.override(language):
        context = _list_context(listed, filters, language, study_url, thumbnail_url)
        return render_to_string("exams/study_list.html", {**context, "empty_text": empty_text})


def _list_context(
    listed: tuple[tuple[Any, ...], ...], filters: StudyFilters, language: str, study_url: str, thumbnail_url: str
) -> dict[str, Any]:
    studies, series = _grouped(listed)
    texts = {
        "date_format": get_format("DATE_FORMAT"),
        "date_unknown": _("Date unknown"),
        "exam": _("Exam"),
        "report_ready": _("Report ready"),
        "report_pending": _("No report yet"),
    }
    rows = [
        _row(study, study_url, _strip(series[study["pk"]], thumbnail_url), texts, language)
        for study in studies
        if filters.match(study)
    ]
    return {
        "studies": rows,
        # One string for the template to place: fifty variable lookups cost more than the rows.
        "rows_html": mark_safe("".join(row.__html__() for row in rows)),  # noqa: S308 - escaped row by row
        "hospitals": sorted({(s["hospital__code"], s["hospital__name"]) for s in studies}, key=lambda h: h[1]),
        "modalities": sorted({m for s in studies for m in _image_modalities(s["modalities"])}),
        "filters": filters,
        "total": len(studies),
    }


def _grouped(listed: tuple[tuple[Any, ...], ...]) -> tuple[list[dict[str, Any]], dict[int, list[int]]]:
    """The listed studies in order, and the ids of each one's image series in order."""
    studies: list[dict[str, Any]] = []
    series: dict[int, list[int]] = {}
    for *study, series_id in listed:
        if study[0] not in series:
            series[study[0]] = []
            studies.append(dict(zip(STUDY_LIST_COLUMNS, study, strict=True)))
        if series_id is not None:
            series[study[0]].append(series_id)
    return studies, series


def _strip(series_ids: list[int], thumbnail_url: str) -> list[str]:
    return [thumbnail_url.replace("/0/", f"/{pk}/", 1) for pk in series_ids[:STRIP_LENGTH]]


def _image_modalities(modalities: str) -> list[str]:
    return [m for m in modalities.split("\\") if m and m not in DOCUMENT_MODALITIES]


def _row(study: dict[str, Any], study_url: str, strip: list[str], texts: dict[str, str], language: str) -> StudyRow:
    count, date = study["number_of_images"], study["study_date"]
    return StudyRow(
        pk=study["pk"],
        url=study_url.replace("/0/", f"/{study['pk']}/", 1),
        date=_formatted_date(date, texts["date_format"], language) if date else texts["date_unknown"],
        modalities=_image_modalities(study["modalities"]),
        description=study["description"] or texts["exam"],
        hospital=study["hospital__name"],
        body_parts=_body_parts(study["body_parts"], language),
        images=_image_count(count, language),
        report=texts["report_ready"] if study["has_report"] else texts["report_pending"],
        has_report=study["has_report"],
        strip=strip,
    )


# A list's dates and counts repeat across rows and requests; formatting them was most of a row's cost.
@functools.lru_cache(maxsize=8192)
def _formatted_date(date: dt.date, date_format: str, language: str) -> str:
    return str(format_date(date, date_format))


@functools.lru_cache(maxsize=1024)
def _body_parts(codes: str, language: str) -> str:
    return body_part_names([code for code in codes.split("\\") if code])


@functools.lru_cache(maxsize=4096)
def _image_count(count: int, language: str) -> str:
    return ngettext("%(counter)s image", "%(counter)s images", count) % {"counter": count}


def exam_context(requester: Requester, study: Study, user_downloads: list[Download]) -> dict[str, Any]:
    report = Report.objects.filter(study=study).select_related("instance").first() if requester.report else None
    series = list(study.series.filter(number_of_instances__gt=0).order_by("series_number", "pk"))
    viewable = [s for s in series if has_images(s)]
    return {
        "study": study,
        "report": report,
        "report_pages": _report_pages(report),
        "series_list": viewable,
        "presets": _presets_for(study.modality_list),
        "downloads": user_downloads,
        "requester": requester,
    }


def _report_pages(report: Report | None) -> list[int]:
    """The page numbers of a PDF report shown as images; none when it is not a PDF or cannot be read."""
    if report is None or not report.is_pdf:
        return []
    try:
        return list(range(1, page_count(report) + 1))
    except ReportPageError:
        return []


def report_page_png(request: HttpRequest, report: Report) -> HttpResponse:
    """One page of the report as a PNG (`?page=`, from 1), made by the worker or now."""
    try:
        data = report_page(report, int(request.GET.get("page") or 1))
    except ValueError as error:  # ReportPageError too: no such page, or no PDF to read
        raise Http404 from error
    response = HttpResponse(data, content_type="image/png")
    response["Cache-Control"] = IMAGE_CACHE
    return response


def has_images(series: Series) -> bool:
    return series.modality not in DOCUMENT_MODALITIES


def _presets_for(modalities: list[str]) -> list[tuple[str, str]]:
    labels = preset_labels()
    names = ["file"] + [n for m in modalities for n in MODALITY_PRESETS.get(m, [])]
    return [(name, labels[name]) for name in dict.fromkeys(names)]


def viewer_context(requester: Requester, study: Study, wanted: str) -> dict[str, Any] | None:
    """The viewer page of one series of the study (`wanted`, or the first), or None without images.

    What the first image needs comes with the page, so that a slow network
    pays one round trip for it after the page, not one per step: the
    series' manifest (the viewer reads it from the page), the first image's
    address (preloaded, and shown as an image until the viewer has drawn),
    the series thumbnail as a placeholder inside the page when it is made,
    and the viewer's modules (preloaded, instead of found import by import).
    """
    series_list = [s for s in study.series.order_by("series_number", "pk") if s.number_of_instances and has_images(s)]
    if not series_list:
        return None
    current = next((s for s in series_list if str(s.pk) == wanted), series_list[0])
    for item in series_list:
        item.thumbnail_url = requester.url("series-thumbnail", item.pk)  # type: ignore[attr-defined]
    images = _manifest_images(current)
    manifest = _manifest(requester, current, images)
    # The address the viewer asks first (its state.js: the file's window, frame 0): the page's image serves both.
    first_url = manifest["images"][0]["preview"] + "?frame=0" if images else ""
    first_inline = inline_render(images[0].sop_uid, RenderSpec()) if images else ""
    return {
        "study": study,
        "series_list": series_list,
        "current": current,
        "manifest": manifest,
        "first_url": first_url,
        "first_image": first_inline or first_url,
        "placeholder": "" if first_inline else series_placeholder(current),
        "viewer_modules": viewer_modules(),
        "manifest_url": requester.url("series-manifest", current.pk),
        "exam_url": requester.url("study", study.pk),
        "viewer_url": requester.url("viewer", study.pk),
        "requester": requester,
    }


INLINE_MAX_BYTES = 96 * 1024  # a CT or MR preview is 30-60 kB; a large radiograph's is left to its own request


def inline_render(sop_uid: str | None, spec: RenderSpec) -> str:
    """A render already made, as a data: URI for the page to carry, or "" (not made, or too large)."""
    if sop_uid is None:
        return ""
    try:
        data = read_render(spec.key_of(sop_uid))
    except FileNotFoundError:
        return ""
    if len(data) > INLINE_MAX_BYTES:
        return ""
    return f"data:{spec.content_type};base64," + base64.b64encode(data).decode()


def series_placeholder(series: Series) -> str:
    """The series thumbnail as a data: URI when it is made, else "" (the viewer waits for its image)."""
    instance = middle_instance(series.pk)
    return inline_render(instance.sop_uid if instance else None, RenderSpec.thumbnail())


@functools.cache
def viewer_modules() -> tuple[str, ...]:
    """The viewer's ES modules, as static paths, for `<link rel="modulepreload">`: all of them are
    fetched at once instead of one level of imports per round trip."""
    entry = finders.find("js/viewer/main.js")
    if not entry:
        return ()
    return tuple(f"js/viewer/{path.name}" for path in sorted(Path(str(entry)).parent.glob("*.js")))


def manifest(requester: Requester, series: Series) -> JsonResponse:
    """What the viewer needs to show a series: its images in anatomical order and the presets."""
    return JsonResponse(manifest_data(requester, series))


def manifest_data(requester: Requester, series: Series) -> dict[str, Any]:
    return _manifest(requester, series, _manifest_images(series))


def _manifest_images(series: Series) -> list[Instance]:
    """The series' images in anatomical order, with what the manifest (and the page's first image) needs."""
    return list(
        series.instances.filter(has_pixels=True)
        .in_anatomical_order()
        .only(
            "pk",
            "sop_uid",
            "series_id",
            "instance_number",
            "number_of_frames",
            "rows",
            "columns",
            "lossy",
            "window_center",
            "window_width",
            "photometric_interpretation",
            "frame_time",
            "pixel_spacing",
            "pixel_spacing_kind",
        )
    )


def _manifest(requester: Requester, series: Series, images: list[Instance]) -> dict[str, Any]:
    labels = preset_labels()
    first = next((i for i in images if i.window_center is not None), None)
    presets: list[dict[str, Any]] = [
        {
            "name": "file",
            "label": labels["file"],
            "center": first.window_center if first else None,
            "width": first.window_width if first else None,
        }
    ]
    for name in MODALITY_PRESETS.get(series.modality, []):
        center, width = PRESETS[name]
        presets.append({"name": name, "label": labels[name], "center": center, "width": width})
    preview, raw = requester.url("instance-preview", 0), requester.url("instance-raw", 0)
    return {
        "series": {
            "id": series.pk,
            "description": series.description,
            "modality": series.modality,
            "number": series.series_number,
            "count": len(images),
        },
        "presets": presets,
        "images": [_image_entry(image, preview, raw) for image in images],
    }


def _image_entry(image: Instance, preview: str, raw: str) -> dict[str, Any]:
    greyscale = image.photometric_interpretation in ("MONOCHROME1", "MONOCHROME2")
    return {
        "id": image.pk,
        "number": image.instance_number,
        "frames": image.number_of_frames,
        "rows": image.rows,
        "columns": image.columns,
        "lossy": image.lossy,
        "colour": not greyscale,
        "window": [image.window_center, image.window_width] if image.window_center is not None else None,
        "frame_time_ms": image.frame_time if image.frame_time and image.frame_time > 0 else None,
        "preview": preview.replace("/0/", f"/{image.pk}/", 1),
        "raw": raw.replace("/0/", f"/{image.pk}/", 1) if greyscale else None,
        **_spacing_entry(image),
    }


def _spacing_entry(image: Instance) -> dict[str, list[float] | None]:
    """Pixel Spacing in the patient, which the viewer's ruler shows in mm; the detector's apart (a ruler on it
    would read the magnified size), and neither for an instance whose kind is not read yet."""
    values = [float(v) for v in image.pixel_spacing.split("\\")] if image.pixel_spacing else None
    kind = image.pixel_spacing_kind
    return {
        "pixel_spacing": values if kind == PixelSpacingKind.PATIENT else None,
        "imager_pixel_spacing": values if kind == PixelSpacingKind.DETECTOR else None,
    }


def preview(request: HttpRequest, instance: Instance) -> HttpResponse:
    """A preview, recorded in the audit log (once per series, kind and session)."""
    trail.record_images(request, AuditAction.PREVIEWS, instance.series_id)
    return serve_preview(request, instance)


def thumbnail(request: HttpRequest, instance: Instance) -> HttpResponse:
    trail.record_images(request, AuditAction.THUMBNAILS, instance.series_id)
    return serve_thumbnail(request, instance)


def series_thumbnail(request: HttpRequest, series: Series) -> HttpResponse:
    trail.record_images(request, AuditAction.THUMBNAILS, series.pk, series.study_id)
    return serve_series_thumbnail(request, series)


def raw_values(request: HttpRequest, instance: Instance) -> HttpResponse:
    """A frame's modality values, little-endian, for windowing in the browser (gzip when accepted)."""
    trail.record_images(request, AuditAction.RAW_VALUES, instance.series_id)
    try:
        frame = int(request.GET.get("frame") or 0)
        with default_storage.open(instance.storage_key, "rb") as handle:
            header, stored = read_frame(handle, frame)  # that frame alone, not the file
        values = modality_frame(header, frame, stored)
    except (ValueError, UnsupportedImage) as error:
        return HttpResponse(str(error), status=415, content_type="text/plain")
    body = values.values.tobytes()
    response = HttpResponse(content_type="application/octet-stream")
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        body = gzip.compress(body, compresslevel=1, mtime=0)
        response["Content-Encoding"] = "gzip"
    response.content = body
    rows, columns = values.values.shape
    response["X-Rows"], response["X-Columns"] = str(rows), str(columns)
    response["X-Dtype"] = "int16" if values.values.dtype.kind == "i" else "float32"
    response["X-Invert"] = "1" if values.invert else "0"
    response["X-Voi-Function"] = values.window.function
    response["X-Window"] = f"{values.window.center:g},{values.window.width:g}"
    response["Cache-Control"] = IMAGE_CACHE
    response["Vary"] = "Accept-Encoding"
    return response


def report_pdf(request: HttpRequest, report: Report) -> HttpResponse:
    """The report's PDF, shown inline in the exam page (same origin only) or as a download."""
    response = HttpResponse(report.pdf(), content_type="application/pdf")
    disposition = "attachment" if request.GET.get("download") else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="report-{report.study_id}.pdf"'
    response["X-Frame-Options"] = "SAMEORIGIN"
    response["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'self'; object-src 'none'"
    response["Cache-Control"] = "private, no-store"
    return response


def download_file(download: Download) -> FileResponse:
    """The zip, streamed from storage."""
    response = FileResponse(
        default_storage.open(download.storage_key, "rb"), as_attachment=True, filename=download.filename
    )
    response["Cache-Control"] = "private, no-store"
    return response


def download_kind(value: str) -> DownloadKind | None:
    return DownloadKind(value) if value in DownloadKind.values else None
