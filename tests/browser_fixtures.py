"""Browser fixtures: Debian's chromium driven by Playwright's sync API, one launched app per module,
and a small page object that knows the playground's DOM (Gradio 6).

A test module imports the fixture functions (``from tests.browser_fixtures import browser_fixture, ...``);
pytest knows them by their ``name=`` (``browser``, ``browser_app``, ``playground``).
``playwright install`` cannot download browsers here; the system chromium is used as it is.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.app_harness import RunningApp, emulator_env, start_app, stop_app

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "AppUnderTest",
    "PlaygroundPage",
    "app_under_test",
    "browser_app_fixture",
    "browser_fixture",
    "open_page",
    "playground_fixture",
    "size_of",
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
VIEWPORT = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 20_000

# Sliders are read and typed through their number box; everything else through its input/textarea.
SLIDERS = ("n", "steps", "guidance", "output-quality")


@dataclass
class AppUnderTest:
    """``python app.py`` in a subprocess on the emulators, with a data dir that outlives restarts."""

    env: Mapping[str, str]
    data_dir: Path
    log_path: Path
    running: RunningApp | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        assert self.running is not None, "the app is not running"
        return self.running.url

    def start(self) -> None:
        self.running = start_app(self.env, data_dir=self.data_dir, log_path=self.log_path)

    def stop(self) -> None:
        if self.running is not None:
            stop_app(self.running)
            self.running = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture(scope="module", name="browser_app")
def browser_app_fixture(tmp_path_factory, dieyuyun_emulator_session, segmind_emulator_session, siliconflow_emulator_session):
    """One app for the module (tests tell their entries apart by prompt). The function-scoped
    ``*_emulator`` fixtures reset these same emulators, so a test can ask for one to inspect it."""
    folder = tmp_path_factory.mktemp("browser-app")
    env = emulator_env(
        ("dieyuyun", dieyuyun_emulator_session), ("segmind", segmind_emulator_session),
        ("siliconflow", siliconflow_emulator_session),
    )
    with app_under_test(folder, env) as app:
        yield app


@contextmanager
def app_under_test(folder: Path, env: Mapping[str, str]) -> Iterator[AppUnderTest]:
    """The app started with ``env`` and its data under ``folder``, stopped afterwards."""
    app = AppUnderTest(env=env, data_dir=folder / "data", log_path=folder / "app.log")
    app.start()
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="module", name="browser")
def browser_fixture():
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(name="playground")
def playground_fixture(browser, browser_app) -> Iterator[PlaygroundPage]:
    """A fresh browser context (no cookies, no storage) at 1440×900 with the app's page open and loaded."""
    with open_page(browser, browser_app) as page:
        yield page


@contextmanager
def open_page(browser, app: AppUnderTest, *, phone: bool = False, locale: str = "en-US", query: str = "",
              permissions: tuple[str, ...] = ()) -> Iterator[PlaygroundPage]:
    """A fresh context at 1440×900 (or a 390×844 touch phone) with the page open and loaded."""
    context = browser.new_context(
        viewport=PHONE if phone else VIEWPORT, locale=locale, is_mobile=phone, has_touch=phone, accept_downloads=True,
    )
    if permissions:
        context.grant_permissions(list(permissions), origin=app.url.rstrip("/"))
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = PlaygroundPage(context.new_page(), app)
        page.open(query)
        yield page
    finally:
        context.close()


def size_of(label: str | None) -> str | None:
    """"896×1152 (7:9)" -> "896x1152": the value behind a size dropdown's label."""
    match = re.search(r"(\d+)\s*[×x]\s*(\d+)", label or "")
    return f"{match.group(1)}x{match.group(2)}" if match else None


class PlaygroundPage:
    """The playground's page, by the elem_ids the UI sets. Every wait is on a condition."""

    TABS = ("generate", "history", "compare", "settings")

    def __init__(self, page, app: AppUnderTest) -> None:
        self.page = page
        self.app = app
        self.page_errors: list[str] = []
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    # -- loading ---------------------------------------------------------------------------------

    def open(self, query: str = "") -> None:
        self.page.goto(self.app.url + query)
        self.wait_until_loaded()

    def wait_until_loaded(self) -> None:
        """The page is up once its load events have answered (every status tracker hidden)."""
        self.page.wait_for_selector("#generate-btn")
        self.page.wait_for_function("() => window.__gradio_session_hash__ !== undefined")
        self.wait_until_idle()

    def expect(self, selector: str):
        from playwright.sync_api import expect

        return expect(self.page.locator(selector))

    def open_tab(self, name: str) -> None:
        self.page.locator("#tabs button[role=tab]").nth(self.TABS.index(name)).click()
        self.page.wait_for_function(
            "index => document.querySelectorAll('#tabs button[role=tab]')[index]?.getAttribute('aria-selected') === 'true'",
            arg=self.TABS.index(name),
        )

    def selected_tab(self) -> str:
        buttons = self.page.locator("#tabs button[role=tab]")
        for index in range(buttons.count()):
            if buttons.nth(index).get_attribute("aria-selected") == "true":
                return self.TABS[index]
        return ""

    # -- the form --------------------------------------------------------------------------------

    def box(self, elem_id: str):
        if elem_id in ("prompt", "negative-prompt", "history-search", "x-values", "y-values"):
            return self.page.locator(f"#{elem_id} textarea")
        if elem_id in SLIDERS:
            return self.page.locator(f"#{elem_id} input[type=number]")
        return self.page.locator(f"#{elem_id} input").first

    def fill(self, elem_id: str, value: str) -> None:
        """A textbox (prompt, negative prompt), the seed, W×H, or a slider's number box."""
        if elem_id in ("negative-prompt", "steps", "guidance", "scheduler", "output-format", "output-quality"):
            self.open_advanced()
        box = self.box(elem_id)
        box.fill(str(value))
        box.blur()

    def open_advanced(self) -> None:
        if not self.page.locator("#negative-prompt").is_visible() and not self.page.locator("#steps").is_visible():
            self.page.locator("#advanced button").first.click()
            self.page.locator("#steps").wait_for(state="visible")

    def choose(self, elem_id: str, option: str) -> None:
        """Pick the dropdown option whose label starts with ``option``, as a person would."""
        if elem_id in ("scheduler", "output-format"):
            self.open_advanced()
        self.page.locator(f"#{elem_id} input").click()
        listbox = self.page.locator("ul[role=listbox]")
        listbox.locator("li[role=option]", has_text=option).first.click()
        listbox.wait_for(state="detached")

    def wait_until_idle(self) -> None:
        """No event is running for any component on the page (Gradio hides every status tracker)."""
        self.page.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=status-tracker]')]"
            ".every(tracker => tracker.classList.contains('hide'))"
        )

    def value(self, elem_id: str) -> str | None:
        """What the control shows (a dropdown shows its choice's label); None when it is hidden."""
        return self.page.evaluate(
            """([id, sliders]) => {
                const root = document.getElementById(id);
                if (!root || root.offsetParent === null) return null;
                const box = sliders.includes(id) ? root.querySelector('input[type=number]')
                    : (root.querySelector('textarea') || root.querySelector('input:not([type=file])'));
                return box ? box.value : null;
            }""",
            [elem_id, list(SLIDERS)],
        )

    def form(self) -> dict[str, str | None]:
        self.open_advanced()
        ids = ("backend", "prompt", "negative-prompt", "size", "n", "seed", "steps", "guidance", "scheduler",
               "output-format", "output-quality", "width", "height")
        return {elem_id: self.value(elem_id) for elem_id in ids}

    # -- generating ------------------------------------------------------------------------------

    def gallery_images(self, elem_id: str = "gallery") -> list[dict[str, str]]:
        return self.page.locator(f"#{elem_id} button.thumbnail-item img, #{elem_id} .grid-container img").evaluate_all(
            "imgs => imgs.map(img => ({src: img.src, caption: img.dataset.caption ?? img.alt, alt: img.alt}))"
        )

    def status(self) -> str:
        return self.page.locator("#status").inner_text()

    def generate(self, *, expect_images: int, via: str = "click") -> list[dict[str, str]]:
        """Press Generate (or Ctrl+Enter) and wait until the run has ended with that many tiles."""
        if via == "click":
            self.click_generate()
        else:
            self.watch_for_a_run()
            self.page.locator("#prompt textarea").press("Control+Enter")
        return self.wait_for_run(expect_images)

    def click_generate(self) -> None:
        """Press Generate, remembering that a new run is expected (see :meth:`wait_for_run`)."""
        self.watch_for_a_run()
        self.page.click("#generate-btn")

    def watch_for_a_run(self) -> None:
        """From now on, note when the status line shows a run in progress (⏳): the previous run's final
        line must not be mistaken for the end of the next one."""
        self.page.evaluate(
            """() => {
                window.__runStarted = false;
                const status = document.querySelector('#status');
                if (window.__runWatcher) window.__runWatcher.disconnect();
                window.__runWatcher = new MutationObserver(() => {
                    if (status.innerText.includes('⏳')) window.__runStarted = true;
                });
                window.__runWatcher.observe(status, {subtree: true, childList: true, characterData: true});
            }"""
        )

    def wait_for_run(self, tiles: int, *, timeout: float = 30_000) -> list[dict[str, str]]:
        """Wait for the run (started since :meth:`watch_for_a_run`, when it was called) to end with ``tiles``."""
        self.page.wait_for_function(
            """count => {
                const status = document.querySelector('#status')?.innerText || '';
                const shown = document.querySelectorAll('#gallery button.thumbnail-item img, #gallery .grid-container img').length;
                const started = window.__runStarted !== false;
                return started && /[✅⚠⏹]/.test(status) && !status.includes('⏳') && shown === count;
            }""",
            arg=tiles, timeout=timeout,
        )
        self.wait_until_idle()
        return self.gallery_images()

    def error_toasts(self) -> list[str]:
        return self.page.locator(".toast-body.error [data-testid=toast-text]").all_inner_texts()

    # -- history ---------------------------------------------------------------------------------

    def history_tiles(self) -> list[str]:
        return self.page.locator("#history-gallery img").evaluate_all("imgs => imgs.map(img => img.alt)")

    def search_history(self, text: str, *, expect_entries: int) -> None:
        self.open_tab("history")
        self.fill("history-search", text)
        self.page.locator("#history-search textarea").press("Enter")
        self.page.wait_for_function(
            "count => document.querySelectorAll('#history-gallery img').length === count", arg=expect_entries
        )
        self.wait_until_idle()

    def open_history_entry(self, index: int = 0) -> None:
        """Click an entry of the history gallery and wait for its entry view."""
        self.page.locator("#history-gallery button.thumbnail-item").nth(index).click()
        self.page.locator("#entry-view").wait_for(state="visible")
        self.wait_until_idle()

    def download(self, src: str) -> bytes:
        response = self.page.request.get(src)
        assert response.ok, f"{src}: {response.status}"
        return response.body()

    def drop_file(self, selector: str, path: Path, mime: str) -> None:
        """Drop a file on an element the way a person drags one from their desktop (a real DataTransfer)."""
        data = list(path.read_bytes())
        self.page.evaluate(
            """([selector, name, mime, bytes]) => {
                const target = document.querySelector(selector);
                const transfer = new DataTransfer();
                transfer.items.add(new File([new Uint8Array(bytes)], name, {type: mime}));
                for (const type of ['dragenter', 'dragover', 'drop']) {
                    target.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: transfer}));
                }
            }""",
            [selector, path.name, mime, data],
        )
