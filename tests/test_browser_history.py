"""The History tab in a real browser: every generation as a batch, an entry view that never changes the
form, and explicit actions (use these settings with one Undo, re-run, star, delete with an Undo)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.browser_fixtures import (  # noqa: F401  (pytest finds the fixtures by their names)
    PlaygroundPage,
    app_under_test,
    browser_app_fixture,
    browser_fixture,
    open_page,
    playground_fixture,
)

pytestmark = pytest.mark.browser


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def make_entry(page: PlaygroundPage, prompt: str, *, n: int = 1, seed: int | None = None) -> None:
    page.open_tab("generate")
    page.fill("prompt", prompt)
    page.fill("n", str(n))
    if seed is not None:
        page.fill("seed", str(seed))
    page.click_generate()
    page.wait_for_run(n)


def test_an_entry_shows_all_its_images_and_leaves_a_typed_prompt_alone(playground):
    make_entry(playground, "four koi in a pond", n=4, seed=300)
    playground.fill("prompt", "what I am typing now")
    playground.search_history("four koi", expect_entries=1)
    assert playground.history_tiles()[0].startswith("4 images")
    playground.open_history_entry(0)
    playground.page.wait_for_function(  # all four shown and loaded (an entry opens faster than its images load)
        "() => { const imgs = [...document.querySelectorAll('#entry-gallery img')];"
        " return imgs.length === 4 && imgs.every(img => img.complete && img.naturalWidth > 0); }")
    captions = playground.page.locator("#entry-gallery img").evaluate_all("imgs => imgs.map(img => img.alt)")
    assert captions == ["seed 300", "seed 301", "seed 302", "seed 303"]
    sizes = playground.page.locator("#entry-gallery img").evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
    assert min(sizes) > 256  # full-size previews, not thumbnails
    parameters = playground.page.locator("#entry-parameters textarea").input_value()
    assert "four koi in a pond" in parameters and "Seed: 303" in parameters
    playground.open_tab("generate")
    assert playground.page.locator("#prompt textarea").input_value() == "what I am typing now"


def test_use_these_settings_then_undo(playground):
    make_entry(playground, "a red kite over dunes", seed=77)
    playground.fill("prompt", "my own idea")
    playground.fill("seed", "5")
    playground.search_history("red kite", expect_entries=1)
    playground.open_history_entry(0)
    playground.page.click("#history-use")
    playground.expect("#prompt textarea").to_have_value("a red kite over dunes")
    assert playground.selected_tab() == "generate" and playground.value("seed") == "77"
    playground.expect("#form-note").to_contain_text("Undo")
    playground.page.click("#form-undo")
    playground.expect("#prompt textarea").to_have_value("my own idea")
    assert playground.value("seed") == "5" and not playground.page.locator("#form-undo").is_visible()


def test_rerun_gives_pixel_identical_images(playground, segmind_emulator):
    make_entry(playground, "rerun me exactly", n=2, seed=4242)
    first = [pixels(playground.download(tile["src"])) for tile in playground.gallery_images()]
    playground.search_history("rerun me exactly", expect_entries=1)
    playground.open_history_entry(0)
    playground.page.click("#history-rerun")
    playground.page.wait_for_function("() => document.querySelector('#status').innerText.includes('⏳')")
    again = [pixels(playground.download(tile["src"])) for tile in playground.wait_for_run(2)]
    assert all((a == b).all() for a, b in zip(first, again, strict=True))


def test_failed_and_stopped_runs_are_kept_quietly_and_filterable(playground, dieyuyun_emulator):
    dieyuyun_emulator.fault("status", status=500, times=10)
    make_entry(playground, "this one fails")
    assert playground.status().startswith("⚠️") and playground.error_toasts() == []
    playground.search_history("this one fails", expect_entries=1)
    assert "failed" in playground.history_tiles()[0]
    playground.choose("history-outcome", "failed")
    playground.wait_until_idle()
    assert all("failed" in caption for caption in playground.history_tiles())
    playground.choose("history-outcome", "complete")
    playground.page.wait_for_function("() => document.querySelectorAll('#history-gallery img').length === 0")


def test_star_shows_its_state_and_delete_has_an_undo(playground, browser_app):
    make_entry(playground, "a starred then deleted fox")
    playground.search_history("starred then deleted", expect_entries=1)
    playground.open_history_entry(0)
    playground.expect("#history-star").to_have_text("☆ Star")
    playground.page.click("#history-star")
    playground.expect("#history-star").to_have_text("★ Starred")
    playground.page.wait_for_function("() => document.querySelector('#history-gallery img')?.alt.startsWith('★')")
    playground.page.click("#history-delete")
    playground.page.wait_for_function("() => document.querySelectorAll('#history-gallery img').length === 0")
    playground.page.click("#undo-delete")
    playground.page.wait_for_function("() => document.querySelectorAll('#history-gallery img').length === 1")
    playground.open_history_entry(0)
    playground.page.click("#history-delete")
    playground.page.locator("#deleted-row").wait_for(state="hidden", timeout=20_000)  # gone for good after a while
    playground.page.click("#history-refresh")
    playground.wait_until_idle()
    assert playground.history_tiles() == []


def test_without_keys_the_page_says_what_to_set_and_where_settings_are(browser, tmp_path):
    # No key, and no local weights either (KOLORS_MODEL names a folder that does not exist).
    with app_under_test(tmp_path, {"KOLORS_MODEL": str(tmp_path / "no-weights")}) as app, open_page(browser, app) as page:
        page.expect("#backend-status").to_contain_text("DIEYUYUN_API_KEY")
        page.expect("#backend-status").to_contain_text("Settings")
        page.page.click("#open-settings")
        page.page.locator("#key-dieyuyun").wait_for(state="visible")


def test_on_a_phone_a_short_history_makes_a_short_grid(browser, browser_app):
    """Two entries on a 390×844 phone: the grid is as tall as its row of tiles, not the desktop's 520 px."""
    with open_page(browser, browser_app, phone=True) as page:
        for prompt in ("a short history, one", "a short history, two"):
            make_entry(page, prompt)
        page.search_history("a short history", expect_entries=2)
        grid = page.page.locator("#history-gallery .grid-wrap").bounding_box()
        tile = page.page.locator("#history-gallery button.thumbnail-item").first.bounding_box()
        assert grid["height"] < 2 * tile["height"] + 60, (grid, tile)
