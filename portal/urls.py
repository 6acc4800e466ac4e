from types import ModuleType

from django.contrib import admin
from django.urls import URLPattern, include, path, register_converter
from django_otp.admin import OTPAdminSite
from drf_spectacular.views import SpectacularAPIView

from accounts.api import PhoneLinkView
from accounts.forms import StaffAdminSignInForm
from portal import patient, share_views, staff, views
from portal.converters import DatabaseId

# Every id in an address goes through one converter: out of range is a 404, not a 500.
register_converter(DatabaseId, "id")

# The admin asks for a verified TOTP device, as the staff pages do.
admin.site.__class__ = OTPAdminSite
# Its login takes the staff member's TOTP device without a device menu, and says one thing on any failure.
admin.site.login_form = StaffAdminSignInForm


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


patient_urls = (
    [
        path("", patient.my_studies, name="studies"),
        *exam_urls(patient),
        path("studies/<id:pk>/shares/", patient.create_share, name="create-share"),
        path("shares/", patient.my_shares, name="shares"),
        path("shares/<id:pk>/", patient.share_detail, name="share"),
        path("shares/<id:pk>/created", patient.share_created, name="share-created"),
        path("shares/<id:pk>/revoke", patient.revoke_share, name="revoke-share"),
        path("shares/<id:pk>/enable", patient.enable_share, name="enable-share"),
    ],
    "patient",
)

share_urls = ([path("", share_views.home, name="studies"), *exam_urls(share_views)], "share")

staff_urls = (
    [
        path("", staff.home, name="home"),
        path("studies/<id:pk>/", staff.study, name="study"),
        path("studies/<id:pk>/issue", staff.issue_study, name="issue"),
        path("suggested-phones/<id:pk>/confirm", staff.confirm_phone, name="confirm-phone"),
        path("studies/<id:pk>/report.pdf", staff.report_pdf, name="report-pdf"),
        path("issuances/<id:pk>/slip", staff.slip, name="slip"),
        path("issuances/<id:pk>/revoke", staff.revoke_issuance, name="revoke-issuance"),
        path("issuances/<id:pk>/reissue", staff.reissue, name="reissue"),
        path("bulk/", staff.bulk, name="bulk"),
        path("bulk/confirm", staff.bulk_confirm, name="bulk-confirm"),
        path("dashboard/", staff.dashboard, name="dashboard"),
        path("images/instances/<id:pk>/preview", staff.instance_preview, name="instance-preview"),
        path("images/instances/<id:pk>/thumbnail", staff.instance_thumbnail, name="instance-thumbnail"),
        path("images/series/<id:pk>/thumbnail", staff.series_thumbnail, name="series-thumbnail"),
    ],
    "staff",
)

urlpatterns = [
    path("", views.home, name="home"),
    path("", include("accounts.urls")),
    path("my/", include(patient_urls)),
    path("s/x/", include(share_urls)),
    path("s/<str:token>", share_views.open_link, name="share-open"),
    path("staff/", include(staff_urls)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("dicomweb/", include("imaging.urls")),
    path("api/v1/phone-links", PhoneLinkView.as_view(), name="api-phone-links"),
    path("api/v1/schema", SpectacularAPIView.as_view(), name="api-schema"),
]
