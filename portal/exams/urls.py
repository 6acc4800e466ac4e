"""The patient's exam pages (namespace `patient`), and the set of exam pages every requester has.

`<id:pk>` is the project's converter (portal.converters, registered by the portal app).
"""

from types import ModuleType

from django.urls import URLPattern, path

from portal.exams import views


def exam_urls(views: ModuleType) -> list[URLPattern]:
    """The exam pages a patient and a share session both have, with the same names, so the
    same templates and viewer serve both; each module's views check access their own way."""
    return [
        path("studies/<id:pk>/", views.study, name="study"),
        path("studies/<id:pk>/report.pdf", views.report_pdf, name="report-pdf"),
        path("studies/<id:pk>/view/", views.viewer, name="viewer"),
        path("studies/<id:pk>/downloads/", views.request_study_download, name="request-download"),
        path("downloads/<id:pk>/", views.download, name="download"),
        path("downloads/<id:pk>/file", views.download_file, name="download-file"),
        path("series/<id:pk>/images.json", views.series_manifest, name="series-manifest"),
        path("series/<id:pk>/thumbnail", views.series_thumbnail, name="series-thumbnail"),
        path("images/<id:pk>/preview", views.instance_preview, name="instance-preview"),
        path("images/<id:pk>/thumbnail", views.instance_thumbnail, name="instance-thumbnail"),
        path("images/<id:pk>/raw", views.instance_raw, name="instance-raw"),
    ]


urlpatterns = [path("", views.my_studies, name="studies"), *exam_urls(views)]
