"""Shared links of a patient's exam, and the log of their openings."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from imaging.models import Study


class ShareLinkQuerySet(models.QuerySet["ShareLink"]):
    def valid(self) -> "ShareLinkQuerySet":
        # A share suspended after repeated locks opens nothing until the patient turns it back on.
        return self.filter(revoked_at__isnull=True, suspended_at__isnull=True, expires_at__gt=timezone.now())


class ShareLink(models.Model):
    """A patient's exam shared by a link: a token (found by its SHA-256), an expiry, maybe a code.

    The token is 32 random bytes, so a plain hash cannot be reversed by
    guessing; it is also kept sealed (`token_sealed`, portal.sharing.sealing)
    so that the patient can be shown the link again, until the share ends
    (shares made before that have none). The access code is 6 digits, so it
    is kept as a salted HMAC and guarded by a lockout (5 wrong entries, then
    15 minutes, 1 hour, 24 hours; after the third lock the share is suspended
    until the patient re-enables it); the patient can replace it.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="shares")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shares")
    token_hash = models.CharField(max_length=64, unique=True)
    token_sealed = models.TextField(blank=True, default="")
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
        db_table = "portal_sharelink"  # made when the model lived in `portal`; kept, not rebuilt
        ordering = ["-created_at"]
        verbose_name = _("shared link")
        verbose_name_plural = _("shared links")

    def __str__(self) -> str:
        return f"share {self.pk} of study {self.study_id}"

    @property
    def has_code(self) -> bool:
        return bool(self.code_hash)

    @property
    def keeps_token(self) -> bool:
        """Whether the share holds a sealed token: made since tokens are kept so, and not ended by the patient."""
        return bool(self.token_sealed)

    @property
    def is_valid(self) -> bool:
        return self.revoked_at is None and self.suspended_at is None and self.expires_at > timezone.now()


class ShareOpen(models.Model):
    """One opening of a shared link: when, roughly where from, with which browser."""

    share = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="openings")
    created_at = models.DateTimeField(auto_now_add=True)
    network = models.CharField(_("network"), max_length=64, blank=True)
    browser = models.CharField(_("browser"), max_length=120, blank=True)

    class Meta:
        db_table = "portal_shareopen"  # made when the model lived in `portal`; kept, not rebuilt
        ordering = ["-created_at"]
        verbose_name = _("opening of a shared link")
        verbose_name_plural = _("openings of shared links")

    def __str__(self) -> str:
        return f"{self.share_id} {self.created_at:%Y-%m-%d %H:%M}"
