"""Previews for the page: a light WebP of each stored image, made once, beside the original.

The page shows previews; every download is the original, which keeps every byte and its metadata.
A preview carries no metadata (it is never a download) but keeps the original's colour profile.
"""

from __future__ import annotations

import io
from typing import Any

__all__ = [
    "LIGHT_BYTES_PER_PIXEL",
    "PREVIEW_EXTENSION",
    "PREVIEW_MAX_SIDE",
    "PREVIEW_METHOD",
    "PREVIEW_QUALITY",
    "make_preview",
    "needs_preview",
]

PREVIEW_EXTENSION = ".webp"

# The page never shows an image larger than this (a 1440x900 screen's lightbox is ~900 px tall), and
# Kolors' own size is 1024x1024, so most previews are full resolution. A 2048x2048 photograph's
# preview weighs 169 KB and encodes in 33 ms at 1024 (+7 ms to reduce it), 383 KB and 135 ms at 2048.
PREVIEW_MAX_SIDE = 1024

# Measured on four 1024x1024 photographs of 1.2-1.7 MB as PNG (python -m tests.benchmarks.bench_previews),
# WebP method 0 against the original pixels: quality 80 weighs 0.054-0.100 of the PNG (SSIM 0.948-0.978,
# PSNR 36.3-38.4 dB); 85 weighs 0.069-0.119 (SSIM 0.956-0.983, PSNR 37.1-39.8 dB); 90 weighs 0.100-0.145
# (SSIM 0.967-0.988, PSNR 38.0-41.6 dB). Four previews at 85 weigh 0.094 of the four PNGs (target: 0.20).
# 85 keeps the page's images faithful at a tenth of the bytes; 90 costs half as much again for +0.005 SSIM.
PREVIEW_QUALITY = 85
# Method 0 encodes a 1024x1024 photograph in 35-45 ms; method 4 makes it 9-17 % lighter in 125-190 ms. A
# preview may be made while the person waits for the answer, so the fast one.
PREVIEW_METHOD = 0

# An original this light (a provider's WebP or JPEG: Segmind's 1024x1024 WebP is ~75 KB, 0.07 bytes a
# pixel) is already within twice what its preview would weigh (0.09-0.16 bytes a pixel): the page
# gets the original and no preview is made. So is anything under LIGHT_BYTES, whatever its size.
LIGHT_BYTES_PER_PIXEL = 0.25
LIGHT_BYTES = 32 * 1024


def needs_preview(width: int, height: int, size_bytes: int) -> bool:
    """Whether an original of this size and weight gets a preview (else the page shows the original)."""
    if max(width, height) > PREVIEW_MAX_SIDE:
        return True
    return size_bytes > max(LIGHT_BYTES, LIGHT_BYTES_PER_PIXEL * width * height)


def make_preview(image: Any) -> bytes | None:
    """The encoded WebP preview of a decoded Pillow image, at most PREVIEW_MAX_SIDE a side; None when it
    cannot be made (the page then shows the original)."""
    from PIL import Image

    if image.mode in ("I", "I;16", "F"):  # 16-bit or float pixels: no faithful 8-bit preview here
        return None
    try:
        preview = image
        if preview.mode not in ("RGB", "RGBA"):
            has_alpha = preview.mode in ("RGBA", "LA", "PA") or "transparency" in preview.info
            preview = preview.convert("RGBA" if has_alpha else "RGB")
        if max(preview.size) > PREVIEW_MAX_SIDE:
            preview = preview.copy() if preview is image else preview
            # reducing_gap=1.0: a box reduction does the integer part (2048 -> 1024 is all of it) in
            # 7 ms instead of 78 ms for Lanczos all the way, and differs from it by SSIM 0.999.
            preview.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE), Image.Resampling.LANCZOS, reducing_gap=1.0)
        out = io.BytesIO()
        options: dict[str, Any] = {"quality": PREVIEW_QUALITY, "method": PREVIEW_METHOD}
        icc = image.info.get("icc_profile")
        if icc and image.mode in ("RGB", "RGBA"):  # a CMYK or grey profile does not describe RGB pixels
            options["icc_profile"] = icc
        preview.save(out, format="WEBP", **options)
        return out.getvalue()
    except Exception:
        return None
