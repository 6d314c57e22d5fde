"""Hosted mode (a public Space): each visitor sees only their own history, through the page, the API
and guessed file URLs; the hourly quota stops the third image of a quota of 2; a key a visitor pastes
works for that visitor alone."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from backends.history import HistoryStore
from tests.app_harness import emulator_env, running_app
from tests.browser_fixtures import VIEWPORT, PlaygroundPage, app_under_test, browser_fixture  # noqa: F401

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def hosted_app(tmp_path_factory, dieyuyun_emulator_session, segmind_emulator_session):
    """A hosted app whose operator configured dieyuyun only; Segmind needs a visitor's own key."""
    folder = tmp_path_factory.mktemp("hosted-app")
    env = {**emulator_env(("dieyuyun", dieyuyun_emulator_session)), "PLAYGROUND_MODE": "hosted",
           "SEGMIND_BASE_URL": segmind_emulator_session.base_url}
    with app_under_test(folder, env) as app:
        yield app


def visitor(browser, app) -> tuple[object, PlaygroundPage]:
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(20_000)
    page = PlaygroundPage(context.new_page(), app)
    page.open()
    return context, page


def expect_entries(page: PlaygroundPage, text: str) -> None:
    page.open_tab("history")
    page.expect("#history-page-info").to_contain_text(text)
    page.open_tab("generate")


def test_two_visitors_see_only_their_own_history(browser, hosted_app):
    alpha, beta = f"alpha {uuid.uuid4().hex[:8]}", f"beta {uuid.uuid4().hex[:8]}"
    context_a, a = visitor(browser, hosted_app)
    context_b, b = visitor(browser, hosted_app)
    try:
        a.fill("prompt", alpha)
        a.generate(expect_images=1)
        b.fill("prompt", beta)
        b.generate(expect_images=1)
        expect_entries(a, "1 entry")
        expect_entries(b, "1 entry")
        b.search_history(alpha.split()[1], expect_entries=0)
        a.search_history(beta.split()[1], expect_entries=0)
        assert alpha not in b.page.content() and beta not in a.page.content()
        # A comes back later in the same browser: the visitor id kept in its storage brings the history back.
        a.page.reload()
        a.wait_until_loaded()
        expect_entries(a, "1 entry")
        a.search_history(alpha.split()[1], expect_entries=1)
    finally:
        context_a.close()
        context_b.close()
    context_c, c = visitor(browser, hosted_app)  # a new browser starts empty
    try:
        expect_entries(c, "0 entries")
    finally:
        context_c.close()
    with sqlite3.connect(hosted_app.data_dir / "history.sqlite3") as db:
        owners = {row[0]: row[1] for row in db.execute("select prompt, visitor from generations")}
    assert owners[alpha] != owners[beta] and len(owners[alpha]) >= 32


def test_api_clients_are_partitioned_too(hosted_app):
    first, second = Client(hosted_app.url, verbose=False), Client(hosted_app.url, verbose=False)
    marker = uuid.uuid4().hex[:8]
    first.predict(backend="dieyuyun", prompt=f"api one {marker}", api_name="/generate")
    second.predict(backend="dieyuyun", prompt=f"api two {marker}", api_name="/generate")
    with sqlite3.connect(hosted_app.data_dir / "history.sqlite3") as db:
        visitors = {prompt: who for prompt, who in db.execute("select prompt, visitor from generations where prompt like ?", (f"%{marker}",))}
    assert visitors[f"api one {marker}"] != visitors[f"api two {marker}"]
    assert list(first.view_api(return_format="dict", print_info=False)["named_endpoints"]) == ["/generate", "/compare"]


def test_guessed_file_urls_reveal_nothing(hosted_app):
    """Stored files are served in place, by names carrying 128 random bits: only a visitor who was
    shown a URL knows it. Nothing else under the data dir, no listing, no near guess, is served, and
    once the entry is deleted its URL is refused."""
    client = Client(hosted_app.url, verbose=False, download_files=False)
    gallery, info = client.predict(backend="dieyuyun", prompt="a private picture", api_name="/generate")
    shown_url = gallery[0]["image"]["url"]
    assert httpx.get(shown_url, timeout=10).status_code == 200
    stored = sorted((hosted_app.data_dir / "images").glob("*.png"))
    assert stored
    data_dir = hosted_app.data_dir.resolve()
    near_miss = stored[0].resolve().with_name(("0" if stored[0].name[0] != "0" else "1") + stored[0].name[1:])
    guesses = [
        f"gradio_api/file={near_miss}", f"gradio_api/file={data_dir / 'images'}", f"gradio_api/file={data_dir / 'thumbs'}",
        f"gradio_api/file={data_dir / 'history.sqlite3'}", f"gradio_api/file={data_dir / '.browser-secret'}",
        f"gradio_api/file={data_dir / 'images' / '..' / 'history.sqlite3'}", f"gradio_api/file=images/{stored[0].name}",
        "gradio_api/file=../../etc/passwd", "gradio_api/file=/etc/passwd", "file=/etc/passwd",
        f"gradio_api/file={Path(__file__).resolve()}",
    ]
    for guess in guesses:
        response = httpx.get(hosted_app.url + guess, timeout=10)
        assert response.status_code in (403, 404), (guess, response.status_code)
        assert b"PNG" not in response.content[:8] and b"root:" not in response.content and b"SQLite" not in response.content[:16]

    with sqlite3.connect(hosted_app.data_dir / "history.sqlite3") as db:
        owner = db.execute("select visitor from generations where id = ?", (info["generation_id"],)).fetchone()[0]
    with HistoryStore(hosted_app.data_dir) as store:  # a second process on the same store, as the app's delete does
        assert store.delete(info["generation_id"], visitor=owner)
    gone = httpx.get(shown_url, timeout=10)
    assert gone.status_code in (403, 404) and b"PNG" not in gone.content[:8]


def test_the_quota_stops_the_third_image_with_a_clear_message(tmp_path, dieyuyun_emulator):
    env = {**emulator_env(("dieyuyun", dieyuyun_emulator)), "PLAYGROUND_MODE": "hosted", "PLAYGROUND_QUOTA_PER_HOUR": "2"}
    with running_app(env, data_dir=tmp_path / "data", log_path=tmp_path / "app.log") as app:
        client = Client(app.url, verbose=False)
        _, info = client.predict(backend="dieyuyun", prompt="one and two", n=2, api_name="/generate")
        assert len(info["seeds"]) == 2
        with pytest.raises(AppError, match=r"used this demo's 2 images for this hour.*Try again in"):
            client.predict(backend="dieyuyun", prompt="three", api_name="/generate")
        assert len(dieyuyun_emulator.requests) == 2  # refused before the provider was called
        other = Client(app.url, verbose=False)  # same address: the quota counts it too
        with pytest.raises(AppError, match="for this hour"):
            other.predict(backend="dieyuyun", prompt="from another tab", api_name="/generate")


def test_a_pasted_key_works_for_its_visitor_only(browser, hosted_app, segmind_emulator):
    context_a, a = visitor(browser, hosted_app)
    context_b, b = visitor(browser, hosted_app)
    try:
        a.page.click("#settings-btn")
        a.page.locator("#key-segmind input").fill(segmind_emulator.api_key)
        a.page.locator("#key-segmind input").blur()
        a.wait_until_idle()
        a.open_tab("generate")
        a.page.locator("#backend input").click()
        a.expect("ul[role=listbox]").to_contain_text("Segmind (Kolors)")
        a.expect("ul[role=listbox]").not_to_contain_text("Segmind (Kolors) — unavailable")
        a.page.locator("ul[role=listbox] li[role=option]", has_text="Segmind").first.click()
        a.wait_until_idle()
        a.fill("prompt", "with my own key")
        a.generate(expect_images=1)
        assert segmind_emulator.requests[-1].headers["x-api-key"] == segmind_emulator.api_key

        b.choose("backend", "Segmind")
        b.fill("prompt", "without a key")
        b.click_generate()
        b.expect("#status").to_contain_text("SEGMIND_API_KEY")
        assert len(segmind_emulator.requests) == 1
        assert segmind_emulator.api_key not in b.page.content() and segmind_emulator.api_key not in a.page.content()
    finally:
        context_a.close()
        context_b.close()
    assert segmind_emulator.api_key not in hosted_app.log()


def test_a_visitors_own_styles_stay_theirs(browser, hosted_app):
    context_a, a = visitor(browser, hosted_app)
    context_b, b = visitor(browser, hosted_app)
    try:
        a.page.locator("#styles-editor button").first.click()
        a.page.locator("#style-name input").fill("Alpha secret style")
        a.page.locator("#style-template textarea").fill("{prompt}, alpha")
        a.page.click("#style-save")
        a.expect("#style-note").to_contain_text("Saved")
        b.page.reload()
        b.wait_until_loaded()
        b.page.locator("#style input").first.click()
        assert b.page.locator("ul[role=listbox] li[role=option]", has_text="Alpha secret style").count() == 0
        b.page.keyboard.press("Escape")
        from gradio_client import Client
        from gradio_client.exceptions import AppError

        with pytest.raises(AppError, match="preset"):  # nor through the API, from another session
            Client(hosted_app.url, verbose=False).predict(backend="dieyuyun", prompt="x", preset="Alpha secret style",
                                                         api_name="/generate")
    finally:
        context_a.close()
        context_b.close()
