"""DICOMweb over the regional index: STOW-RS, QIDO-RS and WADO-RS (PS3.18).

- `views`: the endpoints imaging/urls.py routes, each handing over to its
  transaction: `stow` (PS3.18 10.5), `qido` (10.6) or `wado` (10.4);
- `auth`: every endpoint is handed the asker's `StudyScope` by the URLconf's
  `authenticate` (`dicomweb_view`), or answers 401; `cors`: which browser
  origins may call;
- `responses`: media types, the Accept header's negotiation, problem answers;
- `qido`: what a search matches and answers (PS3.18 10.6), with the wildcard
  matching of `matching` (PS3.4 C.2.2.2.4);
- `dicom_json`: attributes in the DICOM JSON Model (PS3.18 F.2);
- `multipart`: STOW-RS bodies read as they stream in (RFC 2387).
"""

from imaging.dicomweb.auth import Authenticate
from imaging.dicomweb.cors import with_cors
from imaging.dicomweb.views import (
    instance_metadata,
    retrieve_frames,
    retrieve_instance,
    retrieve_series,
    search_all_instances,
    search_all_series,
    search_instances,
    search_series,
    search_study_instances,
    series_metadata,
    studies,
    study,
    study_metadata,
)

__all__ = [
    "Authenticate",
    "instance_metadata",
    "retrieve_frames",
    "retrieve_instance",
    "retrieve_series",
    "search_all_instances",
    "search_all_series",
    "search_instances",
    "search_series",
    "search_study_instances",
    "series_metadata",
    "studies",
    "study",
    "study_metadata",
    "with_cors",
]
