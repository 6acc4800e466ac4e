"""The regional index: hospitals, patient records, studies, series, instances, reports.

A row here describes a DICOM object that is held in storage; the object itself is
never altered. Header fields are copied in so that pages never open a file to
list what there is.
"""

import contextlib
import ipaddress
import re
from decimal import Decimal
from functools import cached_property

import pydicom
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import models
from django.utils.translation import gettext_lazy as _

from imaging.dicom import encapsulated_document

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_NETWORK_SEPARATORS = re.compile(r"[\s,]+")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """CIDR networks, one per line or separated by commas; a bare address is a /32 (or /128).

    Host bits are allowed (`10.1.2.3/24` is `10.1.2.0/24`): operators copy an
    address of the PACS with its mask. Raises ValueError naming a bad entry.
    """
    networks = []
    for entry in _NETWORK_SEPARATORS.split(text.strip()):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(entry) from None
    return tuple(networks)


def validate_networks(text: str) -> None:
    try:
        parse_networks(text)
    except ValueError as error:
        raise ValidationError(
            _("%(entry)s is not an IP network (write e.g. 10.20.0.0/16 or 10.20.1.5)."),
            code="invalid_network",
            params={"entry": str(error)},
        ) from None


def normalized_fingerprint(text: str) -> str:
    """A SHA-256 fingerprint as lowercase hex, whether written with colons (as `openssl x509 -fingerprint`) or not."""
    return text.strip().replace(":", "").lower()


def validate_fingerprint(text: str) -> None:
    if text and not _SHA256_HEX.fullmatch(normalized_fingerprint(text)):
        raise ValidationError(
            _("Write the certificate's SHA-256 fingerprint: 64 hexadecimal digits, with or without colons."),
            code="invalid_fingerprint",
        )


class Currency(models.TextChoices):
    """The currency a hospital prices its printed film in (ISO 4217 codes): the dashboard's savings."""

    CNY = "CNY", _("Chinese yuan (CNY)")
    HKD = "HKD", _("Hong Kong dollar (HKD)")
    MOP = "MOP", _("Macao pataca (MOP)")
    USD = "USD", _("US dollar (USD)")
    EUR = "EUR", _("Euro (EUR)")


# A printed film costs about US$1.20 a sheet (docs/architecture.md), about ¥8.50.
DEFAULT_FILM_PRICE = Decimal("8.50")


class Hospital(models.Model):
    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    film_price = models.DecimalField(
        _("price of a printed film"), max_digits=8, decimal_places=2, default=DEFAULT_FILM_PRICE
    )
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices, default=Currency.CNY)
    films_per_exam = models.PositiveSmallIntegerField(_("printed films per exam"), default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("hospital")
        verbose_name_plural = _("hospitals")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class HospitalAETitle(models.Model):
    """An AE title a hospital's modalities or PACS send from (one hospital each).

    `commitment_port` is where that AE listens for Storage Commitment results
    when they cannot go back on the association that asked (PS3.4 J.3.3).

    An AE title is a guessable string, so the listener also checks where the
    association comes from (`allowed_networks`) and, over TLS, optionally which
    client certificate the sender presented (`tls_certificate_sha256`).
    """

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="ae_titles")
    ae_title = models.CharField(_("AE title"), max_length=16, unique=True)
    commitment_port = models.PositiveIntegerField(_("storage commitment port"), null=True, blank=True)
    allowed_networks = models.TextField(
        _("allowed networks"),
        blank=True,
        default="",
        validators=[validate_networks],
        help_text=_(
            "Networks this AE title may send from, in CIDR notation, one per line or separated by commas "
            "(e.g. 10.20.0.0/16). With none, the listener refuses to start unless DEBUG is on."
        ),
    )
    tls_certificate_sha256 = models.CharField(
        _("TLS client certificate (SHA-256)"),
        max_length=95,
        blank=True,
        default="",
        validators=[validate_fingerprint],
        help_text=_(
            "If set, this AE title is accepted only over DICOM TLS with the client certificate of this "
            "SHA-256 fingerprint."
        ),
    )

    class Meta:
        ordering = ["ae_title"]
        verbose_name = _("AE title")
        verbose_name_plural = _("AE titles")

    def __str__(self) -> str:
        return self.ae_title

    def clean(self) -> None:
        """Store networks one per line in canonical form, and the fingerprint as bare hex."""
        with contextlib.suppress(ValueError):  # the field's validator reports it
            self.allowed_networks = "\n".join(str(network) for network in parse_networks(self.allowed_networks))
        self.tls_certificate_sha256 = normalized_fingerprint(self.tls_certificate_sha256)

    @cached_property
    def networks(self) -> tuple[IPNetwork, ...]:
        """The allowed networks; none when the stored text does not parse (so nothing is allowed)."""
        try:
            return parse_networks(self.allowed_networks)
        except ValueError:
            return ()

    @property
    def has_networks(self) -> bool:
        return bool(self.allowed_networks.strip())

    def allows(self, address: str) -> bool:
        """Whether an association from `address` comes from one of the allowed networks.

        An IPv4 peer seen through a dual-stack socket (`::ffff:10.1.2.3`) is
        checked as the IPv4 address it is.
        """
        try:
            peer = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
            peer = peer.ipv4_mapped
        return any(peer in network for network in self.networks)

    def accepts_certificate(self, fingerprint: str | None) -> bool:
        """Without a mapped certificate any sender passes; with one, only its holder."""
        expected = normalized_fingerprint(self.tls_certificate_sha256)
        return not expected or fingerprint == expected


class HospitalTokenQuerySet(models.QuerySet["HospitalToken"]):
    def active(self) -> "HospitalTokenQuerySet":
        return self.filter(revoked_at__isnull=True)


class HospitalToken(models.Model):
    """A bearer token a hospital's systems use for STOW-RS, QIDO-RS and the registration feed.

    Only the SHA-256 of the token is kept: a token is 32 random bytes, so a
    plain hash cannot be reversed by guessing. The prefix identifies a token in
    lists without revealing it.
    """

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="tokens")
    label = models.CharField(_("label"), max_length=100, blank=True)
    prefix = models.CharField(max_length=8)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = HospitalTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("hospital API token")
        verbose_name_plural = _("hospital API tokens")

    def __str__(self) -> str:
        return f"{self.hospital.code} {self.prefix}…"


class Sex(models.TextChoices):
    FEMALE = "F", _("female")
    MALE = "M", _("male")
    OTHER = "O", _("other")
    UNKNOWN = "", _("unknown")


class PatientRecord(models.Model):
    """One patient as one hospital knows them.

    The hospital is the issuer of the PatientID: two hospitals reuse the same
    numbers, so records are never merged on the PatientID alone.
    """

    hospital = models.ForeignKey(Hospital, on_delete=models.PROTECT, related_name="patient_records")
    patient_id = models.CharField(_("patient ID"), max_length=64)
    issuer_of_patient_id = models.CharField(_("issuer of patient ID"), max_length=64, blank=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    telephone_numbers = models.CharField(_("telephone numbers"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hospital", "patient_id"], name="patient_record_unique_per_issuer")
        ]
        verbose_name = _("patient record")
        verbose_name_plural = _("patient records")

    def __str__(self) -> str:
        return f"{self.hospital.code}:{self.patient_id}"


# Modalities of objects that are not images: encapsulated documents, SR, key objects, presentation states.
DOCUMENT_MODALITIES = frozenset({"DOC", "SR", "KO", "PR"})


class StudyQuerySet(models.QuerySet["Study"]):
    def for_list(self) -> "StudyQuerySet":
        """Newest first, with what a list row shows, in one query."""
        return self.select_related("hospital", "patient").order_by(
            models.F("study_date").desc(nulls_last=True), models.F("study_time").desc(nulls_last=True), "-pk"
        )


class Study(models.Model):
    study_uid = models.CharField(_("Study Instance UID"), max_length=64, unique=True)
    patient = models.ForeignKey(PatientRecord, on_delete=models.PROTECT, related_name="studies")
    hospital = models.ForeignKey(Hospital, on_delete=models.PROTECT, related_name="studies")
    study_date = models.DateField(_("study date"), null=True, blank=True)
    study_time = models.TimeField(_("study time"), null=True, blank=True)
    accession_number = models.CharField(_("accession number"), max_length=64, blank=True)
    study_id = models.CharField(_("study ID"), max_length=16, blank=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    referring_physician = models.CharField(_("referring physician"), max_length=200, blank=True)
    # Patient's Age as the modality wrote it at the exam (PS3.3 C.7.2.2; an AS value such as "045Y"):
    # the age shown when the record has no birth date.
    patient_age = models.CharField(_("patient's age"), max_length=4, blank=True)
    modalities = models.CharField(_("modalities"), max_length=64, blank=True, help_text="Backslash-separated")
    body_parts = models.CharField(_("body parts"), max_length=200, blank=True, help_text="Backslash-separated")
    number_of_series = models.PositiveIntegerField(default=0)
    number_of_instances = models.PositiveIntegerField(default=0)
    # Instances with pixel data: what a person calls the exam's images. A report (PDF, SR), a key
    # object or a presentation state is an instance, and counted in number_of_instances only.
    number_of_images = models.PositiveIntegerField(default=0)
    size_bytes = models.BigIntegerField(default=0)
    has_report = models.BooleanField(default=False)
    received_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StudyQuerySet.as_manager()

    class Meta:
        indexes = [
            # A patient's exam list: their records' studies, newest first.
            models.Index(fields=["patient", "-study_date", "-study_time"], name="study_patient_date"),
            # Staff search within a hospital.
            models.Index(fields=["hospital", "-study_date"], name="study_hospital_date"),
            models.Index(fields=["hospital", "accession_number"], name="study_hospital_accession"),
        ]
        verbose_name = _("study")
        verbose_name_plural = _("studies")

    def __str__(self) -> str:
        return self.study_uid

    @property
    def modality_list(self) -> list[str]:
        return [m for m in self.modalities.split("\\") if m]

    @property
    def image_modalities(self) -> list[str]:
        """The modalities of images, without those of documents (reports, key objects, states)."""
        return [m for m in self.modality_list if m not in DOCUMENT_MODALITIES]

    @property
    def body_part_list(self) -> list[str]:
        return [b for b in self.body_parts.split("\\") if b]


class Series(models.Model):
    series_uid = models.CharField(_("Series Instance UID"), max_length=64, unique=True)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    modality = models.CharField(_("modality"), max_length=16, blank=True)
    series_number = models.IntegerField(_("series number"), null=True, blank=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    body_part = models.CharField(_("body part"), max_length=64, blank=True)
    # Performed Procedure Step Start Date and Time (PS3.3 C.7.3.1): QIDO-RS matches them (PS3.18 Table 10.6.1-5).
    performed_date = models.DateField(_("performed procedure step start date"), null=True, blank=True)
    performed_time = models.TimeField(_("performed procedure step start time"), null=True, blank=True)
    number_of_instances = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["study", "series_number"], name="series_study_number")]
        verbose_name = _("series")
        verbose_name_plural = _("series")

    def __str__(self) -> str:
        return self.series_uid


class InstanceQuerySet(models.QuerySet["Instance"]):
    def for_rendering(self) -> "InstanceQuerySet":
        """Only what serving and making a render reads: a smaller query for a hot path."""
        return self.only("pk", "sop_uid", "series_id", "storage_key", "number_of_frames", "has_pixels")

    def in_anatomical_order(self) -> "InstanceQuerySet":
        """Along the slice normal (ImagePositionPatient), then InstanceNumber."""
        return self.order_by(
            models.F("slice_position").asc(nulls_last=True),
            models.F("instance_number").asc(nulls_last=True),
            "sop_uid",
        )


class PixelSpacingKind(models.TextChoices):
    """Where `Instance.pixel_spacing` holds (imaging.dicom.pixel_spacing); blank: indexed before it was read."""

    PATIENT = "patient", _("in the patient (Pixel Spacing)")
    DETECTOR = "detector", _("at the detector (Imager Pixel Spacing)")
    NONE = "none", _("not given")
    UNREAD = "", _("not read yet")


class Instance(models.Model):
    sop_uid = models.CharField(_("SOP Instance UID"), max_length=64, unique=True)
    # No index of its own: instance_series_order starts with series_id.
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances", db_index=False)
    sop_class_uid = models.CharField(_("SOP Class UID"), max_length=64)
    transfer_syntax_uid = models.CharField(_("transfer syntax"), max_length=64)
    instance_number = models.IntegerField(_("instance number"), null=True, blank=True)
    # Projection of ImagePositionPatient on the slice normal (PS3.3 C.7.6.2.1.1).
    slice_position = models.FloatField(null=True, blank=True)
    image_position = models.CharField(max_length=100, blank=True)
    image_orientation = models.CharField(max_length=200, blank=True)
    content_date = models.DateField(null=True, blank=True)
    content_time = models.TimeField(null=True, blank=True)
    has_pixels = models.BooleanField(default=False)
    rows = models.PositiveIntegerField(null=True, blank=True)
    columns = models.PositiveIntegerField(null=True, blank=True)
    number_of_frames = models.PositiveIntegerField(default=1)
    # Milliseconds between frames of a cine (Frame Time, C.7.6.5), for playing it at its pace.
    frame_time = models.FloatField(null=True, blank=True)
    bits_allocated = models.PositiveSmallIntegerField(null=True, blank=True)
    bits_stored = models.PositiveSmallIntegerField(null=True, blank=True)
    pixel_representation = models.PositiveSmallIntegerField(null=True, blank=True)
    photometric_interpretation = models.CharField(max_length=16, blank=True)
    window_center = models.FloatField(null=True, blank=True)
    window_width = models.FloatField(null=True, blank=True)
    rescale_slope = models.FloatField(null=True, blank=True)
    rescale_intercept = models.FloatField(null=True, blank=True)
    # mm between rows, then between columns (as "0.5\0.5"), of the kind below; a ruler shows mm only for PATIENT.
    pixel_spacing = models.CharField(max_length=64, blank=True)
    pixel_spacing_kind = models.CharField(max_length=8, choices=PixelSpacingKind.choices, blank=True)
    lossy = models.BooleanField(default=False)
    storage_key = models.CharField(max_length=255, unique=True)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    received_at = models.DateTimeField(auto_now_add=True)
    render_error = models.TextField(blank=True)

    objects = InstanceQuerySet.as_manager()

    class Meta:
        indexes = [
            # A series' image list in anatomical order.
            models.Index(fields=["series", "slice_position", "instance_number"], name="instance_series_order"),
        ]
        verbose_name = _("instance")
        verbose_name_plural = _("instances")

    def __str__(self) -> str:
        return self.sop_uid


class ReportKind(models.TextChoices):
    PDF = "pdf", _("PDF document")
    STRUCTURED = "sr", _("structured report")
    TEXT = "text", _("text")


class Report(models.Model):
    """The diagnostic report of a study: an Encapsulated PDF, an SR, or text."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="reports")
    kind = models.CharField(max_length=8, choices=ReportKind.choices)
    instance = models.OneToOneField(Instance, on_delete=models.CASCADE, null=True, blank=True, related_name="report")
    title = models.CharField(_("title"), max_length=200, blank=True)
    text = models.TextField(_("text"), blank=True)
    # A PDF's pages shown as images (imaging.rendering.report_pages), counted once; None until then.
    page_count = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("report")
        verbose_name_plural = _("reports")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.title}"

    @property
    def is_pdf(self) -> bool:
        return self.kind == ReportKind.PDF and self.instance_id is not None

    def pdf(self) -> bytes:
        """The PDF document of an Encapsulated PDF report, read from the stored object."""
        assert self.instance is not None
        with default_storage.open(self.instance.storage_key, "rb") as handle:
            return encapsulated_document(pydicom.dcmread(handle))


class UnflushedFile(models.Model):
    """An instance whose file was not yet known to be flushed when its index row committed.

    The listener flushes a C-STORE's file while the statement that indexes it
    runs, or, for a small object, commits its bytes here and flushes the file
    later (`imaging.listener.flushing`). Until the flush is known to have succeeded this
    row says so; start-up checks the file of every row left by a crash, writes
    it again from `content` where it can, and otherwise takes out of the index
    an instance whose file did not survive (its sender was never told it was
    stored).
    """

    instance = models.OneToOneField(Instance, on_delete=models.CASCADE, primary_key=True, related_name="+")
    # A small object's bytes, committed with its index row: the commit's flush makes both durable.
    content = models.BinaryField(null=True, editable=False)

    class Meta:
        verbose_name = _("unflushed file")
        verbose_name_plural = _("unflushed files")

    def __str__(self) -> str:
        return f"unflushed file of instance {self.instance_id}"


class IngestConflict(models.Model):
    """Different bytes arrived under a SOPInstanceUID the index already holds.

    The stored copy is kept; this row records what was refused and from whom.
    """

    sop_uid = models.CharField(max_length=64, db_index=True)
    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="ingest_conflicts")
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, null=True, related_name="conflicts")
    received_sha256 = models.CharField(max_length=64)
    received_size = models.BigIntegerField()
    source = models.CharField(max_length=255, blank=True)
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("ingest conflict")
        verbose_name_plural = _("ingest conflicts")

    def __str__(self) -> str:
        return f"{self.sop_uid}: {self.reason}"


class RenderStatus(models.TextChoices):
    PENDING = "pending", _("being made")
    READY = "ready", _("ready")
    FAILED = "failed", _("failed")


class Render(models.Model):
    """A render kept in storage under `key`; the row is also the claim on making it.

    Whoever inserts the row makes the render; `attempts` counts the times it was
    actually made, so a render made twice would show.
    """

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="renders")
    key = models.CharField(max_length=255, unique=True)
    status = models.CharField(max_length=8, choices=RenderStatus.choices, default=RenderStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    size_bytes = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("render")
        verbose_name_plural = _("renders")

    def __str__(self) -> str:
        return self.key
