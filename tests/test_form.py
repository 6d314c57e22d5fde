"""The form's rules without a browser: sizes with ratios, following a backend's capabilities with
visible notes, and share links that round-trip."""

from __future__ import annotations

from urllib.parse import parse_qs

from backends.providers.dieyuyun import DIEYUYUN_CAPABILITIES as DIEYUYUN
from backends.providers.segmind import SEGMIND_CAPABILITIES as SEGMIND
from backends.validation import validate_request
from ui.form import (
    CUSTOM_SIZE,
    FormValues,
    adapt_to_backend,
    defaults_for,
    form_from_query,
    share_query,
    size_choices,
    size_control,
    size_from_control,
)
from ui.i18n import render_notes


def test_fixed_sizes_are_labelled_with_their_ratio():
    assert size_choices(DIEYUYUN) == [
        ("1:1 · 1024×1024", "1024x1024"), ("3:4 · 768×1024", "768x1024"), ("4:3 · 1024×768", "1024x768"),
        ("9:16 · 720×1280", "720x1280"), ("16:9 · 1280×720", "1280x720"),
    ]


def test_range_backends_offer_presets_inside_their_range():
    values = [value for _, value in size_choices(SEGMIND)]
    assert "1024x1024" in values and "1536x640" in values
    assert all(SEGMIND.accepts_size(*map(int, v.split("x"))) for v in values)


def test_defaults_follow_the_backend_when_untouched():
    values = defaults_for("dieyuyun", DIEYUYUN)
    moved, notes = adapt_to_backend(values, "segmind", SEGMIND, DIEYUYUN)
    assert (moved.steps, moved.guidance, moved.scheduler, moved.output_format, moved.output_quality) == (
        25, 6.0, "EulerDiscreteScheduler", "webp", 80,
    )
    assert notes == []
    back, notes = adapt_to_backend(moved, "dieyuyun", DIEYUYUN, SEGMIND)
    assert (back.steps, back.guidance, back.scheduler, back.output_format, back.output_quality) == (20, 7.5, None, None, None)


def test_values_that_no_longer_fit_are_clamped_with_a_note():
    values = FormValues(backend="dieyuyun", prompt="p", size="720x1280", n=4, seed=9_000_000_000, steps=80, guidance=12)
    moved, notes = adapt_to_backend(values, "segmind", SEGMIND, DIEYUYUN)
    assert (moved.steps, moved.size, moved.n, moved.guidance, moved.seed) == (50, "720x1280", 4, 12, -1)
    text = render_notes(notes, "en")
    assert "steps 80 → 50" in text and "seed 9000000000 → random" in text
    assert "步数 80 → 50" in render_notes(notes, "zh")
    moved_back, notes = adapt_to_backend(FormValues(backend="segmind", prompt="p", size="600x800", n=10, steps=40, guidance=6.0, scheduler="UniPCMultistepScheduler"), "dieyuyun", DIEYUYUN, SEGMIND)
    assert (moved_back.size, moved_back.n, moved_back.steps, moved_back.scheduler) == ("1024x1024", 4, 40, None)
    text = render_notes(notes, "en")
    assert "size 600x800 → 1024x1024" in text and "images 10 → 4" in text


def test_an_adapted_form_always_validates():
    for source, caps in (("dieyuyun", DIEYUYUN), ("segmind", SEGMIND)):
        for target, new in (("dieyuyun", DIEYUYUN), ("segmind", SEGMIND)):
            values = FormValues(backend=source, prompt="p", size="2048x2048", n=10, seed=2**40, steps=100, guidance=20,
                                scheduler="DEISMultistepScheduler", output_format="png", output_quality=100)
            moved, _ = adapt_to_backend(values, target, new, caps)
            validate_request(moved.request_values(), new)


def test_share_links_round_trip():
    values = FormValues(backend="segmind", prompt="一只橘猫 & a cat", negative_prompt="blur", size="768x1024", n=3,
                        seed=123, steps=30, guidance=4.5, scheduler="UniPCMultistepScheduler", output_format="jpg",
                        output_quality=70)
    query = share_query(values)
    parsed = {k: v[0] for k, v in parse_qs(query).items()}
    assert form_from_query(parsed, ["segmind", "dieyuyun"]) == {
        "backend": "segmind", "prompt": "一只橘猫 & a cat", "negative_prompt": "blur", "size": "768x1024", "n": 3,
        "seed": 123, "steps": 30, "guidance": 4.5, "scheduler": "UniPCMultistepScheduler", "output_format": "jpg",
        "output_quality": 70,
    }


def test_share_links_drop_what_they_cannot_trust():
    assert form_from_query({"backend": "evil", "size": "huge", "seed": "x", "steps": "1e999", "prompt": "p" * 5000}, ["segmind"]) == {
        "prompt": "p" * 2000,
    }


def test_one_size_control_per_backend():
    fixed = size_control("768x1024", DIEYUYUN)
    assert (fixed.choice, fixed.custom) == ("768x1024", False)
    preset = size_control("1152x896", SEGMIND)
    assert (preset.choice, preset.custom) == ("1152x896", False)
    custom = size_control("640x832", SEGMIND)
    assert (custom.choice, custom.width, custom.height, custom.custom) == (CUSTOM_SIZE, 640, 832, True)
    odd = size_control("640x832", DIEYUYUN)  # a fixed-size backend shows an odd size as its own choice
    assert (odd.choice, odd.custom) == ("640x832", False)
    assert size_from_control(CUSTOM_SIZE, 640.0, 832) == "640x832"
    assert size_from_control("1024x1024", 640, 832) == "1024x1024"
    validate_request({"prompt": "p", "size": size_from_control(CUSTOM_SIZE, 640.0, 832.0)}, SEGMIND)


def test_options_a_backend_lacks_are_dropped_not_refused():
    page = {"prompt": "p", "scheduler": "EulerDiscreteScheduler", "output_format": "webp", "output_quality": 0}
    from ui.form import without_unsupported

    assert without_unsupported(page, DIEYUYUN) == {"prompt": "p", "scheduler": None, "output_format": None,
                                                  "output_quality": None}
    assert without_unsupported(page, SEGMIND) == page
