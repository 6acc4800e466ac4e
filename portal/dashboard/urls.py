"""The dashboard's page, in the staff workspace (namespace `staff`)."""

from django.urls import path

from portal.dashboard import views

urlpatterns = [path("dashboard/", views.dashboard, name="dashboard")]
