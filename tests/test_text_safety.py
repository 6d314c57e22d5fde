"""Markup stays text: what a visitor, a link, a style or a provider supplied reaches the page's Markdown
only through ui.text_safety.literal, and a provider's words are clipped before any message quotes them.

The page renders Markdown in the browser (marked, with a sanitizer that keeps forms and images); the test
of that is tests/test_browser_markup.py. Here the escaped text goes through markdown-it-py, a CommonMark
renderer with raw HTML, tables and strikethrough switched on as marked has them.
"""

from __future__ import annotations

import asyncio
import html
import re
from html.parser import HTMLParser

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from backends.errors import PROVIDER_TEXT_LIMIT, PlaygroundError, RequestRejected, clip
from backends.messages import Message, render_quoted, text_in
from backends.presets import Preset
from backends.validation import validate_request
from tests.conftest import make_backend
from ui.results import final_prompt_line, no_backend_notice
from ui.text_safety import MARKUP_CHARACTERS, literal, literal_error, literal_text_in, tr_literal, without_controls

MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

ATTACKS = [
    "<form action=//127.0.0.1:9/steal><input name=k></form>",
    "![n](//127.0.0.1:9/x.png)",
    "<img src=//127.0.0.1:9/y.png>",
    "[click](https://example.com) www.example.com https://example.com a@example.com",
    "**bold** _em_ `code` ~~gone~~ # heading\n# heading\n- item\n1. one\n> quote\n    code\n---",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "$$\\href{https://example.com}{x}$$ %%%LATEX_BLOCK_0%%%",
    "&lt;form&gt; &amp; &#60;img&#62; \\*not\\* <!-- c --> <![CDATA[x]]>",
    "<a href=\"javascript:alert(1)\">x</a><style>*{display:none}</style><link rel=stylesheet href=//h/x.css>",
]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)

    def handle_comment(self, data):
        self.tags.append("!--")


def rendered(markdown: str) -> tuple[list[str], str]:
    parser = _Tags()
    parser.feed(MARKDOWN.render(markdown))
    parser.close()
    return parser.tags, "".join(parser.text)


def words(text: str) -> str:
    return " ".join(text.split())


@given(st.text())
@example("\x00\u202e<form>\r\n\t![a](b)")
def test_any_text_escaped_renders_as_that_text_and_no_markup(text):
    tags, shown = rendered(literal(text))
    assert set(tags) <= {"p"}
    assert words(shown) == words(without_controls(text))


@pytest.mark.parametrize("attack", ATTACKS)
def test_attacks_render_as_typed(attack):
    escaped = literal(attack)
    tags, shown = rendered(f"**Prompt**: {escaped}")  # inside the page's own Markdown, still literal
    assert tags == ["p", "strong"]
    assert words(shown) == words("Prompt: " + attack)
    bare = re.sub(r"&#\d+;", "", escaped)
    assert not set(bare) & MARKUP_CHARACTERS  # nothing marked can read as syntax, GFM autolinks included
    assert "www." not in bare and "://" not in bare and "@" not in bare and "$" not in bare


def test_the_pages_own_markdown_still_renders_around_supplied_values():
    problems = [Message("field_problem", field="prompt", value="'<b>x</b>'", allowed="it must be text"),
                Message("field_problem", field="seed", value="'**7**'", allowed="a number")]
    text = render_quoted("invalid_request", "en", {"problems": problems}, literal)
    tags, shown = rendered(text)
    assert tags == ["p", "ul", "li", "li"]  # the catalog's own list, with the values shown as typed
    assert "'<b>x</b>'" in shown and "'**7**'" in shown
    assert render_quoted("invalid_request", "en", {"problems": problems}) == str(Message("invalid_request", problems=problems))


def test_a_style_line_shows_its_name_template_and_prompt_literally():
    preset = Preset(id="mine", name="**Mine** <img src=//h/x>", template="<form action=//h/s>{prompt}</form>",
                    negative_prompt="![n](//h/x)")
    line = final_prompt_line(preset, "a fox [x](//h)", "blurry", "en")
    tags, shown = rendered(line)
    assert tags == ["p", "p"]
    assert "**Mine** <img src=//h/x>" in shown and "<form action=//h/s>a fox [x](//h)</form>" in shown
    assert "blurry, ![n](//h/x)" in shown


def test_provider_words_inside_a_message_are_quoted_but_not_the_catalog():
    said = Message("provider_said", detail="<form><input name=k></form> ![i](//h/i)")
    message = Message("provider_rejected", provider="Segmind", status=400, said=said)
    for lang in ("en", "zh"):
        tags, shown = rendered(literal_text_in(message, lang))
        assert tags == ["p"] and "<form><input name=k></form> ![i](//h/i)" in shown
    error = RequestRejected(message, provider="Segmind", status=400)
    assert rendered(literal_error(error, "zh"))[0] == ["p"]
    assert rendered(literal_error(PlaygroundError("A plugin's <img src=x> sentence"), "en"))[0] == ["p"]
    assert rendered(literal_error(ValueError("<form>"), "en"))[0] == ["p"]
    # A stored failure whose key this version no longer knows shows its English, literally too.
    assert text_in("<img src=x>", "gone_key", {}, "en", quote=literal) == literal("<img src=x>")


def test_tr_literal_quotes_text_and_keeps_number_formats():
    assert tr_literal("status_failed_image", "en", index=2, seed=7, reason="<b>") == "Image 2 (seed 7) failed: &#60;b&#62;"


def test_an_unavailable_backends_reason_is_quoted(tmp_path):
    class Entry:
        class backend:
            label = "**Bold** <img src=x>"

        class availability:
            available = False

            @staticmethod
            def reason_in(lang, quote=None):
                return quote("<form>") if quote else "<form>"

    tags, shown = rendered(no_backend_notice([Entry], {}, "", "en"))
    assert tags.count("img") == 0 and "form" not in tags and "**Bold** <img src=x>" in shown


# --- provider text, clipped where it enters our messages ---------------------------------------------------


@given(st.text(max_size=2000))
def test_clip_keeps_one_line_without_controls_within_the_limit(text):
    clipped = clip(text)
    assert len(clipped) <= PROVIDER_TEXT_LIMIT
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]", clipped)
    if len(words(text)) <= PROVIDER_TEXT_LIMIT - 50 and not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]", text):
        assert words(clipped) == words(text)
    if len(text.strip()) > PROVIDER_TEXT_LIMIT * 2:
        assert clipped.endswith("…")


HOSTILE_BODY = ("<html><body><h1>Session expired: paste your API key again</h1>"
                "<form action=//127.0.0.1:9/steal><input name=k></form>\n\r\x00\x1b[31m"
                + "<img src=//127.0.0.1:9/y.png>" * 400 + "</body></html>")


@pytest.mark.parametrize("shape", ["html", "json"])
def test_a_providers_long_hostile_error_body_is_clipped_and_redacted(provider, emulator, shape):
    key = emulator.api_key
    # The key sits across where a plain cut at 300 characters would fall: redaction comes first.
    body = "x" * (PROVIDER_TEXT_LIMIT - 4) + key + HOSTILE_BODY
    backend = make_backend(provider, emulator)
    emulator.fault("status", status=400, body=body if shape == "html" else {"error": {"message": body}})
    with pytest.raises(RequestRejected) as info:
        asyncio.run(backend.generate(validate_request({"prompt": "a fox", "seed": 1}, backend.capabilities)))
    detail = info.value.params["said"]["params"]["detail"]
    print(f"\n{provider}/{shape}: provider body {len(body)} chars -> quoted {len(detail)} chars, message {len(str(info.value))}")
    assert len(body) > 10_000 and len(detail) <= PROVIDER_TEXT_LIMIT and detail.endswith("…")
    assert "\n" not in detail and "\x00" not in detail and "\x1b" not in detail
    assert key not in str(info.value) and key[:5] not in str(info.value)
    assert len(str(info.value)) < PROVIDER_TEXT_LIMIT + 200
    tags, shown = rendered(literal_error(info.value, "en"))
    assert tags == ["p"] and html.unescape(shown) == shown
