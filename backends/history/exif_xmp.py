"""EXIF and XMP inside JPEG and WebP files: spliced in without re-encoding, and read back within bounds.

A provider's JPEG or WebP is stored as the provider sent it, plus two metadata blocks spliced into the
container; the compressed image data is copied byte for byte, so the pixels decode exactly as the
provider's file did (re-encoding a 1024x1024 WebP as PNG took ~330 ms and 14x the bytes).

EXIF, UserComment (tag 0x9286 of the Exif IFD)
    The A1111 ``parameters`` text, the way AUTOMATIC1111 writes JPEG and WebP
    (``piexif.helper.UserComment.dump(text, encoding="unicode")``): ``b"UNICODE\\0"`` and the text as
    UTF-16 **big-endian**, which is what ``piexif.helper.UserComment.load`` (A1111's reader) decodes.
    The TIFF is big-endian too, so readers that follow the byte order (exiftool) agree.
XMP, property ``kolors:kolors_playground``
    The same JSON a PNG's ``kolors_playground`` chunk holds. XMP rather than a JPEG ``COM`` segment
    (WebP has none) or EXIF ImageDescription (viewers show that as the image's title, and it must be
    ASCII): one place in both formats that Pillow (``info["xmp"]``), exiftool and Adobe's tools read,
    that no viewer shows as a caption, and that has no size limit in WebP.

Containers:

JPEG
    An ``APP1 Exif`` segment, then an ``APP1`` XMP segment, right after SOI and any APP0 (JFIF)
    segment, where Pillow and libjpeg put them. One segment holds at most 65,533 bytes: when the JSON
    does not fit, it is left out (the A1111 text still restores most controls); when even the A1111
    text does not fit, splicing raises ValueError and the store saves a PNG instead.
WebP
    A simple file (one ``VP8`` or ``VP8L`` chunk) becomes an extended one: a ``VP8X`` chunk with the
    canvas size and the EXIF/XMP (and, for lossless images with alpha, the alpha) flags; an existing
    ``VP8X`` keeps its size and gets the flags. ``EXIF`` and ``XMP`` chunks go after the image data, as
    the container spec orders them, and the RIFF size is recomputed.

Existing EXIF is kept (merged through Pillow, with our UserComment set); existing XMP gets our
``rdf:Description`` added. Anything the walkers do not recognise raises ValueError.
"""

from __future__ import annotations

import io
import json
import logging
import re
import struct
from typing import Any, BinaryIO
from xml.sax.saxutils import escape

from .parameters import JSON_KEY

__all__ = [
    "XMP_NAMESPACE",
    "decode_user_comment",
    "embed_jpeg",
    "embed_webp",
    "exif_is_safe",
    "exif_user_comment",
    "exif_with_user_comment",
    "jpeg_blocks",
    "jpeg_blocks_from",
    "webp_blocks",
    "webp_blocks_from",
    "xmp_json",
    "xmp_packet",
]

log = logging.getLogger(__name__)

XMP_NAMESPACE = "urn:kolors-playground:xmp:1/"
_XMP_PREFIX = "kolors"

_JPEG_EXIF = b"Exif\0\0"
_JPEG_XMP = b"http://ns.adobe.com/xap/1.0/\0"
_JPEG_SEGMENT_MAX = 65535 - 2  # the length field counts itself
_APP0, _APP1, _SOS = 0xE0, 0xE1, 0xDA

_UNICODE_PREFIX = b"UNICODE\0"
_ASCII_PREFIX = b"ASCII\0\0\0"
_JIS_PREFIX = b"JIS\0\0\0\0\0"

# Exif IFD tags whose type the Exif spec makes UNDEFINED. Pillow 12 knows the type of only some of
# them and writes the others' bytes as BYTE; piexif (A1111's reader) reads a BYTE value as a tuple of
# ints and then cannot decode a UserComment at all, so those entries are retyped after Pillow.
_UNDEFINED_EXIF_TAGS = frozenset({0x9000, 0x9101, 0x927C, 0x9286, 0xA000, 0xA300, 0xA301, 0xA302, 0xA40B})
_EXIF_IFD_POINTER = 0x8769
_TIFF_BYTE, _TIFF_UNDEFINED = 1, 7

# Characters XML 1.0 cannot hold even escaped (JSON escapes the C0 controls itself).
_NOT_XML = re.compile("[\ufffe\uffff\ud800-\udfff]")
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# A bounded look into EXIF (TIFF) bytes
#
# Pillow copies the data of every IFD entry separately, so 65,535 entries pointing at one block turn a
# 60 KB EXIF into gigabytes. These walks read only the offsets and counts, touch each IFD once, and
# decide whether Pillow may see the block at all (every data byte referenced about once).

_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}
_IFD_POINTERS = frozenset({0x8769, 0x8825, 0xA005})  # Exif, GPS, Interop
_USER_COMMENT = 0x9286
_MAX_IFD_ENTRIES = 1024
_MAX_IFDS = 16


def _tiff_order(tiff: bytes) -> str:
    if tiff[:4] == b"II*\0":
        return "<"
    if tiff[:4] == b"MM\0*":
        return ">"
    raise ValueError("not TIFF data")


def _tiff_entries(tiff: bytes):
    """(tag, type, count, value offset or inline position) of every entry of every IFD reachable from
    IFD0 (the chain, Exif, GPS, Interop), each IFD once; ValueError when an IFD lies about its size."""
    if tiff[:6] == _JPEG_EXIF:
        tiff = tiff[6:]
    order = _tiff_order(tiff)
    (first,) = struct.unpack_from(order + "I", tiff, 4)
    pending, seen = [first], set()
    while pending:
        offset = pending.pop()
        if offset == 0 or offset in seen:
            continue
        seen.add(offset)
        if len(seen) > _MAX_IFDS:
            raise ValueError("too many EXIF directories")
        if offset + 2 > len(tiff):
            raise ValueError("an EXIF directory outside the block")
        (count,) = struct.unpack_from(order + "H", tiff, offset)
        if count > _MAX_IFD_ENTRIES or offset + 2 + 12 * count + 4 > len(tiff):
            raise ValueError("an EXIF directory larger than its block")
        for i in range(count):
            entry = offset + 2 + 12 * i
            tag, kind, items = struct.unpack_from(order + "HHI", tiff, entry)
            size = _TIFF_TYPE_SIZES.get(kind, 1) * items
            (where,) = struct.unpack_from(order + "I", tiff, entry + 8) if size > 4 else (entry + 8,)
            if tag in _IFD_POINTERS and kind in (4, 13):
                pending.append(where if size > 4 else struct.unpack_from(order + "I", tiff, entry + 8)[0])
            yield tiff, tag, kind, size, where
        (following,) = struct.unpack_from(order + "I", tiff, offset + 2 + 12 * count)
        pending.append(following)


def exif_is_safe(tiff: bytes) -> bool:
    """Whether ``tiff`` (EXIF, with or without ``Exif\\0\\0``) can go to Pillow: well formed, and its
    entries' data adding up to about the block's own size."""
    try:
        referenced = sum(size for _, _, _, size, _ in _tiff_entries(bytes(tiff)) if size > 4)
    except (ValueError, struct.error):
        return False
    return referenced <= len(tiff) + 4096


def exif_user_comment(tiff: bytes) -> str | None:
    """The UserComment of an EXIF block, decoded as A1111 does; None when it has none or is damaged."""
    try:
        for block, tag, kind, size, where in _tiff_entries(bytes(tiff)):
            if tag == _USER_COMMENT and kind in (1, 2, 7) and where + size <= len(block):
                return decode_user_comment(block[where : where + size])
    except (ValueError, struct.error):
        return None
    return None


# ---------------------------------------------------------------------------------------------
# The two metadata blocks


def exif_with_user_comment(text: str, existing: bytes | None = None) -> bytes:
    """TIFF bytes (no ``Exif\\0\\0`` header) whose Exif IFD has ``text`` as A1111 writes a UserComment.

    ``existing`` (an EXIF block, with or without that header) keeps its tags and byte order; one that
    Pillow cannot read is replaced. The thumbnail IFD of an existing block is dropped.
    """
    from PIL import ExifTags, Image

    comment = _UNICODE_PREFIX + text.encode("utf-16-be", "replace")
    if existing and exif_is_safe(existing):
        try:
            exif = Image.Exif()
            exif.load(existing)
            sub = dict(exif.get_ifd(ExifTags.IFD.Exif))
            if ExifTags.IFD.Interop in sub and not isinstance(sub[ExifTags.IFD.Interop], dict):
                sub[ExifTags.IFD.Interop] = exif.get_ifd(ExifTags.IFD.Interop)
            sub[ExifTags.Base.UserComment] = comment
            exif[ExifTags.IFD.Exif] = sub
            return _retype_undefined(bytearray(exif.tobytes()[len(_JPEG_EXIF) :]))
        except Exception:  # tags Pillow reads but cannot write back: ours alone, below
            log.info("a provider's EXIF could not be kept; the image gets ours alone")
    elif existing:
        log.info("a provider's EXIF is malformed or refers to its data many times over; it is replaced")
    exif = Image.Exif()
    exif[ExifTags.IFD.Exif] = {ExifTags.Base.UserComment: comment}
    return _retype_undefined(bytearray(exif.tobytes()[len(_JPEG_EXIF) :]))


def _retype_undefined(tiff: bytearray) -> bytes:
    """Mark the Exif IFD's BYTE entries that the spec types UNDEFINED (same bytes, other type code)."""
    order = "<" if tiff[:2] == b"II" else ">"

    def entries(offset: int):
        (count,) = struct.unpack_from(order + "H", tiff, offset)
        for i in range(count):
            yield offset + 2 + 12 * i

    (ifd0,) = struct.unpack_from(order + "I", tiff, 4)
    for entry in entries(ifd0):
        tag, kind = struct.unpack_from(order + "HH", tiff, entry)
        if tag == _EXIF_IFD_POINTER and kind == 4:  # LONG
            (exif_ifd,) = struct.unpack_from(order + "I", tiff, entry + 8)
            for sub_entry in entries(exif_ifd):
                tag, kind = struct.unpack_from(order + "HH", tiff, sub_entry)
                if kind == _TIFF_BYTE and tag in _UNDEFINED_EXIF_TAGS:
                    struct.pack_into(order + "H", tiff, sub_entry + 2, _TIFF_UNDEFINED)
    return bytes(tiff)


def xmp_packet(playground_json: str, existing: bytes | None = None) -> bytes:
    """An XMP packet holding ``playground_json``; added to ``existing`` when it has one ``rdf:RDF``."""
    if _NOT_XML.search(playground_json):  # the same JSON value, spelled with \\u escapes
        playground_json = json.dumps(json.loads(playground_json), ensure_ascii=True, separators=(",", ":"))
    description = (
        f'<rdf:Description rdf:about="" xmlns:{_XMP_PREFIX}="{XMP_NAMESPACE}">'
        f"<{_XMP_PREFIX}:{JSON_KEY}>{escape(playground_json)}</{_XMP_PREFIX}:{JSON_KEY}>"
        "</rdf:Description>"
    ).encode()
    if existing and existing.count(b"</rdf:RDF>") == 1:
        return existing.replace(b"</rdf:RDF>", description + b"</rdf:RDF>")
    return (
        b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        + description
        + b'</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    )


# ---------------------------------------------------------------------------------------------
# Splicing


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def _jpeg_segments(data: bytes) -> tuple[list[tuple[int, int, int]], int]:
    """(marker, start, end) of each marker segment before the image data, and where SOS starts."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG file (no SOI)")
    segments: list[tuple[int, int, int]] = []
    pos, size = 2, len(data)
    while True:
        if pos + 4 > size:
            raise ValueError("the JPEG header ends before the image data")
        if data[pos] != 0xFF:
            raise ValueError(f"no JPEG marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # a fill byte before a marker
            pos += 1
            continue
        if marker == _SOS:
            return segments, pos
        if marker in (0x00, 0x01, 0xD8, 0xD9) or 0xD0 <= marker <= 0xD7:
            raise ValueError(f"unexpected JPEG marker FF{marker:02X} before the image data")
        (length,) = struct.unpack_from(">H", data, pos + 2)
        end = pos + 2 + length
        if length < 2 or end > size:
            raise ValueError(f"truncated JPEG segment FF{marker:02X}")
        segments.append((marker, pos, end))
        pos = end


def embed_jpeg(data: bytes, parameters: str, playground_json: str) -> bytes:
    segments, _ = _jpeg_segments(data)
    view = memoryview(data)
    insert_at = 2
    for marker, start, end in segments:  # after SOI and the APP0 (JFIF, JFXX) segments that lead
        if marker != _APP0 or start != insert_at:
            break
        insert_at = end
    old_exif = old_xmp = None
    exif_segments, xmp_segments = [], []
    for marker, start, end in segments:
        if marker != _APP1:
            continue
        payload = data[start + 4 : end]
        if payload.startswith(_JPEG_EXIF):
            old_exif = old_exif if old_exif is not None else payload[len(_JPEG_EXIF) :]
            exif_segments.append((start, end))
        elif payload.startswith(_JPEG_XMP):
            old_xmp = old_xmp if old_xmp is not None else payload[len(_JPEG_XMP) :]
            xmp_segments.append((start, end))

    exif = _JPEG_EXIF + exif_with_user_comment(parameters, old_exif)
    if len(exif) > _JPEG_SEGMENT_MAX:
        raise ValueError(
            f"the parameters take {len(exif)} bytes of EXIF, "
            f"over the {_JPEG_SEGMENT_MAX} a JPEG segment holds"
        )
    new = [_segment(_APP1, exif)]
    drop = list(exif_segments)
    if playground_json:
        xmp = _JPEG_XMP + xmp_packet(playground_json, old_xmp)
        if len(xmp) <= _JPEG_SEGMENT_MAX:
            new.append(_segment(_APP1, xmp))
            drop += xmp_segments
        else:  # the A1111 text (in the EXIF) still restores most controls
            log.info("JSON left out of a JPEG: %d bytes of XMP, over %d", len(xmp), _JPEG_SEGMENT_MAX)

    parts: list[bytes | memoryview] = [view[:insert_at], *new]
    pos = insert_at
    for start, end in sorted(drop):
        parts.append(view[pos:start])
        pos = end
    parts.append(view[pos:])
    return b"".join(parts)


def _riff_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(fourcc, start, end) of each chunk of a WebP file, ``end`` past any padding byte."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP file")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    if riff_size + 8 != len(data):
        raise ValueError(f"the RIFF header says {riff_size + 8} bytes, the file has {len(data)}")
    chunks, pos = [], 12
    while pos < len(data):
        if pos + 8 > len(data):
            raise ValueError("truncated WebP chunk header")
        fourcc = data[pos : pos + 4]
        (length,) = struct.unpack_from("<I", data, pos + 4)
        end = pos + 8 + length + (length & 1)
        if end > len(data):
            raise ValueError(f"truncated WebP chunk {fourcc!r}")
        chunks.append((fourcc, pos, end))
        pos = end
    if not chunks:
        raise ValueError("a WebP file without chunks")
    return chunks


def _riff_payload(data: bytes, start: int) -> bytes:
    (length,) = struct.unpack_from("<I", data, start + 4)
    return data[start + 8 : start + 8 + length]


def _riff_chunk(fourcc: bytes, payload: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)


_VP8X_ALPHA, _VP8X_EXIF, _VP8X_XMP = 0x10, 0x08, 0x04


def _simple_webp_canvas(fourcc: bytes, payload: bytes) -> tuple[int, int, int]:
    """(width, height, VP8X flags it implies) of a ``VP8 `` or ``VP8L`` bitstream, from its header."""
    if fourcc == b"VP8 ":
        if len(payload) < 10 or payload[3:6] != b"\x9d\x01\x2a" or payload[0] & 1:
            raise ValueError("a VP8 chunk without a key frame header")
        width, height = struct.unpack_from("<HH", payload, 6)
        return width & 0x3FFF, height & 0x3FFF, 0
    if len(payload) < 5 or payload[0] != 0x2F:
        raise ValueError("a VP8L chunk without its signature")
    (bits,) = struct.unpack_from("<I", payload, 1)
    alpha = _VP8X_ALPHA if (bits >> 28) & 1 else 0
    return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, alpha


def embed_webp(data: bytes, parameters: str, playground_json: str) -> bytes:
    chunks = _riff_chunks(data)
    view = memoryview(data)
    first, start, end = chunks[0]
    if first == b"VP8X":
        header = bytearray(data[start:end])
        if len(header) < 18:
            raise ValueError("a VP8X chunk shorter than 10 bytes")
        body = [view[s:e] for fourcc, s, e in chunks[1:] if fourcc not in (b"EXIF", b"XMP ")]
        old_exif = next((_riff_payload(data, s) for fourcc, s, _ in chunks if fourcc == b"EXIF"), None)
        old_xmp = next((_riff_payload(data, s) for fourcc, s, _ in chunks if fourcc == b"XMP "), None)
        flags = header[8]
    elif first in (b"VP8 ", b"VP8L") and len(chunks) == 1:
        width, height, flags = _simple_webp_canvas(first, _riff_payload(data, start))
        if not (width and height):
            raise ValueError("a WebP image of size 0")
        canvas = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        header = bytearray(_riff_chunk(b"VP8X", bytes(4) + canvas))
        body, old_exif, old_xmp = [view[start:end]], None, None
    else:
        raise ValueError(f"an unexpected WebP layout (chunks {[c[0] for c in chunks]!r})")

    # An EXIF chunk holds the TIFF bytes themselves (no "Exif\0\0"), as libwebp and piexif write it.
    extra = [_riff_chunk(b"EXIF", exif_with_user_comment(parameters, old_exif))]
    xmp = xmp_packet(playground_json, old_xmp) if playground_json else old_xmp
    if xmp is not None:
        extra.append(_riff_chunk(b"XMP ", xmp))
    flags = (flags | _VP8X_EXIF | _VP8X_XMP) if xmp is not None else (flags | _VP8X_EXIF) & ~_VP8X_XMP
    header[8] = flags
    size = 4 + len(header) + sum(len(part) for part in body) + sum(len(part) for part in extra)
    if size >= 2**32:
        raise ValueError("a WebP file over 4 GB")
    return b"".join([b"RIFF", struct.pack("<I", size), b"WEBP", header, *body, *extra])


# ---------------------------------------------------------------------------------------------
# Reading


def decode_user_comment(value: bytes | str) -> str:
    """The text of an EXIF UserComment, decoded as A1111 decodes it.

    A1111 uses ``piexif.helper.UserComment.load`` (``UNICODE`` → UTF-16 big-endian, ``ASCII``, ``JIS``)
    and, for any other prefix, the whole value as UTF-8. One addition: a ``UNICODE`` comment that is
    plainly little-endian (a byte-order mark, or the zero bytes of ASCII text on the odd side), as some
    tools write it, is read as such instead of as garbage.
    """
    if isinstance(value, str):
        return value.strip("\0")
    prefix, body = value[:8], value[8:]
    if prefix == _UNICODE_PREFIX:
        text = body.decode(_utf16_order(body), "replace")
    elif prefix == _ASCII_PREFIX:
        text = body.decode("utf-8", "replace")  # the same for ASCII; what some tools put there
    elif prefix == _JIS_PREFIX:
        text = body.decode("shift_jis", "replace")
    else:
        text = value.decode("utf-8", "ignore")
    return text.lstrip("\ufeff").strip("\0")


def _utf16_order(body: bytes) -> str:
    if body[:2] == b"\xff\xfe":
        return "utf-16-le"
    if body[:2] == b"\xfe\xff":
        return "utf-16-be"
    sample = body[:512]
    zeros_even = sample[0::2].count(0)
    zeros_odd = sample[1::2].count(0)
    return "utf-16-le" if zeros_odd > zeros_even else "utf-16-be"


def xmp_json(packet: Any) -> str | None:
    if isinstance(packet, str):
        packet = packet.encode("utf-8")
    if not isinstance(packet, (bytes, bytearray)) or _DOCTYPE.search(packet):
        return None  # XMP has no DTD; refusing one refuses entity expansion tricks
    from xml.etree import ElementTree

    root = ElementTree.fromstring(bytes(packet).strip(b"\0 \t\r\n"))
    name = f"{{{XMP_NAMESPACE}}}{JSON_KEY}"
    for element in root.iter():
        if element.tag == name:
            return element.text or ""
        if name in element.attrib:  # simple properties may be written as attributes
            return element.attrib[name]
    return None


def jpeg_blocks(data: bytes) -> tuple[bytes | None, bytes | None]:
    """The first EXIF (TIFF bytes) and XMP packet of a JPEG's APP1 segments."""
    return jpeg_blocks_from(io.BytesIO(data))


def jpeg_blocks_from(handle: BinaryIO) -> tuple[bytes | None, bytes | None]:
    """:func:`jpeg_blocks` read from ``handle``: the marker segments before the image data, reading only
    the APP1 ones (64 KB at most each) and seeking past the rest; nothing from the scan on."""
    if handle.read(2) != b"\xff\xd8":
        raise ValueError("not a JPEG file (no SOI)")
    exif = xmp = None
    while True:
        marker = handle.read(2)
        if len(marker) < 2:
            raise ValueError("the JPEG header ends before the image data")
        if marker[0] != 0xFF:
            raise ValueError("no JPEG marker where one should be")
        while marker[1] == 0xFF:  # fill bytes before a marker
            marker = marker[1:] + handle.read(1)
            if len(marker) < 2:
                raise ValueError("the JPEG header ends before the image data")
        kind = marker[1]
        if kind == _SOS:
            return exif, xmp
        if kind in (0x00, 0x01, 0xD8, 0xD9) or 0xD0 <= kind <= 0xD7:
            raise ValueError(f"unexpected JPEG marker FF{kind:02X} before the image data")
        raw = handle.read(2)
        if len(raw) < 2 or (length := struct.unpack(">H", raw)[0]) < 2:
            raise ValueError(f"truncated JPEG segment FF{kind:02X}")
        if kind != _APP1 or (exif is not None and xmp is not None):
            handle.seek(length - 2, io.SEEK_CUR)
            continue
        payload = handle.read(length - 2)
        if len(payload) < length - 2:
            raise ValueError(f"truncated JPEG segment FF{kind:02X}")
        if payload.startswith(_JPEG_EXIF) and exif is None:
            exif = payload[len(_JPEG_EXIF) :]
        elif payload.startswith(_JPEG_XMP) and xmp is None:
            xmp = payload[len(_JPEG_XMP) :]


def webp_blocks(data: bytes) -> tuple[bytes | None, bytes | None]:
    """The EXIF (TIFF bytes) and XMP chunks of a WebP file."""
    return webp_blocks_from(io.BytesIO(data), size=len(data))


def webp_blocks_from(handle: BinaryIO, *, size: int, max_block: int = 1 << 20) -> tuple[bytes | None, bytes | None]:
    """:func:`webp_blocks` read from ``handle`` (a file of ``size`` bytes): the chunk headers, and the
    first ``EXIF`` and ``XMP `` chunks of at most ``max_block`` bytes; the image data is seeked past."""
    header = handle.read(12)
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WEBP":
        raise ValueError("not a WebP file")
    (riff_size,) = struct.unpack_from("<I", header, 4)
    if riff_size + 8 != size:
        raise ValueError(f"the RIFF header says {riff_size + 8} bytes, the file has {size}")
    exif = xmp = None
    pos = 12
    while pos < size:
        chunk = handle.read(8)
        if len(chunk) < 8:
            raise ValueError("truncated WebP chunk header")
        fourcc, (length,) = chunk[:4], struct.unpack_from("<I", chunk, 4)
        end = pos + 8 + length + (length & 1)
        if end > size:
            raise ValueError(f"truncated WebP chunk {fourcc!r}")
        wanted = (fourcc == b"EXIF" and exif is None) or (fourcc == b"XMP " and xmp is None)
        if wanted and length <= max_block:
            payload = handle.read(length)
            if fourcc == b"EXIF":
                exif = payload
            else:
                xmp = payload
            handle.seek(end, io.SEEK_SET)
        else:
            handle.seek(end, io.SEEK_SET)
        pos = end
    return exif, xmp
