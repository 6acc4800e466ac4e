"""The pages of shared links: the patient's (namespace `patient`, beside their exams) and the doctor's.

The doctor's are the exam pages every requester has (portal.exams.urls.exam_urls)
under namespace `share`; the QR code's address itself, `/s/<token>`, is
`share-open` at the root (portal.urls).
"""

from django.urls import path

from portal.exams.urls import exam_urls
from portal.sharing import patient_views, views

patient_urlpatterns = [
    path("studies/<id:pk>/shares/", patient_views.create_share, name="create-share"),
    path("shares/", patient_views.my_shares, name="shares"),
    path("shares/<id:pk>/", patient_views.share_detail, name="share"),
    path("shares/<id:pk>/created", patient_views.share_created, name="share-created"),
    path("shares/<id:pk>/revoke", patient_views.revoke_share, name="revoke-share"),
    path("shares/<id:pk>/enable", patient_views.enable_share, name="enable-share"),
]

share_urlpatterns = [path("", views.home, name="studies"), *exam_urls(views)]
