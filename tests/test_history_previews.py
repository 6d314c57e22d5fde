"""Previews: the light WebP the page shows of each stored image, made once and kept beside it."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from backends.base import GeneratedImage, GenerationRequest, GenerationResult
from backends.history import HistoryStore, read_image_parameters
from backends.history.previews import PREVIEW_MAX_SIDE, make_preview, needs_preview
from tests.emulators.images import render_image, render_photo
from tests.test_history_image_formats import without_our_png_chunks

MIME = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}


def photo_result(*, size=(640, 640), n=2, fmt="png", prompt="a lighthouse at dusk", quality=80) -> GenerationResult:
    width, height = size
    request = GenerationRequest(prompt=prompt, width=width, height=height, n=n, seed=7)
    images = tuple(
        GeneratedImage(
            render_photo(width=width, height=height, variant=i, fmt=fmt, quality=quality), MIME[fmt], width, height, 7 + i, i
        )
        for i in range(n)
    )
    return GenerationResult("dieyuyun", "Dieyuyun", "Kwai-Kolors/Kolors", request, images, (), 1.0)


def psnr(a: Image.Image, b: Image.Image) -> float:
    difference = np.asarray(a.convert("RGB"), dtype=np.float64) - np.asarray(b.convert("RGB"), dtype=np.float64)
    return float(10 * np.log10(255**2 / np.mean(difference**2)))


def stored(store: HistoryStore) -> dict[str, set[str]]:
    return {folder.name: {p.name for p in folder.iterdir()} for folder in (store.images_dir, store.thumbs_dir, store.previews_dir)}


@pytest.fixture
def store(tmp_path):
    with HistoryStore(tmp_path / "data") as s:
        yield s


def test_a_photograph_gets_a_light_webp_preview_and_keeps_its_original(store):
    source = photo_result()
    entry = store.save(source)
    originals = sum(len(image.data) for image in source.images)
    assert sum(image.preview_path.stat().st_size for image in entry.images) <= 0.20 * originals
    for image, sent in zip(entry.images, source.images):
        assert image.preview_path == store.preview_path(image) == store.previews_dir / image.preview_name
        with Image.open(image.preview_path) as preview, Image.open(io.BytesIO(sent.data)) as original:
            assert preview.format == "WEBP" and preview.size == original.size == (640, 640)
            assert psnr(preview, original) > 35  # dB: the photograph, not a blur of it
            assert "exif" not in preview.info and "xmp" not in preview.info
        assert read_image_parameters(image.preview_path) is None  # no metadata: never a download
        # The original keeps every byte the provider sent, and its parameters.
        assert without_our_png_chunks(image.path.read_bytes()) == sent.data
        assert read_image_parameters(image.path).seed == image.seed
    assert store.get(entry.id) == entry


def test_a_large_image_has_a_preview_of_at_most_1024_pixels(store):
    image = store.save(photo_result(size=(1600, 896), n=1, fmt="jpeg", quality=90)).images[0]
    with Image.open(image.preview_path) as preview:
        assert max(preview.size) == PREVIEW_MAX_SIDE and preview.size == (1024, 573)
    with Image.open(image.path) as original:
        assert original.size == (1600, 896)


@pytest.mark.parametrize(
    ("fmt", "size"), [("webp", (1024, 1024)), ("jpeg", (768, 1024)), ("png", (1024, 1024))],
    ids=["segmind-webp", "jpeg", "emulator-mosaic-png"],
)
def test_a_light_original_is_its_own_preview(store, fmt, size):
    if fmt == "png":
        source = photo_result(size=(64, 64), n=1)
        data = render_image(prompt="mosaic", seed=1, width=size[0], height=size[1])
        source = replace(source, images=(GeneratedImage(data, "image/png", *size, 7, 0),))
    else:
        source = photo_result(size=size, n=1, fmt=fmt)
    assert not needs_preview(*size, len(source.images[0].data))
    image = store.save(source).images[0]
    assert image.preview_name is None and image.preview_path == image.path and image.preview_ready
    assert stored(store)["previews"] == set()


def test_a_heavy_jpeg_gets_a_preview_too(store):
    source = photo_result(size=(1024, 1024), n=1, fmt="jpeg", quality=97)
    assert needs_preview(1024, 1024, len(source.images[0].data))
    image = store.save(source).images[0]
    assert image.preview_path.stat().st_size < 0.6 * image.size_bytes


def test_deferred_previews_come_after_the_commit_and_reads_wait_for_them(store):
    saved = store.save(photo_result(), defer_thumbnails=True)
    assert all(image.preview_path == image.thumb_path == image.path for image in saved.images)
    assert not any(image.preview_ready for image in saved.images)  # the original is no page picture
    got = store.get(saved.id)
    for image in got.images:
        assert image.preview_ready and image.preview_name and image.preview_path.parent == store.previews_dir
        with Image.open(image.preview_path) as preview:
            assert preview.format == "WEBP" and preview.size == (640, 640)
    assert stored(store) == {
        "images": {i.file_name for i in got.images},
        "thumbs": {i.thumb_name for i in got.images},
        "previews": {i.preview_name for i in got.images},
    }


def test_previews_before_the_answer_bring_their_thumbnails(store):
    """defer_previews=False: the answer's gallery has its previews; the decode made for them gives the
    thumbnails too, so nothing is left for the background."""
    saved = store.save(photo_result(), defer_thumbnails=True, defer_previews=False)
    assert all(image.preview_name and image.thumb_name for image in saved.images)
    assert store._pending == {}


def test_previews_are_removed_with_their_entry(store):
    keep = store.save(photo_result(prompt="keep"))
    gone = store.save(photo_result(prompt="gone"))
    assert store.delete(gone.id)
    assert not any(p.exists() for image in gone.images for p in (image.path, image.thumb_path, image.preview_path))
    assert stored(store)["previews"] == {image.preview_name for image in keep.images}


def test_an_entry_deleted_before_its_previews_leaves_no_file(tmp_path):
    with HistoryStore(tmp_path / "data") as store:
        for prompt in ("one", "two", "three"):
            entry = store.save(photo_result(prompt=prompt), defer_thumbnails=True)
            assert store.delete(entry.id)
    assert all(not any((tmp_path / "data" / folder).iterdir()) for folder in ("images", "thumbs", "previews", "pending"))


def test_an_old_history_shows_its_originals(tmp_path):
    """Entries stored before previews existed have none; the page shows their images."""
    import sqlite3

    from backends.history import migrate

    with HistoryStore(tmp_path) as store:
        entry = store.save(photo_result(n=1))
    conn = sqlite3.connect(tmp_path / "history.sqlite3", isolation_level=None)
    conn.execute("UPDATE images SET preview_name = NULL")
    conn.close()
    assert migrate(sqlite3.connect(tmp_path / "history.sqlite3", isolation_level=None)) == []
    with HistoryStore(tmp_path) as store:
        image = store.get(entry.id).images[0]
        assert image.preview_name is None and image.preview_path == image.path
        assert store.sweep() == 1 and stored(store)["previews"] == set()  # the file no row names now


def test_a_cmyk_jpeg_gets_an_rgb_preview(store):
    with Image.open(io.BytesIO(render_photo(width=1024, height=768, variant=2, fmt="jpeg"))) as photo:
        out = io.BytesIO()
        photo.convert("CMYK").save(out, "JPEG", quality=95)
    source = photo_result(size=(1024, 768), n=1, fmt="jpeg")
    source = replace(source, images=(replace(source.images[0], data=out.getvalue()),))
    assert needs_preview(1024, 768, len(out.getvalue()))
    image = store.save(source).images[0]
    with Image.open(image.preview_path) as preview:
        assert preview.mode == "RGB" and preview.size == (1024, 768) and "icc_profile" not in preview.info


def test_previews_the_page_made_already_are_kept_not_made_again(store):
    """The page makes a preview of each image as it arrives; handed to the save, it is the one stored."""
    source = photo_result(n=2)
    with Image.open(io.BytesIO(source.images[0].data)) as first:
        made = make_preview(first)
    entry = store.save(source, previews={0: made, 1: b"not a webp"}, defer_thumbnails=True, defer_previews=False)
    first, second = entry.images
    assert first.preview_path.read_bytes() == made
    with Image.open(second.preview_path) as preview:  # something else than a WebP: made here instead
        assert preview.format == "WEBP"
    light = photo_result(size=(1024, 1024), n=1, fmt="webp")  # light: its own preview, whatever is handed over
    assert store.save(light, previews={0: made}).images[0].preview_name is None


def test_the_page_shows_the_stores_previews_and_hands_its_own_to_the_store(store, tmp_path):
    """ui.streaming.PagePictures makes the page's picture of an arriving image the store's way: a heavy
    PNG becomes a WebP preview (kept by the save), a light WebP is shown as it came; a stored image is
    shown by its stored preview."""
    from ui.streaming import PagePictures

    pictures = PagePictures(tmp_path / "page")
    heavy = photo_result(size=(1024, 1024), n=2)
    shown = [pictures.preview_of(image.data) for image in heavy.images]
    for (path, preview), image in zip(shown, heavy.images, strict=True):
        assert path.suffix == ".webp" and path.read_bytes() == preview
        assert len(preview) < 0.20 * len(image.data), (len(preview), len(image.data))
    entry = store.save(heavy, previews={i: preview for i, (_, preview) in enumerate(shown)}, defer_previews=False)
    for image, (_, preview) in zip(entry.images, shown, strict=True):
        assert image.preview_path.read_bytes() == preview  # encoded once, by the page
        assert pictures.of_stored(image) == image.preview_path

    light = photo_result(size=(1024, 1024), n=1, fmt="webp")
    path, preview = pictures.preview_of(light.images[0].data)
    assert preview is None and path.read_bytes() == light.images[0].data
    (kept,) = store.save(light).images
    assert pictures.of_stored(kept) == kept.path
