"""A stored object's frames, read one at a time: never its whole pixel data (PS3.5 8.2, A.4, A.5).

One multi-frame object can be 2 GB. `stored_pixels` reads the header up to the
Pixel Data element and notes where its value lies; a frame is then read alone:

- native (PS3.5 8.2): seek to the frame's offset and read its bytes; a big
  endian file's words are swapped to little endian a chunk at a time (PS3.5
  7.3), and 8-bit pixels in an OW value pairwise, as pydicom does; single-bit
  frames that do not start on a byte are realigned;
- encapsulated (PS3.5 A.4): the frame's fragments, found by the Extended
  Offset Table (PS3.3 C.7.6.3), else the Basic Offset Table, else by walking
  the item headers and seeking past their values; without a table, fragments
  are one per frame, or a frame's run ends with a JPEG EOI/EOC marker (as
  pydicom reads them);
- deflated (PS3.5 A.5): inflated a chunk at a time into a temporary file
  first, since a deflate stream cannot be entered in the middle.

`frame_chunks` yields a frame in pieces of at most `CHUNK` bytes, which
WADO-RS streams; `decode` turns one frame into stored values for
`imaging.rendering`, by a one-frame data set of the frame's pixel description.
Everything before the Pixel Data is read whole, as pydicom reads it.
"""

import contextlib
import tempfile
import zlib
from collections.abc import Iterator
from functools import cached_property
from struct import unpack
from typing import BinaryIO, cast

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filebase import ReadableBuffer
from pydicom.filereader import read_dataset, read_preamble
from pydicom.tag import BaseTag
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from imaging.dicom.pixels import UnsupportedImage, decode_frame

__all__ = ["CHUNK", "StoredPixels", "read_frame", "read_without_pixels", "stored_pixels"]

CHUNK = 1024 * 1024  # a multiple of every word size, so swapped chunks stay whole words
PIXEL_KEYWORDS = {0x7FE00008: "FloatPixelData", 0x7FE00009: "DoubleFloatPixelData", 0x7FE00010: "PixelData"}
# What a decoder reads of the Image Pixel module (PS3.3 C.7.6.3): the frame's description, not its LUTs.
PIXEL_DESCRIPTION = (
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "PlanarConfiguration",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
)
PIXEL_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})
ITEM, SEQUENCE_DELIMITER = 0xFFFEE000, 0xFFFEE0DD
UNDEFINED_LENGTH = 0xFFFFFFFF
END_OF_IMAGE = b"\xff\xd9"  # JPEG EOI; JPEG 2000 EOC has the same bytes
END_MARKER_WINDOW = 10  # how far from a fragment's end pydicom looks for it


@contextlib.contextmanager
def stored_pixels(handle: ReadableBuffer) -> Iterator["StoredPixels"]:
    """The stored file's pixel data, ready to read frame by frame, while the block lasts."""
    with _dataset_stream(handle) as (stream, meta):
        header = _read_up_to_pixels(stream, meta)
        yield StoredPixels(stream, header, *_pixel_value_position(stream, _syntax(meta)))


def read_frame(handle: ReadableBuffer, index: int) -> tuple[Dataset, np.ndarray]:
    """The header (without pixel data) and frame `index`'s stored values, read from that frame alone."""
    with stored_pixels(handle) as pixels:
        return pixels.header, pixels.decode(index)


def read_without_pixels(handle: ReadableBuffer) -> Dataset:
    """The data set up to its pixel data, with its file meta (a deflated file inflated out of memory)."""
    with _dataset_stream(handle) as (stream, meta):
        return _read_up_to_pixels(stream, meta)


class StoredPixels:
    """The Pixel Data value of a stored file: where it lies in `stream`, and how its frames are laid out.

    `stream` holds the file's data set as stored, or inflated when it was
    deflated; `offset` is where the value starts, `length` its length
    (undefined when encapsulated).
    """

    def __init__(self, stream: ReadableBuffer, header: Dataset, tag: int, vr: str, offset: int, length: int) -> None:
        self.stream, self.header, self.tag, self.offset, self.length = stream, header, tag, offset, length
        self.syntax = _syntax(header.file_meta)
        self.number_of_frames = max(int(header.get("NumberOfFrames") or 1), 1)
        self.encapsulated = length == UNDEFINED_LENGTH
        self.frame_bits = 0 if self.encapsulated else _native_frame_bits(header)
        self.word = _swapped_word(header, self.syntax, tag, vr)

    def frame(self, index: int) -> bytes:
        """Frame `index` (from 0): native as little endian bytes, or an encapsulated frame's fragments joined."""
        return b"".join(self.frame_chunks(index))

    def frame_chunks(self, index: int) -> Iterator[bytes]:
        """Frame `index` in pieces of at most `CHUNK` bytes, read as they are asked for."""
        if not 0 <= index < self.number_of_frames:
            raise ValueError(f"the object has {self.number_of_frames} frame(s), not {index + 1}")
        if self.encapsulated:
            for position, length in self._fragments_of(index):
                yield from self._read(position, length, strict=False)
        else:
            yield from self._native_chunks(index)

    def decode(self, index: int) -> np.ndarray:
        """Frame `index`'s stored values, as `imaging.dicom.pixels.decode_frame` gives them, from this frame alone."""
        if not 0 <= index < self.number_of_frames:
            raise UnsupportedImage(f"frame {index} is out of range (the object has {self.number_of_frames})")
        single = Dataset()
        for keyword in PIXEL_DESCRIPTION:
            if keyword in self.header:
                single[keyword] = self.header[keyword]  # shared, never changed: the header keeps its own
        single.NumberOfFrames = 1
        single.file_meta = FileMetaDataset()
        data = self.frame(index)
        if self.encapsulated:
            single.file_meta.TransferSyntaxUID = self.syntax
            single.add_new(self.tag, "OB", encapsulate([data]))
        else:
            single.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            single.add_new(self.tag, _native_vr(self.tag, int(self.header.get("BitsAllocated") or 8)), data)
        return decode_frame(single, 0)

    # ---------------------------------------------------------------- native (PS3.5 8.2)

    def _native_chunks(self, index: int) -> Iterator[bytes]:
        start = index * self.frame_bits
        first, end = start // 8, -(-(start + self.frame_bits) // 8)
        if end > self.length:
            raise ValueError(f"the pixel data ends before frame {index + 1}")
        if start % 8 or self.frame_bits % 8:
            yield _realigned_bits(b"".join(self._read(self.offset + first, end - first)), start % 8, self.frame_bits)
            return
        if self.word < 2:
            yield from self._read(self.offset + first, end - first)
            return
        # Whole words around the frame, swapped, then trimmed to it (8-bit pixels in OW words may straddle).
        aligned = first - first % self.word
        skip, wanted = first - aligned, end - first
        for chunk in self._read(self.offset + aligned, skip + wanted + (-(skip + wanted) % self.word)):
            swapped = np.frombuffer(chunk, f"u{self.word}").byteswap().tobytes()
            piece = swapped[skip : skip + wanted]
            skip, wanted = max(skip - len(swapped), 0), wanted - len(piece)
            if piece:
                yield piece

    def _read(self, position: int, length: int, strict: bool = True) -> Iterator[bytes]:
        """`length` bytes from `position` of the stream, `CHUNK` at a time.

        A file that ends sooner is an error when `strict`; a truncated last
        fragment is given as it is, as pydicom gives it.
        """
        self.stream.seek(position)
        while length > 0:
            chunk = self.stream.read(min(CHUNK, length))
            if not chunk:
                if strict:
                    raise ValueError("the pixel data ends before the frame does")
                return
            length -= len(chunk)
            yield chunk

    # ---------------------------------------------------------------- encapsulated (PS3.5 A.4)

    def _fragments_of(self, index: int) -> list[tuple[int, int]]:
        """The (position, length) of each fragment value of frame `index`."""
        extended = self._extended_offsets
        if extended is not None:
            offsets, lengths = extended
            if index >= len(offsets):
                raise ValueError(f"the Extended Offset Table has no frame {index + 1}")
            return [(self._first_fragment + int(offsets[index]) + 8, int(lengths[index]))]
        basic = self._basic_offsets
        if basic:
            if index >= len(basic):
                raise ValueError(f"the Basic Offset Table has no frame {index + 1}")
            end = self._first_fragment + basic[index + 1] if index + 1 < len(basic) else None
            return list(self._items(self._first_fragment + basic[index], end))
        frames = self._frames_without_table
        if index >= len(frames):
            raise ValueError(f"the encapsulated pixel data holds no frame {index + 1}")
        return frames[index]

    @cached_property
    def _basic_offsets(self) -> list[int]:
        tag, length = self._item_header(self.offset)
        if tag != ITEM:
            raise ValueError("the encapsulated pixel data does not start with its Basic Offset Table")
        self.stream.seek(self.offset + 8)
        table = self.stream.read(length)
        return [int(offset) for offset in np.frombuffer(table, "<u4", count=len(table) // 4)]

    @cached_property
    def _first_fragment(self) -> int:
        """Where the first fragment's item starts: just past the Basic Offset Table."""
        return self.offset + 8 + self._item_header(self.offset)[1]

    @cached_property
    def _extended_offsets(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The Extended Offset Table (7FE0,0001) and its lengths (7FE0,0002), when the file has them."""
        offsets, lengths = self.header.get("ExtendedOffsetTable"), self.header.get("ExtendedOffsetTableLengths")
        if not offsets or not lengths:
            return None
        return np.frombuffer(bytes(offsets), "<u8"), np.frombuffer(bytes(lengths), "<u8")

    @cached_property
    def _frames_without_table(self) -> list[list[tuple[int, int]]]:
        """Without an offset table: every fragment is a frame, or one object's frame is all of them,
        or a frame is the run of fragments up to one that ends with EOI/EOC (read from its last bytes only)."""
        fragments = list(self._items(self._first_fragment, None))
        if self.number_of_frames == 1:
            return [fragments]
        if len(fragments) == self.number_of_frames:
            return [[fragment] for fragment in fragments]
        frames: list[list[tuple[int, int]]] = []
        run: list[tuple[int, int]] = []
        for position, length in fragments:
            run.append((position, length))
            tail = min(length, END_MARKER_WINDOW)
            self.stream.seek(position + length - tail)
            if END_OF_IMAGE in self.stream.read(tail):
                frames.append(run)
                run = []
        return [*frames, run] if run else frames

    def _items(self, position: int, end: int | None) -> Iterator[tuple[int, int]]:
        """The (value position, length) of each item from `position` to `end` or the Sequence Delimiter."""
        while end is None or position < end:
            tag, length = self._item_header(position)
            if tag == SEQUENCE_DELIMITER or (tag is None and end is None):
                return
            if tag != ITEM or length == UNDEFINED_LENGTH:
                raise ValueError(f"the encapsulated pixel data has no fragment item at byte {position}")
            yield position + 8, length
            position += 8 + length

    def _item_header(self, position: int) -> tuple[int | None, int]:
        """The tag and length of the item header at `position`; (None, 0) at the end of the data."""
        self.stream.seek(position)
        head = self.stream.read(8)
        if len(head) < 8:
            return None, 0
        group, element, length = unpack("<HHL", head)
        return group << 16 | element, length


# ---------------------------------------------------------------- reading the header


@contextlib.contextmanager
def _dataset_stream(handle: ReadableBuffer) -> Iterator[tuple[ReadableBuffer, FileMetaDataset]]:
    """The stream the data set is read from, positioned at its start, and the file meta.

    The stored file itself; for a deflated file (PS3.5 A.5) a temporary file
    holding the inflated data set, written a chunk at a time.
    """
    handle.seek(0)
    file = cast(BinaryIO, handle)  # pydicom's readers take any object with read, seek and tell
    read_preamble(file, force=False)
    meta = FileMetaDataset(read_dataset(file, is_implicit_VR=False, is_little_endian=True, stop_when=_past_meta))
    if meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
        yield handle, meta
        return
    with tempfile.TemporaryFile(prefix="efilm-inflated-") as inflated:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        while chunk := handle.read(CHUNK):
            inflated.write(inflater.decompress(chunk))
        inflated.write(inflater.flush())
        inflated.seek(0)
        yield inflated, meta


def _read_up_to_pixels(stream: ReadableBuffer, meta: FileMetaDataset) -> Dataset:
    syntax = _syntax(meta)
    header = read_dataset(cast(BinaryIO, stream), syntax.is_implicit_VR, syntax.is_little_endian, stop_when=_at_pixels)
    header.file_meta = meta
    return header


def _past_meta(tag: BaseTag, vr: str | None, length: int) -> bool:
    return tag >> 16 != 0x0002


def _at_pixels(tag: BaseTag, vr: str | None, length: int) -> bool:
    return int(tag) in PIXEL_KEYWORDS


def _syntax(meta: Dataset) -> UID:
    syntax = UID(meta.get("TransferSyntaxUID") or ImplicitVRLittleEndian)
    # The stream of a deflated file is read inflated: Explicit VR Little Endian.
    return UID(ExplicitVRLittleEndian) if syntax == DeflatedExplicitVRLittleEndian else syntax


def _pixel_value_position(stream: ReadableBuffer, syntax: UID) -> tuple[int, str, int, int]:
    """The pixel data element's tag, VR, value offset and length; `stream` stands at the element (PS3.5 7.1)."""
    order = "<" if syntax.is_little_endian else ">"
    head = stream.read(8)
    if len(head) < 8 or (tag := _tag(head, order)) not in PIXEL_KEYWORDS:
        raise ValueError("the file has no pixel data where its header ends")
    vr = head[4:6].decode("latin-1")
    # Implicit VR: tag, 4-byte length; also where a writer left the explicit VR out, which pydicom reads too.
    if syntax.is_implicit_VR or vr not in PIXEL_VRS:
        return tag, "", stream.tell(), unpack(f"{order}L", head[4:])[0]
    # Explicit VR: tag, VR, 2 reserved bytes, 4-byte length.
    (length,) = unpack(f"{order}L", stream.read(4))
    return tag, vr, stream.tell(), length


def _tag(head: bytes, order: str) -> int:
    group, element = unpack(f"{order}HH", head[:4])
    return int(group << 16 | element)


# ---------------------------------------------------------------- native layout


def _native_frame_bits(header: Dataset) -> int:
    """A native frame's size in bits (PS3.5 8.2); YBR_FULL_422 keeps two samples a pixel (PS3.3 C.7.6.3.1.2)."""
    samples = int(header.get("SamplesPerPixel") or 1)
    if header.get("PhotometricInterpretation") == "YBR_FULL_422":
        samples = 2
    return int(header.Rows) * int(header.Columns) * samples * int(header.BitsAllocated)


def _swapped_word(header: Dataset, syntax: UID, tag: int, vr: str) -> int:
    """The size of the words a big endian file's pixels are swapped in; 0 when little endian (PS3.5 7.3).

    8-bit pixels in an OW value were written as 16-bit words: they swap in pairs.
    """
    if syntax.is_little_endian:
        return 0
    width = int(header.get("BitsAllocated") or 8) // 8
    if width == 1 and tag == 0x7FE00010 and vr == "OW":
        return 2
    return width if width > 1 else 0


def _native_vr(tag: int, bits_allocated: int) -> str:
    return {0x7FE00008: "OF", 0x7FE00009: "OD"}.get(tag, "OW" if bits_allocated > 8 else "OB")


def _realigned_bits(data: bytes, skip: int, count: int) -> bytes:
    """`count` bits from bit `skip` of `data` (little-endian bit order), from bit 0 and padded to a byte.

    Single-bit frames (segmentations) need not start on a byte (PS3.5 8.1.1).
    """
    bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")[skip : skip + count]
    return np.packbits(bits, bitorder="little").tobytes()
