"""The staff workspace (namespace `staff`, with the dashboard's page)."""

from django.urls import path

from portal.issuance import views

urlpatterns = [
    path("", views.home, name="home"),
    path("studies/<id:pk>/", views.study, name="study"),
    path("studies/<id:pk>/issue", views.issue_study, name="issue"),
    path("suggested-phones/<id:pk>/confirm", views.confirm_phone, name="confirm-phone"),
    path("studies/<id:pk>/report.pdf", views.report_pdf, name="report-pdf"),
    path("issuances/<id:pk>/slip", views.slip, name="slip"),
    path("issuances/<id:pk>/revoke", views.revoke_issuance, name="revoke-issuance"),
    path("issuances/<id:pk>/reissue", views.reissue, name="reissue"),
    path("bulk/", views.bulk, name="bulk"),
    path("bulk/confirm", views.bulk_confirm, name="bulk-confirm"),
    path("images/instances/<id:pk>/preview", views.instance_preview, name="instance-preview"),
    path("images/instances/<id:pk>/thumbnail", views.instance_thumbnail, name="instance-thumbnail"),
    path("images/series/<id:pk>/thumbnail", views.series_thumbnail, name="series-thumbnail"),
]
