"""The patient's pages of their shares (namespace `patient`, beside their exams).

The doctor's side is the exam pages every requester has (portal.exams.urls,
`share_urls`) under namespace `share`; the QR code's address itself,
`/s/<token>`, is `share-open` at the root (portal.urls).
"""

from django.urls import URLPattern, path

from portal.exams.requesters import Kind
from portal.sharing import patient_views


def patient_urls(kind: Kind) -> list[URLPattern]:
    """The routes of the patient's shares, each handed the patient's kind (portal.access)."""
    given = {"kind": kind}
    return [
        path("studies/<id:pk>/shares/", patient_views.create_share, given, name="create-share"),
        path("shares/", patient_views.my_shares, given, name="shares"),
        path("shares/<id:pk>/", patient_views.share_detail, given, name="share"),
        path("shares/<id:pk>/created", patient_views.share_created, given, name="share-created"),
        path("shares/<id:pk>/link", patient_views.share_link, given, name="share-link"),
        path("shares/<id:pk>/code", patient_views.replace_code, given, name="replace-code"),
        path("shares/<id:pk>/revoke", patient_views.revoke_share, given, name="revoke-share"),
        path("shares/<id:pk>/enable", patient_views.enable_share, given, name="enable-share"),
    ]
