"""The history keeps each image in the provider's format: WebP and JPEG as sent plus their
metadata, PNG with its text chunks; and falls back to PNG only where metadata cannot be spliced in."""

from __future__ import annotations

import asyncio
import io
import struct

import httpx
import pytest
from PIL import Image

from backends.base import GeneratedImage, GenerationRequest, GenerationResult
from backends.history import HistoryStore, read_image_parameters
from backends.playground import Playground
from backends.registry import Registry
from tests.conftest import make_backend
from tests.probes import restored_request
from tests.test_image_metadata import (
    a1111_reads,
    decoded,
    encode,
    webp_simple_plus_unknown_chunk,
    without_our_jpeg_segments,
    without_our_webp_chunks,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def without_our_png_chunks(data: bytes) -> bytes:
    parts, pos = [data[:8]], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunk = data[pos : pos + 12 + length]
        if chunk[4:8] != b"iTXt" or not chunk[8:].startswith((b"parameters\0", b"kolors_playground\0")):
            parts.append(chunk)
        pos += 12 + length
    return b"".join(parts)


def without_metadata(data: bytes) -> bytes:
    """The stored file minus what the history added: what the provider sent, if only metadata was added."""
    if data.startswith(PNG_SIGNATURE):
        return without_our_png_chunks(data)
    if data.startswith(b"RIFF"):
        return without_our_webp_chunks(data)
    return without_our_jpeg_segments(data)


def result_of(data: bytes, mime: str, *, prompt="a lantern in the fog", size=(320, 200), seed=9) -> GenerationResult:
    request = GenerationRequest(prompt=prompt, width=size[0], height=size[1], seed=seed, steps=20, guidance=6.0)
    return GenerationResult(
        backend_id="segmind", backend_label="Segmind (Kolors)", model="Kwai-Kolors/Kolors", request=request,
        images=(GeneratedImage(data, mime, size[0], size[1], seed, 0),), failures=(), elapsed_s=1.0,
    )


@pytest.fixture
def store(tmp_path):
    with HistoryStore(tmp_path / "data") as s:
        yield s


def stored_names(store: HistoryStore) -> set[str]:
    return {p.name for folder in (store.images_dir, store.thumbs_dir) for p in folder.iterdir()}


# -- end to end: the Segmind emulator through Playground and HistoryStore ---------------------------------


@pytest.mark.parametrize(
    ("output_format", "fmt", "mime", "suffix"),
    [("webp", "WEBP", "image/webp", ".webp"), ("jpg", "JPEG", "image/jpeg", ".jpg"), ("png", "PNG", "image/png", ".png")],
)
def test_a_segmind_image_is_stored_as_its_bytes_plus_metadata(tmp_path, segmind_emulator, output_format, fmt, mime, suffix):
    playground = Playground(
        registry=Registry([make_backend("segmind", segmind_emulator)]), history=HistoryStore(tmp_path / "data")
    )
    values = {
        "prompt": "一只橘猫坐在窗台上, rain", "negative_prompt": "blurry", "size": "768x512", "seed": 321,
        "steps": 18, "guidance": 4.5, "scheduler": "EulerAncestralDiscreteScheduler", "output_format": output_format,
    }
    try:
        outcome = asyncio.run(playground.generate("segmind", values))
        # What the emulator serves for that request, fetched again straight from it.
        sent = segmind_emulator.requests[-1]
        answer = httpx.post(
            f"{segmind_emulator.base_url}/v1/kolors", json=sent.json, headers={"x-api-key": segmind_emulator.api_key}
        )
        assert answer.status_code == 200 and answer.headers["content-type"] == mime
        provider_bytes = answer.content
        assert outcome.result.images[0].data == provider_bytes

        entry = playground.history.get(outcome.entry.id)  # waits for the deferred thumbnail
        (image,) = entry.images
        data = image.path.read_bytes()
        assert image.path.suffix == suffix and image.mime_type == image.source_mime_type == mime
        assert (image.width, image.height, image.size_bytes) == (768, 512, len(data))
        assert without_metadata(data) == provider_bytes  # byte for byte, but for what was added
        assert decoded(data) == decoded(provider_bytes)
        with Image.open(image.path) as opened:
            assert opened.format == fmt
        with Image.open(image.thumb_path) as thumb:
            assert image.thumb_path != image.path and max(thumb.size) == 256

        restored = read_image_parameters(image.path)
        assert restored.source == "kolors_playground" and restored.backend_id == "segmind"
        assert restored.generation_id == entry.id and restored.output_format == output_format
        assert restored_request(restored) == entry.image_request(image)
        assert a1111_reads(data).startswith("一只橘猫坐在窗台上, rain\nNegative prompt: blurry\nSteps: 18, Sampler: Euler a")
    finally:
        playground.history.close()


# -- the store on its own ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "options", "suffix"),
    [("WEBP", {"quality": 80}, ".webp"), ("WEBP", {"lossless": True}, ".webp"), ("JPEG", {"quality": 85}, ".jpg")],
)
@pytest.mark.parametrize("defer", [False, True])
def test_webp_and_jpeg_keep_their_bytes_and_get_thumbnails(store, fmt, options, suffix, defer):
    source = encode(fmt, size=(320, 200), **options)
    entry = store.save(result_of(source, f"image/{fmt.lower()}"), defer_thumbnails=defer)
    image = store.get(entry.id).images[0]
    assert image.file_name.endswith(suffix) and image.mime_type == f"image/{fmt.lower()}"
    assert without_metadata(image.path.read_bytes()) == source
    assert image.thumb_name == image.file_name.replace(suffix, image.thumb_path.suffix)
    with Image.open(image.thumb_path) as thumb:
        assert thumb.size == (256, 160)
    assert read_image_parameters(image.path).seed == 9
    assert store.delete(entry.id) and stored_names(store) == set()


def test_a_jpeg_whose_parameters_outgrow_its_exif_is_stored_as_png(store):
    prompt = " ".join(["a lantern"] * 4000)  # 80 KB of UTF-16: over the 64 KB one JPEG segment holds
    source = encode("JPEG", size=(64, 48))
    image = store.save(result_of(source, "image/jpeg", prompt=prompt, size=(64, 48))).images[0]
    assert image.file_name.endswith(".png") and image.mime_type == "image/png"
    assert image.source_mime_type == "image/jpeg"  # what the provider sent, kept truthful
    restored = read_image_parameters(image.path)
    assert restored.source == "kolors_playground" and restored.prompt == prompt
    assert decoded(image.path.read_bytes()) == decoded(source)


def test_an_odd_webp_container_falls_back_to_png(store):
    source = webp_simple_plus_unknown_chunk()  # Pillow decodes it; the splicer will not touch it
    image = store.save(result_of(source, "image/webp", size=(96, 64))).images[0]
    assert image.file_name.endswith(".png") and image.mime_type == "image/png"
    assert decoded(image.path.read_bytes()) == decoded(source)
    assert read_image_parameters(image.path).seed == 9


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_a_deferred_save_still_refuses_a_cut_image(store, fmt):
    whole = encode(fmt, size=(320, 200), quality=90)
    cut = whole[: len(whole) * 2 // 3]
    entry = store.save(result_of(cut, f"image/{fmt.lower()}"), defer_thumbnails=True)
    assert entry.status == "failed" and "could not be stored" in entry.error
    assert stored_names(store) == set()


def test_a_damaged_png_is_still_refused_cheaply_when_thumbnails_wait(store):
    png = bytearray(encode("PNG", size=(320, 200)))
    png[png.index(b"IDAT") + 10] ^= 0xFF
    entry = store.save(result_of(bytes(png), "image/png"), defer_thumbnails=True)
    assert entry.status == "failed"


def test_recovery_removes_debris_of_every_format(tmp_path):
    with HistoryStore(tmp_path) as store:
        kept = {
            store.save(result_of(encode(fmt, size=(320, 200)), f"image/{fmt.lower()}")).images[0].file_name
            for fmt in ("WEBP", "JPEG", "PNG")
        }
        assert {name.rsplit(".", 1)[1] for name in kept} == {"webp", "jpg", "png"}
        # What a save killed before its commit leaves: its note naming its files, and the files.
        debris = [store.images_dir / name for name in ("crash.webp", "crash.jpg", "crash.png")]
        debris += [store.thumbs_dir / "crash.webp", store.previews_dir / "crash.webp"]
        store._journal.note().add(debris)
        for path in debris:
            path.write_bytes(b"partial")
    with HistoryStore(tmp_path) as store:
        assert {p.name for p in store.images_dir.iterdir()} == kept
        assert {p.name for p in store.thumbs_dir.iterdir()} == {n.rsplit(".", 1)[0] + ".webp" for n in kept}
        assert not any(store.previews_dir.iterdir()) and not any(store._journal.folder.iterdir())


def test_the_stored_png_of_a_png_provider_is_unchanged_but_for_its_chunks(store):
    source = encode("PNG", size=(64, 48))
    image = store.save(result_of(source, "image/png", size=(64, 48))).images[0]
    data = image.path.read_bytes()
    assert image.mime_type == "image/png" and without_our_png_chunks(data) == source
    with Image.open(io.BytesIO(data)) as png:
        png.verify()  # every chunk's CRC


# -- the public API ------------------------------------------------------------------------------------------


def test_the_generate_api_serves_the_stored_webp_as_is(launched_app):
    """Gradio's Gallery (format="png") serves a file path as it is, so the API answer is the stored
    WebP with its metadata; the same call again gives the same pixels."""
    from gradio_client import Client

    client = Client(launched_app.url, verbose=False)
    answers = [
        client.predict(backend="segmind", prompt="a paper boat", size="768x512", seed=5, api_name="/generate")
        for _ in range(2)
    ]
    stored = {path.read_bytes() for path in (launched_app.data_dir / "images").glob("*.webp")}
    assert len(stored) == 2 and not list((launched_app.data_dir / "images").glob("*.png"))
    downloads = []
    for gallery, info in answers:
        with open(gallery[0]["image"], "rb") as handle:
            downloads.append(handle.read())
        assert downloads[-1] in stored
        restored = read_image_parameters(downloads[-1])
        assert (restored.generation_id, restored.seed, restored.output_format) == (info["generation_id"], 5, "webp")
    assert decoded(downloads[0]) == decoded(downloads[1])
    assert without_metadata(downloads[0]) == without_metadata(downloads[1])  # the provider's same bytes
