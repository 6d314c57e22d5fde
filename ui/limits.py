"""What the server accepts from a request before Gradio reads it: body sizes, and routes the page does not use.

:class:`RequestGuard` is pure ASGI and sits in front of every route (``launch_options`` passes it in).

- A request body over the limit is answered 413 before Gradio stores it: by its ``Content-Length``
  before a byte is read, and by counting the bytes of a chunked body as they arrive (Starlette's
  ``RequestBodyLimitMiddleware``). The page's events send a few KB; the limit (``PLAYGROUND_MAX_BODY_KB``)
  keeps what a session can make the server hold to that, since Gradio keeps every input value of a
  session in memory.
- Uploads (``/gradio_api/upload``) have their own, larger limit: one file of ``PLAYGROUND_MAX_UPLOAD_MB``
  (Gradio's ``max_file_size`` refuses a bigger file as it streams in and deletes what it wrote) and the
  whole request no more than that plus the multipart framing. An upload must say its length (browsers
  and gradio_client do): a chunked one is refused with 411, as Gradio would leave its partial files behind.
- ``/gradio_api/deep_link`` answers 404 and a ``deep_link`` query is dropped: the page makes no deep links,
  and that route writes every component value of a session (a pasted key among them) to a served file.
- In hosted mode ``/monitoring`` and everything under it answer 404.
- A path holding a NUL byte (``%00``) answers 400: no file has such a name, and Gradio's ``/proxy=`` route
  answered it with a 500 and a traceback.
- A file removed while its request was on the way (an entry deleted, a save the disk refused, as the page
  fetches its pictures) answers 404, where Starlette would raise and answer 500 with a traceback in the log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.responses import PlainTextResponse

__all__ = ["MULTIPART_OVERHEAD", "RequestGuard"]

ASGIApp = Callable[..., Awaitable[None]]
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around an upload's one file
_UPLOAD_ROUTES = ("/gradio_api/upload", "/gradio_api/process_recording")
_DEEP_LINK_ROUTE = "/gradio_api/deep_link"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class RequestGuard:
    """Body limits for every route (``upload_bytes`` for uploads, ``body_bytes`` for the rest), the
    deep-link route off, and with ``hosted`` the monitoring routes off."""

    def __init__(self, app: ASGIApp, *, body_bytes: int, upload_bytes: int, hosted: bool = False) -> None:
        self.app = app
        self.hosted = hosted
        self.body_bytes, self.upload_bytes = body_bytes, upload_bytes
        self._bodies = RequestBodyLimitMiddleware(app, max_body_size=body_bytes)
        self._uploads = RequestBodyLimitMiddleware(app, max_body_size=upload_bytes + MULTIPART_OVERHEAD)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable, send: Callable) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        path = _route_path(scope)
        if "\x00" in path:
            await PlainTextResponse("A path may not hold a NUL byte (%00).", status_code=400)(scope, receive, send)
            return
        if path.rstrip("/") == _DEEP_LINK_ROUTE or (self.hosted and _is_monitoring(path)):
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if b"deep_link" in query:
            kept = [(k, v) for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True) if k != "deep_link"]
            scope["query_string"] = urlencode(kept).encode("latin-1")
        if scope.get("method") not in _BODY_METHODS:
            await _gone_files_as_404(self.app, scope, receive, send)
            return
        if path.rstrip("/") in _UPLOAD_ROUTES:
            if _header(scope, b"content-length") is None:
                await PlainTextResponse("An upload must say its Content-Length.", status_code=411)(scope, receive, send)
                return
            await self._uploads(scope, receive, send)
            return
        await self._bodies(scope, receive, send)


async def _gone_files_as_404(app: ASGIApp, scope: MutableMapping[str, Any], receive: Callable, send: Callable) -> None:
    started = False

    async def watched(message: MutableMapping[str, Any]) -> None:
        nonlocal started
        started = started or message.get("type") == "http.response.start"
        await send(message)

    try:
        await app(scope, receive, watched)
    except (FileNotFoundError, RuntimeError) as exc:
        # Starlette's FileResponse turns the FileNotFoundError of its stat into a RuntimeError.
        gone = isinstance(exc, FileNotFoundError) or isinstance(exc.__context__, FileNotFoundError)
        if started or not gone:
            raise
        await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)


def _route_path(scope: MutableMapping[str, Any]) -> str:
    path, root = scope.get("path", ""), scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    return path or "/"


def _is_monitoring(path: str) -> bool:
    return path == "/monitoring" or path.startswith("/monitoring/")


def _header(scope: MutableMapping[str, Any], name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value
    return None
