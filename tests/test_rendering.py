"""imaging.rendering: display pixels by the standard, checked against DCMTK's dcmj2pnm."""

import io
import subprocess
import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite
from pydicom.pixels import convert_color_space
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRBigEndian

from imaging import synthetic
from imaging.rendering import UnsupportedImage, Window, apply_window, render_frame
from tests.support.dicom import bundled_files, ct_slice, study_spec
from tests.support.reference import compare_file, dcmj2pnm

# Files where DCMTK and we disagree for a reason that is not our renderer's; each
# has its own test below that shows why.
NOT_OURS = {
    "JPGExtended.dcm": "12-bit lossy JPEG: libjpeg and DCMTK's IJG decoder differ by one stored value",
    "rtdose_expb.dcm": "DCMTK misreads 32-bit Explicit VR Big Endian pixels",
    "rtdose_expb_1frame.dcm": "DCMTK misreads 32-bit Explicit VR Big Endian pixels",
}
YBR = ("YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420")


def bundled_images() -> list[Path]:
    return [path for path in bundled_files() if path.name not in NOT_OURS]


@pytest.mark.dcmtk
@pytest.mark.slow
def test_it_matches_dcmj2pnm_on_every_bundled_image(require_dcmtk: None) -> None:
    compared, failures = 0, []
    for path in bundled_images():
        photometric = str(
            pydicom.dcmread(path, stop_before_pixels=True, force=True).get("PhotometricInterpretation", "")
        )
        tolerance = 2 if photometric.upper() in YBR else 1
        for comparison in compare_file(path):
            compared += 1
            if comparison.max_difference > tolerance:
                failures.append(comparison)
    assert failures == []
    assert compared >= 150  # greyscale files at three windows each, and the colour ones


@pytest.mark.dcmtk
def test_it_matches_dcmj2pnm_on_the_demo_ct_mr_and_radiograph(require_dcmtk: None, tmp_path: Path) -> None:
    study = study_spec("render-demo")
    cases = {
        "ct": next(iter(synthetic.ct_chest(study, slices=1, size=256))),
        "mr": next(iter(synthetic.mr_head(study, slices=1, size=128))),
        "dx": next(iter(synthetic.dx_chest(study, rows=300, columns=240))),
    }
    for name, ds in cases.items():
        path = tmp_path / f"{name}.dcm"
        path.write_bytes(synthetic.to_bytes(ds))
        comparisons = compare_file(path)
        assert len(comparisons) == 3, name
        assert max(c.max_difference for c in comparisons) <= 1, comparisons


@pytest.mark.dcmtk
def test_it_differs_from_dcmtk_on_12_bit_jpeg_only_by_the_decoder(require_dcmtk: None, tmp_path: Path) -> None:
    source = Path(get_testdata_file("JPGExtended.dcm", download=False))
    decoded = tmp_path / "decoded.dcm"
    subprocess.run(["dcmdjpeg", str(source), str(decoded)], check=True)
    ours = pydicom.dcmread(source).pixel_array.astype(int)
    ijg = pydicom.dcmread(decoded).pixel_array.astype(int)
    assert np.abs(ours - ijg).max() <= 1  # the decoders' stored values
    comparisons = compare_file(decoded)  # our rendering of DCMTK's samples
    assert comparisons
    assert max(c.max_difference for c in comparisons) <= 1


@pytest.mark.dcmtk
def test_it_renders_big_endian_dose_as_its_little_endian_twin(require_dcmtk: None) -> None:
    big = pydicom.dcmread(get_testdata_file("rtdose_expb.dcm", download=False))
    little = pydicom.dcmread(get_testdata_file("rtdose.dcm", download=False))
    assert np.array_equal(render_frame(big, 0), render_frame(little, 0))
    reference = dcmj2pnm(Path(get_testdata_file("rtdose.dcm", download=False)), "+Wm")
    assert reference is not None
    assert np.abs(render_frame(little, 0).astype(int) - reference.astype(int)).max() <= 1


# ---------------------------------------------------------------- the VOI functions, by hand


def window(x: list[float], center: float, width: float, function: str) -> list[float]:
    return [float(v) for v in apply_window(np.array(x, dtype=np.float64), Window(center, width, function))]


def test_it_windows_linear_by_the_standard_formula() -> None:
    # C.11.2.1.2.1 with c=40, w=400: below c-0.5-(w-1)/2 = -160 -> 0, above c-0.5+(w-1)/2 = 239 -> 255
    low, high = 40 - 0.5 - 399 / 2, 40 - 0.5 + 399 / 2
    assert window([low, low + 1, 39.5, high, high + 0.001], 40, 400, "LINEAR") == pytest.approx(
        [0.0, ((low + 1 - 39.5) / 399 + 0.5) * 255, 127.5, 255.0, 255.0]
    )


def test_it_thresholds_a_linear_window_of_width_one() -> None:
    assert window([99.0, 99.5, 99.6, 100.0, 101.0], 100, 1, "LINEAR") == [0.0, 0.0, 255.0, 255.0, 255.0]


def test_it_windows_linear_exact_by_the_standard_formula() -> None:
    # C.11.2.1.3.2: x <= c - w/2 -> 0, x > c + w/2 -> 255, else ((x - c)/w + 0.5) * 255
    assert window([-160.0, -159.0, 40.0, 240.0, 240.5], 40, 400, "LINEAR_EXACT") == pytest.approx(
        [0.0, (-199 / 400 + 0.5) * 255, 127.5, 255.0, 255.0]
    )


def test_it_windows_sigmoid_by_the_standard_formula() -> None:
    # C.11.2.1.3.1: y = 255 / (1 + exp(-4 (x - c) / w))
    values = window([40.0, 240.0, -160.0], 40, 400, "SIGMOID")
    assert values == pytest.approx([127.5, 255 / (1 + np.exp(-2)), 255 / (1 + np.exp(2))])


def test_it_refuses_a_linear_window_narrower_than_one() -> None:
    with pytest.raises(UnsupportedImage):
        window([0.0], 0, 0.5, "LINEAR")


# ---------------------------------------------------------------- the pipeline's steps


def grey(pixels: np.ndarray, bits_stored: int = 12, signed: bool = False, **attributes: object) -> Dataset:
    ds = ct_slice(size=pixels.shape[0])
    for keyword in ("WindowCenter", "WindowWidth", "RescaleSlope", "RescaleIntercept"):
        del ds[keyword]
    synthetic._grey_image(ds, pixels, bits_stored, signed)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def test_it_masks_to_bits_stored_and_sign_extends() -> None:
    # 12 bits stored in 16: high bits hold overlay garbage, 0xFFF is -1 when signed
    raw = np.array([[0xF800, 0x0FFF], [0x0001, 0x07FF]], dtype=np.uint16)
    ds = grey(raw.view(np.int16), bits_stored=12, signed=True, WindowCenter="0", WindowWidth="4096")
    out = render_frame(ds, window=(0.5, 4096))
    stored = np.array([[-2048, -1], [1, 2047]])
    expected = np.clip(np.floor(((stored - 0.0) / 4095 + 0.5) * 255 + 0.5), 0, 255)
    assert out.tolist() == expected.astype(int).tolist()


def test_it_applies_rescale_before_the_window() -> None:
    ds = grey(np.array([[0, 1024], [1064, 2048]], dtype=np.uint16), RescaleSlope="1", RescaleIntercept="-1024")
    out = render_frame(ds, window=(40, 1))  # threshold at 39.5 HU
    assert out.tolist() == [[0, 0], [255, 255]]


def test_it_applies_a_modality_lut_sequence() -> None:
    item = Dataset()
    item.LUTDescriptor = [4, 10, 16]
    item.ModalityLUTType = "US"
    item.LUTData = [0, 100, 200, 300]
    ds = grey(np.array([[5, 10], [12, 99]], dtype=np.uint16), ModalityLUTSequence=Sequence([item]))
    assert render_frame(ds, window=(150, 1)).tolist() == [[0, 0], [255, 255]]


def test_it_applies_a_voi_lut_sequence_when_the_file_has_no_window() -> None:
    item = Dataset()
    item.LUTDescriptor = [3, 0, 8]
    item.LUTData = [0, 51, 255]
    ds = grey(np.array([[0, 1], [2, 7]], dtype=np.uint16), VOILUTSequence=Sequence([item]))
    assert render_frame(ds).tolist() == [[0, 51], [255, 255]]


def test_it_inverts_monochrome1_and_an_inverse_presentation_shape() -> None:
    pixels = np.array([[0, 4095], [2048, 1000]], dtype=np.uint16)
    plain = render_frame(grey(pixels), window=(2048, 4096))
    assert (
        render_frame(grey(pixels, PhotometricInterpretation="MONOCHROME1"), window=(2048, 4096)).tolist()
        == (255 - plain).tolist()
    )
    assert (
        render_frame(grey(pixels, PresentationLUTShape="INVERSE"), window=(2048, 4096)).tolist()
        == (255 - plain).tolist()
    )


def test_it_uses_the_full_range_of_modality_values_without_a_window() -> None:
    out = render_frame(grey(np.array([[100, 200], [150, 300]], dtype=np.uint16)))
    assert (out.min(), out.max()) == (0, 255)


def test_it_takes_windows_and_rescale_of_each_enhanced_frame() -> None:
    ds = grey(np.zeros((2, 2), dtype=np.uint16))
    ds.NumberOfFrames = 2
    ds.PixelData = np.array([[[0, 100], [200, 300]], [[0, 100], [200, 300]]], dtype="<u2").tobytes()
    frames = []
    for center, intercept in ((150, 0), (1150, 1000)):
        group = Dataset()
        voi, rescale = Dataset(), Dataset()
        voi.WindowCenter, voi.WindowWidth = center, 1
        rescale.RescaleIntercept, rescale.RescaleSlope, rescale.RescaleType = intercept, 1, "US"
        group.FrameVOILUTSequence = Sequence([voi])
        group.PixelValueTransformationSequence = Sequence([rescale])
        frames.append(group)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    assert render_frame(ds, frame=0).tolist() == [[0, 0], [255, 255]]
    assert render_frame(ds, frame=1).tolist() == [[0, 0], [255, 255]]
    ds.PerFrameFunctionalGroupsSequence[1].FrameVOILUTSequence[0].WindowCenter = 1050
    assert render_frame(ds, frame=1).tolist() == [[0, 255], [255, 255]]


def test_it_scales_a_16_bit_palette_to_8_bits() -> None:
    ds = pydicom.dcmread(get_testdata_file("examples_palette.dcm", download=False))
    assert ds.PhotometricInterpretation == "PALETTE COLOR"
    assert int(ds.RedPaletteColorLookupTableDescriptor[2]) == 16
    out = render_frame(ds)
    assert out.dtype == np.uint8
    assert out.shape == (ds.Rows, ds.Columns, 3)
    assert out.max() > 128


@pytest.mark.dcmtk
@pytest.mark.usefixtures("require_dcmtk")
def test_it_renders_a_big_endian_palette_as_dcmtk_does(tmp_path: Path) -> None:
    """The same PALETTE COLOR image in Explicit VR Big Endian: its 16-bit LUT entries are big-endian words."""
    little = pydicom.dcmread(get_testdata_file("examples_palette.dcm", download=False))
    big = pydicom.dcmread(get_testdata_file("examples_palette.dcm", download=False))
    for keyword in ("Red", "Green", "Blue"):
        element = big[f"{keyword}PaletteColorLookupTableData"]
        element.value = np.frombuffer(element.value, dtype="<u2").astype(">u2").tobytes()
    big.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    big["PixelData"].VR = "OB"  # 8-bit indices as bytes: no word to swap, the same image as the original
    path = tmp_path / "palette-be.dcm"
    dcmwrite(path, big, little_endian=False, implicit_vr=False, force_encoding=True)
    stored = pydicom.dcmread(path)
    assert stored.file_meta.TransferSyntaxUID == ExplicitVRBigEndian
    reference = dcmj2pnm(path)
    assert reference is not None
    ours = render_frame(stored)
    assert int(np.abs(ours.astype(np.int16) - reference.astype(np.int16)).max()) <= 1
    assert ours.tolist() == render_frame(little).tolist()


def test_it_turns_ybr_full_into_rgb() -> None:
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    ds = grey(np.zeros((8, 8), dtype=np.uint16))
    ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.PhotometricInterpretation = "YBR_FULL"
    ds.PixelData = convert_color_space(rgb, "RGB", "YBR_FULL").tobytes()
    assert np.abs(render_frame(ds).astype(int) - rgb.astype(int)).max() <= 2


def test_it_renders_each_frame_of_a_cine() -> None:
    ds = next(iter(synthetic.us_cine(study_spec("cine"), frames=3)))
    ds = pydicom.dcmread(io.BytesIO(synthetic.to_bytes(ds)))
    frames = [render_frame(ds, frame=n) for n in range(3)]
    assert all(f.shape == (480, 640, 3) for f in frames)
    assert not np.array_equal(frames[0], frames[1])
    with pytest.raises(UnsupportedImage, match="out of range"):
        render_frame(ds, frame=3)


def test_it_windows_a_frame_without_copying_its_index_whole() -> None:
    # np.take over a whole 512x512 frame first copies the index to intp, 2 MiB that
    # malloc often maps afresh: its page faults were then most of a preview's cost.
    ds = next(iter(synthetic.ct_chest(study_spec("lookup"), slices=1, size=512)))
    ds = pydicom.dcmread(io.BytesIO(synthetic.to_bytes(ds)))
    first = render_frame(ds)  # builds the cached table
    tracemalloc.start()
    try:
        again = render_frame(ds)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.array_equal(again, first)
    assert peak < 512 * 512 * np.dtype(np.intp).itemsize // 2


def test_it_refuses_an_object_without_pixels() -> None:
    with pytest.raises(UnsupportedImage, match="no pixel data"):
        render_frame(synthetic.text_report(study_spec(), "x", "y"))
