"""Dropping a JPEG or WebP into the page restores the form: an A1111 JPEG, whose parameters
are in its EXIF UserComment, and a WebP the playground stored from Segmind as Segmind sent it."""

from __future__ import annotations

import pytest
from PIL import Image

from backends.history import read_image_parameters
from tests.browser_fixtures import (  # noqa: F401  (fixtures)
    browser_app_fixture,
    browser_fixture,
    playground_fixture,
)
from tests.test_browser import drop_png, set_segmind_form, shown
from tests.test_image_metadata import A1111_EXIF

pytestmark = pytest.mark.browser


def test_the_drop_zone_takes_jpeg_and_webp(playground):
    playground.page.get_by_text("Drop an image (PNG, JPEG, WebP) to restore its settings").first.click()  # open the accordion
    accept = playground.page.locator("#png-drop input[type=file]").get_attribute("accept")
    assert {".png", ".jpg", ".jpeg", ".webp"} <= {kind.strip() for kind in accept.split(",")}


def test_dropping_an_a1111_jpeg_fills_the_form(playground, tmp_path):
    path = tmp_path / "from-a1111.jpg"
    Image.new("RGB", (64, 48), "teal").save(path, format="JPEG", exif=A1111_EXIF)

    drop_png(playground, path)

    playground.expect("#form-note").to_contain_text("Restored from a1111 metadata")
    form = shown(playground)
    assert {k: form[k] for k in ("prompt", "negative-prompt", "seed", "steps", "guidance", "size")} == {
        "prompt": "a castle on a hill", "negative-prompt": "people", "seed": "4242", "steps": "33",
        "guidance": "5.5", "size": "1024x768",
    }


def test_dropping_a_stored_segmind_webp_restores_every_control(playground, browser_app):
    values = {
        "prompt": "a paper crane on a desk, morning", "negative-prompt": "text", "size": "1152x896", "n": "1",
        "seed": "2718", "steps": "21", "guidance": "4.5", "scheduler": "UniPCMultistepScheduler",
        "output-format": "webp", "output-quality": "75",
    }
    set_segmind_form(playground, values)
    playground.generate(expect_images=1)
    (saved,) = [
        path for path in (browser_app.data_dir / "images").glob("*.webp")
        if read_image_parameters(path).prompt == values["prompt"]
    ]

    playground.open()  # a fresh form, on the default backend
    drop_png(playground, saved)

    playground.expect("#form-note").to_contain_text("Restored from kolors_playground metadata")
    playground.expect("#scheduler input").to_be_visible()
    assert shown(playground) == {"backend": "Segmind (Kolors)", **values, "width": "1152", "height": "896"}
