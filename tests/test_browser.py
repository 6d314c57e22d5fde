"""The Generate page in a real browser (Debian's chromium, driven by Playwright) against ``python app.py``
on the provider emulators, at 1440×900 and on a 390×844 phone: the designer's loop of type, generate,
look, tweak, and come back.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from PIL import Image

from backends.history import read_image_parameters
from tests.browser_fixtures import (  # noqa: F401  (pytest finds the fixtures by their names)
    PlaygroundPage,
    browser_app_fixture,
    browser_fixture,
    open_page,
    playground_fixture,
    size_of,
)

pytestmark = pytest.mark.browser

DOWNLOAD_NAME = re.compile(r"^kolors-\d{8}-\d{4}-seed(\d+)\.(png|jpg|webp)$")


def options(page: PlaygroundPage, elem_id: str) -> list[str]:
    """The labels a dropdown offers (opened and closed again, as a person would look)."""
    page.page.locator(f"#{elem_id} input").click()
    labels = page.page.locator("ul[role=listbox] li[role=option]").all_inner_texts()
    page.page.locator(f"#{elem_id} input").press("Escape")
    page.page.locator("ul[role=listbox]").wait_for(state="detached")
    return [label.replace("✓", "").strip() for label in labels]


def in_view(page: PlaygroundPage, selector: str) -> bool:
    box = page.page.locator(selector).bounding_box()
    viewport = page.page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"] and box["x"] >= 0 \
        and box["x"] + box["width"] <= viewport["width"]


def prompt_text(page: PlaygroundPage) -> str:
    return page.page.locator("#prompt textarea").input_value()


def gallery_tiles(page: PlaygroundPage) -> int:
    return len(page.gallery_images())


# -- in view ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("phone", [False, True], ids=["1440x900", "390x844"])
def test_prompt_and_generate_are_in_view_on_load(browser, browser_app, phone):
    with open_page(browser, browser_app, phone=phone) as page:
        assert in_view(page, "#prompt textarea") and in_view(page, "#generate-btn")
        assert page.page.evaluate("document.documentElement.scrollWidth") <= page.page.viewport_size["width"]


def test_on_a_phone_starting_a_run_brings_the_results_into_view(browser, browser_app, dieyuyun_emulator):
    dieyuyun_emulator.latency = 1.5
    with open_page(browser, browser_app, phone=True) as page:
        page.fill("prompt", "a phone in the rain")
        assert not in_view(page, "#gallery")
        page.click_generate()
        page.page.wait_for_function(
            "() => { const b = document.querySelector('#results-column').getBoundingClientRect();"
            " return b.top >= -2 && b.top < window.innerHeight / 2; }"
        )
        page.wait_for_run(1)


# -- generating ---------------------------------------------------------------------------------------


def test_images_arrive_one_by_one_with_k_of_n_progress(playground, dieyuyun_emulator):
    dieyuyun_emulator.latency = 0.2
    dieyuyun_emulator.fault("slow", seconds=4)  # one of the four calls answers late
    playground.fill("prompt", "four lanterns, one late")
    playground.fill("n", "4")
    playground.click_generate()
    playground.page.wait_for_function(
        "() => document.querySelectorAll('#gallery button.thumbnail-item img, #gallery .grid-container img').length === 3"
    )
    assert "3 of 4" in playground.status() and "⏳" in playground.status()
    tiles = playground.wait_for_run(4)
    assert [tile["caption"] for tile in tiles] == [f"seed {s}" for s in sorted(r.json["seed"] for r in dieyuyun_emulator.requests)]


def test_a_run_clears_the_previous_status_at_once(playground, dieyuyun_emulator):
    playground.fill("prompt", "first")
    playground.generate(expect_images=1)
    assert playground.status().startswith("✅")
    dieyuyun_emulator.latency = 2
    playground.click_generate()
    playground.page.wait_for_function("() => document.querySelector('#status').innerText.includes('⏳')")
    assert "✅" not in playground.status()
    playground.wait_for_run(1)


def test_two_quick_clicks_are_one_paid_run(playground, dieyuyun_emulator):
    dieyuyun_emulator.latency = 1
    playground.fill("prompt", "one run only")
    playground.fill("n", "2")
    playground.page.dblclick("#generate-btn")
    playground.click_generate()
    playground.wait_for_run(2)
    time.sleep(0.5)
    assert len(dieyuyun_emulator.requests) == 2  # two images, once


def test_stop_is_a_normal_act_not_an_error(playground, dieyuyun_emulator):
    dieyuyun_emulator.latency = 0.2
    dieyuyun_emulator.fault("slow", seconds=30, times=2)
    playground.fill("prompt", "stopped halfway")
    playground.fill("n", "4")
    playground.click_generate()
    playground.page.wait_for_function(
        "() => document.querySelectorAll('#gallery button.thumbnail-item img, #gallery .grid-container img').length === 2"
    )
    playground.page.click("#stop-btn")
    tiles = playground.wait_for_run(4)
    assert "Stopped — 2 of 4 images kept" in playground.status() and playground.status().startswith("⏹")
    assert playground.error_toasts() == [] and not playground.page.locator("#gallery .error").count()
    assert sum("not made" in t["caption"] or "Stopped" in t["caption"] for t in tiles) == 2
    playground.search_history("stopped halfway", expect_entries=1)
    caption = playground.history_tiles()[0]
    assert "stopped" in caption and "✗" not in caption and "failed" not in caption


def test_a_failed_image_leaves_a_placeholder_naming_its_seed_and_reason(playground, dieyuyun_emulator):
    dieyuyun_emulator.fault("content_policy")
    playground.fill("prompt", "one of three refused")
    playground.fill("n", "3")
    playground.fill("seed", "500")
    playground.click_generate()
    tiles = playground.wait_for_run(3)
    failed = [tile for tile in tiles if tile["caption"].startswith("✗")]
    assert len(failed) == 1 and re.search(r"seed 50[012]", failed[0]["caption"])
    failed_seed = re.search(r"seed (\d+)", failed[0]["caption"]).group(1)
    status = playground.status()
    assert status.startswith("⚠️") and "2 of 3" in status and f"seed {failed_seed}" in status
    assert playground.error_toasts() == []


def test_a_bad_value_is_named_before_any_call_and_the_gallery_stays(playground, dieyuyun_emulator):
    playground.fill("prompt", "kept")
    before = playground.generate(expect_images=1)
    dieyuyun_emulator.reset()
    playground.fill("prompt", "   ")
    playground.click_generate()
    playground.page.wait_for_function("() => document.querySelector('#status').innerText.includes('⚠')")
    assert "prompt" in playground.status() and dieyuyun_emulator.requests == []
    assert playground.gallery_images() == before


# -- seeds -------------------------------------------------------------------------------------------


def test_reuse_seed_after_a_random_run_gives_its_seed_and_keeps_the_count(playground, dieyuyun_emulator):
    playground.fill("prompt", "a random seed, reused")
    playground.fill("n", "3")
    playground.fill("seed", "-1")
    playground.generate(expect_images=3)
    first_seed = dieyuyun_emulator.requests[0].json["seed"]
    base = min(request.json["seed"] for request in dieyuyun_emulator.requests)
    playground.page.click("#reuse-seed")
    playground.expect("#seed input").to_have_value(str(base))
    assert playground.value("n") == "3" and first_seed >= base
    playground.page.locator("#gallery button.thumbnail-item").nth(2).click()  # the third image
    playground.page.click("#reuse-seed")
    playground.expect("#seed input").to_have_value(str(base + 2))
    assert playground.value("n") == "3"
    playground.page.click("#random-seed")
    playground.expect("#seed input").to_have_value("-1")


# -- one size control, readable sampler names -----------------------------------------------------------


def test_fixed_sizes_are_ratio_choices_and_ranges_add_a_custom_size(playground, segmind_emulator):
    labels = options(playground, "size")
    assert "1:1 · 1024×1024" in labels and "3:4 · 768×1024" in labels and not playground.page.locator("#width").is_visible()
    playground.choose("backend", "Segmind")
    playground.wait_until_idle()
    playground.choose("size", "Custom")
    playground.page.locator("#width").wait_for(state="visible")
    playground.fill("width", "640")
    playground.fill("height", "832")
    playground.fill("prompt", "a custom size")
    playground.generate(expect_images=1)
    sent = segmind_emulator.requests[-1].json
    assert (sent["width"], sent["height"]) == (640, 832)


def test_samplers_show_a1111_names_and_send_the_providers_value(playground, segmind_emulator):
    playground.choose("backend", "Segmind")
    playground.wait_until_idle()
    playground.open_advanced()
    playground.page.locator("#scheduler input").click()
    listbox = playground.page.locator("ul[role=listbox]")
    names = [name.replace("✓", "").strip() for name in listbox.locator("li[role=option]").all_inner_texts()]
    assert names == ["Euler", "Euler a", "DPM++ 2M", "DPM++ SDE Karras", "UniPC", "DEIS"]
    listbox.locator("li[role=option]", has_text="DPM++ SDE Karras").click()
    listbox.wait_for(state="detached")
    playground.fill("prompt", "readable samplers")
    playground.generate(expect_images=1)
    assert segmind_emulator.requests[-1].json["scheduler"] == "DPMSolverMultistepScheduler_SDE_karras"
    playground.page.locator("#info-accordion button").first.click()
    info = playground.page.locator("#generation-info textarea").input_value()
    assert "Sampler: DPM++ SDE Karras" in info and "DPMSolverMultistepScheduler" not in info


# -- looking never destroys --------------------------------------------------------------------------


def test_generation_info_is_readable_with_the_raw_json_behind_a_toggle(playground):
    playground.fill("prompt", "info please")
    playground.fill("seed", "77")
    playground.generate(expect_images=1)
    playground.page.locator("#info-accordion button").first.click()
    info = playground.page.locator("#generation-info textarea").input_value()
    assert "info please" in info and "Seed: 77" in info and "{" not in info
    assert not playground.page.locator("#generation-json").is_visible()
    playground.page.locator("#raw-json button").first.click()
    playground.expect("#generation-json").to_contain_text("generation_id")


def test_downloads_are_originals_with_readable_names(playground, browser_app):
    playground.fill("prompt", "named downloads")
    playground.fill("seed", "42")
    playground.fill("n", "2")
    playground.generate(expect_images=2)
    with playground.page.expect_download() as caught:
        playground.page.click("#download-image")
    download = caught.value
    assert DOWNLOAD_NAME.match(download.suggested_filename) and "seed42." in download.suggested_filename
    data = Path(download.path()).read_bytes()
    restored = read_image_parameters(data)
    assert restored.prompt == "named downloads" and restored.seed == 42
    stored = {path.read_bytes() for path in (browser_app.data_dir / "images").iterdir()}
    assert data in stored  # the stored original, byte for byte
    with playground.page.expect_download() as caught:
        playground.page.click("#download-all")
    assert re.match(r"^kolors-\d{8}-\d{4}-seed42-43\.zip$", caught.value.suggested_filename)
    import zipfile

    with zipfile.ZipFile(caught.value.path()) as archive:
        names = archive.namelist()
        assert len(names) == 2 and all(DOWNLOAD_NAME.match(name) for name in names)
        assert {archive.read(name) for name in names} <= stored


def test_the_page_shows_light_previews_not_the_originals(playground, browser_app, dieyuyun_emulator_session):
    """A photograph as heavy as Kolors' (1.2-1.7 MB PNG) reaches the page as the store's WebP preview, a
    tenth of its weight; a light image (the emulator's 17 KB mosaic) as itself; downloads stay originals."""
    dieyuyun_emulator_session.photos = True
    try:
        playground.fill("prompt", "heavy photographs")
        playground.fill("n", "2")
        tiles = playground.generate(expect_images=2)
    finally:
        dieyuyun_emulator_session.photos = False
    stored = sorted((browser_app.data_dir / "images").iterdir(), key=lambda p: p.stat().st_mtime)[-2:]
    originals = {len(path.read_bytes()) for path in stored}
    for tile in tiles:
        shown = playground.download(tile["src"])
        assert Image.open(io.BytesIO(shown)).format == "WEBP"
        assert len(shown) < 0.2 * min(originals), (len(shown), originals)
    previews = sorted((browser_app.data_dir / "previews").iterdir(), key=lambda p: p.stat().st_mtime)[-2:]
    assert {p.read_bytes() for p in previews} == {playground.download(t["src"]) for t in tiles}  # encoded once

    playground.fill("prompt", "a light mosaic")
    playground.fill("n", "1")
    (tile,) = playground.generate(expect_images=1)
    newest = max((browser_app.data_dir / "images").iterdir(), key=lambda p: p.stat().st_mtime)
    assert Image.open(io.BytesIO(playground.download(tile["src"]))).format == "PNG"
    assert len(playground.download(tile["src"])) < len(newest.read_bytes())  # the provider's bytes, before our metadata


# -- restoring, explicitly -------------------------------------------------------------------------------


def test_an_image_dropped_on_the_prompt_shows_its_settings_and_restores_after_confirmation(playground, browser_app):
    playground.choose("backend", "Segmind")
    playground.wait_until_idle()
    playground.fill("prompt", "the image to drop")
    playground.fill("seed", "1234")
    playground.fill("n", "2")
    playground.generate(expect_images=2)
    with playground.page.expect_download() as caught:
        playground.page.click("#download-image")
    dropped = Path(caught.value.path())
    named = dropped.with_name(caught.value.suggested_filename)
    dropped.rename(named)
    playground.choose("backend", "dieyuyun")
    playground.fill("prompt", "what I was typing")
    playground.drop_file("#prompt textarea", named, "image/webp")
    playground.page.locator("#dropped-parameters").wait_for(state="visible")
    playground.expect("#dropped-parameters textarea").to_have_value(re.compile("the image to drop"))
    assert prompt_text(playground) == "what I was typing"  # looking changed nothing yet
    playground.page.click("#use-dropped")
    playground.expect("#prompt textarea").to_have_value("the image to drop")
    assert playground.value("seed") == "1234" and playground.value("backend").startswith("Segmind")
    assert playground.page.locator("#form-undo").is_visible()
    playground.page.click("#form-undo")
    playground.expect("#prompt textarea").to_have_value("what I was typing")


def test_an_a1111_png_restores_through_the_upload_button(playground, tmp_path):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a castle on a hill\nNegative prompt: fog\nSteps: 33, Sampler: Euler a, "
                                "CFG scale: 6.5, Seed: 987, Size: 768x1024, Model: sdxl")
    path = tmp_path / "a1111.png"
    Image.new("RGB", (32, 32)).save(path, pnginfo=info)
    playground.page.locator("#tools-row input[type=file]").set_input_files(str(path))
    playground.page.locator("#dropped-parameters").wait_for(state="visible")
    playground.page.click("#use-dropped")
    playground.expect("#prompt textarea").to_have_value("a castle on a hill")
    assert (playground.value("seed"), size_of(playground.value("size"))) == ("987", "768x1024")
    playground.open_advanced()
    assert playground.value("steps") == "33" and playground.value("negative-prompt") == "fog"


def test_copy_link_copies_every_field_and_says_so(browser, browser_app):
    with open_page(browser, browser_app, permissions=("clipboard-read", "clipboard-write")) as page:
        page.fill("prompt", "一只橘猫 & a cat")
        page.fill("n", "3")
        page.fill("seed", "123")
        page.page.click("#copy-link")
        page.expect("#copy-note").to_contain_text("Link copied")
        link = page.page.evaluate("navigator.clipboard.readText()")
        query = {k: v[0] for k, v in parse_qs(urlparse(link).query).items()}
        assert query["prompt"] == "一只橘猫 & a cat" and query["n"] == "3" and query["seed"] == "123"
        assert not page.page.locator("#share-payload").is_visible()
    with open_page(browser, browser_app, query="?" + urlparse(link).query) as page:
        page.expect("#prompt textarea").to_have_value("一只橘猫 & a cat")
        assert page.value("n") == "3" and page.value("seed") == "123"
        page.expect("#form-note").to_contain_text("Filled in from the link")


# -- remembered and reachable -----------------------------------------------------------------------------


def stored(page: PlaygroundPage, key: str) -> str | None:
    return page.page.evaluate("key => localStorage.getItem(key)", key)


def test_the_advanced_section_is_remembered(browser, browser_app):
    key = "kolors_playground_advanced_open"
    with open_page(browser, browser_app) as page:
        assert not page.page.locator("#steps").is_visible()
        before = stored(page, key)
        page.open_advanced()
        page.page.wait_for_function("([key, before]) => localStorage.getItem(key) !== before", arg=[key, before])
        page.page.reload()
        page.wait_until_loaded()
        page.page.locator("#steps").wait_for(state="visible")
        opened = stored(page, key)
        page.page.locator("#advanced button").first.click()
        page.page.wait_for_function("([key, before]) => localStorage.getItem(key) !== before", arg=[key, opened])
        page.page.reload()
        page.wait_until_loaded()
        page.page.wait_for_timeout(500)
        assert not page.page.locator("#steps").is_visible()


def test_settings_are_reachable_from_the_top(playground):
    assert in_view(playground, "#settings-btn")
    playground.page.click("#settings-btn")
    playground.page.locator("#key-segmind").wait_for(state="visible")
    assert playground.selected_tab() == "settings"


def test_the_history_survives_a_restart(playground, browser_app):
    playground.fill("prompt", "a lighthouse that survives restarts")
    playground.generate(expect_images=1)
    browser_app.restart()
    playground.open()
    playground.search_history("lighthouse that survives", expect_entries=1)


def test_the_page_has_no_script_errors(playground):
    playground.fill("prompt", "no errors")
    playground.generate(expect_images=1)
    playground.open_tab("history")
    playground.open_tab("compare")
    playground.open_tab("settings")
    assert playground.page_errors == []
