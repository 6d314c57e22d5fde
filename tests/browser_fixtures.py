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
    "playground_fixture",
    "size_of",
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 1400}
TIMEOUT_MS = 20_000

# Sliders are read and typed through their number box; everything else through its input/textarea.
SLIDERS = ("n", "width", "height", "steps", "guidance", "output-quality")


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
    """A fresh browser context (no cookies, no storage) with the app's page open and loaded."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = PlaygroundPage(context.new_page(), browser_app)
        page.open()
        yield page
    finally:
        context.close()


def size_of(label: str | None) -> str | None:
    """"896×1152 (7:9)" -> "896x1152": the value behind a size dropdown's label."""
    match = re.search(r"(\d+)\s*[×x]\s*(\d+)", label or "")
    return f"{match.group(1)}x{match.group(2)}" if match else None


class PlaygroundPage:
    """The playground's page, by the elem_ids the UI sets. Every wait is on a condition."""

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
        """The page is up once the history's load event has answered ("N entries")."""
        self.page.wait_for_selector("#generate-btn")
        self.expect("#history-page-info").to_contain_text(re.compile(r"\d+ entr(y|ies)"))

    def expect(self, selector: str):
        from playwright.sync_api import expect

        return expect(self.page.locator(selector))

    # -- the form --------------------------------------------------------------------------------

    def fill(self, elem_id: str, value: str) -> None:
        """A textbox (prompt, negative prompt), the seed, or a slider's number box."""
        if elem_id in ("prompt", "negative-prompt", "history-search"):
            box = self.page.locator(f"#{elem_id} textarea")
        elif elem_id in SLIDERS:
            box = self.page.locator(f"#{elem_id} input[type=number]")
        else:
            box = self.page.locator(f"#{elem_id} input")
        box.fill(str(value))
        box.blur()

    def choose(self, elem_id: str, option: str) -> None:
        """Pick the dropdown option whose label starts with ``option``, as a person would."""
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
                    : root.querySelector('textarea, input');
                return box ? box.value : null;
            }""",
            [elem_id, list(SLIDERS)],
        )

    def form(self) -> dict[str, str | None]:
        ids = ("backend", "prompt", "negative-prompt", "size", "n", "seed", "steps", "guidance", "scheduler",
               "output-format", "output-quality", "width", "height")
        return {elem_id: self.value(elem_id) for elem_id in ids}

    # -- generating ------------------------------------------------------------------------------

    def gallery_images(self, elem_id: str = "gallery") -> list[dict[str, str]]:
        return self.page.locator(f"#{elem_id} img").evaluate_all(
            "imgs => imgs.map(img => ({src: img.src, caption: img.alt}))"
        )

    def generate(self, *, expect_images: int, via: str = "click") -> list[dict[str, str]]:
        """Press Generate (or Ctrl+Enter in the prompt) and wait for a new gallery of that many images."""
        before = [image["src"] for image in self.gallery_images()]
        if via == "click":
            self.page.click("#generate-btn")
        else:
            self.page.locator("#prompt textarea").press("Control+Enter")
        return self.wait_for_new_gallery(before, expect_images)

    def wait_for_new_gallery(self, before: list[str], count: int) -> list[dict[str, str]]:
        self.page.wait_for_function(
            """([before, count]) => {
                const srcs = [...document.querySelectorAll('#gallery img')].map(img => img.src);
                return srcs.length === count && srcs.every(src => !before.includes(src));
            }""",
            arg=[before, count],
        )
        return self.gallery_images()

    def error_toasts(self) -> list[str]:
        return self.page.locator(".toast-body.error [data-testid=toast-text]").all_inner_texts()

    # -- history ---------------------------------------------------------------------------------

    def search_history(self, text: str, *, expect_entries: int) -> None:
        self.fill("history-search", text)
        self.page.locator("#history-search textarea").press("Enter")
        word = "entry" if expect_entries == 1 else "entries"
        self.expect("#history-page-info").to_contain_text(f"{expect_entries} {word}")
        self.page.wait_for_function(
            "count => document.querySelectorAll('#history-gallery img').length === count", arg=expect_entries
        )

    def open_history_entry(self, index: int, *, prompt: str) -> None:
        """Click an entry of the history gallery; its details (with its prompt) say it was read."""
        self.page.locator("#history-gallery button.thumbnail-item").nth(index).click()
        self.expect("#history-details").to_contain_text(prompt)

    def download(self, src: str) -> bytes:
        response = self.page.request.get(src)
        assert response.ok, f"{src}: {response.status}"
        return response.body()
