"""Styles and examples in the page: an example fills the form and does not generate; a style puts its
settings in the form and shows the prompt it will send; one's own styles are saved, edited and deleted."""

from __future__ import annotations

import pytest

from tests.browser_fixtures import (  # noqa: F401  (pytest finds the fixtures by their names)
    browser_app_fixture,
    browser_fixture,
    playground_fixture,
    size_of,
)

pytestmark = pytest.mark.browser


def test_an_example_fills_the_form_and_does_not_generate(playground, dieyuyun_emulator):
    chips = playground.page.locator("#examples td")
    assert 6 <= chips.count() <= 8
    chips.filter(has_text="Jiangnan").click()
    playground.expect("#prompt textarea").to_have_value("江南水乡，清晨薄雾，白墙黛瓦，一叶小舟划过石拱桥，水墨画风格，留白")
    playground.wait_until_idle()
    assert size_of(playground.value("size")) == "1280x720" and dieyuyun_emulator.requests == []
    assert not playground.page.locator("#examples").is_visible()  # a typed prompt hides the examples


def test_a_style_shows_the_prompt_it_will_send_and_is_recorded(playground, dieyuyun_emulator):
    playground.fill("prompt", "a red bicycle")
    playground.choose("style", "Product shot")
    playground.expect("#final-prompt").to_contain_text("sent as: product photograph of a red bicycle")
    playground.open_advanced()
    assert playground.value("steps") == "30"  # its settings are in the form, with an Undo
    playground.expect("#form-undo").to_be_visible()
    playground.fill("prompt", "a blue kettle")
    playground.expect("#final-prompt").to_contain_text("product photograph of a blue kettle")
    playground.generate(expect_images=1)
    sent = dieyuyun_emulator.requests[-1].json
    assert sent["prompt"].startswith("product photograph of a blue kettle") and "watermark" in sent["negative_prompt"]
    playground.open_tab("history")
    playground.open_history_entry(0)
    assert "product photograph of a blue kettle" in playground.page.locator("#entry-parameters textarea").input_value()


def test_ones_own_style_is_saved_edited_and_deleted(playground):
    page = playground.page
    playground.fill("prompt", "a lamp")
    page.locator("#styles-editor button").first.click()
    page.locator("#style-name input").fill("Neon night")
    page.locator("#style-template textarea").fill("{prompt}, neon night, rain reflections")
    page.locator("#style-keep label", has_text="steps").click()
    page.click("#style-save")
    playground.expect("#style-note").to_contain_text("Saved “Neon night”")
    playground.choose("style", "★ Neon night")
    playground.expect("#final-prompt").to_contain_text("a lamp, neon night, rain reflections")
    page.locator("#style-template textarea").fill("{prompt}, neon night, fog")
    page.click("#style-save")
    playground.expect("#style-note").to_contain_text("Saved")
    page.locator("#style-mine input").click()
    assert page.locator("ul[role=listbox] li[role=option]", has_text="Neon night").count() == 1  # edited, not copied
    page.locator("ul[role=listbox] li[role=option]", has_text="Neon night").first.click()
    playground.expect("#style-template textarea").to_have_value("{prompt}, neon night, fog")
    page.click("#style-delete")
    playground.expect("#style-note").to_contain_text("Style deleted")
    page.locator("#style input").first.click()
    assert page.locator("ul[role=listbox] li[role=option]", has_text="Neon night").count() == 0
