"""The exam pages every requester has, under the namespace of the kind of requester handed in.

The URLconf (portal.urls) calls these with portal.access's kinds: `patient`
(`/my/`), `share` (`/s/x/`); the staff's image routes are the issuance app's.
Each route hands its view the kind (`requesters.requester_view`).
`<id:pk>` is the project's converter (portal.converters, registered by the portal app).
"""

from django.urls import URLPattern, path

from portal.exams import views
from portal.exams.requesters import Kind


def exam_urls(kind: Kind) -> list[URLPattern]:
    """The exam pages of a patient and of a share session, with the same names, so the same
    templates and viewer serve both."""
    given = {"kind": kind}
    return [
        path("studies/<id:pk>/", views.study, given, name="study"),
        path("studies/<id:pk>/report.pdf", views.report_pdf, given, name="report-pdf"),
        path("studies/<id:pk>/report.png", views.report_page, given, name="report-page"),
        path("studies/<id:pk>/view/", views.viewer, given, name="viewer"),
        path("studies/<id:pk>/downloads/", views.request_study_download, given, name="request-download"),
        path("downloads/<id:pk>/", views.download, given, name="download"),
        path("downloads/<id:pk>/file", views.download_file, given, name="download-file"),
        path("series/<id:pk>/images.json", views.series_manifest, given, name="series-manifest"),
        path("series/<id:pk>/thumbnail", views.series_thumbnail, given, name="series-thumbnail"),
        *image_urls(kind),
    ]


def image_urls(kind: Kind) -> list[URLPattern]:
    """A study's images: every requester's, staff included."""
    given = {"kind": kind}
    return [
        path("images/<id:pk>/preview", views.instance_preview, given, name="instance-preview"),
        path("images/<id:pk>/thumbnail", views.instance_thumbnail, given, name="instance-thumbnail"),
        path("images/<id:pk>/raw", views.instance_raw, given, name="instance-raw"),
    ]


def patient_urls(kind: Kind) -> list[URLPattern]:
    given = {"kind": kind}
    return [
        path("", views.my_studies, given, name="studies"),
        path("family/<id:pk>/", views.family_studies, given, name="family-studies"),
        *exam_urls(kind),
    ]


def share_urls(kind: Kind) -> list[URLPattern]:
    return [path("", views.home, {"kind": kind}, name="studies"), *exam_urls(kind)]
