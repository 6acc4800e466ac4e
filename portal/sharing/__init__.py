"""Shared links: a patient's exam opened by a doctor with a link (or QR code) and an access code.

- `models`: `ShareLink` and the log of its openings, `ShareOpen`;
- `shares`: making, opening, checking the code of and ending a share, showing
  its link again and replacing its code; the share credentials of DICOMweb
  (`dicomweb_share`, called by portal.access);
- `sealing`: share tokens kept encrypted (`SHARE_TOKEN_KEY`) so a link can be
  shown again; `manage.py reseal_share_tokens` rotates the key;
- `views`: the doctor's side: `/s/<token>`, and what share pages answer (the
  shared exam's pages are portal.exams', namespace `share`);
- `patient_views`: the patient's side (make, list, show again, new code, end and re-enable shares,
  namespace `patient`);
- `forms`, `qr`: the share form and QR codes;
- `templatetags.sharing`: `{% share_box study %}`, the share form on the patient's exam page.
"""
