"""Plain JSON over HTTP for ``curl`` and programs without a Gradio client: ``POST /api/generate`` and
``POST /api/compare`` take a JSON object of only the fields one cares about (the parameters of the
Gradio endpoints of the same names, by keyword) and answer with one JSON object.

Each call goes through the app's own Gradio endpoint, over the loopback with a Gradio client of its
own (a fresh session, so in hosted mode a REST caller is a visitor like any other): the queue, its
concurrency limits, the quota and every check of the endpoint apply unchanged. The caller's headers
go with it (language, a provider key, the address a proxy added), so the file URLs in the answer are
the ones the caller can fetch. An answer carries URLs, never the server's file paths.

    200  {"images": [{"url", "caption"}], "info": {...}}            /api/generate
         {"grid": {"url"}, "cells": [{"url", "caption"}], "info": {...}}   /api/compare
    4xx  {"error": "a sentence saying what to change"}
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gradio_client import Client
from gradio_client.exceptions import AppError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from backends.messages import Message

from .i18n import language_from_header

__all__ = ["ENDPOINTS", "call_endpoint", "public_answer", "relayed_peer", "rest_routes"]

ENDPOINTS = ("generate", "compare")

# Headers that describe the caller's own connection, not the call: the loopback request has its own.
_NOT_FORWARDED = frozenset({
    "x-playground-relay", "x-playground-relayed-peer", "x-forwarded-for", "content-length", "content-type", "transfer-encoding", "connection", "accept-encoding", "accept", "keep-alive",
    "upgrade", "x-gradio-user", "cookie",
})


RELAYED_PEER = "x-playground-relayed-peer"
RELAY_TOKEN = "x-playground-relay"
_TOKEN = secrets.token_urlsafe(32)
_WAITERS = ThreadPoolExecutor(max_workers=64, thread_name_prefix="loopback-call")
"""Threads that wait for loopback calls; past 64 at once, calls wait their turn here (the queue bounds the work)."""
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def relayed_peer(peer: str, headers: Any) -> str:
    """The peer to count a request by: for this process's own loopback call (:func:`call_endpoint`), the
    address its caller connected from; for any other request ``peer`` itself (the headers are then not
    believed, whoever sent them)."""
    if peer not in _LOOPBACK or not hasattr(headers, "get"):
        return peer
    token = headers.get(RELAY_TOKEN) or ""
    if not hmac.compare_digest(token.encode(), _TOKEN.encode()):
        return peer
    return headers.get(RELAYED_PEER) or peer


def rest_routes() -> list[Route]:
    """The two routes, for ``app_kwargs={"routes": ...}`` (ui/page.py); they find the app they serve at call time."""
    return [Route(f"/api/{name}", _handler(name), methods=["POST"]) for name in ENDPOINTS]


def _handler(name: str):
    async def endpoint(request: Request) -> JSONResponse:
        lang = language_from_header(request.headers.get("accept-language", ""))
        blocks = request.app.get_blocks()
        parameters = [p["parameter_name"] for p in blocks.get_api_info()["named_endpoints"][f"/{name}"]["parameters"]]
        try:
            fields = json.loads(await request.body() or b"null")
        except (ValueError, UnicodeDecodeError):
            fields = None
        if not isinstance(fields, dict):
            return _error(Message("rest_not_an_object", endpoint=name, known=", ".join(parameters)), lang, 400)
        unknown = [key for key in fields if key not in parameters]
        if unknown:
            return _error(Message("rest_unknown_fields", fields=", ".join(map(str, unknown)), endpoint=name,
                                  known=", ".join(parameters)), lang, 422)
        try:
            outputs = await call_endpoint(request, name, fields)
        except AppError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        except Exception as exc:  # the loopback itself failed: say so, never an empty error
            return _error(Message("rest_failed", endpoint=name, kind=type(exc).__name__), lang, 500)
        return JSONResponse(public_answer(name, outputs))

    endpoint.__name__ = f"rest_{name}"
    return endpoint


async def call_endpoint(request: Request, name: str, fields: dict[str, Any]) -> Any:
    """The outputs of the app's own endpoint ``/name`` called with ``fields``, as a Gradio client gets them
    (files as FileData dicts), on behalf of the caller of ``request``; raises AppError with our message."""
    headers = {key: value for key, value in request.headers.items() if key.lower() not in _NOT_FORWARDED}
    # The loopback call arrives from this machine: it carries the caller's own peer, with a token only this
    # process knows, so the endpoint counts the caller (quota, job cap) by the address it would have had.
    headers[RELAYED_PEER] = request.client.host if request.client else ""
    headers[RELAY_TOKEN] = _TOKEN
    forwarded = request.headers.getlist("x-forwarded-for")
    if forwarded:
        headers["x-forwarded-for"] = ", ".join(forwarded)
    url = request.app.get_blocks().local_url or str(request.base_url)
    # A pool of its own: each call's thread waits for the endpoint, whose work (saving the images...) needs
    # the event loop's default pool; sharing it, a few calls at once would hold every thread and wait for ever.
    return await asyncio.get_running_loop().run_in_executor(_WAITERS, _call, url, name, fields, headers)


def _call(url: str, name: str, fields: dict[str, Any], headers: dict[str, str]) -> Any:
    # One client per call: a Gradio client is one session, and each REST call is a session of its own.
    client = Client(url, verbose=False, download_files=False, analytics_enabled=False, headers=headers)
    try:
        return client.submit(api_name=f"/{name}", **fields).result()
    finally:  # close() waits up to 1 s for the heartbeat stream to notice; the answer need not
        threading.Thread(target=client.close, daemon=True).start()


def public_answer(name: str, outputs: Any) -> dict[str, Any]:
    """The endpoint's outputs with URLs for files, never the server's paths."""
    if name == "generate":
        gallery, info = outputs
        return {"images": [_image(item) for item in gallery], "info": info}
    grid, cells, info = outputs
    return {"grid": {"url": _url(grid)}, "cells": [_image(item) for item in cells], "info": info}


def _image(item: Any) -> dict[str, Any]:
    return {"url": _url(item.get("image")), "caption": item.get("caption")}


def _url(file: Any) -> str | None:
    return file.get("url") if isinstance(file, dict) else None


def _error(message: Message, lang: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message.render(lang)}, status_code=status)
