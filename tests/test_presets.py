"""Style presets: built-ins in both languages, the prompt a template makes, settings applied to a
backend's own spellings, a person's own presets checked, stored per visitor, applied through the service
and recorded in the history and in the image's metadata."""

from __future__ import annotations

import asyncio

import pytest

from backends.errors import InvalidRequest
from backends.presets import PROMPT_SLOT, Preset, load_builtin_presets
from backends.providers.dieyuyun import DIEYUYUN_CAPABILITIES as DIEYUYUN
from backends.providers.segmind import SEGMIND_CAPABILITIES as SEGMIND


def test_about_a_dozen_builtins_named_in_both_languages():
    presets = load_builtin_presets()
    assert 10 <= len(presets) <= 16
    assert all(p.builtin and p.name and p.name_zh and p.id.startswith("builtin:") for p in presets)
    names = {p.name for p in presets}
    assert {"Photograph", "Watercolour", "Chinese ink (水墨)", "Anime", "Product shot", "Poster with a Chinese title"} <= names
    for preset in presets:  # every built-in validates on the backends it could be used with
        for caps in (DIEYUYUN, SEGMIND):
            applied = preset.applied({"prompt": "a heron", "negative_prompt": ""}, caps.schedulers)
            assert "a heron" in applied["prompt"]


def test_the_template_wraps_the_prompt_and_negatives_are_joined():
    ink = Preset(name="Ink", template="{prompt}，中国水墨画，留白", negative_prompt="照片")
    assert ink.final_prompt("一只白鹭") == "一只白鹭，中国水墨画，留白"
    assert ink.final_negative("模糊") == "模糊, 照片" and ink.final_negative("") == "照片"
    suffix = Preset(name="Suffix", template="soft light")  # no {prompt}: added at the end, as A1111 does
    assert suffix.final_prompt("a cat") == "a cat, soft light"
    assert Preset(name="Plain").final_prompt("a cat") == "a cat"


def test_settings_are_applied_in_the_backends_own_spelling():
    preset = Preset(name="S", size="768x1024", steps=30, guidance=5.5, scheduler="Euler a")
    segmind = preset.applied({"prompt": "p", "steps": 20, "scheduler": "EulerDiscreteScheduler"}, SEGMIND.schedulers)
    assert (segmind["size"], segmind["steps"], segmind["guidance"], segmind["scheduler"]) == (
        "768x1024", 30, 5.5, "EulerAncestralDiscreteScheduler")
    dieyuyun = preset.applied({"prompt": "p"}, DIEYUYUN.schedulers)
    assert "scheduler" not in dieyuyun  # a backend without samplers gets none
    odd = Preset(name="Odd", scheduler="Heun").applied({"prompt": "p", "scheduler": "UniPCMultistepScheduler"},
                                                        SEGMIND.schedulers)
    assert odd["scheduler"] == "UniPCMultistepScheduler"  # a sampler the backend lacks leaves the form's


def test_a_persons_preset_is_checked_field_by_field():
    with pytest.raises(InvalidRequest) as caught:
        Preset.checked({"name": "", "size": "big", "steps": 0, "guidance": 99})
    assert set(caught.value.fields) == {"preset.name", "preset.size", "preset.steps", "preset.guidance"}
    assert "1 to 60 characters" in str(caught.value) and "width x height" in str(caught.value)
    fine = Preset.checked({"name": "  Mine  ", "template": f"{PROMPT_SLOT}, neon", "size": "640×832"})
    assert (fine.name, fine.size) == ("Mine", "640x832")


# -- stored with the history, applied by the service ----------------------------------------------


@pytest.fixture
def playground(tmp_path, dieyuyun_emulator):
    from backends.history import HistoryStore
    from backends.playground import Playground
    from backends.registry import Registry
    from tests.conftest import make_backend

    with HistoryStore(tmp_path / "data") as store:
        yield Playground(registry=Registry([make_backend("dieyuyun", dieyuyun_emulator)]), history=store)


def test_own_presets_are_stored_per_visitor_edited_and_deleted(playground):
    library = playground.presets
    alice = library.save({"name": "Neon", "template": "{prompt}, neon lights", "steps": 30}, visitor="alice")
    assert library.find("neon", visitor="alice") == alice and library.find("Neon", visitor="bob") is None
    assert library.all("alice")[0].name == "Neon" and all(p.builtin for p in library.all("bob"))
    edited = library.save({"name": "Neon", "template": "{prompt}, pink neon"}, visitor="alice")  # same name: replaced
    assert [p.template for p in library.all("alice") if not p.builtin] == ["{prompt}, pink neon"]
    assert not library.delete(edited.id, visitor="bob") and library.delete(edited.id, visitor="alice")
    assert library.find("Neon", visitor="alice") is None
    with pytest.raises(InvalidRequest, match="no built-in style has"):
        library.save({"name": "watercolour"}, visitor="alice")


def test_the_service_sends_the_styled_prompt_and_records_the_style(playground, dieyuyun_emulator):
    from backends.history import read_image_parameters

    style = playground.find_preset("Product shot")
    outcome = asyncio.run(playground.generate("dieyuyun", {"prompt": "a teacup", "steps": 20}, preset=style))
    sent = dieyuyun_emulator.requests[-1].json
    assert sent["prompt"].startswith("product photograph of a teacup") and sent["num_inference_steps"] == 30
    assert "watermark" in sent["negative_prompt"]
    entry = outcome.entry
    assert entry.preset == "Product shot" and entry.request.prompt == sent["prompt"]  # what was sent is stored
    assert playground.history.get(entry.id).preset == "Product shot"
    assert read_image_parameters(entry.images[0].path).preset == "Product shot"
    kept = asyncio.run(playground.generate("dieyuyun", {"prompt": "a teacup", "steps": 21}, preset=style,
                                           preset_settings=False))
    assert kept.entry.request.steps == 21  # the page's form, changed after choosing the style, wins
    with pytest.raises(InvalidRequest, match="preset"):
        playground.find_preset("no such style")
