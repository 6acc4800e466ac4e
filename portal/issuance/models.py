"""The e-film (or film) handed to a patient at discharge."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from imaging.models import Study
from portal.sharing.models import ShareLink


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
        db_table = "portal_issuance"  # made when the model lived in `portal`; kept, not rebuilt
        ordering = ["-issued_at"]
        indexes = [models.Index(fields=["hospital", "issued_at"], name="issuance_hospital_time")]
        verbose_name = _("issuance")
        verbose_name_plural = _("issuances")

    def __str__(self) -> str:
        return f"{self.hospital_id} {self.choice} {self.issued_at:%Y-%m-%d}"

    @property
    def is_efilm(self) -> bool:
        return self.choice in (FilmChoice.EFILM, FilmChoice.BOTH)
