"""A measurement phantom of known size and values, for the viewer's ruler and value readout.

A CT image of 256 x 192 pixels at 0.5 mm (128 x 96 mm): air (-1000 HU) with a
water rectangle (0 HU) 50 mm wide and 30 mm high, a bone square (1000 HU) at
the top right and a fat bar (-100 HU) at the bottom right, so that no turn or
mirror of it looks like another. Stored values go through Rescale Slope 2 and
Intercept -1024 (PS3.3 C.11.1), so the value readout must apply them.
"""

import numpy as np
from pydicom.dataset import Dataset

from imaging import synthetic
from imaging.synthetic import StudySpec

COLUMNS, ROWS = 256, 192
SPACING_MM = 0.5
SLOPE, INTERCEPT = 2, -1024
# Regions as (first column, first row, last column + 1, last row + 1) and their HU.
WATER = (40, 50, 140, 110)  # 100 x 60 pixels: 50 x 30 mm
BONE = (190, 20, 214, 44)
FAT = (160, 140, 244, 172)
REGIONS = {WATER: 0, BONE: 1000, FAT: -100}
AIR = -1000
WINDOW = (0, 2000)  # air black, water mid-grey, bone white


def hounsfield() -> np.ndarray:
    """The phantom's values in HU, rows by columns."""
    hu = np.full((ROWS, COLUMNS), AIR, dtype=np.int32)
    for (x0, y0, x1, y1), value in REGIONS.items():
        hu[y0:y1, x0:x1] = value
    return hu


def phantom_ct(study: StudySpec, spacing: str = "pixel", modality: str = "CT", series_key: str = "phantom") -> Dataset:
    """The phantom as one CT image; `spacing` "pixel" gives it Pixel Spacing, "imager" only Imager Pixel
    Spacing (at the detector), "none" neither."""
    sop_class = synthetic.CT_IMAGE if modality == "CT" else synthetic.MR_IMAGE
    ds = synthetic.base_dataset(study, sop_class, series_key, 7, 1, modality)
    ds.SeriesDescription = "Phantom"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImagePositionPatient = [-64.0, -48.0, 0.0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    if spacing == "pixel":
        ds.PixelSpacing = [SPACING_MM, SPACING_MM]
    elif spacing == "imager":
        ds.ImagerPixelSpacing = [SPACING_MM, SPACING_MM]
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.RescaleSlope = str(SLOPE)
    ds.RescaleIntercept = str(INTERCEPT)
    ds.WindowCenter, ds.WindowWidth = str(WINDOW[0]), str(WINDOW[1])
    stored = (hounsfield() - INTERCEPT) // SLOPE
    synthetic._grey_image(ds, stored.astype(np.int16), 16, signed=True)
    return synthetic.with_file_meta(ds)
