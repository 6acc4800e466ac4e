"""Reading the QR codes a page draws as SVG: rasterise the modules, then decode with zxing-cpp."""

import re

import zxingcpp
from PIL import Image, ImageDraw

MODULE = re.compile(r"M(\d+),(\d+)H")
SCALE = 8


def decode_svg(svg: str) -> list[str]:
    """The texts of the QR codes drawn by the SVGs in `svg` (one square path per module)."""
    texts: list[str] = []
    for drawing in re.findall(r"<svg.*?</svg>", svg, flags=re.S):
        side = int(re.search(r'viewBox="0 0 (\d+) (\d+)"', drawing).group(1))  # type: ignore[union-attr]
        image = Image.new("L", (side * SCALE, side * SCALE), 255)
        draw = ImageDraw.Draw(image)
        for x, y in MODULE.findall(drawing):
            left, top = int(x) * SCALE, int(y) * SCALE
            draw.rectangle([left, top, left + SCALE - 1, top + SCALE - 1], fill=0)
        texts += [barcode.text for barcode in zxingcpp.read_barcodes(image)]
    return texts
