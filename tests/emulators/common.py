"""What every provider emulator shares: the request log, the fault queue, the image URL store, the
endless slow body, and the flow of a generation request:

    record -> auth (401) -> parse and validate (400/404) -> fault, if one is queued -> latency -> answer

Subclasses set the endpoint and its schema, and dress errors in their provider's shape.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .images import PHOTOS, decompression_bomb_png, render_image, render_photo, truncated
from .schema import ApiError, Field, coerce_form, validate_fields
from .server import EmulatorServer

__all__ = [
    "FAULT_KINDS",
    "Fault",
    "FaultQueue",
    "FileStore",
    "ProviderEmulator",
    "RecordedRequest",
    "StoredFile",
    "bearer_token_ok",
    "parse_size",
    "trickle",
]

# fault kind -> the keyword parameters it takes
FAULT_KINDS: Mapping[str, frozenset[str]] = {
    "status": frozenset({"status", "body", "headers"}),
    "slow": frozenset({"seconds"}),
    "malformed_json": frozenset(),
    "truncated_image": frozenset(),
    "non_image": frozenset(),
    "expired_url": frozenset({"status"}),
    "huge_image": frozenset(),
    "slow_body": frozenset({"target", "interval"}),
    "content_policy": frozenset(),
    "ignore_seed": frozenset(),
}

MALFORMED_JSON = b'{"created": 1717000000, "data": [{"url": "http://'
NON_IMAGE = (
    b"<!DOCTYPE html><html><head><title>Service notice</title></head><body>Please log in.</body></html>"
)
CONTENT_POLICY_MESSAGE = (
    "Your request was rejected by the safety system: the prompt may contain content that is not allowed."
)
EXPIRED_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired.</Message></Error>"
)
_EXTENSIONS = {"image/png": "png", "image/webp": "webp", "image/jpeg": "jpg"}


@dataclass(frozen=True)
class RecordedRequest:
    """One request to the generation endpoint. ``json`` is None for a form body or unparsable JSON."""

    method: str
    path: str
    headers: Mapping[str, str]  # lower-cased names
    json: Any = None
    form: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Fault:
    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)


class FaultQueue:
    """Faults to play on the next generation requests, in order; shared with the server thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Fault] = deque()

    def push(self, fault: Fault, times: int = 1) -> None:
        with self._lock:
            self._queue.extend([fault] * times)

    def pop(self) -> Fault | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._queue)


@dataclass(frozen=True)
class StoredFile:
    """What an image URL answers: ``status`` other than 200 plays an expired URL, ``slow`` trickles."""

    body: bytes
    media_type: str
    status: int = 200
    slow_interval: float | None = None


class FileStore:
    """Image files kept in memory under unguessable tokens; the oldest go first past ``limit``."""

    def __init__(self, limit: int = 256) -> None:
        self._lock = threading.Lock()
        self._files: OrderedDict[str, StoredFile] = OrderedDict()
        self.limit = limit

    def put(self, stored: StoredFile) -> str:
        token = secrets.token_urlsafe(18)
        with self._lock:
            self._files[token] = stored
            while len(self._files) > self.limit:
                self._files.popitem(last=False)
        return token

    def get(self, token: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(token)

    def clear(self) -> None:
        with self._lock:
            self._files.clear()


async def trickle(
    body: bytes, *, interval: float = 0.5, chunk: int = 4, limit_s: float = 600.0
) -> AsyncIterator[bytes]:
    """Yield ``body`` ``chunk`` bytes per ``interval`` seconds, then spaces, without end.

    The first piece goes out at once, so the status and headers arrive and only the body stalls. A
    client that gives up disconnects; Starlette then cancels this generator. ``limit_s`` is a last
    resort against a client that never gives up.
    """
    deadline = time.monotonic() + limit_s
    position = 0
    while time.monotonic() < deadline:
        piece = body[position : position + chunk] or b" " * chunk
        position += chunk
        yield piece
        await asyncio.sleep(interval)


def bearer_token_ok(headers: Headers, api_key: str) -> bool:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(token.strip(), api_key)


def parse_size(text: str) -> tuple[int, int] | None:
    """``"1024x768"`` -> ``(1024, 768)``; anything else -> None."""
    width, sep, height = text.partition("x")
    if not (sep and width.isdecimal() and height.isdecimal()):
        return None
    return int(width), int(height)


class ProviderEmulator:
    """Base class of the emulators. A subclass sets the class attributes and implements
    :meth:`authorized`, :meth:`validate`, :meth:`error_body` and :meth:`answer`.

    Public surface: ``app``, ``api_key``, ``latency`` and ``photos`` (settable), ``base_url`` (set by
    :meth:`running` or the fixtures), ``requests``, ``image_fetches``, ``fault()``, ``reset()``,
    ``expire_all()``.
    """

    generation_path: ClassVar[str]
    api_prefix: ClassVar[str] = ""  # what base_url adds to the server root
    serves_urls: ClassVar[bool] = True  # whether answers carry image URLs served by /files
    accepts_forms: ClassVar[bool] = False
    schema: Mapping[str, Field]
    seed_max: int

    def __init__(self, *, api_key: str = "test-key", latency: float = 0.0) -> None:
        self.api_key = api_key
        self.latency = latency
        self._initial_latency = latency
        # True: answer with photographs as heavy as Kolors' (render_photo) instead of light mosaics.
        self.photos = False
        self.base_url: str | None = None
        self.server_url: str | None = None
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._image_fetches = 0
        self._faults = FaultQueue()
        self._files = FileStore()
        routes = [Route(self.generation_path, self._generation, methods=["POST"])]
        if self.serves_urls:
            routes.append(Route("/files/{name}", self._serve_file, methods=["GET"], name="file"))
        self.app = Starlette(routes=routes, exception_handlers={HTTPException: self._http_exception})

    # -- hooks for subclasses -------------------------------------------------------------------

    def authorized(self, headers: Headers) -> bool:
        raise NotImplementedError

    def validate(self, body: dict[str, Any]) -> dict[str, Any]:
        """Return the request's values with defaults filled in, or raise :class:`ApiError`."""
        return validate_fields(body, self.schema)

    def error_body(self, error: ApiError) -> Any:
        """The JSON body of an error answer, in the provider's shape."""
        raise NotImplementedError

    def answers_with_urls(self, params: Mapping[str, Any]) -> bool:
        return self.serves_urls

    async def answer(self, request: Request, params: dict[str, Any], fault: Fault | None) -> Response:
        """The success answer. ``fault`` is None or one that alters images: pass it to :meth:`spoil` or :meth:`publish`."""
        raise NotImplementedError

    # -- public surface -------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def image_fetches(self) -> int:
        with self._lock:
            return self._image_fetches

    def fault(self, kind: str, times: int = 1, **params: Any) -> None:
        """Queue ``kind`` for the next ``times`` generation requests that pass auth and validation."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
        unexpected = set(params) - FAULT_KINDS[kind]
        if unexpected:
            raise TypeError(f"fault {kind!r} takes no parameter(s) {sorted(unexpected)}")
        if kind == "status" and not isinstance(params.get("status"), int):
            raise TypeError("fault 'status' needs status=<int>")
        if kind == "slow" and not isinstance(params.get("seconds"), (int, float)):
            raise TypeError("fault 'slow' needs seconds=<number>")
        if kind == "expired_url" and not self.serves_urls:
            raise ValueError(f"{type(self).__name__} answers with image bytes, not URLs")
        if params.get("target", "image") not in ("image", "response"):
            raise ValueError("slow_body target is 'image' or 'response'")
        if times < 1:
            raise ValueError("times must be >= 1")
        self._faults.push(Fault(kind, dict(params)), times)

    def reset(self) -> None:
        """Forget requests, queued faults, served files and counters; restore the initial latency."""
        self._faults.clear()
        self._files.clear()
        with self._lock:
            self._requests.clear()
            self._image_fetches = 0
        self.latency = self._initial_latency
        self.photos = False

    def expire_all(self) -> None:
        """Every image URL handed out so far answers 404 from now on, like a provider's 1-hour expiry."""
        self._files.clear()

    @contextmanager
    def running(self, *, port: int = 0) -> Iterator[ProviderEmulator]:
        """Serve this emulator on 127.0.0.1 and set ``base_url`` for the duration."""
        with EmulatorServer(self.app, port=port) as server:
            self.server_url = server.base_url
            self.base_url = server.base_url + self.api_prefix
            try:
                yield self
            finally:
                self.base_url = self.server_url = None

    # -- helpers for subclasses -----------------------------------------------------------------

    def draw_seed(self, params: Mapping[str, Any], name: str = "seed") -> int:
        return params[name] if name in params else random.randint(0, self.seed_max)

    async def render(
        self,
        *,
        prompt: str,
        seed: int,
        width: int,
        height: int,
        fmt: str = "png",
        quality: int = 80,
        latent: int = 0,
        **knobs: Any,
    ) -> bytes:
        """Render off the event loop. ``latent`` is the image's place in its batch: a real batch draws
        every image's noise from one generator seeded once, so image i of a batch with seed s is not
        the image that seed s+i gives alone. ``knobs`` (steps, guidance, ...) change the image too."""
        extra = "|".join(f"{k}={v!r}" for k, v in sorted(knobs.items())) + f"|latent={latent}"
        if self.photos:
            return await run_in_threadpool(
                lambda: render_photo(width=width, height=height, variant=(seed + latent) % len(PHOTOS), fmt=fmt,
                                     quality=quality)
            )
        return await run_in_threadpool(
            lambda: render_image(
                prompt=prompt, seed=seed, width=width, height=height, fmt=fmt, extra=extra, quality=quality
            )
        )

    async def render_batch(self, count: int, **render_args: Any) -> list[bytes]:
        """The ``count`` images of one batch call: one seed, one generator, latents 0..count-1."""
        return [await self.render(latent=index, **render_args) for index in range(count)]

    @staticmethod
    def spoil(body: bytes, media_type: str, fault: Fault | None) -> tuple[bytes, str]:
        """Apply an image-altering fault to image bytes, wherever they travel (inline or by URL)."""
        kind = fault.kind if fault else None
        if kind == "truncated_image":
            return truncated(body), media_type
        if kind == "huge_image":
            return decompression_bomb_png(), "image/png"
        if kind == "non_image":
            return NON_IMAGE, "text/html; charset=utf-8"
        return body, media_type

    def publish(self, request: Request, body: bytes, media_type: str, fault: Fault | None) -> str:
        """Store an image, spoiled by ``fault`` if it applies, and return its absolute http URL."""
        body, served_type = self.spoil(body, media_type, fault)
        status, slow = 200, None
        if fault and fault.kind == "expired_url":
            status = fault.params.get("status", 403)
        if fault and fault.kind == "slow_body" and fault.params.get("target", "image") == "image":
            slow = fault.params.get("interval", 0.5)
        token = self._files.put(StoredFile(body, served_type, status, slow))
        return str(request.url_for("file", name=f"{token}.{_EXTENSIONS.get(media_type, 'bin')}"))

    def error_response(self, error: ApiError, headers: Mapping[str, str] | None = None) -> Response:
        return JSONResponse(self.error_body(error), status_code=error.status, headers=headers)

    # -- the flow -------------------------------------------------------------------------------

    async def _generation(self, request: Request) -> Response:
        raw = await request.body()
        content_type = request.headers.get("content-type", "")
        form = None
        if self.accepts_forms and content_type.startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            async with request.form() as parsed_form:  # closes the spooled files of uploads
                form = {k: v for k, v in parsed_form.items() if isinstance(v, str)}
        try:
            payload = json.loads(raw) if form is None else None
            parsed = True
        except ValueError:
            payload, parsed = None, False
        with self._lock:
            self._requests.append(
                RecordedRequest(request.method, request.url.path, dict(request.headers), payload, form)
            )

        try:
            if not self.authorized(request.headers):
                raise ApiError(401, "Invalid or missing API key.", code="invalid_api_key")
            if form is not None:
                body = coerce_form(form, self.schema)
            elif parsed and isinstance(payload, dict):
                body = payload
            else:
                raise ApiError(400, "The request body must be a JSON object.", code="invalid_json")
            params = self.validate(body)
        except ApiError as error:
            return self.error_response(error)

        fault = self._faults.pop()
        if fault is not None and fault.kind == "ignore_seed":  # as a server that drops the field it does not read
            params = {key: value for key, value in params.items() if key != "seed"}
            fault = None
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault is not None:
            early = await self._play(fault)
            if early is not None:
                return early
            if fault.kind == "slow":
                fault = None
        try:
            response = await self.answer(request, params, fault)
        except ApiError as error:
            return self.error_response(error)
        if fault and fault.kind == "slow_body" and self._slow_target(fault, params) == "response":
            headers = {
                k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")
            }
            return StreamingResponse(
                trickle(response.body, interval=fault.params.get("interval", 0.5)),
                status_code=response.status_code,
                headers=headers,
                media_type=response.media_type,
            )
        return response

    def _slow_target(self, fault: Fault, params: Mapping[str, Any]) -> str:
        return fault.params.get("target") or ("image" if self.answers_with_urls(params) else "response")

    async def _play(self, fault: Fault) -> Response | None:
        """Answer a fault that replaces the whole answer; None lets the normal answer go on."""
        if fault.kind == "slow":
            await asyncio.sleep(fault.params["seconds"])
        elif fault.kind == "content_policy":
            return self.error_response(ApiError(400, CONTENT_POLICY_MESSAGE, code="content_policy_violation"))
        elif fault.kind == "malformed_json":
            return Response(MALFORMED_JSON, media_type="application/json")
        elif fault.kind == "status":
            status, body, headers = (
                fault.params["status"],
                fault.params.get("body"),
                fault.params.get("headers"),
            )
            if body is None:
                return self.error_response(ApiError(status, _default_message(status)), headers)
            if isinstance(body, str):
                media_type = "text/html" if body.lstrip().startswith("<") else "text/plain"
                return Response(body, status_code=status, headers=headers, media_type=media_type)
            return JSONResponse(body, status_code=status, headers=headers)
        return None

    async def _serve_file(self, request: Request) -> Response:
        with self._lock:
            self._image_fetches += 1
        stored = self._files.get(request.path_params["name"].partition(".")[0])
        if stored is None:
            return Response(b"Not Found", status_code=404, media_type="text/plain")
        if stored.status == 403:
            return Response(EXPIRED_XML, status_code=403, media_type="application/xml")
        if stored.status != 200:
            return Response(
                HTTPStatus(stored.status).phrase, status_code=stored.status, media_type="text/plain"
            )
        if stored.slow_interval is not None:
            return StreamingResponse(
                trickle(stored.body, interval=stored.slow_interval), media_type=stored.media_type
            )
        return Response(stored.body, media_type=stored.media_type)

    async def _http_exception(self, request: Request, exc: HTTPException) -> Response:
        return self.error_response(ApiError(exc.status_code, exc.detail), headers=exc.headers)


def _default_message(status: int) -> str:
    messages = {
        401: "Invalid or missing API key.",
        406: "Not enough credits.",
        429: "Rate limit reached. Please slow down and retry later.",
        500: "The server had an error while processing your request.",
        503: "The service is overloaded. Please retry later.",
    }
    try:
        return messages.get(status) or HTTPStatus(status).phrase + "."
    except ValueError:
        return f"Error {status}."
