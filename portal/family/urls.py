"""The patient's family pages, under `/my/family/` in namespace `patient` (portal.urls)."""

from django.urls import URLPattern, path

from portal.exams.requesters import Kind
from portal.family import views


def patient_urls(kind: Kind) -> list[URLPattern]:
    """The routes of the family pages, each handed the patient's kind (portal.access)."""
    given = {"kind": kind}
    return [
        path("family/", views.family_page, given, name="family"),
        path("family/add/", views.add_adult, given, name="family-add"),
        path("family/add-child/", views.add_child, given, name="family-add-child"),
        path("family/<id:pk>/consent", views.consent, given, name="family-consent"),
        path("family/<id:pk>/resend", views.resend_consent, given, name="family-resend"),
        path("family/<id:pk>/desk", views.desk, given, name="family-desk"),
        path("family/<id:pk>/end", views.end_mine, given, name="family-end"),
        path("family/requests/<id:pk>/allow", views.allow, given, name="family-allow"),
        path("family/requests/<id:pk>/end", views.end_theirs, given, name="family-withdraw"),
    ]
