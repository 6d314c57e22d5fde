"""A first run with no key leads to a first image: the Generate tab says which hosted services serve Kolors,
what an image costs on each, where to get a key and that one pasted in Settings serves this session only; the
local backend's line says what it costs. On a hosted demo the visitor reads the visitor's version."""

from __future__ import annotations

import pytest

from tests.browser_fixtures import app_under_test, browser_fixture, open_page  # noqa: F401

pytestmark = pytest.mark.browser

SIGN_UP = ("https://open.dieyuyun.com/", "https://www.segmind.com/models/kolors/api", "https://cloud.siliconflow.cn/")


def notice(page) -> tuple[str, list[str]]:
    status = page.page.locator("#backend-status")
    status.wait_for(state="visible")
    page.wait_until_idle()
    links = status.locator("a").evaluate_all("links => links.map(a => a.href)")
    return status.inner_text(), links


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_without_a_key_the_page_names_services_prices_and_key_pages(browser, tmp_path, lang):
    env = {"KOLORS_MODEL": str(tmp_path / "no-weights")}  # and no local weights either
    with app_under_test(tmp_path, env) as app, open_page(browser, app, locale="zh-CN" if lang == "zh" else "en-US") as page:
        text, links = notice(page)
        print(f"\n{text}")
        for name in ("dieyuyun", "Segmind", "SiliconFlow"):
            assert name in text
        assert "¥0.01" in text and ("$0.10" in text or "0.10 美元" in text)
        assert all(url in links for url in SIGN_UP), links
        assert "https://siliconflow.cn/pricing" in links
        assert ("this browser session only" in text) if lang == "en" else ("只在本次浏览器会话中使用" in text)
        assert "DIEYUYUN_API_KEY" in text  # the operator may also set it and restart
        assert ("(no key, no fee per image; it runs on this machine): " in text) if lang == "en" else ("（无需密钥，不按张收费，在本机运行）：" in text)
        # Where the key goes is one click away.
        page.page.click("#open-settings")
        page.page.locator("#key-dieyuyun").wait_for(state="visible")


def test_a_hosted_demos_visitor_is_told_to_paste_their_own_key_not_to_restart(browser, tmp_path):
    env = {"PLAYGROUND_MODE": "hosted", "KOLORS_MODEL": str(tmp_path / "no-weights"), "KOLORS_DEVICE": "cpu"}
    with app_under_test(tmp_path, env) as app, open_page(browser, app) as page:
        text, links = notice(page)
        print(f"\n{text}")
        assert "Paste your own key" in text and "never saved" in text
        assert all(url in links for url in SIGN_UP) and "¥0.01" in text
        assert "restart" not in text and "_API_KEY" not in text and "KOLORS_MODEL" not in text  # nothing to set
