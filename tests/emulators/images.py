"""Images for the emulators: deterministic, cheap at any size, and a few deliberately broken ones."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zlib
from functools import lru_cache

from PIL import Image

__all__ = ["GRID", "decompression_bomb_png", "render_image", "truncated"]

GRID = 8  # the image is a GRID x GRID mosaic of colours, scaled up without smoothing

_PIL_FORMATS = {"png": "PNG", "webp": "WEBP", "jpeg": "JPEG", "jpg": "JPEG"}


def render_image(
    *, prompt: str, seed: int, width: int, height: int, fmt: str = "png", extra: str = "", quality: int = 80
) -> bytes:
    """Encode a mosaic whose colours come from a hash of every argument but ``fmt`` and ``quality``.

    Same arguments, same bytes; change the prompt, the seed or anything mixed into ``extra`` and
    nearly every tile changes colour. ``quality`` only affects the lossy encoders.
    """
    if fmt not in _PIL_FORMATS:
        raise ValueError(f"unknown image format {fmt!r}; use one of {sorted(_PIL_FORMATS)}")
    return _render(prompt, seed, width, height, _PIL_FORMATS[fmt], extra, quality)


@lru_cache(maxsize=128)
def _render(
    prompt: str, seed: int, width: int, height: int, pil_format: str, extra: str, quality: int
) -> bytes:
    key = json.dumps([prompt, seed, width, height, extra], ensure_ascii=False).encode()
    colours = hashlib.shake_256(key).digest(GRID * GRID * 3)
    mosaic = Image.frombytes("RGB", (GRID, GRID), colours).resize((width, height), Image.Resampling.NEAREST)
    out = io.BytesIO()
    if pil_format == "PNG":
        mosaic.save(out, "PNG", compress_level=1)
    elif pil_format == "WEBP":
        mosaic.save(out, "WEBP", quality=quality, method=0)
    else:
        mosaic.save(out, "JPEG", quality=quality)
    return out.getvalue()


def truncated(data: bytes) -> bytes:
    """The first half of ``data``: an image whose header is intact but whose pixels stop early."""
    return data[: len(data) // 2]


BOMB_SIDE = 16384  # 268 M pixels: over Pillow's DecompressionBombError threshold (2 * MAX_IMAGE_PIXELS)


@lru_cache(maxsize=1)
def decompression_bomb_png() -> bytes:
    """A complete, valid 1-bit PNG of BOMB_SIDE x BOMB_SIDE black pixels, about 32 KB on the wire.

    ``Image.open`` raises ``DecompressionBombError`` on it; decoding it without that guard would
    allocate hundreds of megabytes once converted to RGB.
    """
    row = b"\x00" + b"\x00" * (BOMB_SIDE // 8)  # filter byte "None", then the packed bits
    pixels = zlib.compress(row * BOMB_SIDE, 9)
    header = struct.pack(">IIBBBBB", BOMB_SIDE, BOMB_SIDE, 1, 0, 0, 0, 0)  # bit depth 1, greyscale
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
