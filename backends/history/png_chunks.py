"""PNG text chunks: splicing ours in without touching the pixels, reading them back, and making a PNG.

Our two texts (the A1111 ``parameters`` and the ``kolors_playground`` JSON) go in as UTF-8 ``iTXt``
chunks right after ``IHDR``, so readers find them without touching the pixel data and Chinese prompts
survive.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Mapping
from typing import Any, BinaryIO

__all__ = ["MAX_TEXT_BYTES", "PNG_SIGNATURE", "embed_png_metadata", "png_texts", "png_texts_from", "to_png"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def _keyword(key: str) -> bytes:
    try:
        raw = key.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"PNG text keyword {key!r} must be Latin-1") from None
    if not 1 <= len(raw) <= 79 or key != key.strip() or "  " in key or any(not 32 <= b <= 255 for b in raw):
        raise ValueError(f"PNG text keyword {key!r} must be 1-79 printable Latin-1 characters")
    return raw


def _itxt(key: str, text: str) -> bytes:
    # keyword \0 compression-flag compression-method language-tag \0 translated-keyword \0 text
    return _chunk(b"iTXt", _keyword(key) + b"\0\0\0" + b"\0" + b"\0" + text.encode("utf-8"))


def _walk_chunks(png: bytes | memoryview):
    """Yield (type, start, end, data_start, data_end) for each chunk; raise ValueError when malformed."""
    view = memoryview(png)
    if bytes(view[:8]) != PNG_SIGNATURE:
        raise ValueError("not a PNG file (bad signature)")
    pos, size = 8, len(view)
    while pos < size:
        if pos + 12 > size:
            raise ValueError("truncated PNG chunk")
        (length,) = struct.unpack_from(">I", view, pos)
        kind = bytes(view[pos + 4 : pos + 8])
        end = pos + 12 + length
        if end > size:
            raise ValueError(f"truncated PNG chunk {kind!r}")
        yield kind, pos, end, pos + 8, pos + 8 + length
        pos = end
        if kind == b"IEND":
            return
    raise ValueError("PNG file has no IEND chunk")


def _text_keyword(kind: bytes, data: memoryview) -> str | None:
    if kind not in _TEXT_CHUNKS:
        return None
    raw = bytes(data[:80])
    return raw.split(b"\0", 1)[0].decode("latin-1")


def embed_png_metadata(png_bytes: bytes, chunks: Mapping[str, str]) -> bytes:
    """Return ``png_bytes`` with one UTF-8 ``iTXt`` chunk per entry of ``chunks``, right after IHDR.

    The image data is copied byte for byte (no decoding); existing text chunks with the same keywords
    are dropped so ours are the ones readers see. Raises ValueError for a malformed PNG or keyword.
    """
    new = b"".join(_itxt(key, text) for key, text in chunks.items())
    view = memoryview(png_bytes)
    parts: list[bytes | memoryview] = [PNG_SIGNATURE]
    seen_ihdr = False
    for kind, start, end, data_start, data_end in _walk_chunks(view):
        if not seen_ihdr:
            if kind != b"IHDR":
                raise ValueError("PNG file does not start with IHDR")
            parts += [view[start:end], new]
            seen_ihdr = True
            continue
        if _text_keyword(kind, view[data_start:data_end]) in chunks:
            continue
        parts.append(view[start:end])
    return b"".join(parts)


def to_png(data: bytes, mime_type: str) -> bytes:
    """The image as PNG bytes: a PNG is returned unchanged; anything else is decoded and re-saved.

    The history keeps JPEG and WebP as they came (:mod:`.image_metadata`); this is its fallback for
    files whose container it cannot splice metadata into, and for other formats.

    WebP and JPEG become a PNG whose pixels equal the decoded image exactly (the ICC profile is kept).
    Lossless PNG of a lossy source is larger, typically 3-10x the WebP/JPEG size (a 1024x1024 photo:
    ~150 KB JPEG → ~1.5 MB PNG). CMYK images are converted to RGB, the one lossy case.
    Raises ValueError when the bytes are not an image Pillow can read.
    """
    if data[:8] == PNG_SIGNATURE:
        return data
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
                image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
            out = io.BytesIO()
            save_args: dict[str, Any] = {}
            if image.info.get("icc_profile"):
                save_args["icc_profile"] = image.info["icc_profile"]
            image.save(out, format="PNG", **save_args)
            return out.getvalue()
    except Exception as exc:
        raise ValueError(f"the {mime_type or 'image'} data could not be read as an image ({exc})") from exc


MAX_TEXT_BYTES = 1 << 20  # a text chunk (or its inflated text) larger than this is not ours, nor A1111's


def png_texts(data: bytes) -> dict[str, str]:
    """The text chunks of a PNG (before its image data) by keyword; see :func:`png_texts_from`."""
    return png_texts_from(io.BytesIO(data))


def png_texts_from(handle: BinaryIO) -> dict[str, str]:
    """The ``tEXt``, ``zTXt`` and ``iTXt`` chunks before the first ``IDAT``, by keyword, read from ``handle``.

    Only the chunk headers and the text chunks are read; every other chunk is skipped with a seek and
    reading stops at the image data, so a 20 MB PNG costs a few KB. A text chunk over 1 MB, or one
    that inflates past 1 MB, is skipped (Pillow's cap). Raises ValueError when ``handle`` is not a PNG.
    """
    if handle.read(8) != PNG_SIGNATURE:
        raise ValueError("not a PNG file (bad signature)")
    texts: dict[str, str] = {}
    while True:
        header = handle.read(8)
        if len(header) < 8:
            return texts  # truncated: what was read so far
        length, kind = struct.unpack(">I", header[:4])[0], header[4:]
        if kind in (b"IDAT", b"IEND"):
            return texts
        if kind in _TEXT_CHUNKS and length <= MAX_TEXT_BYTES:
            body = handle.read(length)
            handle.seek(4, io.SEEK_CUR)  # the CRC
            if len(body) < length:
                return texts
            item = _text_of(kind, body)
            if item is not None:  # a later chunk of the same keyword wins, as in Pillow
                texts[item[0]] = item[1]
        else:
            handle.seek(length + 4, io.SEEK_CUR)


def _text_of(kind: bytes, body: bytes) -> tuple[str, str] | None:
    """(keyword, text) of one text chunk; None for one that is damaged or inflates past the cap."""
    keyword, sep, rest = body.partition(b"\0")
    if not sep or not 1 <= len(keyword) <= 79:
        return None
    key = keyword.decode("latin-1")
    try:
        if kind == b"tEXt":
            return key, rest.decode("latin-1")
        if kind == b"zTXt":
            return key, _inflate(rest[1:]).decode("latin-1") if rest[:1] == b"\0" else None
        compressed, method, rest = rest[:1], rest[1:2], rest[2:]
        _language, _, rest = rest.partition(b"\0")
        _translated, _, text = rest.partition(b"\0")
        if compressed == b"\1":
            if method != b"\0":
                return None
            text = _inflate(text)
        return key, text.decode("utf-8", "replace")
    except (ValueError, zlib.error):
        return None


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    text = inflater.decompress(data, MAX_TEXT_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError("a PNG text chunk inflates past 1 MB")
    return text
