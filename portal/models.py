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
    SHARE_CREATE = "share_create", _("shared an exam")
    SHARE_REVOKE = "share_revoke", _("ended a shared link")
    SHARE_CODE_WRONG = "share_code_wrong", _("entered a wrong access code")
    ISSUE = "issue", _("issued an e-film")
    ISSUE_REVOKE = "issue_revoke", _("revoked an issuance")
    STAFF_SEARCH = "staff_search", _("searched exams")
    PHONE_CONFIRM = "phone_confirm", _("confirmed a suggested phone number")
    SHARE_ENABLE = "share_enable", _("re-enabled a suspended shared link")
    STAFF_NEW_DEVICE = "staff_new_device", _("signed in from a new device")


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
    share = models.ForeignKey("ShareLink", on_delete=models.CASCADE, null=True, blank=True, related_name="downloads")
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


class ShareLinkQuerySet(models.QuerySet["ShareLink"]):
    def valid(self) -> "ShareLinkQuerySet":
        from django.utils import timezone

        # A share suspended after repeated locks opens nothing until the patient turns it back on.
        return self.filter(revoked_at__isnull=True, suspended_at__isnull=True, expires_at__gt=timezone.now())


class ShareLink(models.Model):
    """A patient's exam shared by a link: a token (kept only as its SHA-256), an expiry, maybe a code.

    The token is 32 random bytes, so a plain hash cannot be reversed by
    guessing; the access code is 6 digits, so it is kept as a salted HMAC and
    guarded by a lockout (5 wrong entries, then 15 minutes, 1 hour, 24 hours;
    after the third lock the share is suspended until the patient re-enables it).
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="shares")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shares")
    token_hash = models.CharField(max_length=64, unique=True)
    code_hash = models.CharField(max_length=64, blank=True)
    code_salt = models.CharField(max_length=32, blank=True)
    include_report = models.BooleanField(_("include the report"), default=True)
    allow_download = models.BooleanField(_("allow downloads"), default=False)
    notify_on_open = models.BooleanField(_("text me when it is first opened"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    revoked_at = models.DateTimeField(null=True, blank=True)
    wrong_codes = models.PositiveSmallIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    locks = models.PositiveSmallIntegerField(default=0)
    suspended_at = models.DateTimeField(null=True, blank=True)
    lock_notice_at = models.DateTimeField(null=True, blank=True)
    opens = models.PositiveIntegerField(default=0)
    last_opened_at = models.DateTimeField(null=True, blank=True)

    objects = ShareLinkQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("shared link")
        verbose_name_plural = _("shared links")

    def __str__(self) -> str:
        return f"share {self.pk} of study {self.study_id}"

    @property
    def has_code(self) -> bool:
        return bool(self.code_hash)

    @property
    def is_valid(self) -> bool:
        from django.utils import timezone

        return self.revoked_at is None and self.suspended_at is None and self.expires_at > timezone.now()


class ShareOpen(models.Model):
    """One opening of a shared link: when, roughly where from, with which browser."""

    share = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="openings")
    created_at = models.DateTimeField(auto_now_add=True)
    network = models.CharField(_("network"), max_length=64, blank=True)
    browser = models.CharField(_("browser"), max_length=120, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("opening of a shared link")
        verbose_name_plural = _("openings of shared links")

    def __str__(self) -> str:
        return f"{self.share_id} {self.created_at:%Y-%m-%d %H:%M}"


class FilmChoice(models.TextChoices):
    EFILM = "efilm", _("e-film")
    PRINT = "print", _("printed film")
    BOTH = "both", _("both")


class Issuance(models.Model):
    """The e-film (or film) handed to a patient at discharge, for one or more exams of one record.

    Adoption figures are counted from these rows: an issuance that is not
    revoked counts once, in the month it was issued, for its hospital.
    """

    hospital = models.ForeignKey("imaging.Hospital", on_delete=models.PROTECT, related_name="issuances")
    patient_record = models.ForeignKey("imaging.PatientRecord", on_delete=models.PROTECT, related_name="issuances")
    studies = models.ManyToManyField(Study, related_name="issuances")
    phone = models.CharField(_("mobile number"), max_length=20, blank=True)
    choice = models.CharField(_("the patient's choice"), max_length=8, choices=FilmChoice.choices)
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    issued_at = models.DateTimeField(auto_now_add=True, db_index=True)
    share = models.ForeignKey(ShareLink, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # The phone link this issuance made (none when the number was linked already): undone on revocation.
    phone_link = models.ForeignKey(
        "accounts.PhoneLink", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    replaces = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replaced_by"
    )

    class Meta:
        ordering = ["-issued_at"]
        indexes = [models.Index(fields=["hospital", "issued_at"], name="issuance_hospital_time")]
        verbose_name = _("issuance")
        verbose_name_plural = _("issuances")

    def __str__(self) -> str:
        return f"{self.hospital_id} {self.choice} {self.issued_at:%Y-%m-%d}"

    @property
    def is_efilm(self) -> bool:
        return self.choice in (FilmChoice.EFILM, FilmChoice.BOTH)
