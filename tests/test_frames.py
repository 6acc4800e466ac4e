"""imaging.dicom.frames: one frame of a stored file, read alone, byte for byte what pydicom reads from the file."""

import io
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, encapsulate_extended, get_frame
from pydicom.pixels import pixel_array
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian

from imaging import synthetic
from imaging.dicom import CHUNK, UnsupportedImage, decode_frame, read_frame, read_without_pixels, stored_pixels
from imaging.rendering import render_frame
from tests.support.dicom import ct_slice, study_spec

NATIVE_FILES = [
    "CT_small.dcm",  # Explicit VR Little Endian
    "MR_small_implicit.dcm",  # Implicit VR Little Endian
    "rtdose.dcm",  # 15 frames of 32 bits
    "MR_small_bigendian.dcm",  # Explicit VR Big Endian, 16 bits
    "rtdose_expb.dcm",  # Big Endian, 15 frames of 32 bits
    "SC_rgb_small_odd_big_endian.dcm",  # Big Endian 8-bit RGB in OW words, an odd number of bytes
    "SC_rgb_small_odd.dcm",
]
ENCAPSULATED_FILES = [
    "examples_ybr_color.dcm",  # JPEG Baseline, 30 frames, a Basic Offset Table
    "SC_rgb_rle_2frame.dcm",  # RLE, two frames
    "rtdose_rle.dcm",  # RLE, 15 frames
    "examples_jpeg2k.dcm",  # one frame in three fragments, no offset table
    "JPEG2000.dcm",
]


def bundled(name: str) -> Path:
    found = get_testdata_file(name, download=False)
    assert found is not None, name
    return Path(str(found))


def saved(ds: Dataset) -> io.BytesIO:
    stored = io.BytesIO()
    ds.save_as(stored, enforce_file_format=True)
    stored.seek(0)
    return stored


def little_endian_bytes(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()


def encapsulated_frames(ds: Dataset) -> list[bytes]:
    count = int(ds.get("NumberOfFrames") or 1)
    return [get_frame(ds.PixelData, index, number_of_frames=count) for index in range(count)]


@pytest.mark.parametrize("name", NATIVE_FILES)
def test_it_reads_native_frames_byte_equal_to_pydicoms(name: str) -> None:
    path = bundled(name)
    count = int(pydicom.dcmread(path, stop_before_pixels=True).get("NumberOfFrames") or 1)
    with path.open("rb") as handle, stored_pixels(handle) as pixels:
        for index in reversed(range(count)):
            expected = little_endian_bytes(pixel_array(path, index=index, raw=True))
            assert pixels.frame(index) == expected


def test_it_swaps_8_bit_frames_of_a_big_endian_ow_value_that_straddle_words() -> None:
    # Five frames of 3 x 3 bytes: every other frame starts and ends in the middle of a 16-bit word.
    ds = synthetic.with_file_meta(ct_slice(number=1), ExplicitVRBigEndian)
    ds.Rows = ds.Columns = 3
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = 5
    values = np.arange(45, dtype=np.uint8)
    padded = np.zeros(46, np.uint8)
    padded[:45] = values
    ds.PixelData = padded.reshape(23, 2)[:, ::-1].tobytes()  # each byte pair as a big endian writer's word
    ds["PixelData"].VR = "OW"
    assert np.array_equal(pydicom.dcmread(saved(ds)).pixel_array.ravel(), values)
    with stored_pixels(saved(ds)) as pixels:
        assert [pixels.frame(index) for index in range(5)] == [values[i * 9 : i * 9 + 9].tobytes() for i in range(5)]


@pytest.mark.parametrize("name", ENCAPSULATED_FILES)
def test_it_reads_encapsulated_frames_byte_equal_to_pydicoms(name: str) -> None:
    path = bundled(name)
    expected = encapsulated_frames(pydicom.dcmread(path))
    with path.open("rb") as handle, stored_pixels(handle) as pixels:
        assert [pixels.frame(index) for index in reversed(range(len(expected)))] == expected[::-1]


@pytest.mark.parametrize("layout", ["no table, a fragment a frame", "no table, two fragments a frame", "extended"])
def test_it_finds_encapsulated_frames_without_a_basic_offset_table(layout: str) -> None:
    ds = pydicom.dcmread(bundled("examples_ybr_color.dcm"))
    frames = encapsulated_frames(ds)
    if layout == "extended":
        ds.PixelData, ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = encapsulate_extended(frames)
    else:
        ds.PixelData = encapsulate(frames, fragments_per_frame=1 if "a fragment" in layout else 2, has_bot=False)
    with stored_pixels(saved(ds)) as pixels:
        assert [pixels.frame(index) for index in (29, 0, 14)] == [frames[29], frames[0], frames[14]]


def test_it_reads_a_deflated_file_inflated_out_of_memory() -> None:
    path = bundled("image_dfl.dcm")
    whole = pydicom.dcmread(path)
    assert whole.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
    with path.open("rb") as handle, stored_pixels(handle) as pixels:
        assert pixels.frame(0) == whole.PixelData
        assert pixels.header.PatientName == whole.PatientName
    with path.open("rb") as handle:
        assert "PixelData" not in read_without_pixels(handle)


def test_it_gives_a_large_frame_in_chunks() -> None:
    ds = synthetic.with_file_meta(ct_slice(number=1, size=1024))  # 2 MiB a frame
    ds.NumberOfFrames = 2
    second = np.arange(1024 * 1024, dtype=np.int16).reshape(1024, 1024)
    ds.PixelData = ds.PixelData + second.tobytes()
    with stored_pixels(saved(ds)) as pixels:
        chunks = list(pixels.frame_chunks(1))
    assert max(len(chunk) for chunk in chunks) <= CHUNK
    assert b"".join(chunks) == second.tobytes()


def test_it_decodes_and_renders_every_bundled_image_as_from_the_whole_file() -> None:
    compared = 0
    for path in sorted(bundled("CT_small.dcm").parent.glob("*.dcm")):  # pydicom's own files, nothing downloaded
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                whole = pydicom.dcmread(path)
                last = int(whole.get("NumberOfFrames") or 1) - 1
                expected = {index: (decode_frame(whole, index), render_frame(whole, index)) for index in (0, last)}
            except Exception:  # noqa: S112 - what the renderer cannot read from the whole file is not compared
                continue
            with path.open("rb") as handle, stored_pixels(handle) as pixels:
                decoded = {index: pixels.decode(index) for index in (last, 0)}
                header = pixels.header
        for index, (stored, rendered) in expected.items():
            ours = decoded[index]
            assert np.array_equal(ours, stored), path.name
            assert (ours.dtype.kind, ours.dtype.itemsize) == (stored.dtype.kind, stored.dtype.itemsize), path.name
            assert np.array_equal(render_frame(header, index, stored=ours), rendered), path.name
        compared += 1
    assert compared >= 50


def test_it_refuses_a_frame_the_object_does_not_have() -> None:
    with bundled("rtdose.dcm").open("rb") as handle, stored_pixels(handle) as pixels:
        with pytest.raises(ValueError, match="15 frame"):
            pixels.frame(15)
        with pytest.raises(UnsupportedImage, match="out of range"):
            pixels.decode(-1)


def test_it_refuses_an_object_without_pixel_data() -> None:
    report = synthetic.with_file_meta(synthetic.text_report(study_spec(), "x", "y"))
    with pytest.raises(ValueError, match="no pixel data"):
        read_frame(saved(report), 0)


def test_it_reads_the_header_without_pixel_data() -> None:
    ds = synthetic.with_file_meta(ct_slice(number=3), ExplicitVRLittleEndian)
    header = read_without_pixels(saved(ds))
    assert header.SOPInstanceUID == ds.SOPInstanceUID
    assert header.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert "PixelData" not in header
