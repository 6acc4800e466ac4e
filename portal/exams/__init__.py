"""Exams as every requester sees them: the list, the exam page, the viewer, the images, and downloads.

- `requesters`: `Requester` (what one requester may see, as a `StudyScope`,
  and do), through which every object is loaded, and `Kind`, one kind of
  requester (portal.access makes the patient's, the share's and the staff's);
- `pages`: the parts of the exam pages (the study list, the exam and viewer
  contexts, the manifest, pixels, PDFs, zips), none of which checks access;
- `views`, `urls`: the exam pages, one set for every kind of requester,
  routed under each kind's namespace (`patient`, `share`; staff images);
- `identity`, `templatetags.identity`: whose exam it is (the patient's name,
  whole or masked, sex and age at the exam), as the `exam_identity` tag every
  exam page and viewer places; `body_parts`: Body Part Examined in words;
- `downloads`: a study's zip, asked for, built once, fetched, purged;
- `tasks`: the Celery task that builds a zip, and `request_download`, which
  builds it in the request or queues it.
"""
