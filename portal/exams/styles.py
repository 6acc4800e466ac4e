"""The viewer page's styles, carried in the page itself: on a slow network a stylesheet is a round trip.

A stylesheet blocks the first paint until it has come: on Slow 3G (2 s a
request) the viewer's first image, already in the page, waited 1.4 s after the
page for its two stylesheets (bench/slow_network.py). The viewer page puts
their text in one `<style>` element instead, and the Content-Security-Policy
allows exactly that text by its SHA-256 (`STYLE_HASH`, in
portal.middleware's policy): no other inline style runs. Both read the files
once per process, through the static files finders, so what the page carries
is what the hash names.
"""

import base64
import functools
import hashlib

from django.contrib.staticfiles import finders

VIEWER_STYLESHEETS = ("css/portal.css", "css/viewer.css")


@functools.cache
def viewer_styles() -> str:
    """The viewer page's stylesheets' text, in order, as one `<style>` element's content."""
    texts = []
    for name in VIEWER_STYLESHEETS:
        path = finders.find(name)
        if not isinstance(path, str):
            raise FileNotFoundError(f"static file {name} not found")
        with open(path, encoding="utf-8") as stylesheet:
            texts.append(stylesheet.read())
    return "\n".join(texts)


@functools.cache
def style_hash() -> str:
    """The CSP source naming exactly `viewer_styles()` (CSP Level 2, hash-source)."""
    digest = hashlib.sha256(viewer_styles().encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"
