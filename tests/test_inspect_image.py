"""inspect_image: a whole image passes; a cut or damaged one is refused with a message to act on. PNGs
are checked by their chunk CRCs, without decoding pixels (the history store decodes them once)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from backends.errors import BadProviderResponse
from backends.providers.http import inspect_image


def encoded(fmt: str, size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.effect_noise(size, 40).convert("RGB").save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize(("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_whole_images_pass_with_their_type_and_size(fmt, mime):
    assert inspect_image(encoded(fmt), provider="p") == (mime, 64, 48)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_cut_images_are_refused(fmt):
    data = encoded(fmt)
    with pytest.raises(BadProviderResponse, match="not a complete image"):
        inspect_image(data[: len(data) // 2], provider="p")


def test_png_with_damaged_pixel_data_is_refused():
    data = bytearray(encoded("PNG"))
    idat = data.index(b"IDAT")
    data[idat + 10] ^= 0xFF  # one byte of the compressed pixels: the chunk's CRC no longer matches
    with pytest.raises(BadProviderResponse, match="not a complete image"):
        inspect_image(bytes(data), provider="p")
