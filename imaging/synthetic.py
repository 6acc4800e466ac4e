"""Synthetic studies with realistic headers, made in code for the demo, tests and benchmarks.

Everything is deterministic: UIDs are derived from names (UUID-derived UIDs,
PS3.5 B.2), pixels from seeded generators, dates are fixed. Making the same
study twice yields the same bytes, so importing it twice changes nothing.
"""

import datetime as dt
import io
import struct
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
)

NAMESPACE = uuid.UUID("5b7f0c4e-4f6e-4d59-9a57-0d1f6c1e2a10")

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
DX_IMAGE = "1.2.840.10008.5.1.4.1.1.1.1"
US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def uid_for(*parts: object) -> str:
    """A UUID-derived UID (2.25.<integer>) that is always the same for the same parts."""
    return f"2.25.{uuid.uuid5(NAMESPACE, '/'.join(str(p) for p in parts)).int}"


@dataclass(frozen=True)
class PatientSpec:
    patient_id: str
    name: str
    sex: str
    birth_date: dt.date
    phone: str = ""


@dataclass(frozen=True)
class StudySpec:
    key: str
    patient: PatientSpec
    date: dt.date
    time: dt.time
    accession: str
    description: str
    institution: str = ""

    @property
    def study_uid(self) -> str:
        return uid_for("study", self.key)


def base_dataset(
    study: StudySpec, sop_class: str, series_key: str, series_number: int, instance_number: int, modality: str
) -> Dataset:
    """The patient, study, series and SOP common modules, filled in as a modality would."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = uid_for("instance", study.key, series_key, instance_number)
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study.date.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = study.time.strftime("%H%M%S")
    ds.AccessionNumber = study.accession
    ds.Modality = modality
    ds.Manufacturer = "Synthetic"
    ds.InstitutionName = study.institution
    ds.ReferringPhysicianName = "Li^Ming"
    ds.StudyDescription = study.description
    ds.PatientName = study.patient.name
    ds.PatientID = study.patient.patient_id
    ds.PatientBirthDate = study.patient.birth_date.strftime("%Y%m%d")
    ds.PatientSex = study.patient.sex
    if study.patient.phone:
        ds.PatientTelephoneNumbers = study.patient.phone
    ds.StudyInstanceUID = study.study_uid
    ds.SeriesInstanceUID = uid_for("series", study.key, series_key)
    ds.StudyID = study.accession[-8:]
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    return ds


def with_file_meta(ds: Dataset, transfer_syntax: str = ExplicitVRLittleEndian) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "EFILM_SYNTH_1"
    ds.file_meta = meta
    return ds


def to_bytes(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _grey_image(ds: Dataset, pixels: np.ndarray, bits_stored: int, signed: bool) -> None:
    ds.SamplesPerPixel = 1
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = pixels.astype("<i2" if signed else "<u2").tobytes()


# ---------------------------------------------------------------- CT chest


def ct_chest(study: StudySpec, slices: int = 120, size: int = 512, series_number: int = 2) -> Iterator[Dataset]:
    """An axial chest CT: body, fat, lungs, heart, aorta, spine and ribs in HU with noise.

    16-bit signed stored values, RescaleIntercept -1024, the soft-tissue window
    in the file, slices 2.5 mm apart going up from the diaphragm.
    """
    rng = np.random.default_rng(abs(hash_int(study.key)) % 2**32)
    coords = (np.arange(size) - size / 2 + 0.5) / (size / 2)
    x, y = np.meshgrid(coords, coords)
    spacing = 350.0 / size
    for index in range(slices):
        z = index / max(slices - 1, 1)
        hu = _ct_slice(x, y, z, rng)
        ds = base_dataset(study, CT_IMAGE, "ct", series_number, index + 1, "CT")
        ds.SeriesDescription = "Chest 2.5mm"
        ds.BodyPartExamined = "CHEST"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.PatientPosition = "HFS"
        ds.SliceThickness = "2.5"
        ds.KVP = "120"
        ds.ImagePositionPatient = [-175.0, -175.0, -300.0 + 2.5 * index]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SliceLocation = -300.0 + 2.5 * index
        ds.FrameOfReferenceUID = uid_for("frame", study.key)
        ds.PixelSpacing = [round(spacing, 6), round(spacing, 6)]
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.RescaleIntercept = "-1024"
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
        ds.WindowCenterWidthExplanation = "SOFT TISSUE"
        _grey_image(ds, np.clip(hu + 1024, -1024, 3071).astype(np.int16), 16, signed=True)
        yield with_file_meta(ds)


def hash_int(text: str) -> int:
    return zlib.crc32(text.encode())


def _ellipse(x: np.ndarray, y: np.ndarray, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0


def _ct_slice(x: np.ndarray, y: np.ndarray, z: float, rng: np.random.Generator) -> np.ndarray:
    hu = np.full(x.shape, -1000.0)
    hu[_ellipse(x, y, 0, 0.05, 0.86, 0.62)] = -100.0  # subcutaneous fat
    hu[_ellipse(x, y, 0, 0.05, 0.80, 0.56)] = 45.0  # muscle and soft tissue
    lung_scale = np.sin(np.pi * min(max(z, 0.05), 0.95)) ** 0.5
    for side in (-1, 1):
        hu[_ellipse(x, y, side * 0.38, 0.0, 0.28 * lung_scale + 0.05, 0.40 * lung_scale + 0.05)] = -850.0
    if z < 0.7:
        hu[_ellipse(x, y, 0.08, 0.05, 0.24 * (1 - z / 1.4), 0.22 * (1 - z / 1.4))] = 40.0  # heart
    hu[_ellipse(x, y, -0.06, 0.32, 0.07, 0.07)] = 180.0  # descending aorta, contrast
    hu[_ellipse(x, y, 0, 0.45, 0.09, 0.08)] = 700.0  # vertebral body
    hu[_ellipse(x, y, 0, 0.45, 0.06, 0.05)] = 250.0  # marrow
    angle = np.arctan2(y - 0.05, x)
    radius = np.sqrt((x / 0.78) ** 2 + ((y - 0.05) / 0.54) ** 2)
    ribs = (np.abs(radius - 0.95) < 0.025) & (np.cos(angle * 9 + z * 6) > 0.6)
    hu[ribs] = 900.0
    hu[(y > 0.72) & (y < 0.76) & (np.abs(x) < 0.9)] = 100.0  # table
    noise = rng.normal(0.0, 12.0, size=x.shape)
    inside = hu > -990
    hu[inside] += noise[inside]
    return np.rint(hu)


# ---------------------------------------------------------------- MR head


def mr_head(study: StudySpec, slices: int = 20, size: int = 256, series_number: int = 3) -> Iterator[Dataset]:
    """Axial T2 head: 12 bits stored in 16, unsigned, CSF bright."""
    rng = np.random.default_rng(hash_int(study.key + "mr"))
    coords = (np.arange(size) - size / 2 + 0.5) / (size / 2)
    x, y = np.meshgrid(coords, coords)
    for index in range(slices):
        z = index / max(slices - 1, 1)
        scale = np.sin(np.pi * (0.15 + 0.7 * z))
        signal = np.zeros(x.shape)
        signal[_ellipse(x, y, 0, 0, 0.75 * scale + 0.1, 0.9 * scale + 0.05)] = 300.0  # scalp and skull
        signal[_ellipse(x, y, 0, 0, 0.68 * scale + 0.08, 0.83 * scale + 0.04)] = 900.0  # grey matter
        signal[_ellipse(x, y, 0, 0, 0.5 * scale + 0.05, 0.65 * scale + 0.03)] = 650.0  # white matter
        for side in (-1, 1):
            signal[_ellipse(x, y, side * 0.1, -0.05, 0.06 * scale + 0.01, 0.25 * scale + 0.01)] = 2200.0
        signal += rng.normal(0, 25, size=x.shape) * (signal > 0)
        ds = base_dataset(study, MR_IMAGE, "mr", series_number, index + 1, "MR")
        ds.SeriesDescription = "Ax T2 FSE"
        ds.BodyPartExamined = "HEAD"
        ds.ScanningSequence = "SE"
        ds.SequenceVariant = "SK"
        ds.MagneticFieldStrength = "3"
        ds.ImagePositionPatient = [-115.0, -115.0, -40.0 + 5.0 * index]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.FrameOfReferenceUID = uid_for("frame", study.key, "mr")
        ds.PixelSpacing = [0.9, 0.9]
        ds.SliceThickness = "5"
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.WindowCenter = "1100"
        ds.WindowWidth = "2200"
        _grey_image(ds, np.clip(np.rint(signal), 0, 4095), 12, signed=False)
        yield with_file_meta(ds)


# ---------------------------------------------------------------- DX chest


def dx_chest(study: StudySpec, rows: int = 2500, columns: int = 2048, series_number: int = 1) -> Iterator[Dataset]:
    """A PA chest radiograph, MONOCHROME1 (high values display dark), 12 bits stored."""
    rng = np.random.default_rng(hash_int(study.key + "dx"))
    ys = (np.arange(rows) - rows / 2) / (rows / 2)
    xs = (np.arange(columns) - columns / 2) / (columns / 2)
    x, y = np.meshgrid(xs, ys)
    attenuation = np.full(x.shape, 200.0)  # air: little attenuation, dark on film
    attenuation[_ellipse(x, y, 0, 0.1, 0.85, 0.95)] = 1900.0  # body
    for side in (-1, 1):
        attenuation[_ellipse(x, y, side * 0.36, -0.05, 0.27, 0.55)] = 1000.0  # lungs
    attenuation[_ellipse(x, y, 0.08, 0.2, 0.22, 0.2)] = 2300.0  # heart
    attenuation[np.abs(x) < 0.06] = 2800.0  # spine
    attenuation += rng.normal(0, 30, size=x.shape)
    stored = np.clip(4095 - attenuation, 0, 4095)  # MONOCHROME1: dense = low value = bright
    ds = base_dataset(study, DX_IMAGE, "dx", series_number, 1, "DX")
    ds.SeriesDescription = "Chest PA"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "PA"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImagerPixelSpacing = [0.139, 0.139]
    ds.PixelSpacing = [0.139, 0.139]
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.WindowCenter = "2400"
    ds.WindowWidth = "3200"
    _grey_image(ds, np.rint(stored), 12, signed=False)
    yield with_file_meta(ds)


# ---------------------------------------------------------------- US cine


def us_cine(study: StudySpec, frames: int = 30, rows: int = 480, columns: int = 640) -> Iterator[Dataset]:
    """An ultrasound cine loop, JPEG Baseline YBR_FULL_422 as most scanners send it."""
    rng = np.random.default_rng(hash_int(study.key + "us"))
    ys, xs = np.mgrid[0:rows, 0:columns]
    angle = np.arctan2(xs - columns / 2, ys + 40)
    depth = np.hypot(xs - columns / 2, ys + 40)
    sector = (np.abs(angle) < 0.6) & (depth > 60) & (depth < rows - 10)
    speckle = rng.rayleigh(40, size=(rows, columns))
    encoded = []
    for frame in range(frames):
        phase = np.sin(2 * np.pi * frame / frames)
        grey = np.where(sector, speckle * (0.6 + 0.4 * np.cos(depth / 30 - phase)), 0)
        vessel = _ellipse(xs.astype(float), ys.astype(float), columns / 2, rows / 2, 60 + 8 * phase, 25)
        rgb = np.stack([grey, grey, grey], axis=-1)
        rgb[vessel & sector] = [200 * (phase > 0), 40, 200 * (phase <= 0)]  # colour Doppler
        image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
        out = io.BytesIO()
        image.save(out, "JPEG", quality=92, subsampling=1)  # 4:2:2, as YBR_FULL_422 says
        encoded.append(out.getvalue())
    ds = base_dataset(study, US_MULTIFRAME, "us", 1, 1, "US")
    ds.SeriesDescription = "Carotid cine"
    ds.BodyPartExamined = "NECK"
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.NumberOfFrames = frames
    ds.FrameTime = "33.3"
    ds.CineRate = 30
    ds.FrameIncrementPointer = 0x00181063
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    ds.PixelData = encapsulate(encoded)
    ds["PixelData"].VR = "OB"
    yield with_file_meta(ds, JPEGBaseline8Bit)


# ---------------------------------------------------------------- reports


def pdf_report(study: StudySpec, title: str, lines: list[str], series_number: int = 99) -> Dataset:
    """An Encapsulated PDF report (PS3.3 A.45) holding a one-page text PDF."""
    ds = base_dataset(study, ENCAPSULATED_PDF, "pdf", series_number, 1, "DOC")
    ds.SeriesDescription = "Report"
    ds.ConversionType = "WSD"
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = title
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.ConceptNameCodeSequence = Sequence([_code("18748-4", "LN", "Diagnostic imaging report")])
    document = text_pdf([title, "", *lines])
    ds.EncapsulatedDocumentLength = len(document)
    ds.EncapsulatedDocument = document + (b"\0" if len(document) % 2 else b"")
    return with_file_meta(ds)


def text_report(study: StudySpec, findings: str, impression: str, series_number: int = 98) -> Dataset:
    """A Basic Text SR (PS3.3 A.35.1) with findings and an impression."""
    ds = base_dataset(study, BASIC_TEXT_SR, "sr", series_number, 1, "SR")
    ds.SeriesDescription = "Report"
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "VERIFIED"
    ds.ConceptNameCodeSequence = Sequence([_code("18748-4", "LN", "Diagnostic imaging report")])
    ds.ContentSequence = Sequence(
        [_text_item("121071", "DCM", "Finding", findings), _text_item("121073", "DCM", "Impression", impression)]
    )
    return with_file_meta(ds)


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = value, scheme, meaning
    return code


def _text_item(value: str, scheme: str, meaning: str, text: str) -> Dataset:
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "TEXT"
    item.ConceptNameCodeSequence = Sequence([_code(value, scheme, meaning)])
    item.TextValue = text
    return item


def text_pdf(lines: list[str]) -> bytes:
    """A one-page A4 PDF of Helvetica text lines (ASCII), with an exact xref table."""
    escaped = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in lines]
    text = "BT /F1 11 Tf 56 780 Td 15 TL " + " ".join(f"({line}) '" for line in escaped) + " ET"
    stream = text.encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def small_instances(study: StudySpec, count: int, size: int = 64) -> Iterator[Dataset]:
    """Many small secondary-capture images in one series, for ingest benchmarks."""
    pixels = (np.add.outer(np.arange(size), np.arange(size)) % 256).astype(np.uint16)
    for index in range(count):
        ds = base_dataset(study, SECONDARY_CAPTURE, "sc", 1, index + 1, "OT")
        ds.ConversionType = "WSD"
        ds.SeriesDescription = "Small images"
        ds.PhotometricInterpretation = "MONOCHROME2"
        _grey_image(ds, pixels, 8, signed=False)
        yield with_file_meta(ds)


# ---------------------------------------------------------------- large multi-frame


def write_large_multiframe(
    path: Path,
    study: StudySpec,
    frames: int,
    rows: int = 512,
    columns: int = 512,
    series_key: str = "large",
    transfer_syntax: str = ExplicitVRLittleEndian,
    noise: bool = False,
) -> Path:
    """A native 16-bit multi-frame CT of `frames` frames written to `path` a frame at a time.

    For objects of GBs (the region's largest): the header is made by pydicom,
    the Pixel Data element's header and value are written by hand (PS3.5 7.1.2,
    Explicit VR Little Endian, or Big Endian with `transfer_syntax`), so the
    object is never whole in memory. Each frame differs (`large_multiframe_frame`);
    with `noise` its low bits are random, as a CT's are, so that it does not
    deflate to a fraction of its size.
    """
    ds = base_dataset(study, CT_IMAGE, series_key, 4, 1, "CT")
    ds.SeriesDescription = "Large multi-frame"
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, columns, frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    order = "<" if UID(transfer_syntax).is_little_endian else ">"
    with path.open("wb") as out:
        out.write(to_bytes(with_file_meta(ds, transfer_syntax)))
        out.write(struct.pack(f"{order}HH2sHL", 0x7FE0, 0x0010, b"OW", 0, frames * rows * columns * 2))
        for number in range(frames):
            out.write(large_multiframe_frame(number, rows, columns, noise).astype(f"{order}u2").tobytes())
    return path


def large_multiframe_frame(number: int, rows: int = 512, columns: int = 512, noise: bool = False) -> np.ndarray:
    """Frame `number` of `write_large_multiframe`: a 12-bit ramp (with `noise`, plus up to 255 at random,
    seeded by the number), the frame's number in its first two pixels."""
    pixels = (np.arange(rows * columns, dtype=np.uint32) % 4096).astype(np.uint16)
    if noise:
        pixels += np.random.default_rng(number).integers(0, 256, rows * columns, dtype=np.uint16)
    pixels[:2] = np.frombuffer(number.to_bytes(4, "little"), "<u2")
    return pixels.reshape(rows, columns)
