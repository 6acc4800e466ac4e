"""What the exam pages keep: the downloads prepared for a requester."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from imaging.models import Study


class DownloadKind(models.TextChoices):
    JPEG = "jpeg", _("images as JPEG")
    DICOM = "dicom", _("original DICOM files")


class DownloadStatus(models.TextChoices):
    PREPARING = "preparing", _("preparing")
    READY = "ready", _("ready")
    FAILED = "failed", _("failed")


class Download(models.Model):
    """A zip of one study made for one requester; only that requester may fetch it.

    The requester is a signed-in user or a share session (`share`: the
    sharing app's link, named by its label so that this app imports nothing
    above it). The row is made before the zip; a worker claims it by moving it
    from PREPARING with a started time (a conditional update), so it is built once.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="downloads")
    kind = models.CharField(max_length=8, choices=DownloadKind.choices)
    preset = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=10, choices=DownloadStatus.choices, default=DownloadStatus.PREPARING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    share = models.ForeignKey(
        "sharing.ShareLink", on_delete=models.CASCADE, null=True, blank=True, related_name="downloads"
    )
    storage_key = models.CharField(max_length=255, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    files = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "portal_download"  # made when the model lived in `portal`; kept, not rebuilt
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
