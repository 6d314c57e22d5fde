"""Restoring settings from a dropped image reads its metadata only: a PNG's chunks up to its image data, a
JPEG's segments up to the scan, a WebP's chunk headers and its EXIF and XMP. A file object that counts
the bytes asked of it shows how much of a large file was read. And a search of a thousand words is
answered (capped), not an OperationalError."""

from __future__ import annotations

import io
import os
import struct
import zlib

import pytest
from PIL import Image

from backends.base import GenerationRequest
from backends.history import HistoryStore, embed_metadata, read_image_parameters
from backends.history.a1111 import a1111_parameters
from backends.history.parameters import playground_metadata
from backends.history.png_chunks import png_texts, png_texts_from
from backends.history.store import MAX_SEARCH_TERMS, MAX_TERM_CHARS, search_terms

BIG = 8 * 1024 * 1024  # bytes of image data behind the metadata


class CountingReader(io.RawIOBase):
    """A seekable file that counts the bytes ``read`` returned (a seek reads nothing)."""

    def __init__(self, data: bytes) -> None:
        self._data, self._pos, self.bytes_read = data, 0, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size is None or size < 0 else min(len(self._data), self._pos + size)
        chunk = self._data[self._pos : end]
        self._pos = end
        self.bytes_read += len(chunk)
        return chunk

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._data)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def request(prompt: str = "a lantern in the fog") -> GenerationRequest:
    return GenerationRequest(prompt=prompt, width=64, height=48, seed=42, steps=20, guidance=5.0)


def with_our_metadata(data: bytes, prompt: str = "a lantern in the fog") -> bytes:
    req = request(prompt)
    text = a1111_parameters(req, seed=42, model="Kolors", backend_label="Test")
    json_text = playground_metadata(req, seed=42, image_index=0, backend_id="t", backend_label="Test", model="Kolors",
                                    generation_id="g1", created_at=1.0)
    return embed_metadata(data, parameters=text, playground_json=json_text)


def big_png() -> bytes:
    """A real PNG with our chunks, then an 8 MB IDAT (random bytes: nobody decodes them here)."""
    small = io.BytesIO()
    Image.new("RGB", (64, 48), "orange").save(small, "PNG")
    head = with_our_metadata(small.getvalue())
    cut = head.index(b"IDAT") - 4
    return head[:cut] + _chunk(b"IDAT", os.urandom(BIG)) + _chunk(b"IEND", b"")


def big_jpeg() -> bytes:
    small = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(small, "JPEG")
    stored = with_our_metadata(small.getvalue())
    return stored[:-2] + os.urandom(BIG).replace(b"\xff", b"\x00") + b"\xff\xd9"  # a long scan


def big_webp() -> bytes:
    small = io.BytesIO()
    Image.new("RGB", (64, 48), "plum").save(small, "WEBP")
    stored = with_our_metadata(small.getvalue())
    # A padding chunk (which readers skip) before EXIF/XMP stands in for a large image chunk.
    body = stored[12:]
    filler = b"JUNK" + struct.pack("<I", BIG) + os.urandom(BIG)
    first = 8 + struct.unpack_from("<I", body, 4)[0]
    first += first & 1
    body = body[:first] + filler + body[first:]
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


@pytest.mark.parametrize("make", [big_png, big_jpeg, big_webp], ids=["png", "jpeg", "webp"])
def test_a_large_image_has_its_settings_read_from_a_few_kilobytes(make):
    data = make()
    reader = CountingReader(data)
    restored = read_image_parameters(reader)
    assert restored is not None and restored.prompt == "a lantern in the fog" and restored.seed == 42
    print(f"{make.__name__}: read {reader.bytes_read:,} of {len(data):,} bytes")
    assert reader.bytes_read < 200_000 < len(data)


def test_a_path_is_read_the_same_way(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(big_png())
    assert read_image_parameters(path).prompt == "a lantern in the fog"
    assert read_image_parameters(str(path)).seed == 42


def test_png_text_chunks_agree_with_pillow():
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("plain", "café")
    info.add_text("zipped", "z" * 5000, zip=True)
    info.add_itxt("inter", "猫 and fox", zip=True)
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, "PNG", pnginfo=info)
    data = out.getvalue()
    with Image.open(io.BytesIO(data)) as image:
        expected = {k: v for k, v in image.info.items() if isinstance(v, str)}
    assert png_texts(data) == expected == {"plain": "café", "zipped": "z" * 5000, "inter": "猫 and fox"}


def test_a_text_chunk_that_inflates_past_a_megabyte_is_skipped():
    bomb = zlib.compress(b"a" * (8 << 20), 9)
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"zTXt", b"parameters\0\0" + bomb) + _chunk(b"tEXt", b"kept\0yes") + _chunk(b"IEND", b"")
    assert png_texts_from(CountingReader(png)) == {"kept": "yes"}


def test_nothing_past_the_image_data_is_read():
    tail_text = _chunk(b"tEXt", b"parameters\0late text, Steps: 20, Seed: 1, Size: 8x8")
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IDAT", os.urandom(1 << 20)) + tail_text + _chunk(b"IEND", b"")
    reader = CountingReader(png)
    assert png_texts_from(reader) == {}
    assert reader.bytes_read < 100


def test_a_thousand_word_search_is_capped_not_an_error(tmp_path):
    words = [f"word{i}" for i in range(1000)]
    terms, capped = search_terms(" ".join(words))
    assert capped and terms == words[:MAX_SEARCH_TERMS]
    assert search_terms("x" * 5000) == (["x" * MAX_TERM_CHARS], True)
    assert search_terms("a fox a fox") == (["a", "fox"], False)
    with HistoryStore(tmp_path / "data") as store:
        page = store.list_entries(query=" ".join(words))
        assert page.total == 0 and page.entries == ()
        page = store.list_entries(query=" ".join(["ab"] * 5 + [f"long{i}" * 50 for i in range(1000)]))
        assert page.total == 0
