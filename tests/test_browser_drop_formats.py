"""Dropping a PNG, JPEG or WebP on the prompt box shows its settings and restores them on request: an
A1111 JPEG (parameters in its EXIF UserComment), and a WebP the playground stored from Segmind as Segmind
sent it (every control, its scheduler and format included)."""

from __future__ import annotations

import pytest
from PIL import Image

from backends.history import read_image_parameters
from tests.browser_fixtures import (  # noqa: F401  (fixtures)
    PlaygroundPage,
    browser_app_fixture,
    browser_fixture,
    playground_fixture,
    size_of,
)
from tests.test_image_metadata import A1111_EXIF

pytestmark = pytest.mark.browser


def drop_and_use(page: PlaygroundPage, path, mime: str) -> None:
    page.drop_file("#prompt textarea", path, mime)
    page.page.locator("#dropped-parameters").wait_for(state="visible")
    page.page.click("#use-dropped")
    page.expect("#form-undo").to_be_visible()
    page.wait_until_idle()


def test_the_prompt_box_and_the_upload_button_take_png_jpeg_and_webp(playground):
    for selector in ("#prompt input[type=file]", "#tools-row input[type=file]"):
        accept = playground.page.locator(selector).get_attribute("accept")
        assert {".png", ".jpg", ".jpeg", ".webp"} <= {kind.strip() for kind in accept.split(",")}, selector


def test_dropping_an_a1111_jpeg_fills_the_form(playground, tmp_path):
    path = tmp_path / "from-a1111.jpg"
    Image.new("RGB", (64, 48), "teal").save(path, format="JPEG", exif=A1111_EXIF)
    drop_and_use(playground, path, "image/jpeg")
    form = playground.form()
    assert {k: form[k] for k in ("prompt", "negative-prompt", "seed", "steps", "guidance")} == {
        "prompt": "a castle on a hill", "negative-prompt": "people", "seed": "4242", "steps": "33", "guidance": "5.5",
    }
    assert size_of(form["size"]) == "1024x768"


def test_dropping_a_stored_segmind_webp_restores_every_control(playground, browser_app):
    playground.choose("backend", "Segmind")
    playground.wait_until_idle()
    playground.fill("prompt", "a paper crane on a desk, morning")
    playground.fill("seed", "2718")
    playground.fill("negative-prompt", "text")
    playground.fill("steps", "21")
    playground.fill("guidance", "4.5")
    playground.choose("scheduler", "UniPC")
    playground.fill("output-quality", "75")
    playground.choose("size", "9:7")
    playground.wait_until_idle()
    playground.generate(expect_images=1)
    (saved,) = [
        path for path in (browser_app.data_dir / "images").glob("*.webp")
        if read_image_parameters(path).prompt == "a paper crane on a desk, morning"
    ]
    playground.open()  # a fresh form, on the default backend
    drop_and_use(playground, saved, "image/webp")
    form = playground.form()
    assert form["backend"] == "Segmind (Kolors)" and size_of(form["size"]) == "1152x896"
    assert {k: form[k] for k in ("prompt", "negative-prompt", "seed", "steps", "guidance", "scheduler",
                                 "output-format", "output-quality")} == {
        "prompt": "a paper crane on a desk, morning", "negative-prompt": "text", "seed": "2718", "steps": "21",
        "guidance": "4.5", "scheduler": "UniPC", "output-format": "WEBP", "output-quality": "75",
    }
