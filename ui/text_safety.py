"""Text that other people supplied, made safe to put in the page's Markdown: it shows as typed, and
never becomes markup. No gradio here.

Gradio's Markdown renders on the app's own origin with ``marked`` (GitHub-flavoured: autolinks, tables)
and a sanitizer that removes script but keeps ``<form>``, ``<input>``, ``<img>``, ``<link>`` and
``<style>``; ``$$…$$`` goes to KaTeX. So a prompt, a style's template or name, a provider's error text
or a link's field must reach a Markdown component through :func:`literal`: every character that HTML or
Markdown reads as syntax becomes a numeric character reference, which both read as that one character
and nothing more (``&#42;`` is a star, never emphasis; ``&#60;`` a less-than sign, never a tag).

The page's own words (titles, bold labels, lists) stay Markdown; only the values put into them are
passed through here. Plain-text places (gallery captions, labels, textboxes) need none of this.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

from backends.messages import render_quoted

from .i18n import CATALOG

__all__ = ["MARKUP_CHARACTERS", "literal", "literal_error", "literal_text_in", "tr_literal", "without_controls"]

MARKUP_CHARACTERS = frozenset(string.punctuation) - set(",;?/")
"""ASCII punctuation that HTML or Markdown (with GFM autolinks, tables, strikethrough, LaTeX) may read as
syntax: ``< > & " '``, `` ` * _ ~ # + - = | . ! [ ] ( ) { } \\``, ``:`` and ``@`` of autolinks, ``$`` and ``%``
of the LaTeX placeholders. A comma, semicolon, question mark or slash is never syntax on its own."""

_ENTITIES = {ord(char): f"&#{ord(char)};" for char in MARKUP_CHARACTERS}
_WHITESPACE = re.compile(r"[\t\n\v\f\r\x85\u2028\u2029]+")
# C0 and C1 controls, and the bidirectional overrides that make text read other than it is stored.
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069]")


def without_controls(text: object) -> str:
    """``text`` on one line: line breaks and tabs become spaces, other control characters go."""
    return _CONTROLS.sub("", _WHITESPACE.sub(" ", str(text)))


def literal(text: object) -> str:
    """``text`` (a str, or anything with a str) as Markdown and HTML that render exactly it, on one line."""
    return without_controls(text).translate(_ENTITIES)


def _quote(value: Any) -> Any:
    return literal(value) if isinstance(value, str) else value


def tr_literal(key: str, lang: str, **params: Any) -> str:
    """:func:`ui.i18n.tr` with every text parameter shown literally (numbers keep their format spec)."""
    english, chinese = CATALOG[key]
    return (chinese if lang == "zh" else english).format(**{name: _quote(value) for name, value in params.items()})


def literal_text_in(value: object, lang: str) -> str:
    """A :class:`~backends.messages.Message` in ``lang`` with its text parameters literal; anything else
    (a provider's own words) literal as a whole."""
    key, params = getattr(value, "key", None), getattr(value, "params", None)
    if isinstance(key, str) and isinstance(params, Mapping):
        return render_quoted(key, lang, params, literal)
    return literal(value or "")


def literal_error(error: Exception, lang: str) -> str:
    """What :func:`ui.i18n.message_of` says for ``error``, with what others supplied literal: the catalog's
    sentence with its parameters quoted, or the whole text of an error that has no key."""
    from backends.errors import PlaygroundError

    if isinstance(error, PlaygroundError):
        return error.message_in(lang, quote=literal)
    return literal(str(error))
