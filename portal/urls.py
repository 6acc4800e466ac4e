"""The project's URLs: each app's pages under the namespace of the requester who sees them.

`patient` is the exams app's pages and the patient's side of sharing; `share`
is the doctor's side of a shared link; `staff` is the issuance workspace and
the dashboard. Every id in an address goes through the `id` converter
(portal.converters, registered in `PortalConfig.ready`).
"""

from django.contrib import admin
from django.urls import include, path
from django_otp.admin import OTPAdminSite
from drf_spectacular.views import SpectacularAPIView

from accounts import urls as accounts_urls
from accounts.api import PhoneLinkView
from accounts.forms import StaffAdminSignInForm
from imaging.urls import dicomweb_urls
from portal import access, views
from portal.dashboard import urls as dashboard_urls
from portal.exams import urls as exams_urls
from portal.family import urls as family_urls
from portal.issuance import urls as issuance_urls
from portal.sharing import urls as sharing_urls
from portal.sharing import views as sharing_views

# The admin asks for a verified TOTP device, as the staff pages do.
admin.site.__class__ = OTPAdminSite
# Its login takes the staff member's TOTP device without a device menu, and says one thing on any failure.
admin.site.login_form = StaffAdminSignInForm

# Every view below is handed its kind of requester (portal.access), which turns the request into a scope.
# The remembered phones' pages (accounts) check for a patient themselves: accounts stands below portal.access.
patient_urls = (
    [
        *exams_urls.patient_urls(access.PATIENT),
        *sharing_urls.patient_urls(access.PATIENT),
        *accounts_urls.patient_urls,
        *family_urls.patient_urls(access.PATIENT),
    ],
    "patient",
)
share_urls = (exams_urls.share_urls(access.SHARE), "share")
staff_urls = ([*issuance_urls.urlpatterns, *dashboard_urls.urlpatterns], "staff")

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("", include("accounts.urls")),
    path("my/", include(patient_urls)),
    path("s/x/", include(share_urls)),
    path("s/<str:token>", sharing_views.open_link, name="share-open"),
    path("staff/", include(staff_urls)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("dicomweb/", include((dicomweb_urls(access.dicomweb_scope), "dicomweb"))),
    path("api/v1/phone-links", PhoneLinkView.as_view(), name="api-phone-links"),
    path("api/v1/schema", SpectacularAPIView.as_view(), name="api-schema"),
]
