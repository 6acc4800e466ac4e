from django.urls import path

from imaging import dicomweb

app_name = "dicomweb"

urlpatterns = [
    path("studies", dicomweb.studies, name="studies"),
    path("studies/<str:study_uid>", dicomweb.study, name="study"),
    path("studies/<str:study_uid>/series", dicomweb.search_series, name="series"),
    path("studies/<str:study_uid>/series/<str:series_uid>/instances", dicomweb.search_instances, name="instances"),
]
