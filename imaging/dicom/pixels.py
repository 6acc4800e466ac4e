"""A frame's stored values (PS3.5 8.1.1, 8.2): what the pixel data holds, before any LUT.

Masked to Bits Stored and sign-extended when Pixel Representation is 1, YBR
as RGB: step 1 of the display pipeline (`imaging.rendering`). pydicom's
decoders do that for every transfer syntax; plain greyscale little endian
frames take a view of their bytes instead of pydicom's general machinery.
"""

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels.utils import pixel_array


class UnsupportedImage(ValueError):
    """The dataset's pixels cannot be shown (no pixels, unknown photometric, ...)."""


# DCMTK decodes JPEG with IJG libjpeg; Pillow's libjpeg-turbo (islow IDCT) and
# GDCM give the same samples for 8-bit JPEG, libjpeg (pylibjpeg) may be one off.
PREFERRED_DECODERS = {
    "1.2.840.10008.1.2.4.50": ("pillow", "gdcm"),
    "1.2.840.10008.1.2.4.51": ("pillow", "gdcm"),
}


NATIVE_LITTLE_ENDIAN = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}


def decode_frame(ds: Dataset, frame: int) -> np.ndarray:
    """One frame's stored values (masked to Bits Stored, sign-extended), YBR as RGB."""
    syntax = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
    if syntax in NATIVE_LITTLE_ENDIAN and _plain_greyscale(ds):
        return _native_greyscale_frame(ds, frame)
    for plugin in PREFERRED_DECODERS.get(syntax, ()):
        try:
            return pixel_array(ds, index=frame, decoding_plugin=plugin)
        except (RuntimeError, NotImplementedError, ValueError):
            continue
    return pixel_array(ds, index=frame)


def _plain_greyscale(ds: Dataset) -> bool:
    return (
        int(ds.get("SamplesPerPixel") or 1) == 1
        and int(ds.get("BitsAllocated") or 0) in (8, 16)
        and "PixelData" in ds
        and str(ds.get("PhotometricInterpretation", "")).startswith("MONOCHROME")
    )


def _native_greyscale_frame(ds: Dataset, frame: int) -> np.ndarray:
    """PS3.5 8.1.1 for the common case, without pydicom's general machinery: a view
    of the frame's bytes, masked to Bits Stored and sign-extended."""
    allocated, stored_bits = int(ds.BitsAllocated), int(ds.get("BitsStored") or ds.BitsAllocated)
    signed = int(ds.get("PixelRepresentation") or 0) == 1
    rows, columns = int(ds.Rows), int(ds.Columns)
    count, itemsize = rows * columns, allocated // 8
    data = ds.PixelData
    if len(data) < (frame + 1) * count * itemsize:
        raise UnsupportedImage("the pixel data is shorter than its rows, columns and frames say")
    unsigned = np.frombuffer(data, dtype=f"<u{itemsize}", count=count, offset=frame * count * itemsize)
    unsigned = unsigned.reshape(rows, columns)
    if stored_bits < allocated:
        unsigned = unsigned & np.array((1 << stored_bits) - 1, dtype=unsigned.dtype)
        if signed:
            sign = np.array(1 << (stored_bits - 1), dtype=unsigned.dtype)
            return (unsigned ^ sign).view(f"<i{itemsize}") - sign.view(f"<i{itemsize}")
    return unsigned.view(f"<i{itemsize}") if signed else unsigned
