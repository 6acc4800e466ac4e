"""People who sign in, and what ties a phone to hospital records.

- A patient is a verified mobile number: a `User` with `phone` set and no
  password, made the first time a code is sent to a number the region knows.
- `PhoneLink` ties a number to a hospital's `PatientRecord`; a patient sees
  exactly the studies of the records linked to their number. Links come only
  from sources that verified the person (staff, the registration feed with
  its hospital token, the command line).
- `SuggestedPhone` is a number from a source that did not verify the person
  (Patient's Telephone Numbers in an image): staff see it at issuance and may
  confirm it, which makes the link. Until then it grants nothing.
- Staff are users with a password, a confirmed TOTP device, and one or more
  `StaffMembership`s (a hospital and a role; regional admins see all).
"""

import datetime as dt
import hashlib
import hmac
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device

from accounts.browsers import in_words
from imaging.models import Hospital, PatientRecord

CODE_DIGITS = 6
CODE_LIFETIME = dt.timedelta(minutes=5)
WRONG_ENTRIES_PER_CODE = 5


class User(AbstractUser):  # type: ignore[django-manager-missing]
    """A person who signs in: hospital staff (password and TOTP) or a patient (phone and SMS code)."""

    phone = models.CharField(_("mobile number"), max_length=20, unique=True, null=True, blank=True)

    @property
    def is_patient(self) -> bool:
        return bool(self.phone)


class LinkSource(models.TextChoices):
    """Where a link came from: each of these verified the person (an image sender cannot)."""

    STAFF = "staff", _("staff at discharge")
    FEED = "feed", _("hospital registration feed")
    COMMAND = "command", _("command line")


class SuggestionSource(models.TextChoices):
    DICOM = "dicom", _("telephone number in the images")


class PhoneLink(models.Model):
    """A mobile number (E.164) tied to one hospital's record of a patient."""

    phone = models.CharField(_("mobile number"), max_length=20, db_index=True)
    patient_record = models.ForeignKey(PatientRecord, on_delete=models.CASCADE, related_name="phone_links")
    source = models.CharField(max_length=8, choices=LinkSource.choices)
    hospital = models.ForeignKey(Hospital, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["phone", "patient_record"], name="phone_link_unique")]
        verbose_name = _("phone link")
        verbose_name_plural = _("phone links")

    def __str__(self) -> str:
        return f"{self.phone} → {self.patient_record}"


class SuggestedPhone(models.Model):
    """A number some source put beside a record without verifying the person: a hint for staff, no access.

    Anyone who can send an image can write Patient's Telephone Numbers, so a
    number from a header only becomes a `PhoneLink` when staff confirm it.
    """

    phone = models.CharField(_("mobile number"), max_length=20)
    patient_record = models.ForeignKey(PatientRecord, on_delete=models.CASCADE, related_name="suggested_phones")
    source = models.CharField(max_length=8, choices=SuggestionSource.choices, default=SuggestionSource.DICOM)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["phone", "patient_record"], name="suggested_phone_unique")]
        verbose_name = _("suggested phone number")
        verbose_name_plural = _("suggested phone numbers")

    def __str__(self) -> str:
        return f"{self.phone} ? {self.patient_record}"


def code_hash(code: str) -> str:
    """Codes are kept as an HMAC under the secret key: six digits alone are guessed in a blink."""
    return hmac.new(settings.SECRET_KEY.encode(), code.encode(), hashlib.sha256).hexdigest()


class SMSDevice(Device):
    """A patient's phone as a django-otp device: the one code in force, hashed.

    Verification is one conditional UPDATE, so two submissions of the same code
    cannot both succeed.
    """

    code_hash = models.CharField(max_length=64, blank=True)
    code_valid_until = models.DateTimeField(null=True, blank=True)
    code_attempts_left = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("SMS device")

    def new_code(self) -> str:
        """A fresh code from `secrets`; it replaces the one before. Only its hash is kept."""
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        SMSDevice.objects.filter(pk=self.pk).update(
            code_hash=code_hash(code),
            code_valid_until=timezone.now() + CODE_LIFETIME,
            code_attempts_left=WRONG_ENTRIES_PER_CODE,
        )
        return code

    def consume(self, code: str) -> bool:
        """Use up the code if it is the one in force: True for exactly one caller.

        The row is locked while the code is compared and a try counted, so
        guesses sent together are counted one after another: never more than
        WRONG_ENTRIES_PER_CODE of them are compared with a code.
        """
        now = timezone.now()
        live = Q(pk=self.pk, code_valid_until__gt=now, code_attempts_left__gt=0) & ~Q(code_hash="")
        with transaction.atomic():
            device = SMSDevice.objects.select_for_update().filter(live).only("pk", "code_hash").first()
            if device is None:
                return False
            if hmac.compare_digest(device.code_hash, code_hash(code)):
                SMSDevice.objects.filter(pk=self.pk).update(code_hash="", code_valid_until=None, code_attempts_left=0)
                return True
            SMSDevice.objects.filter(pk=self.pk).update(code_attempts_left=F("code_attempts_left") - 1)
            return False

    def verify_token(self, token: str) -> bool:
        return self.consume(token)


class SignInFailure(models.Model):
    """One failed sign-in, kept for the sliding window the waits are counted over.

    `subject` is whom it was for (`accounts.device_cookies.subject_of_phone` or
    `subject_of_staff`), `network` the client's network, `device` the nonce of
    the browser's device cookie for that subject ("" from an untrusted client).
    Counts are taken per subject from untrusted clients, per network from
    untrusted clients, and per device (accounts.throttle).
    """

    subject = models.CharField(max_length=160)
    network = models.CharField(max_length=45, blank=True)
    device = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["subject", "created_at"], name="sign_in_failure_subject"),
            models.Index(fields=["network", "created_at"], name="sign_in_failure_network"),
            models.Index(fields=["device", "created_at"], name="sign_in_failure_device"),
            models.Index(fields=["created_at"], name="sign_in_failure_created"),
        ]
        verbose_name = _("sign-in failure")
        verbose_name_plural = _("sign-in failures")

    def __str__(self) -> str:
        return f"{self.subject} {self.created_at:%Y-%m-%d %H:%M}"


class CodeRequest(models.Model):
    """Every request for a code, sent or not: the caps count these, so a number the
    region does not know meets the same limits as one it does."""

    phone = models.CharField(max_length=20)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    # From a browser holding this number's device cookie: counted apart, so that requests
    # from anywhere else cannot use up the number's codes for the day (accounts.signin).
    trusted_device = models.BooleanField(default=False)
    sent = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["phone", "created_at"], name="code_request_phone"),
            models.Index(fields=["client_ip", "created_at"], name="code_request_ip"),
        ]

    def __str__(self) -> str:
        return f"{self.phone} {self.created_at:%Y-%m-%d %H:%M}"


class StaffRole(models.TextChoices):
    CLERK = "clerk", _("clerk")
    REGIONAL_ADMIN = "regional_admin", _("regional admin")


class StaffMembership(models.Model):
    """A staff member's place: a hospital and a role. A regional admin needs no hospital."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, null=True, blank=True, related_name="staff")
    role = models.CharField(max_length=16, choices=StaffRole.choices, default=StaffRole.CLERK)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "hospital"], name="staff_membership_unique"),
            models.CheckConstraint(
                condition=Q(role="regional_admin") | Q(hospital__isnull=False), name="clerk_has_hospital"
            ),
        ]
        verbose_name = _("staff membership")
        verbose_name_plural = _("staff memberships")

    def __str__(self) -> str:
        return f"{self.user} {self.role} {self.hospital or ''}"


# A request nobody answered lapses: the family member's page stops offering it, the desk stops finding it.
FAMILY_REQUEST_LIFETIME = dt.timedelta(days=14)


class FamilyKind(models.TextChoices):
    """How a family member's consent was given."""

    ADULT = "adult", _("adult with their own phone")
    CHILD = "child", _("child, guardianship confirmed by staff")


class FamilyStatus(models.TextChoices):
    PENDING = "pending", _("waiting for consent")
    ACTIVE = "active", _("active")
    WITHDRAWN = "withdrawn", _("withdrawn")
    LAPSED = "lapsed", _("lapsed")


class FamilyLink(models.Model):
    """One patient (`viewer`) allowed to see a family member's exams.

    - An adult family member is a mobile number: the viewer sees the records
      linked to it (`PhoneLink`), as its owner does, once its owner consented,
      by a code sent to that phone or by allowing the request on their own
      `/my/family/` page. Never further: not the family member's own family.
    - A child has no phone of their own: staff at a hospital's desk check the
      guardian's documents and attach the child's records of their hospital
      (`records`), found by the desk code the guardian shows.

    Either side may withdraw at any time (`status`), and the next request sees it:
    the patient's scope is read on every request (accounts.family.visible_records).
    """

    viewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="family_links")
    kind = models.CharField(max_length=8, choices=FamilyKind.choices)
    status = models.CharField(max_length=10, choices=FamilyStatus.choices, default=FamilyStatus.PENDING)
    label = models.CharField(_("what you call them"), max_length=24)
    phone = models.CharField(_("mobile number"), max_length=20, blank=True, db_index=True)
    records = models.ManyToManyField(PatientRecord, blank=True, related_name="guardian_links")
    # The consent code sent to an adult's phone: its hash only, as for sign-in codes.
    code_hash = models.CharField(max_length=64, blank=True)
    code_valid_until = models.DateTimeField(null=True, blank=True)
    code_attempts_left = models.PositiveSmallIntegerField(default=0)
    # A child: what the guardian told us, for the desk to check, and the code they show there.
    child_name = models.CharField(_("child's name"), max_length=100, blank=True)
    child_birth_date = models.DateField(_("child's date of birth"), null=True, blank=True)
    desk_code = models.CharField(max_length=12, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    consented_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["viewer", "phone"],
                condition=Q(status__in=["pending", "active"]) & ~Q(phone=""),
                name="family_link_one_live_per_phone",
            ),
            models.CheckConstraint(
                condition=(Q(kind="adult") & ~Q(phone="")) | (Q(kind="child") & Q(phone="")),
                name="family_link_adult_has_phone",
            ),
        ]
        indexes = [models.Index(fields=["viewer", "status"], name="family_link_viewer")]
        verbose_name = _("family link")
        verbose_name_plural = _("family links")

    def __str__(self) -> str:
        return f"{self.viewer} → {self.label} ({self.status})"

    @property
    def live(self) -> bool:
        return self.status in (FamilyStatus.PENDING, FamilyStatus.ACTIVE)

    @staticmethod
    def waiting() -> Q:
        """The condition of a request not yet answered, within its 14 days (the one rule of lapsing)."""
        return Q(status=FamilyStatus.PENDING, created_at__gt=timezone.now() - FAMILY_REQUEST_LIFETIME)

    @property
    def is_waiting(self) -> bool:
        """`waiting()`, for a link in hand."""
        return self.status == FamilyStatus.PENDING and self.created_at > timezone.now() - FAMILY_REQUEST_LIFETIME


REMEMBER_FOR = dt.timedelta(days=30)
# How long the secret a device just replaced still restores a session: a page and the
# requests it starts in parallel may all arrive with it before the browser has the new one.
ROTATION_GRACE = dt.timedelta(seconds=60)


def secret_hash(secret: str) -> str:
    """A device's secret is 32 random bytes: a plain SHA-256 is enough to keep it out of the table."""
    return hashlib.sha256(secret.encode()).hexdigest()


class RememberedDeviceQuerySet(models.QuerySet["RememberedDevice"]):
    def live(self) -> "RememberedDeviceQuerySet":
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())

    def revoke(self) -> int:
        return self.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


class RememberedDevice(models.Model):
    """A phone a patient asked to be remembered at an SMS sign-in: for 30 days from then, not sliding.

    The browser holds the device's id and a secret (accounts.remembering); the
    table holds only the secret's hash. Each restored session replaces the
    secret (`rotate`); the one before still restores for `ROTATION_GRACE`, and
    after that it is a copy someone kept: the device is revoked.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="remembered_devices")
    browser = models.CharField(max_length=40, blank=True)  # from the User-Agent (accounts.browsers)
    system = models.CharField(max_length=40, blank=True)
    secret_hash = models.CharField(max_length=64)
    previous_hash = models.CharField(max_length=64, blank=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = RememberedDeviceQuerySet.as_manager()

    class Meta:
        verbose_name = _("remembered phone")
        verbose_name_plural = _("remembered phones")

    def __str__(self) -> str:
        return f"{self.user} {self.label}"

    @property
    def label(self) -> str:
        browser, system = in_words(self.browser), in_words(self.system)
        if browser and system:
            return _("%(browser)s on %(system)s") % {"browser": browser, "system": system}
        return browser or system or str(_("Unknown browser"))

    @classmethod
    def remember(cls, user: User, browser: str, system: str) -> tuple["RememberedDevice", str]:
        """A new device for the user, remembered for 30 days from now, and its secret (never stored)."""
        secret = secrets.token_urlsafe(32)
        now = timezone.now()
        device = cls.objects.create(
            user=user,
            browser=browser[:40],
            system=system[:40],
            secret_hash=secret_hash(secret),
            created_at=now,
            last_used_at=now,
            expires_at=now + REMEMBER_FOR,
        )
        return device, secret

    def rotate(self, presented: str) -> tuple[bool, str]:
        """Whether the presented secret restores a session, and the secret that replaces it ("": keep the cookie).

        One conditional UPDATE takes the current secret: of requests arriving
        together with it, one rotates, and the others find it as the previous
        secret within the grace. A secret that is neither revokes the device.
        """
        now = timezone.now()
        presented_hash = secret_hash(presented)
        live = RememberedDevice.objects.live().filter(pk=self.pk)
        new = secrets.token_urlsafe(32)
        rotated = live.filter(secret_hash=presented_hash).update(
            secret_hash=secret_hash(new), previous_hash=presented_hash, rotated_at=now, last_used_at=now
        )
        if rotated:
            return True, new
        if live.filter(previous_hash=presented_hash, rotated_at__gt=now - ROTATION_GRACE).update(last_used_at=now):
            return True, ""
        live.revoke()
        return False, ""
