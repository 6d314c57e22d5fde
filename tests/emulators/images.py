"""Images for the emulators: deterministic, cheap at any size, and a few deliberately broken ones."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zlib
from functools import lru_cache

from PIL import Image

__all__ = ["GRID", "PHOTOS", "decompression_bomb_png", "render_image", "render_photo", "truncated"]

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


PHOTOS = ("groot", "groot, mirrored", "collage", "groot with film grain")


def render_photo(*, width: int, height: int, variant: int = 0, fmt: str = "png", quality: int = 80) -> bytes:
    """A photograph of ``width`` x ``height``, encoded: what Kolors answers weighs like this (a 1024x1024
    PNG of 1.2-1.7 MB that takes ~35 ms to decode), unlike the mosaics of :func:`render_image` (~17 KB).

    Made from the photographs Gradio ships, deterministically; ``variant`` picks one of PHOTOS: Gradio's
    "groot" (910x512) scaled to the size, the same mirrored, a collage of its four other photographs, or
    "groot" with film grain (sigma 2.5 levels), which is as detailed as a PNG gets (1.7 MB at 1024x1024).
    """
    if fmt not in _PIL_FORMATS:
        raise ValueError(f"unknown image format {fmt!r}; use one of {sorted(_PIL_FORMATS)}")
    return _encode_photo(width, height, variant % len(PHOTOS), _PIL_FORMATS[fmt], quality)


@lru_cache(maxsize=16)
def _encode_photo(width: int, height: int, variant: int, pil_format: str, quality: int) -> bytes:
    out = io.BytesIO()
    photo = _photo(width, height, variant)
    if pil_format == "PNG":
        photo.save(out, "PNG")
    else:
        photo.save(out, pil_format, quality=quality)
    return out.getvalue()


def _gradio_photo(name: str) -> str:
    """The path of a photograph Gradio ships (found without importing gradio, which takes seconds)."""
    import importlib.util
    import os

    spec = importlib.util.find_spec("gradio")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("render_photo needs the gradio package, for the photographs it ships")
    return os.path.join(next(iter(spec.submodule_search_locations)), "media_assets", "images", name)


@lru_cache(maxsize=8)
def _photo(width: int, height: int, variant: int) -> Image.Image:
    from PIL import ImageOps

    if variant == 2:
        collage = Image.new("RGB", (width, height))
        for i, name in enumerate(("cheetah.jpg", "tower.jpg", "lion.jpg", "cheetah1.jpg")):
            box = (i % 2 * width // 2, i // 2 * height // 2, (i % 2 + 1) * width // 2, (i // 2 + 1) * height // 2)
            with Image.open(_gradio_photo(name)) as tile:
                tile = ImageOps.fit(tile.convert("RGB"), (box[2] - box[0], box[3] - box[1]), Image.Resampling.LANCZOS)
            collage.paste(tile, box[:2])
        return collage
    with Image.open(_gradio_photo("groot.jpeg")) as source:
        photo = source.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    if variant == 1:
        photo = ImageOps.mirror(photo)
    if variant == 3:
        import numpy as np

        pixels = np.asarray(photo, dtype=np.float64)
        grain = np.random.default_rng(2024).normal(0.0, 2.5, pixels.shape)
        photo = Image.fromarray(np.clip(pixels + grain, 0, 255).astype(np.uint8))
    return photo


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
