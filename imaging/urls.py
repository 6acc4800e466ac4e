"""The DICOMweb routes, each handed the URLconf's `authenticate` (portal.urls: portal.access's `dicomweb_scope`)."""

from collections.abc import Callable

from django.http import HttpResponseBase
from django.urls import URLPattern, path

from imaging import dicomweb

STUDY = "studies/<str:study_uid>"
SERIES = f"{STUDY}/series/<str:series_uid>"
INSTANCE = f"{SERIES}/instances/<str:sop_uid>"


def dicomweb_urls(authenticate: dicomweb.Authenticate) -> list[URLPattern]:
    """The routes of PS3.18's resources, each answering CORS for the configured origins (`dicomweb.with_cors`)
    and handing its view `authenticate`, which turns the asker into a scope (or None: 401)."""

    def endpoint(route: str, view: Callable[..., HttpResponseBase], name: str) -> URLPattern:
        return path(route, dicomweb.with_cors(view), {"authenticate": authenticate}, name=name)

    return [
        endpoint("studies", dicomweb.studies, name="studies"),
        endpoint("series", dicomweb.search_all_series, name="all-series"),
        endpoint("instances", dicomweb.search_all_instances, name="all-instances"),
        endpoint(STUDY, dicomweb.study, name="study"),
        endpoint(f"{STUDY}/metadata", dicomweb.study_metadata, name="study-metadata"),
        endpoint(f"{STUDY}/series", dicomweb.search_series, name="series"),
        endpoint(f"{STUDY}/instances", dicomweb.search_study_instances, name="study-instances"),
        endpoint(SERIES, dicomweb.retrieve_series, name="series-retrieve"),
        endpoint(f"{SERIES}/metadata", dicomweb.series_metadata, name="series-metadata"),
        endpoint(f"{SERIES}/instances", dicomweb.search_instances, name="instances"),
        endpoint(INSTANCE, dicomweb.retrieve_instance, name="instance"),
        endpoint(f"{INSTANCE}/metadata", dicomweb.instance_metadata, name="instance-metadata"),
        endpoint(f"{INSTANCE}/frames/<str:frame_list>", dicomweb.retrieve_frames, name="frames"),
    ]
