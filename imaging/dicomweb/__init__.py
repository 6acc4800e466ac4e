"""DICOMweb over the regional index: STOW-RS, QIDO-RS and WADO-RS (PS3.18).

- `views`: the endpoints imaging/urls.py routes, who may call them
  (`DicomWebAccess`), CORS;
- `qido`: what a search matches and answers (PS3.18 10.6), with the wildcard
  matching of `matching` (PS3.4 C.2.2.2.4);
- `dicom_json`: attributes in the DICOM JSON Model (PS3.18 F.2);
- `multipart`: STOW-RS bodies read as they stream in (RFC 2387).
"""

from imaging.dicomweb.views import (
    DicomWebAccess,
    access_for,
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
    with_cors,
)

__all__ = [
    "DicomWebAccess",
    "access_for",
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
