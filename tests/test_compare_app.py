"""The Compare tab end to end: the public /compare endpoint through gradio_client, and a 2×2 grid
built and opened in Debian's chromium."""

from __future__ import annotations

import sqlite3
import uuid

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

from tests.app_harness import running_app
from tests.browser_fixtures import browser_app_fixture, browser_fixture, playground_fixture  # noqa: F401
from tests.probes import grid_metadata_of


def test_compare_endpoint_returns_a_labelled_grid_whose_cells_are_history_entries(launched_app, dieyuyun_emulator):
    client = Client(launched_app.url, verbose=False)
    grid, cells, info = client.predict(
        backend="dieyuyun", prompt="a fox in snow", seed=100, x_type="seed", x_values="2", y_type="guidance",
        y_values="4, 8", api_name="/compare",
    )
    assert [(c["row"], c["col"], c["seed"], c["status"]) for c in info["cells"]] == [
        (0, 0, 100, "ok"), (0, 1, 101, "ok"), (1, 0, 100, "ok"), (1, 1, 101, "ok"),
    ]
    assert [item["caption"] for item in cells] and len(cells) == 4
    sent = sorted((r.json["seed"], r.json["guidance_scale"]) for r in dieyuyun_emulator.requests)
    assert sent == [(100, 4.0), (100, 8.0), (101, 4.0), (101, 8.0)]
    metadata = grid_metadata_of(grid)
    assert metadata["x"]["values"] == [100, 101] and [c["seed"] for c in metadata["cells"]] == [100, 101, 100, 101]
    assert Image.open(grid).size[0] > 2 * 512  # two columns plus headings
    with sqlite3.connect(launched_app.data_dir / "history.sqlite3") as db:
        ids = {row[0] for row in db.execute("select id from generations where prompt = 'a fox in snow'")}
    assert {c["generation_id"] for c in info["cells"]} == ids


def test_bad_axis_syntax_names_the_axis(launched_app, dieyuyun_emulator):
    client = Client(launched_app.url, verbose=False)
    with pytest.raises(AppError, match=r"x_axis.*'1-'"):
        client.predict(backend="dieyuyun", prompt="p", x_type="guidance", x_values="4, 1-", api_name="/compare")
    assert dieyuyun_emulator.requests == []


@pytest.mark.e2e
def test_large_grids_ask_for_confirmation(app_env, tmp_path, dieyuyun_emulator):
    with running_app({**app_env, "PLAYGROUND_CONFIRM_CELLS": "3"}, data_dir=tmp_path / "d", log_path=tmp_path / "a.log") as app:
        client = Client(app.url, verbose=False)
        with pytest.raises(AppError, match=r"4 cells.*confirmation"):
            client.predict(backend="dieyuyun", prompt="p", x_type="seed", x_values="4", api_name="/compare")
        assert dieyuyun_emulator.requests == []
        _, cells, _ = client.predict(backend="dieyuyun", prompt="p", x_type="seed", x_values="4", confirm=True, api_name="/compare")
        assert len(cells) == 4


@pytest.mark.browser
def test_the_compare_tab_shows_its_base_settings_and_a_titled_clickable_grid(playground, dieyuyun_emulator):
    page = playground.page
    prompt = f"grid {uuid.uuid4().hex[:6]}"
    playground.fill("prompt", prompt)
    playground.fill("seed", "500")
    playground.open_tab("compare")
    # The base settings come from the Generate tab, shown and editable here.
    playground.expect("#compare-prompt textarea").to_have_value(prompt)
    playground.expect("#compare-seed input").to_have_value("500")
    playground.expect("#compare-base-note").to_contain_text("steps 20")
    page.locator("#x-values textarea").fill("2")
    page.locator("#y-type input").click()
    page.locator("ul[role=listbox] li[role=option]", has_text="Guidance").first.click()
    page.locator("#y-values textarea").fill("3, 9")
    page.locator("#y-values textarea").blur()
    playground.expect("#compare-plan").to_contain_text("4 cells (2 × 2)")
    playground.expect("#compare-plan").to_contain_text("a guess")
    assert not page.locator("#compare-confirm").is_visible()  # 4 cells: nothing to confirm
    page.click("#compare-run")
    playground.expect("#compare-status").to_contain_text("✅ 4 of 4 cells")
    captions = page.locator("#compare-grid img").evaluate_all("imgs => imgs.map(i => i.alt)")
    assert captions == ["Seed 500 · Guidance 3", "Seed 501 · Guidance 3", "Seed 500 · Guidance 9",
                        "Seed 501 · Guidance 9"]
    assert page.locator("#compare-cells").count() == 0  # one grid, not a grid and a second gallery
    page.locator("#compare-grid button.thumbnail-item").nth(3).click()
    playground.expect("#compare-cell").to_contain_text("Seed 501 · Guidance 9")
    page.locator("#compare-grid button.thumbnail-item").nth(0).click()
    playground.expect("#compare-cell").to_contain_text("Seed 500 · Guidance 3")
    playground.expect("#ab-slider").to_contain_text("A: Seed 501 · Guidance 9")
    playground.expect("#ab-slider").to_contain_text("B: Seed 500 · Guidance 3")
    # The handle can only travel across the picture: the slider is exactly as wide as the image shows.
    block = page.locator("#ab-slider").bounding_box()
    image = page.locator("#ab-slider img").first.bounding_box()
    assert abs(block["width"] - image["width"]) <= 2
    with page.expect_download() as caught:
        page.click("#compare-export")
    assert caught.value.suggested_filename.endswith(".png")
    # The estimate now comes from this backend's runs, not a guess.
    page.locator("#compare-seed input").fill("600")
    page.locator("#compare-seed input").blur()
    playground.expect("#compare-plan").to_contain_text("the median of this backend's last")


@pytest.mark.browser
def test_a_large_grid_asks_first_and_fill_lists_the_valid_values(playground, segmind_emulator):
    page = playground.page
    playground.choose("backend", "Segmind")
    playground.wait_until_idle()
    playground.fill("prompt", "a lighthouse")
    playground.open_tab("compare")
    page.locator("#x-type input").click()
    page.locator("ul[role=listbox] li[role=option]", has_text="Sampler").first.click()
    page.click("#x-fill")
    playground.expect("#x-values textarea").to_have_value("Euler, Euler a, DPM++ 2M, DPM++ SDE Karras, UniPC, DEIS")
    page.locator("#y-type input").click()
    page.locator("ul[role=listbox] li[role=option]", has_text="Steps").first.click()
    page.click("#y-fill")
    playground.expect("#y-values textarea").to_have_value("10, 20, 30, 40, 50")
    playground.expect("#compare-plan").to_contain_text("30 cells (6 × 5)")
    page.locator("#compare-confirm").wait_for(state="visible")
    page.click("#compare-run")
    playground.expect("#compare-status").to_contain_text("Tick the confirmation box")
    assert segmind_emulator.requests == []
    page.locator("#y-values textarea").fill("10")
    page.locator("#y-values textarea").blur()
    playground.expect("#compare-plan").to_contain_text("6 cells (6 × 1)")
    page.locator("#compare-confirm").wait_for(state="hidden")
