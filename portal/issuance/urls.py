"""The staff workspace (namespace `staff`, with the dashboard's page).

A study's report and images are the exam views every requester has
(portal.exams.views), handed the staff kind.
"""

from django.urls import path

from portal.access import STAFF
from portal.exams import views as exam_views
from portal.issuance import guardians, views

STAFF_GIVEN = {"kind": STAFF}

urlpatterns = [
    path("", views.home, name="home"),
    path("studies/<id:pk>/", views.study, name="study"),
    path("studies/<id:pk>/issue", views.issue_study, name="issue"),
    path("suggested-phones/<id:pk>/confirm", views.confirm_phone, name="confirm-phone"),
    path("studies/<id:pk>/report.pdf", exam_views.report_pdf, STAFF_GIVEN, name="report-pdf"),
    path("issuances/<id:pk>/slip", views.slip, name="slip"),
    path("issuances/<id:pk>/revoke", views.revoke_issuance, name="revoke-issuance"),
    path("issuances/<id:pk>/reissue", views.reissue, name="reissue"),
    path("guardians/", guardians.guardians, name="guardians"),
    path("guardians/confirm", guardians.confirm_guardian, name="confirm-guardian"),
    path("guardians/end", guardians.end_guardian, name="end-guardian"),
    path("bulk/", views.bulk, name="bulk"),
    path("bulk/confirm", views.bulk_confirm, name="bulk-confirm"),
    path("images/instances/<id:pk>/preview", exam_views.instance_preview, STAFF_GIVEN, name="instance-preview"),
    path("images/instances/<id:pk>/thumbnail", exam_views.instance_thumbnail, STAFF_GIVEN, name="instance-thumbnail"),
    path("images/series/<id:pk>/thumbnail", exam_views.series_thumbnail, STAFF_GIVEN, name="series-thumbnail"),
]
