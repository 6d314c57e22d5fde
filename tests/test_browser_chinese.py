"""The Chinese page, in Chromium: after a generation, a failure, a Stop and a Compare run, no English
sentence is left anywhere a person can read; and an English browser switches to Chinese on the page."""

from __future__ import annotations

import re

import pytest

from tests.browser_fixtures import (  # noqa: F401  (pytest finds the fixtures by their names)
    PlaygroundPage,
    browser_app_fixture,
    browser_fixture,
    open_page,
)

pytestmark = pytest.mark.browser

# Visible text only (not what is typed in a box); three or more English words in a row is a sentence.
VISIBLE_TEXT = """() => {
  const parts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const element = node.parentElement;
    if (!element || !node.textContent.trim()) continue;
    if (element.closest('script, style, textarea, #api-only, [aria-hidden=true]')) continue;
    const style = getComputedStyle(element);
    if (element.offsetParent === null && style.position !== 'fixed') continue;
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    parts.push(node.textContent.trim());
  }
  return parts;
}"""
ENGLISH_SENTENCE = re.compile(r"[A-Za-z][A-Za-z'’]+(?:[ ,.;:()/-]+[A-Za-z][A-Za-z'’]+){2,}")
# Names, not sentences: backends and models, samplers, the page's own name, formats.
NAMES = (
    "dieyuyun (Kolors)", "Segmind (Kolors)", "SiliconFlow (Kolors)", "Kolors (local)", "Kwai-Kolors/Kolors",
    "DPM++ SDE Karras", "DPM++ 2M Karras", "Kolors Playground", "A / B",
)


def english_sentences(page: PlaygroundPage) -> list[str]:
    found = []
    for text in page.page.evaluate(VISIBLE_TEXT):
        for name in NAMES:
            text = text.replace(name, "")
        found += [match.group(0) for match in ENGLISH_SENTENCE.finditer(text)]
    return found


def chinese_page(browser, app) -> object:
    return open_page(browser, app, locale="zh-CN")


def test_no_english_sentence_after_a_generation_a_failure_a_stop_and_a_compare_run(browser, browser_app,
                                                                                     dieyuyun_emulator):
    with chinese_page(browser, browser_app) as page:
        assert page.page.locator("#generate-btn").inner_text() == "生成"
        assert english_sentences(page) == []

        page.fill("prompt", "一只橘猫坐在窗台上看雨")
        page.fill("n", "2")
        page.generate(expect_images=2)
        assert page.status().startswith("✅")
        assert english_sentences(page) == [], "after a generation"

        # A Chinese provider explains itself in Chinese; what it says is quoted as it came.
        dieyuyun_emulator.fault("status", status=500, times=10, body={"error": {"message": "服务器内部错误"}})
        page.click_generate()
        page.wait_for_run(2)
        assert page.status().startswith("⚠️") and "失败" in page.status()
        assert english_sentences(page) == [], "after a failure"

        dieyuyun_emulator.reset()
        dieyuyun_emulator.latency = 0.2
        dieyuyun_emulator.fault("slow", seconds=30)
        page.click_generate()
        page.page.wait_for_function(
            "() => document.querySelectorAll('#gallery button.thumbnail-item img, #gallery .grid-container img').length === 1"
        )
        page.page.click("#stop-btn")
        page.wait_for_run(2)
        assert page.status().startswith("⏹")
        assert english_sentences(page) == [], "after a Stop"

        dieyuyun_emulator.reset()
        page.open_tab("compare")
        page.page.locator("#x-values textarea").fill("2")
        page.page.locator("#x-values textarea").blur()
        page.expect("#compare-plan").to_contain_text("2 个格子")
        page.page.click("#compare-run")
        page.expect("#compare-status").to_contain_text("✅")
        page.page.locator("#compare-grid button.thumbnail-item").nth(0).click()
        page.expect("#compare-cell").to_contain_text("种子")
        assert english_sentences(page) == [], "after a Compare run"

        page.open_tab("history")
        page.open_history_entry(0)
        assert english_sentences(page) == [], "in the history"
        page.open_tab("settings")
        assert english_sentences(page) == [], "in the settings"


def test_an_english_browser_switches_to_chinese_on_the_page_and_keeps_it(browser, browser_app):
    with open_page(browser, browser_app, locale="en-US") as page:
        assert page.page.locator("#generate-btn").inner_text() == "Generate"
        page.fill("prompt", "a cat under the moon")
        page.page.locator("#language label", has_text="中文").click()
        page.page.wait_for_function("() => document.querySelector('#generate-btn')?.innerText === '生成'")
        page.wait_until_loaded()
        page.expect("#prompt textarea").to_have_value("a cat under the moon")  # the form came across
        page.page.reload()
        page.wait_until_loaded()
        assert page.page.locator("#generate-btn").inner_text() == "生成"  # remembered, over the browser's English
        page.page.locator("#language label", has_text="English").click()
        page.page.wait_for_function("() => document.querySelector('#generate-btn')?.innerText === 'Generate'")
