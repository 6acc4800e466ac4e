"""QR codes of a link: SVG for the page, PNG to save or print."""

import base64
import io

import qrcode
import qrcode.image.svg


def qr_svg(text: str) -> str:
    """An inline SVG (a single path, no script), sized by CSS."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    svg: str = image.to_string(encoding="unicode")
    return svg.replace(' id="qr-path"', "")  # a page may hold two codes: no duplicate ids


def qr_png(text: str) -> bytes:
    image = qrcode.make(text, box_size=10, border=2)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


def qr_png_data_uri(text: str) -> str:
    return "data:image/png;base64," + base64.b64encode(qr_png(text)).decode()
