"""The page's language, chosen on the page and remembered by the browser.

Gradio picks its locale (for our labels through ``gr.I18n`` and for its own words) from
``navigator.language`` while the page boots, before any script of ours could run through ``head``.
:class:`LanguageMiddleware` therefore puts a few lines at the very top of the page's HTML that present
the stored choice (``localStorage["kolors_playground_language"]``) as the browser's language. Choosing
another language stores it and reloads the page, keeping the form through ``sessionStorage``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["LANGUAGE_KEY", "LOCALES", "SWITCH_JS", "LanguageMiddleware", "locale_of"]

LANGUAGE_KEY = "kolors_playground_language"
FORM_KEY = "kolors_playground_form"
LOCALES = {"en": "en", "zh": "zh-CN"}

BOOT_SCRIPT = f"""<script>(() => {{
  try {{
    const chosen = localStorage.getItem("{LANGUAGE_KEY}");
    if (chosen) {{
      Object.defineProperty(navigator, "language", {{get: () => chosen, configurable: true}});
      Object.defineProperty(navigator, "languages", {{get: () => [chosen], configurable: true}});
    }}
  }} catch (error) {{}}
}})();</script>""".encode()

SWITCH_JS = f"""(language, query) => {{
  const locale = language === "zh" ? "zh-CN" : "en";
  if (navigator.language === locale) return [language, query];
  localStorage.setItem("{LANGUAGE_KEY}", locale);
  sessionStorage.setItem("{FORM_KEY}", query || "");
  window.location.reload();
  return [language, query];
}}"""

RESTORE_JS = f"""() => {{
  const query = sessionStorage.getItem("{FORM_KEY}") || "";
  sessionStorage.removeItem("{FORM_KEY}");
  return [navigator.language || "en", query];
}}"""

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def locale_of(language: str) -> str:
    return LOCALES.get(language, "en")


class LanguageMiddleware:
    """Pure ASGI: in the HTML of the page itself (a GET of a path ending in "/"), the boot script goes
    right after ``<head>``. Every other response passes through untouched."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("method") != "GET" or not scope.get("path", "").endswith("/"):
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def buffered(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body" or not _is_html(start):
                if start and "sent" not in start:
                    start["sent"] = True
                    await send({k: v for k, v in start.items() if k != "sent"})
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks).replace(b"<head>", b"<head>" + BOOT_SCRIPT, 1)
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**{k: v for k, v in start.items() if k != "sent"}, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, buffered)


def _is_html(start: MutableMapping[str, Any]) -> bool:
    for key, value in start.get("headers", []):
        if key.lower() == b"content-type":
            return value.lower().startswith(b"text/html")
    return False
