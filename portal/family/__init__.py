"""Family members: a patient's pages to see a parent's or a child's exams, and to stop it.

The rules (asking, consent, the desk's confirmation, withdrawal, what a
patient may see) are accounts.family's; these are the patient's pages of
them, namespace `patient`, each handed the patient by the URLconf:

- `views`: the family page (who I see, who sees me, requests waiting for me),
  adding an adult or a child, entering an adult's consent code, a child's
  desk code, ending a link from either side;
- `forms`: the forms of those pages.

A family member's exams are listed by portal.exams (`family-studies`); the
staff's side, confirming a guardian at the desk, is portal.issuance's.
"""
