"""The bureau's dashboard: adoption, savings and use, per month and per hospital.

- `figures`: counting from the other apps' rows, and laying the counts out as
  tables (and their CSV) and charts;
- `views`: the page, behind the staff sign-in (`staff:dashboard`).
"""
