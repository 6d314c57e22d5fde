"""A stored image file and its parameters: which format it is, splicing our metadata in, reading it back.

PNG gets ``iTXt`` chunks (:mod:`.png_chunks`); JPEG and WebP get EXIF and XMP (:mod:`.exif_xmp`).
Either way the file carries the A1111 ``parameters`` text (:mod:`.a1111`) and our JSON
(:mod:`.parameters`), and the compressed image data is copied byte for byte.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any, BinaryIO

from .a1111 import parse_a1111_parameters
from .exif_xmp import embed_jpeg, embed_webp, exif_user_comment, jpeg_blocks_from, webp_blocks_from, xmp_json
from .parameters import JSON_KEY, PARAMETERS_KEY, RestoredParameters, parse_playground_json
from .png_chunks import PNG_SIGNATURE, embed_png_metadata, png_texts_from

__all__ = ["IMAGE_KINDS", "JPEG", "PNG", "WEBP", "ImageKind", "embed_metadata", "image_kind", "read_image_parameters"]


@dataclass(frozen=True)
class ImageKind:
    """A stored image format: ``name`` as Pillow calls it, its MIME type and file extension."""

    name: str
    mime_type: str
    extension: str


PNG = ImageKind("PNG", "image/png", ".png")
JPEG = ImageKind("JPEG", "image/jpeg", ".jpg")
WEBP = ImageKind("WEBP", "image/webp", ".webp")
IMAGE_KINDS = (PNG, JPEG, WEBP)


def image_kind(data: bytes) -> ImageKind | None:
    """PNG, JPEG or WebP from the first bytes; None for anything else."""
    if data[:8] == PNG_SIGNATURE:
        return PNG
    if data[:3] == b"\xff\xd8\xff":
        return JPEG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


def embed_metadata(data: bytes, *, parameters: str, playground_json: str) -> bytes:
    """``data`` (PNG, JPEG or WebP) with the A1111 ``parameters`` text and our JSON in it, same format.

    The image data is copied byte for byte. An empty ``playground_json`` writes the A1111 text alone.
    Raises ValueError when the bytes are not a container that can be spliced safely, or (JPEG) when
    the A1111 text is over the 64 KB a segment holds; the history store then falls back to PNG.
    """
    kind = image_kind(data)
    if kind is PNG:
        chunks = {PARAMETERS_KEY: parameters}
        if playground_json:
            chunks[JSON_KEY] = playground_json
        return embed_png_metadata(data, chunks)
    if kind is JPEG:
        return embed_jpeg(data, parameters, playground_json)
    if kind is WEBP:
        return embed_webp(data, parameters, playground_json)
    raise ValueError("not a PNG, JPEG or WebP file")


_MAX_METADATA_BYTES = 1 << 20  # an XMP packet or EXIF block larger than this is not ours, nor A1111's


def read_image_parameters(data: bytes | os.PathLike[str] | str | BinaryIO) -> RestoredParameters | None:
    """Parameters from a PNG, JPEG or WebP: our JSON first, else the A1111 ``parameters`` text.

    The JSON is the PNG ``kolors_playground`` chunk or the XMP property; the A1111 text is the PNG
    ``parameters`` chunk or the EXIF UserComment (A1111's JPEG and WebP files). ``data`` is the file's
    bytes, its path or an open binary file that can seek. Only the metadata is read: a PNG's chunks up
    to its image data, a JPEG's marker segments up to the scan, a WebP's chunk headers and its EXIF and
    XMP chunks; the rest is seeked past, so a large file costs a few KB of reading and the pixels are
    never decoded. JPEG and WebP are walked here rather than opened with Pillow, whose EXIF reading a
    crafted file can make take gigabytes. Returns None for anything else: another format, a corrupt
    file, no parameters, text without an A1111 settings line. Never raises.
    """
    try:
        if isinstance(data, (bytes, bytearray, memoryview)):
            return _read_parameters(io.BytesIO(bytes(data)))
        if hasattr(data, "read"):
            return _read_parameters(data)  # type: ignore[arg-type]
        with open(data, "rb") as handle:  # type: ignore[arg-type]
            return _read_parameters(handle)
    except Exception:
        return None


def _read_parameters(handle: BinaryIO) -> RestoredParameters | None:
    start = handle.tell()
    size = handle.seek(0, io.SEEK_END) - start
    handle.seek(start)
    kind = image_kind(handle.read(12))
    handle.seek(start)
    if kind is PNG:
        texts = png_texts_from(handle)
        json_text, parameters = texts.get(JSON_KEY), texts.get(PARAMETERS_KEY)
    elif kind in (JPEG, WEBP):
        exif, xmp = jpeg_blocks_from(handle) if kind is JPEG else webp_blocks_from(
            handle, size=size, max_block=_MAX_METADATA_BYTES)
        json_text = _quietly(xmp_json, xmp) if xmp and len(xmp) <= _MAX_METADATA_BYTES else None
        parameters = exif_user_comment(exif) if exif and len(exif) <= _MAX_METADATA_BYTES else None
    else:
        return None
    restored = _quietly(parse_playground_json, json_text) if isinstance(json_text, str) else None
    if restored is None and isinstance(parameters, str):
        restored = _quietly(parse_a1111_parameters, parameters)
    return restored


def _quietly(read: Any, value: Any) -> Any:
    """``read(value)``, or None when a damaged file makes it raise."""
    try:
        return read(value)
    except Exception:
        return None
