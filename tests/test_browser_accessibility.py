"""WCAG 2.1 AA in Chromium: axe-core on every tab, at 1440×900 and 390×844, in English and Chinese (16
views; and the desktop views in dark mode, which the page follows from the system), fails on any violation
of impact serious or critical; and every control is found by its accessible name in the page's language.

axe-core comes from npm (``tests/run_all.sh`` installs it once under ~/.cache/kolors-playground/node, or
set KOLORS_AXE to an ``axe.min.js``); it is added to the page with Playwright's ``add_script_tag``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.browser_fixtures import (  # noqa: F401  (pytest finds the fixtures by their names)
    PlaygroundPage,
    browser_app_fixture,
    browser_fixture,
    open_page,
)

pytestmark = pytest.mark.browser

AXE = Path(os.environ.get("KOLORS_AXE") or Path.home() / ".cache/kolors-playground/node/node_modules/axe-core/axe.min.js")
LOCALES = {"en": "en-US", "zh": "zh-CN"}
BLOCKING = ("serious", "critical")

RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"], runOnly: {type: "tag",
      values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map(n => n.target.join(" ") + " — " + (n.failureSummary || "").replace(/\\s+/g, " ").slice(0, 240))}));
}"""


@pytest.fixture(scope="module")
def axe_script() -> Path:
    if not AXE.exists():
        pytest.skip(f"axe-core is not installed at {AXE} (tests/run_all.sh installs it with npm)")
    return AXE


def axe_violations(page: PlaygroundPage, axe: Path) -> list[dict]:
    if not page.page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.page.add_script_tag(path=str(axe))
    # Settled: no event running, no Markdown dimmed while its update is pending (Gradio fades it to 0.2 and back).
    page.page.wait_for_timeout(300)
    page.wait_until_idle()
    page.page.wait_for_function("() => !document.querySelector('[data-testid=markdown-wrapper].pending')")
    page.page.wait_for_timeout(400)
    return page.page.evaluate(RUN_AXE)


def blocking(violations: list[dict]) -> list[dict]:
    return [v for v in violations if v["impact"] in BLOCKING]


def report(view: str, violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{view}: {violation['id']} ({violation['impact']}, {len(violation['nodes'])} elements): {violation['help']}")
        lines += [f"    {node}" for node in violation["nodes"][:8]]
    return "\n".join(lines)


def check_every_tab(browser, app, axe: Path, *, lang: str, phone: bool, scheme: str = "light") -> tuple[list[str], int]:
    """Runs axe on the four tabs; returns the report lines of serious/critical violations and the number of
    violations of any impact (for the figure)."""
    failures, any_impact = [], 0
    with open_page(browser, app, phone=phone, locale=LOCALES[lang]) as page:
        page.page.emulate_media(color_scheme=scheme)
        for tab in PlaygroundPage.TABS:
            page.open_tab(tab)
            violations = axe_violations(page, axe)
            any_impact += sum(len(v["nodes"]) for v in violations)
            view = f"{lang} {'390×844' if phone else '1440×900'} {scheme} {tab}"
            if blocking(violations):
                failures.append(report(view, blocking(violations)))
    return failures, any_impact


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_axe_finds_no_serious_violation_on_any_tab(browser, browser_app, axe_script, lang, phone):
    started = time.monotonic()
    failures, minor = check_every_tab(browser, browser_app, axe_script, lang=lang, phone=phone)
    print(f"\naxe {lang} {'phone' if phone else 'desktop'}: 4 tabs, {minor} elements with a moderate/minor finding, "
          f"{time.monotonic() - started:.1f} s")
    assert not failures, "\n" + "\n".join(failures)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_axe_finds_no_serious_violation_in_dark_mode(browser, browser_app, axe_script, lang):
    failures, _ = check_every_tab(browser, browser_app, axe_script, lang=lang, phone=False, scheme="dark")
    assert not failures, "\n" + "\n".join(failures)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_tab_name_reads_at_4_5_to_1(browser, browser_app, scheme):
    """axe leaves the tabs' text (a transparent button with a pseudo-element) as "needs review": computed here."""
    with open_page(browser, browser_app) as page:
        page.page.emulate_media(color_scheme=scheme)
        page.page.wait_for_timeout(300)
        pairs = page.page.evaluate("""() => [...document.querySelectorAll('#tabs button[role=tab]')].map(tab => {
            let element = tab, background = 'rgb(255, 255, 255)';
            for (; element; element = element.parentElement) {  // the first ancestor that paints a background
                const fill = getComputedStyle(element).backgroundColor;
                if (fill && !/rgba\\(.*, 0\\)$/.test(fill) && fill !== 'transparent') { background = fill; break; }
            }
            return [tab.innerText, getComputedStyle(tab).color, background];
        })""")
        import re

        for name, colour, background in pairs:
            ratio = rgb_contrast(colour, tuple(int(x) for x in re.findall(r"\d+", background)[:3]))
            print(f"\n{scheme}: tab {name} {colour} on {background}: {ratio:.2f}:1")
            assert ratio >= 4.5, name


def test_axe_after_a_generation_and_an_open_history_entry(browser, browser_app, axe_script):
    """Results, tiles and the entry view are where most of the page's text is once one has used it."""
    with open_page(browser, browser_app) as page:
        page.fill("prompt", "an accessible lighthouse at dusk, oil painting")
        page.fill("n", "2")
        page.generate(expect_images=2)
        failures = blocking(axe_violations(page, axe_script))
        page.open_tab("history")
        page.open_history_entry(0)
        failures += blocking(axe_violations(page, axe_script))
        assert not failures, "\n" + report("after a run", failures)


NAMES = {
    "en": {"prompt": "Prompt", "random": "Random seed", "reuse": "Reuse seed", "reset": "Reset to default",
           "random_tip": "Random seed: a new one for each run", "reuse_tip": "Reuse the seed of the selected image"},
    "zh": {"prompt": "提示词", "random": "随机种子", "reuse": "沿用种子", "reset": "恢复默认值",
           "random_tip": "随机种子：每次生成都换一个", "reuse_tip": "沿用所选图像的种子"},
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_controls_are_found_by_their_names_in_the_pages_language(browser, browser_app, lang):
    from playwright.sync_api import expect

    names = NAMES[lang]
    with open_page(browser, browser_app, locale=LOCALES[lang]) as page:
        p = page.page
        assert p.evaluate("() => document.documentElement.lang") == ("zh-CN" if lang == "zh" else "en")
        prompt = p.get_by_role("textbox", name=names["prompt"], exact=True)
        expect(prompt).to_have_count(1)
        assert p.get_by_label(names["prompt"], exact=True).first.evaluate("e => e.closest('#prompt') !== null")
        prompt.fill("a lighthouse named by its label")  # the box found by name is the prompt box
        assert page.value("prompt") == "a lighthouse named by its label"

        random_seed = p.get_by_role("button", name=names["random"], exact=True)
        reuse_seed = p.get_by_role("button", name=names["reuse"], exact=True)
        expect(random_seed).to_have_count(1)
        expect(reuse_seed).to_have_count(1)
        assert random_seed.get_attribute("title").startswith(names["random_tip"])
        assert reuse_seed.get_attribute("title").startswith(names["reuse_tip"])
        resets = p.get_by_role("button", name=names["reset"], exact=True)
        assert resets.count() >= 1 and resets.first.get_attribute("title")

        generate = p.locator("#generate-btn")
        assert "Ctrl+Enter" in generate.get_attribute("title")
        assert generate.get_attribute("aria-keyshortcuts") == "Control+Enter Meta+Enter"
        shown = p.evaluate("() => getComputedStyle(document.querySelector('#generate-btn'), '::after').content")
        assert "Enter" in shown, f"the shortcut beside Generate: {shown!r}"

        status = p.locator("#status")
        assert status.get_attribute("role") == "status" and status.get_attribute("aria-live") == "polite"

        # Every visible button and text box has a name; none is Gradio's English on the Chinese page.
        unnamed = p.evaluate("""() => [...document.querySelectorAll('button, input:not([type=hidden]), textarea')]
            .filter(e => e.offsetParent !== null)
            .filter(e => !(e.getAttribute('aria-label') || e.innerText.trim() || e.labels?.length || e.title))
            .map(e => e.outerHTML.slice(0, 120))""")
        assert unnamed == []
        if lang == "zh":
            english = p.evaluate("""() => [...document.querySelectorAll('[aria-label], [title]')]
                .filter(e => e.offsetParent !== null)
                .map(e => (e.getAttribute('aria-label') || '') + ' ' + (e.getAttribute('title') || ''))
                .filter(text => /(Reset to default|number input for|range slider for|Empty value|Upload a file)/.test(text))""")
            assert english == []

        # An image's alt text is its prompt (shortened) and its seed, in the page's language.
        page.fill("n", "1")
        page.fill("seed", "4242")
        tiles = page.generate(expect_images=1)
        p.wait_for_function("() => document.querySelector('#gallery img')?.alt.includes('lighthouse')")
        alt = p.locator("#gallery img").first.get_attribute("alt")
        assert alt.startswith("a lighthouse named by its label") and ("seed 4242" in alt or "种子 4242" in alt), alt
        assert tiles[0]["caption"] in ("seed 4242", "种子 4242")
        assert "4242" in status.inner_text()


FOCUSED = """() => {
  const e = document.activeElement;
  const s = getComputedStyle(e);
  return {id: e.id || e.closest('[id]')?.id || '', tag: e.tagName, name: e.getAttribute('aria-label') || e.innerText?.trim().slice(0, 30) || '',
          html: e.outerHTML.slice(0, 160), visible: e.matches(':focus-visible'), style: s.outlineStyle, width: parseFloat(s.outlineWidth), color: s.outlineColor};
}"""


def rgb_contrast(css_colour: str, background: tuple[int, int, int] = (255, 255, 255)) -> float:
    import re

    red, green, blue = (int(x) for x in re.findall(r"\d+", css_colour)[:3])

    def luminance(rgb):
        channels = [c / 255 for c in rgb]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance((red, green, blue)), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_every_control_is_reached_by_tab_with_a_visible_focus_ring(browser, browser_app):
    with open_page(browser, browser_app) as page:
        stops = []
        for _ in range(40):
            page.page.keyboard.press("Tab")
            page.page.wait_for_timeout(250)  # Gradio's buttons animate their outline in
            stop = page.page.evaluate(FOCUSED)
            if stop["tag"] == "BODY" or (stops and stop["html"] == stops[0]["html"]):  # round the page
                break
            stops.append(stop)
        print(f"\n{len(stops)} tab stops on Generate")
        reached = {stop["id"] for stop in stops}
        for wanted in ("language", "settings-btn", "tabs", "prompt", "generate-btn", "stop-btn", "backend", "size",
                       "seed", "random-seed", "reuse-seed", "advanced", "copy-link"):
            assert wanted in reached, f"{wanted} is not reached by Tab: {sorted(reached)}"
        faint = [stop for stop in stops
                 if not (stop["visible"] and stop["style"] != "none" and stop["width"] >= 2 and rgb_contrast(stop["color"]) >= 3)]
        assert faint == [], faint
