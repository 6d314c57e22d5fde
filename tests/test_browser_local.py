"""The local backend in the page: step progress and a live preview while it denoises, on the tiny Kolors
pipeline (real diffusers code, toy weights) in Debian's chromium."""

from __future__ import annotations

import pytest

from tests.browser_fixtures import app_under_test, browser_fixture, open_page  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.local, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def local_app(tmp_path_factory):
    pytest.importorskip("diffusers")
    from tests.tiny_kolors import build_tiny_kolors

    model = build_tiny_kolors(tmp_path_factory.mktemp("tiny-kolors"))
    with app_under_test(tmp_path_factory.mktemp("local-app"), {"KOLORS_MODEL": str(model), "KOLORS_DEVICE": "cpu"}) as app:
        yield app


def test_the_local_backend_shows_steps_and_a_live_preview(browser, local_app):
    with open_page(browser, local_app) as page:
        assert page.value("backend").startswith("Kolors")
        page.fill("prompt", "a slow local picture")
        page.choose("size", "Custom")
        page.fill("width", "256")
        page.fill("height", "256")
        page.fill("n", "2")
        page.fill("steps", "8")
        page.page.click("#generate-btn")
        page.page.wait_for_function(
            "() => /step \\d of 8/.test(document.querySelector('#status').innerText)", timeout=300_000
        )
        page.page.wait_for_function(
            "() => [...document.querySelectorAll('#gallery img')].some(img => img.alt.includes('in progress'))",
            timeout=300_000,
        )
        tiles = page.wait_for_run(2, timeout=300_000)
        assert [tile["caption"] for tile in tiles] == [t["caption"] for t in tiles if t["caption"].startswith("seed")]
        assert page.status().startswith("✅ 2 images")
