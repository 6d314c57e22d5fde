"""Hostile metadata in JPEG and WebP files: what a visitor drops on the page and what a provider sends.

Three attacks found in review, each shown to hurt before the fix: an A1111 settings line that made
the parameter regex backtrack for minutes, an EXIF block whose entries all point at one large block
(Pillow copies it once per entry: gigabytes from kilobytes), and EXIF that Pillow reads but cannot
write back (the image was lost instead of stored). Memory is measured with tracemalloc, which sees
every bytes object Pillow allocates.
"""

from __future__ import annotations

import io
import random
import struct
import threading
import tracemalloc

import pytest
from PIL import Image

from backends.history import HistoryStore, read_image_parameters
from backends.history.exif_xmp import exif_is_safe, exif_user_comment, exif_with_user_comment
from backends.history.image_files import embed_metadata
from tests.test_history_image_formats import result_of

BLOCK = 50_000  # the shared data block: fits a JPEG segment with the directory
ENTRIES = 1_000  # Pillow would copy the block once per entry: 50 MB


def exif_bomb(entries: int = ENTRIES, block: int = BLOCK) -> bytes:
    """TIFF bytes whose IFD0 has ``entries`` UNDEFINED entries, all pointing at one ``block``-byte block."""
    data_at = 8 + 2 + 12 * entries + 4
    ifd = struct.pack(">H", entries) + b"".join(
        struct.pack(">HHII", 0x1000 + i, 7, block, data_at) for i in range(entries)
    ) + struct.pack(">I", 0)
    return b"MM\0*" + struct.pack(">I", 8) + ifd + bytes(block)


def plain_image(fmt: str, size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 90, 160)).save(out, fmt, quality=85)
    return out.getvalue()


def jpeg_with_exif(tiff: bytes) -> bytes:
    data = plain_image("JPEG")
    payload = b"Exif\0\0" + tiff
    assert len(payload) + 2 <= 65535
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def webp_with_exif(tiff: bytes) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 90, 160)).save(out, "WEBP", quality=80, exif=tiff)
    return out.getvalue()


def peak_mb(action) -> tuple[object, float]:
    tracemalloc.start()
    try:
        value = action()
        return value, tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def test_the_bomb_really_is_one(tmp_path):
    """Pillow, handed the block, copies it per entry: the measure below would see it."""
    from PIL import Image as PILImage

    def through_pillow():
        exif = PILImage.Exif()
        exif.load(exif_bomb())
        return len(exif)

    count, peak = peak_mb(through_pillow)
    assert count == ENTRIES and peak > 40


@pytest.mark.parametrize("container", [jpeg_with_exif, webp_with_exif])
def test_a_dropped_file_with_an_exif_bomb_is_read_in_little_memory(container):
    data = container(exif_bomb())
    restored, peak = peak_mb(lambda: read_image_parameters(data))
    assert restored is None  # no parameters in it, and no crash
    assert peak < 5, f"{peak:.0f} MB"
    assert not exif_is_safe(exif_bomb())


@pytest.mark.parametrize("container, fmt", [(jpeg_with_exif, "JPEG"), (webp_with_exif, "WEBP")])
def test_a_provider_image_with_an_exif_bomb_is_stored_small_with_our_metadata(tmp_path, container, fmt):
    data = container(exif_bomb())
    mime = "image/jpeg" if fmt == "JPEG" else "image/webp"
    with HistoryStore(tmp_path / "data") as store:
        entry, peak = peak_mb(lambda: store.save(result_of(data, mime, prompt="a bomb defused", size=(64, 48))))
        assert entry.ok, entry.error
        stored = entry.images[0].path.read_bytes()
    assert peak < 20, f"{peak:.0f} MB"
    assert len(stored) < len(data) + 4096  # the provider's block was replaced, not multiplied
    assert read_image_parameters(stored).prompt == "a bomb defused"
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == fmt and image.size == (64, 48)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("container", [jpeg_with_exif, webp_with_exif])
def test_a_long_settings_line_is_parsed_in_linear_time(container):
    """A1111's pattern took 22 s for 30,000 characters and grew with their square."""
    line = "Steps: 20, " + "k" * 30_000
    text = "a prompt\n" + line
    data = container(exif_with_user_comment(text)) if container is webp_with_exif else None
    if data is None:  # a JPEG segment holds 64 KB: 30,000 characters of UTF-16 fit
        data = embed_metadata(plain_image("JPEG"), parameters=text, playground_json="")
    restored = read_image_parameters(data)
    assert restored is not None and restored.steps == 20 and restored.prompt == "a prompt"
    spaces = embed_metadata(plain_image("JPEG"), parameters=" " * 30_000, playground_json="")
    assert read_image_parameters(spaces) is None


def test_an_oversized_comment_is_refused_without_parsing():
    text = "p\nSteps: 1, " + "k" * 400_000
    assert exif_user_comment(exif_with_user_comment(text)).startswith("p\nSteps: 1, ")
    assert read_image_parameters(webp_with_exif(exif_with_user_comment(text))) is None


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's notes on the damage
def test_damaged_provider_exif_never_loses_the_image(tmp_path):
    """EXIF that Pillow reads but cannot write back, or cannot read at all: the image is stored with
    our EXIF alone, never refused."""
    rng = random.Random(11)
    base = exif_with_user_comment("the provider's own comment")
    with HistoryStore(tmp_path / "data") as store:
        for round_ in range(150):
            damaged = bytearray(base)
            for _ in range(rng.randint(1, 6)):
                damaged[rng.randrange(8, len(damaged))] = rng.randrange(256)
            data = webp_with_exif(bytes(damaged))
            entry = store.save(result_of(data, "image/webp", prompt=f"round {round_}", size=(64, 48)))
            assert entry.ok, (round_, entry.error)
            assert read_image_parameters(entry.images[0].path).prompt == f"round {round_}"


def test_a_page_does_not_wait_long_for_thumbnails(tmp_path, monkeypatch):
    """Thumbnails are made at a low priority; a page shows the image itself meanwhile."""
    with HistoryStore(tmp_path / "data") as store:
        release = threading.Event()
        make = store._add_derived

        def slow(*args):
            release.wait(30)
            make(*args)

        monkeypatch.setattr(store, "_add_derived", slow)
        entry = store.save(result_of(plain_image("JPEG", (640, 480)), "image/jpeg", size=(640, 480)), defer_thumbnails=True)
        page = store.list_entries()
        assert page.entries[0].id == entry.id
        assert page.entries[0].images[0].thumb_path == page.entries[0].images[0].path
        release.set()
        got = store.get(entry.id)  # an entry read on its own waits for them
        assert got.images[0].thumb_path != got.images[0].path and got.images[0].thumb_path.is_file()
