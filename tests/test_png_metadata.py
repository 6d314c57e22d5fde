"""PNG parameters: the A1111 text, the iTXt chunks written by hand, and reading them back."""

from __future__ import annotations

import io
import json
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from backends.base import GenerationRequest
from backends.history import read_image_parameters
from backends.history.a1111 import a1111_parameters, parse_a1111_parameters
from backends.history.parameters import JSON_KEY, PARAMETERS_KEY, playground_metadata
from backends.history.png_chunks import embed_png_metadata, to_png
from backends.schedulers import a1111_sampler, match_scheduler
from tests.conftest import hypothesis_examples
from tests.probes import restored_request

SEGMIND = (
    "EulerDiscreteScheduler",
    "EulerAncestralDiscreteScheduler",
    "DPMSolverMultistepScheduler",
    "DPMSolverMultistepScheduler_SDE_karras",
    "UniPCMultistepScheduler",
    "DEISMultistepScheduler",
)
LOCAL = ("Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras", "DPM++ SDE Karras", "UniPC", "DEIS")


def make_png(size=(32, 24), mode="RGB", pnginfo=None) -> bytes:
    image = Image.new(mode, size)
    image.putdata(
        [((x * 7) % 256, (x * 13) % 256, (x * 29) % 256)[: len(mode)] for x in range(size[0] * size[1])]
    )
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=pnginfo)
    return out.getvalue()


def chunks_of(png: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + data), f"bad CRC in {kind!r}"
        out.append((kind, data))
        pos += 12 + length
    return out


def idat(png: bytes) -> bytes:
    return b"".join(data for kind, data in chunks_of(png) if kind == b"IDAT")


REQUEST = GenerationRequest(
    prompt="一只橘猫坐在窗台上, golden light",
    negative_prompt="模糊, low quality",
    width=768,
    height=1024,
    n=4,
    seed=1000,
    steps=25,
    guidance=6.0,
    scheduler="DPMSolverMultistepScheduler",
    output_format="webp",
    output_quality=90,
)


# -- the A1111 text ---------------------------------------------------------------------------------


def test_a1111_text_has_the_documented_shape():
    request = GenerationRequest(prompt="a red fox", negative_prompt="blurry", seed=7, steps=20, guidance=7.5)
    text = a1111_parameters(request, seed=123, model="Kwai-Kolors/Kolors", backend_label="", sampler=None)
    assert text == (
        "a red fox\nNegative prompt: blurry\n"
        "Steps: 20, Sampler: Euler, CFG scale: 7.5, Seed: 123, Size: 1024x1024, Model: Kwai-Kolors/Kolors"
    )


def test_a1111_text_omits_an_empty_negative_prompt_and_names_the_backend():
    request = GenerationRequest(prompt="a red fox", seed=7, width=1280, height=720)
    text = a1111_parameters(
        request, seed=8, model="Kwai-Kolors/Kolors", backend_label="SiliconFlow", sampler=None
    )
    assert "Negative prompt" not in text
    assert text.splitlines()[1].endswith("Size: 1280x720, Model: Kwai-Kolors/Kolors, Backend: SiliconFlow")


@pytest.mark.parametrize(
    ("scheduler", "sampler"),
    [
        ("EulerDiscreteScheduler", "Euler"),
        ("EulerAncestralDiscreteScheduler", "Euler a"),
        ("DPMSolverMultistepScheduler", "DPM++ 2M"),
        ("DPMSolverMultistepScheduler_SDE_karras", "DPM++ SDE Karras"),
        ("UniPCMultistepScheduler", "UniPC"),
        ("DEISMultistepScheduler", "DEIS"),
        ("DPM++ 2M Karras", "DPM++ 2M Karras"),
        ("LCMScheduler", "LCMScheduler"),
        (None, "Euler"),
    ],
)
def test_scheduler_names_map_to_a1111_samplers(scheduler, sampler):
    assert a1111_sampler(scheduler) == sampler
    request = GenerationRequest(prompt="x", seed=1, scheduler=scheduler)
    assert f"Sampler: {sampler}," in a1111_parameters(
        request, seed=1, model="m", backend_label="", sampler=None
    )


def test_explicit_sampler_overrides_the_request_scheduler():
    request = GenerationRequest(prompt="x", seed=1, scheduler="EulerDiscreteScheduler")
    text = a1111_parameters(request, seed=1, model="m", backend_label="", sampler="UniPCMultistepScheduler")
    assert "Sampler: UniPC," in text


def test_values_with_commas_are_quoted_and_read_back():
    request = GenerationRequest(prompt="x", seed=1)
    text = a1111_parameters(request, seed=1, model="my, model: v2", backend_label="", sampler=None)
    assert 'Model: "my, model: v2"' in text
    assert parse_a1111_parameters(text).model == "my, model: v2"


def test_match_scheduler_spells_names_the_way_the_backend_does():
    assert match_scheduler("Euler a", SEGMIND) == "EulerAncestralDiscreteScheduler"
    assert match_scheduler("EulerAncestralDiscreteScheduler", LOCAL) == "Euler a"
    assert match_scheduler("DPM++ SDE Karras", SEGMIND) == "DPMSolverMultistepScheduler_SDE_karras"
    assert match_scheduler("DPM++ 2M Karras", SEGMIND) is None
    assert match_scheduler("UniPC", LOCAL) == "UniPC"
    assert match_scheduler("Heun", LOCAL) is None
    assert match_scheduler(None, LOCAL) is None


# -- writing chunks ---------------------------------------------------------------------------------


def test_embedded_chunks_are_read_by_pillow_and_pixels_are_untouched():
    source = make_png()
    text = a1111_parameters(
        REQUEST, seed=1002, model="Kwai-Kolors/Kolors", backend_label="Segmind", sampler=None
    )
    out = embed_png_metadata(source, {PARAMETERS_KEY: text, JSON_KEY: '{"version": 1}'})

    kinds = [kind for kind, _ in chunks_of(out)]
    assert kinds[:3] == [b"IHDR", b"iTXt", b"iTXt"]
    assert idat(out) == idat(source)
    assert out.endswith(source[-12:])  # IEND

    with Image.open(io.BytesIO(out)) as image:
        assert image.info[PARAMETERS_KEY] == text  # before IDAT: found without decoding
        assert image.text[PARAMETERS_KEY] == text
        assert "一只橘猫坐在窗台上" in image.text[PARAMETERS_KEY]
        assert image.text[JSON_KEY] == '{"version": 1}'
        decoded = image.convert("RGB").tobytes()
    with Image.open(io.BytesIO(source)) as original:
        assert decoded == original.convert("RGB").tobytes()
    with Image.open(io.BytesIO(out)) as image:
        image.verify()  # every CRC checks out


def test_existing_chunks_with_our_keywords_are_replaced_and_others_kept():
    info = PngImagePlugin.PngInfo()
    info.add_text(PARAMETERS_KEY, "old prompt\nSteps: 1, Sampler: Euler, Seed: 1")
    info.add_text("Software", "something else")
    source = make_png(pnginfo=info)
    out = embed_png_metadata(source, {PARAMETERS_KEY: "new"})
    with Image.open(io.BytesIO(out)) as image:
        assert image.text[PARAMETERS_KEY] == "new"
        assert image.text["Software"] == "something else"
    assert idat(out) == idat(source)


@pytest.mark.parametrize("bad", [b"", b"GIF89a....", b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_embedding_into_a_non_png_raises_value_error(bad):
    with pytest.raises(ValueError):
        embed_png_metadata(bad, {PARAMETERS_KEY: "x"})


def test_truncated_png_raises_value_error():
    with pytest.raises(ValueError):
        embed_png_metadata(make_png()[:-20], {PARAMETERS_KEY: "x"})


@pytest.mark.parametrize("key", ["", "x" * 80, " lead", "中文"])
def test_bad_keywords_are_refused(key):
    with pytest.raises(ValueError):
        embed_png_metadata(make_png(), {key: "x"})


# -- to_png ------------------------------------------------------------------------------------------


def test_png_passes_through_unchanged():
    source = make_png()
    assert to_png(source, "image/png") is source


@pytest.mark.parametrize(
    ("fmt", "mime", "args"),
    [
        ("WEBP", "image/webp", {"quality": 80}),
        ("WEBP", "image/webp", {"lossless": True}),
        ("JPEG", "image/jpeg", {"quality": 85}),
    ],
)
def test_webp_and_jpeg_become_pixel_exact_pngs(fmt, mime, args):
    with Image.open(io.BytesIO(make_png((64, 48)))) as image:
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, **args)
    data = buffer.getvalue()
    png = to_png(data, mime)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as lossy, Image.open(io.BytesIO(png)) as converted:
        assert converted.format == "PNG"
        assert converted.size == lossy.size
        assert converted.convert("RGB").tobytes() == lossy.convert("RGB").tobytes()

    out = embed_png_metadata(png, {PARAMETERS_KEY: "a cat\nSteps: 20, Sampler: Euler, Seed: 3"})
    assert read_image_parameters(out).seed == 3


def test_rgba_webp_keeps_its_alpha():
    image = Image.new("RGBA", (8, 8), (10, 20, 30, 40))
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", lossless=True)
    with Image.open(io.BytesIO(to_png(buffer.getvalue(), "image/webp"))) as converted:
        assert converted.mode == "RGBA"
        assert converted.getpixel((0, 0)) == (10, 20, 30, 40)


def test_to_png_refuses_garbage():
    with pytest.raises(ValueError):
        to_png(b"definitely not an image", "image/webp")


# -- reading back ------------------------------------------------------------------------------------


def ours(request: GenerationRequest = REQUEST, *, index: int = 2) -> bytes:
    seed = request.seed + index
    return embed_png_metadata(
        make_png(),
        {
            PARAMETERS_KEY: a1111_parameters(
                request, seed=seed, model="Kwai-Kolors/Kolors", backend_label="Segmind", sampler=None
            ),
            JSON_KEY: playground_metadata(
                request,
                seed=seed,
                image_index=index,
                backend_id="segmind",
                backend_label="Segmind",
                model="Kwai-Kolors/Kolors",
                generation_id="gen123",
                created_at=1700000000.5,
            ),
        },
    )


def test_our_png_gives_the_full_request_back():
    restored = read_image_parameters(ours())
    assert restored.source == "kolors_playground"
    assert restored.backend_id == "segmind"
    assert restored.backend_label == "Segmind"
    assert restored.model == "Kwai-Kolors/Kolors"
    assert (restored.generation_id, restored.image_index, restored.base_seed) == ("gen123", 2, 1000)
    assert restored.sampler == "DPM++ 2M"
    expected = GenerationRequest(**{**REQUEST.to_dict(), "seed": 1002, "n": 1})
    assert restored_request(restored) == expected


def test_json_chunk_holds_no_key_and_the_image_seed():
    with Image.open(io.BytesIO(ours())) as image:
        data = json.loads(image.text[JSON_KEY])
    assert data["version"] == 1
    assert data["request"]["seed"] == 1002 and data["request"]["n"] == 1
    assert data["base_seed"] == 1000
    assert not any("key" in k.lower() for k in data)


def test_reading_never_decodes_pixels(monkeypatch):
    def refuse(self):
        raise AssertionError("pixel data was loaded")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", refuse)
    assert read_image_parameters(ours()).seed == 1002


def test_reading_from_a_path(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(ours())
    assert read_image_parameters(path).seed == 1002
    assert read_image_parameters(str(path)).seed == 1002
    assert read_image_parameters(tmp_path / "missing.png") is None


def test_a_broken_json_chunk_falls_back_to_the_a1111_text():
    png = embed_png_metadata(
        make_png(),
        {
            PARAMETERS_KEY: "a cat\nSteps: 30, Sampler: Euler a, CFG scale: 5, Seed: 9, Size: 512x768",
            JSON_KEY: "{not json",
        },
    )
    restored = read_image_parameters(png)
    assert restored.source == "a1111"
    assert (restored.prompt, restored.steps, restored.seed, restored.width, restored.height) == (
        "a cat",
        30,
        9,
        512,
        768,
    )


A1111_FULL = """masterpiece, a girl in a garden,
(detailed face:1.2), <lora:foo:0.8>
Negative prompt: lowres, bad anatomy,
extra fingers
Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 3456789012, Size: 832x1216, \
Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Lora hashes: "foo: 1a2b3c, bar: 4d5e6f", \
Denoising strength: 0.4, Version: v1.6.0"""


def test_a_real_world_a1111_text():
    restored = parse_a1111_parameters(A1111_FULL)
    assert restored.prompt == "masterpiece, a girl in a garden,\n(detailed face:1.2), <lora:foo:0.8>"
    assert restored.negative_prompt == "lowres, bad anatomy,\nextra fingers"
    assert (restored.steps, restored.guidance, restored.seed) == (28, 6.5, 3456789012)
    assert (restored.width, restored.height) == (832, 1216)
    assert restored.sampler == "DPM++ 2M Karras" and restored.scheduler == "DPM++ 2M Karras"
    assert restored.model == "sd_xl_base_1.0"
    assert restored.backend_id is None and restored.n is None
    extra = dict(restored.extra)
    assert extra["Model hash"] == "31e35c80fc"
    assert extra["Lora hashes"] == "foo: 1a2b3c, bar: 4d5e6f"
    assert extra["Version"] == "v1.6.0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # no negative prompt line
        (
            "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512",
            {"prompt": "a cat", "negative_prompt": "", "scheduler": "Euler a", "guidance": 7.0},
        ),
        # newer A1111: sampler and schedule type apart
        (
            (
                "a cat\nNegative prompt: dog\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, "
                "Seed: 1, Size: 512x512"
            ),
            {"negative_prompt": "dog", "sampler": "DPM++ 2M", "scheduler": "DPM++ 2M Karras"},
        ),
        ("a cat\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Automatic, Seed: 1", {"scheduler": "DPM++ 2M"}),
        # a sampler we have no scheduler for
        ("a cat\nSteps: 20, Sampler: Heun, Seed: 1", {"sampler": "Heun", "scheduler": None}),
        # only settings, no prompt
        ("Steps: 20, Sampler: Euler, Seed: 5", {"prompt": "", "seed": 5}),
        # Windows line ends, Chinese prompt
        (
            "一只橘猫\r\nNegative prompt: 模糊\r\nSteps: 10, Seed: 42, Size: 1024x768",
            {"prompt": "一只橘猫", "negative_prompt": "模糊", "steps": 10, "width": 1024, "height": 768},
        ),
        # values that do not parse are left out, not fatal
        (
            "x\nSteps: many, Seed: abc, Size: big, CFG scale: nan, Sampler: Euler",
            {"steps": None, "seed": None, "width": None, "guidance": None, "scheduler": "Euler"},
        ),
    ],
)
def test_a1111_variants(text, expected):
    restored = parse_a1111_parameters(text)
    assert restored is not None
    for name, value in expected.items():
        assert getattr(restored, name) == value, name


@pytest.mark.parametrize("kind", ["tEXt", "zTXt", "iTXt"])
def test_each_text_chunk_kind_is_read(kind):
    info = PngImagePlugin.PngInfo()
    text = "a cat\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 11, Size: 512x512"
    if kind == "iTXt":
        info.add_itxt(PARAMETERS_KEY, text)
    else:
        info.add_text(PARAMETERS_KEY, text, zip=kind == "zTXt")
    png = make_png(pnginfo=info)
    assert kind.encode() in [k for k, _ in chunks_of(png)]
    restored = read_image_parameters(png)
    assert (restored.prompt, restored.seed) == ("a cat", 11)


def jpeg_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="JPEG")
    return out.getvalue()


@pytest.mark.parametrize(
    "junk",
    [
        b"",
        b"hello",
        b"\x89PNG\r\n\x1a\n",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 50,
        make_png()[:30],
        make_png(),  # a PNG with no parameters
        jpeg_bytes(),
    ],
)
def test_junk_gives_none(junk):
    assert read_image_parameters(junk) is None


@pytest.mark.parametrize(
    "text",
    ["just a prompt without settings", "", "\n\n", "a: b", '{"prompt": "x"}', "Negative prompt: x"],
)
def test_text_without_a_settings_line_gives_none(text):
    info = PngImagePlugin.PngInfo()
    info.add_text(PARAMETERS_KEY, text)
    assert read_image_parameters(make_png(pnginfo=info)) is None


@pytest.mark.parametrize(
    "payload",
    [
        '{"version": 2, "request": {"prompt": "x"}}',
        "[]",
        '{"version": 1}',
        '{"version": 1, "request": {"prompt": 5}}',
    ],
)
def test_unusable_json_chunks_without_a1111_text_give_none(payload):
    assert read_image_parameters(embed_png_metadata(make_png(), {JSON_KEY: payload})) is None


@settings(max_examples=hypothesis_examples(200), deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data):
    read_image_parameters(b"\x89PNG\r\n\x1a\n" + data)  # must not raise
    read_image_parameters(data)


@settings(max_examples=hypothesis_examples(200), deadline=None)
@given(st.text(max_size=300))
def test_random_text_never_raises(text):
    parse_a1111_parameters(text)
    png = embed_png_metadata(make_png((4, 4)), {PARAMETERS_KEY: text, JSON_KEY: text})
    read_image_parameters(png)


@settings(max_examples=hypothesis_examples(100), deadline=None)
@given(
    prompt=st.text(min_size=1, max_size=80).filter(
        lambda s: s.strip() == s and "\r" not in s and not s.startswith("Negative prompt:")
    ),
    negative=st.text(max_size=40).filter(lambda s: s.strip() == s and "\n" not in s and "\r" not in s),
    seed=st.integers(0, 9_999_999_999),
    steps=st.integers(1, 100),
    guidance=st.floats(0, 20).map(lambda g: round(g, 2)),
)
def test_a1111_round_trip(prompt, negative, seed, steps, guidance):
    # Lines of a multi-line prompt that look like the settings line itself are ambiguous in A1111's
    # format too; the generated prompts stay clear of that by having the settings line last.
    request = GenerationRequest(
        prompt=prompt,
        negative_prompt=negative,
        seed=seed,
        steps=steps,
        guidance=guidance,
        width=512,
        height=768,
    )
    text = a1111_parameters(request, seed=seed, model="Kwai-Kolors/Kolors", backend_label="", sampler=None)
    restored = parse_a1111_parameters(text)
    assert restored is not None
    assert (restored.seed, restored.steps, restored.width, restored.height) == (seed, steps, 512, 768)
    assert restored.guidance == pytest.approx(guidance)
    if "\nNegative prompt:" not in "\n" + prompt:
        assert restored.prompt == prompt.strip()
        assert restored.negative_prompt == negative
