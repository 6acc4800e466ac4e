"""A patient's exams: the list, the exam page, the viewer, the images, and downloads.

- `access`: the patient as a requester (`patient_scope`, `patient_required`,
  `get_*_for_patient`): the one way a patient's page loads an object;
- `pages`: the parts every requester's exam pages share (`ExamAccess`, the
  study list, the exam and viewer contexts, the manifest, pixels, PDFs, zips),
  none of which checks access: the views of each kind of requester do;
- `views`: the patient's exam pages (namespace `patient`);
- `downloads`: a study's zip, asked for, built once, fetched, purged;
- `tasks`: the Celery task that builds a zip, and `request_download`, which
  builds it in the request or queues it.
"""
