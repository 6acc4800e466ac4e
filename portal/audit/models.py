"""The audit log: every access to patient data, who, what, when (UTC), from where.

Every app writes it (`portal.audit.trail`); it imports none of them.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from imaging.models import Series, Study


class Actor(models.TextChoices):
    PATIENT = "patient", _("patient")
    STAFF = "staff", _("staff")
    SHARE = "share", _("shared link")
    ANONYMOUS = "anonymous", _("anonymous")


class AuditAction(models.TextChoices):
    SIGN_IN = "sign_in", _("signed in")
    STUDY_LIST = "study_list", _("listed exams")
    STUDY_VIEW = "study_view", _("opened an exam")
    REPORT_VIEW = "report_view", _("read a report")
    VIEWER_OPEN = "viewer_open", _("opened the viewer")
    THUMBNAILS = "thumbnails", _("loaded thumbnails")
    PREVIEWS = "previews", _("loaded images")
    RAW_VALUES = "raw_values", _("loaded pixel values")
    DOWNLOAD_REQUEST = "download_request", _("asked for a download")
    DOWNLOAD = "download", _("downloaded")
    SHARE_CREATE = "share_create", _("shared an exam")
    SHARE_REVOKE = "share_revoke", _("ended a shared link")
    SHARE_CODE_WRONG = "share_code_wrong", _("entered a wrong access code")
    ISSUE = "issue", _("issued an e-film")
    ISSUE_REVOKE = "issue_revoke", _("revoked an issuance")
    STAFF_SEARCH = "staff_search", _("searched exams")
    PHONE_CONFIRM = "phone_confirm", _("confirmed a suggested phone number")
    SHARE_ENABLE = "share_enable", _("re-enabled a suspended shared link")
    STAFF_NEW_DEVICE = "staff_new_device", _("signed in from a new device")
    SHARE_SHOW = "share_show", _("showed a shared link again")
    SHARE_NEW_CODE = "share_new_code", _("replaced the access code of a shared link")
    FAMILY_ASK = "family_ask", _("asked to see a family member's exams")
    FAMILY_CONSENT = "family_consent", _("a family member consented")
    FAMILY_END = "family_end", _("ended a family member's access")
    GUARDIAN_CONFIRM = "guardian_confirm", _("confirmed a guardian at the desk")
    DEVICE_FORGET = "device_forget", _("forgot a remembered phone")
    REMEMBERED_REVOKED = "remembered_revoked", _("a remembered phone was forgotten: a copy of its old cookie came back")


class AuditEvent(models.Model):
    """One access to patient data: who, what, when (UTC), from where.

    Image requests are recorded once per series, kind and session (see
    portal.audit.trail.record_images): a viewer loads hundreds of images a minute.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=12, choices=Actor.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=20, choices=AuditAction.choices)
    study = models.ForeignKey(Study, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    series = models.ForeignKey(Series, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    detail = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    session_hash = models.CharField(max_length=16, blank=True)

    class Meta:
        db_table = "portal_auditevent"  # made when the model lived in `portal`; kept, not rebuilt
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["study", "-created_at"], name="audit_study_time"),
            models.Index(fields=["action", "-created_at"], name="audit_action_time"),
        ]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action}"
