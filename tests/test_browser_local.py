"""The local backend in the page: step progress and a live preview while it denoises, on the tiny Kolors
pipeline (real diffusers code, toy weights) in Debian's chromium."""

from __future__ import annotations

import pytest

from tests.browser_fixtures import app_under_test, browser_fixture, open_page  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.local, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def local_app(tmp_path_factory):
    pytest.importorskip("diffusers")
    from tests.tiny_kolors import cached_tiny_kolors

    model = cached_tiny_kolors()
    with app_under_test(tmp_path_factory.mktemp("local-app"), {"KOLORS_MODEL": str(model), "KOLORS_DEVICE": "cpu"}) as app:
        yield app


def test_the_local_backend_shows_steps_and_a_live_preview(browser, local_app):
    with open_page(browser, local_app) as page:
        # The only backend runs on the CPU: it is selected, and the page says what that costs and what to set.
        page.expect("#backend-status").to_contain_text("CPU")
        page.expect("#backend-status").to_contain_text("DIEYUYUN_API_KEY")
        page.page.wait_for_function("() => document.querySelector('#backend input').value.startsWith('Local (CPU')")
        page.fill("prompt", "a slow local picture")
        page.choose("size", "Custom")
        page.fill("width", "256")
        page.fill("height", "256")
        page.fill("n", "2")
        page.fill("steps", "8")
        page.click_generate()
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


def test_a_missing_model_is_downloaded_only_after_the_person_confirms(browser, tiny_model_dir, tmp_path):
    """The page shows the size and the destination; nothing is fetched until "Download and generate"."""
    from tests.emulators.hf_hub import FakeHub

    repo = "kolors-test/tiny-kolors"
    cache = tmp_path / "hf-cache"
    with FakeHub({repo: tiny_model_dir}, chunk_delay_s=0.02).running() as hub:
        env = {"HF_ENDPOINT": hub.base_url, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "0",
               "KOLORS_MODEL": repo, "KOLORS_DEVICE": "cpu"}
        (tmp_path / "app").mkdir()
        with app_under_test(tmp_path / "app", env) as app, open_page(browser, app) as page:
            page.fill("prompt", "after asking")
            page.choose("size", "Custom")
            page.fill("width", "256")
            page.fill("height", "256")
            page.fill("steps", "2")
            page.click_generate()
            page.page.locator("#download-row").wait_for(state="visible", timeout=120_000)
            note = page.page.locator("#download-note").inner_text()
            assert str(cache) in note or "hf-cache" in note
            assert hub.downloads() == []  # asked first, nothing fetched
            page.page.click("#download-confirm")
            tiles = page.wait_for_run(1, timeout=300_000)
            assert tiles and sorted(hub.downloads()) == sorted(hub.files(repo))
