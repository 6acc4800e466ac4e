from django.contrib import admin
from django.urls import include, path

from portal import staff, views

urlpatterns = [
    path("", views.home, name="home"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("dicomweb/", include("imaging.urls")),
    path("staff/images/instances/<int:pk>/preview", staff.instance_preview, name="staff-instance-preview"),
    path("staff/images/instances/<int:pk>/thumbnail", staff.instance_thumbnail, name="staff-instance-thumbnail"),
    path("staff/images/series/<int:pk>/thumbnail", staff.series_thumbnail, name="staff-series-thumbnail"),
]
