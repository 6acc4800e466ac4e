from django.urls import path

from imaging import dicomweb

app_name = "dicomweb"

STUDY = "studies/<str:study_uid>"
SERIES = f"{STUDY}/series/<str:series_uid>"
INSTANCE = f"{SERIES}/instances/<str:sop_uid>"

urlpatterns = [
    path("studies", dicomweb.studies, name="studies"),
    path(STUDY, dicomweb.study, name="study"),
    path(f"{STUDY}/metadata", dicomweb.study_metadata, name="study-metadata"),
    path(f"{STUDY}/series", dicomweb.search_series, name="series"),
    path(SERIES, dicomweb.retrieve_series, name="series-retrieve"),
    path(f"{SERIES}/metadata", dicomweb.series_metadata, name="series-metadata"),
    path(f"{SERIES}/instances", dicomweb.search_instances, name="instances"),
    path(INSTANCE, dicomweb.retrieve_instance, name="instance"),
    path(f"{INSTANCE}/metadata", dicomweb.instance_metadata, name="instance-metadata"),
]
