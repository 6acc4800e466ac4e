"""What the pages keep: the audit log of access to patient data, and prepared downloads."""

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


class AuditEvent(models.Model):
    """One access to patient data: who, what, when (UTC), from where.

    Image requests are recorded once per series, kind and session (see
    portal.audit.record_images): a viewer loads hundreds of images a minute.
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
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["study", "-created_at"], name="audit_study_time"),
            models.Index(fields=["action", "-created_at"], name="audit_action_time"),
        ]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action}"


class DownloadKind(models.TextChoices):
    JPEG = "jpeg", _("images as JPEG")
    DICOM = "dicom", _("original DICOM files")


class DownloadStatus(models.TextChoices):
    PREPARING = "preparing", _("preparing")
    READY = "ready", _("ready")
    FAILED = "failed", _("failed")


class Download(models.Model):
    """A zip of one study made for one requester; only that requester may fetch it.

    The row is made before the zip; a worker claims it by moving it from
    PREPARING with a started time (a conditional update), so it is built once.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="downloads")
    kind = models.CharField(max_length=8, choices=DownloadKind.choices)
    preset = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=10, choices=DownloadStatus.choices, default=DownloadStatus.PREPARING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    storage_key = models.CharField(max_length=255, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    files = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("download")
        verbose_name_plural = _("downloads")

    def __str__(self) -> str:
        return f"{self.kind} {self.study_id} {self.status}"

    @property
    def filename(self) -> str:
        date = self.study.study_date.strftime("%Y%m%d") if self.study.study_date else "undated"
        suffix = "jpeg" if self.kind == DownloadKind.JPEG else "dicom"
        return f"exam-{date}-{self.study_id}-{suffix}.zip"
