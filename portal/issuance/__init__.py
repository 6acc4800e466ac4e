"""The staff workspace: find exams, issue the e-film at discharge, print slips, bulk CSV.

- `models`: `Issuance` and the patient's `FilmChoice`;
- `discharge`: issuing, revoking and reissuing, the patient's text, the slip as PDF;
- `bulk`: issuance of many exams from a CSV, previewed then applied;
- `views`, `forms`: the staff pages (namespace `staff`), each handed the staff
  member by `portal.access.STAFF`.
"""
