"""HTTP for the remote backends: one client per backend, bounded retries, bounded image downloads.

Every httpx exception is translated here into the tree in :mod:`backends.errors`. Retries happen
only for connect errors, 429 (honouring ``Retry-After``) and 5xx, with exponential backoff, full
jitter and a bound on the total time spent waiting; never for other 4xx. No header value is ever
logged or put into a message, so the API key stays in its header.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import io
import ipaddress
import logging
import random
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from PIL import Image

from ..base import mark_sent
from ..errors import (
    AuthenticationFailed,
    BadProviderResponse,
    ImageDownloadFailed,
    InsufficientCredits,
    ProviderError,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnreachable,
    RateLimited,
    RequestRejected,
    clip,
    redact,
)
from ..messages import Message

if TYPE_CHECKING:
    from ..settings import PlaygroundSettings

__all__ = [
    "ErrorDescriber",
    "HttpAnswer",
    "ImageLimits",
    "ProviderHttp",
    "RetryPolicy",
    "Timeouts",
    "http_options",
    "inspect_image",
    "inspect_image_off_the_loop",
    "provider_said",
]

log = logging.getLogger(__name__)

# A kept-alive connection the server closed while idle fails within milliseconds of the send; one
# that fails later may have been working on the request.
STALE_CONNECTION_WINDOW_S = 1.0
STALE_CONNECTION_RETRIES = 2

IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
MAX_IMAGE_REDIRECTS = 3
"""Redirects an image URL may take; each hop's address is checked (:meth:`ProviderHttp.check_image_address`)."""


@dataclass(frozen=True)
class Timeouts:
    """Seconds. ``read`` must cover the provider's slowest normal answer (Segmind's sync call ~85 s)."""

    connect: float = 10.0
    read: float = 120.0
    write: float = 30.0
    pool: float = 10.0
    download: float = 60.0
    total: float = 180.0  # one request from connect to the last byte, so a trickling body cannot hang a job

    def httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)

    @classmethod
    def within(cls, seconds: float) -> Timeouts:
        """Every bound at most ``seconds``: one call, connect to last byte, and one image download."""
        default = cls()
        return cls(
            connect=min(default.connect, seconds), read=seconds, write=min(default.write, seconds),
            pool=min(default.pool, seconds), download=seconds, total=seconds,
        )


@functools.cache
def shared_tls_context() -> ssl.SSLContext:
    """The CA bundle, loaded once per process the way httpx loads it for ``verify=True`` (SSL_CERT_FILE,
    SSL_CERT_DIR, else certifi). Loading it costs ~65 ms of CPU, and every event loop gets its own
    client; requests shares one default context the same way."""
    return httpx.create_ssl_context()


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``attempts`` tries; waits of ``base_delay * 2**k`` with full jitter, capped at
    ``max_delay``; no more than ``max_total_wait`` seconds spent waiting in all."""

    attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 20.0
    max_total_wait: float = 30.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


def http_options(settings: PlaygroundSettings) -> dict[str, Any]:
    """The operator's bounds on provider calls, as ``timeouts=``/``retry=`` for a remote backend.

    ``PLAYGROUND_HTTP_TIMEOUT``: the longest wait in seconds for one provider answer, and for one
    image download (default: each backend's own, 120 s to read; Segmind 180 s).
    ``PLAYGROUND_HTTP_RETRIES``: how many times a transient failure is retried (default 2; 0: never).
    ``PLAYGROUND_HTTP_BACKOFF``: the longest wait in seconds before the first retry, doubling after
    (default 1). Only what is set is returned, so each backend keeps its own defaults otherwise.
    """
    options: dict[str, Any] = {}
    if settings.playground_http_timeout is not None:
        options["timeouts"] = Timeouts.within(settings.playground_http_timeout)
    retries, backoff = settings.playground_http_retries, settings.playground_http_backoff
    if retries is not None or backoff is not None:
        default = RetryPolicy()
        options["retry"] = RetryPolicy(
            attempts=retries + 1 if retries is not None else default.attempts,
            base_delay=backoff if backoff is not None else default.base_delay,
        )
    return options


@dataclass(frozen=True)
class ImageLimits:
    """Bounds on an image we accept: bytes on the wire, and pixels once the header is read."""

    max_bytes: int = 40 * 1024 * 1024
    max_pixels: int = 4096 * 4096


@dataclass(frozen=True)
class HttpAnswer:
    """A provider's answer, read whole within the size and time bounds."""

    status_code: int
    headers: httpx.Headers
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        import json

        return json.loads(self.content)


class ErrorDescriber:
    """How one provider phrases its errors; backends override :meth:`extract_message` and the hints."""

    key_hint: str | Message = Message("key_hint")

    def special_error(self, status: int, detail: str, provider: str) -> ProviderError | None:
        """A provider-specific meaning for a status (Segmind's 406), or None for the general rules."""
        return None

    def extract_message(self, response: HttpAnswer) -> str:
        """What the provider said, whole (the answer is read within its size bound); :meth:`ProviderHttp.error_for`
        redacts it, then clips it to :data:`~backends.errors.PROVIDER_TEXT_LIMIT` characters."""
        try:
            body = response.json()
        except ValueError:
            return response.text.strip()
        return _find_message(body) or response.text.strip()


def provider_said(detail: str) -> Message | str:
    """What the provider said, quoted after our sentence ("" when it said nothing)."""
    return Message("provider_said", detail=detail) if detail else ""


def _find_message(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("error", "message", "detail", "msg"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict):
                found = _find_message(value)
                if found:
                    return found
    return ""


class ProviderHttp:
    """One httpx.AsyncClient for one backend, with its timeouts, retry policy and error phrasing.

    ``transport`` is injectable for tests; ``secret`` is what :func:`redact` strips from any text a
    provider sends back before it reaches a message.
    """

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        headers: Mapping[str, str],
        timeouts: Timeouts = Timeouts(),
        retry: RetryPolicy = RetryPolicy(),
        limits: ImageLimits = ImageLimits(),
        describer: ErrorDescriber | None = None,
        secret: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.timeouts = timeouts
        self.retry = retry
        self.limits = limits
        self.describer = describer or ErrorDescriber()
        self._secret = secret
        self._headers = dict(headers)
        self._transport = transport
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._clients: dict[tuple[int, str], httpx.AsyncClient] = {}

    def _client(self, purpose: str = "api") -> httpx.AsyncClient:
        # An AsyncClient is bound to the event loop that first used it; Gradio and the tests may
        # drive us from several loops, so keep one per loop; they share one SSL context. Image downloads get their own client: no key
        # headers go to image hosts, and their redirects are followed by hand, every hop's address checked.
        loop = asyncio.get_running_loop()
        key = (id(loop), purpose)
        client = self._clients.get(key)
        if client is None or client.is_closed:
            client = httpx.AsyncClient(
                headers=self._headers if purpose == "api" else {},
                timeout=self.timeouts.httpx(),
                verify=shared_tls_context(),
                transport=self._transport,
                follow_redirects=False,  # image downloads follow them one hop at a time, checking each
                limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            )
            self._clients[key] = client
        return client

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            try:
                await client.aclose()
            except RuntimeError:  # its loop is gone
                pass

    async def post(self, path: str, *, json: Mapping[str, Any]) -> HttpAnswer:
        """POST with retries; returns a 2xx answer or raises a :class:`ProviderError`."""
        url = f"{self.base_url}{path}"
        waited = 0.0
        for attempt in range(self.retry.attempts):
            last = attempt == self.retry.attempts - 1
            try:
                response = await self._post_once(url, json)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Nothing was sent, so nothing was charged: safe to try again.
                if isinstance(exc, httpx.PoolTimeout):  # every kept connection was busy that long
                    message = Message("provider_pool_busy", provider=self.provider, seconds=self.timeouts.pool)
                elif isinstance(exc, httpx.ConnectTimeout):
                    message = Message(
                        "provider_connect_timeout", provider=self.provider, url=self.base_url, seconds=self.timeouts.connect
                    )
                else:
                    message = Message("provider_unreachable", provider=self.provider, url=self.base_url)
                error: ProviderError = ProviderUnreachable(message, provider=self.provider)
                delay = self.retry.backoff(attempt, self._rng)
                cause: BaseException = exc
            except (httpx.TimeoutException, TimeoutError) as exc:
                # A timeout after the request was sent may still have cost money: not retried. The
                # read bound fires when the provider goes quiet, the total one (ours) when it trickles.
                limit = self.timeouts.total if isinstance(exc, TimeoutError) else self.timeouts.read
                raise ProviderTimeout(
                    Message("provider_timeout", provider=self.provider, seconds=limit), provider=self.provider
                ) from exc
            except httpx.HTTPError as exc:
                raise ProviderUnreachable(
                    Message("provider_connection_failed", provider=self.provider, error_type=type(exc).__name__),
                    provider=self.provider,
                ) from exc
            else:
                if response.is_success:
                    return response
                error = self.error_for(response)
                if not error.retryable:
                    raise error
                delay = self._retry_after(response)
                if delay is None:
                    delay = self.retry.backoff(attempt, self._rng)
                cause = None  # type: ignore[assignment]
            if last or waited + delay > self.retry.max_total_wait:
                raise error from cause
            log.info("%s: %s; retrying in %.1f s (attempt %d)", self.provider, type(error).__name__, delay, attempt + 2)
            waited += delay
            await self._sleep(delay)
        raise AssertionError("unreachable")

    async def _post_once(self, url: str, payload: Mapping[str, Any]) -> HttpAnswer:
        async with asyncio.timeout(self.timeouts.total):
            response = await self._send_on_a_live_connection("POST", url, payload=payload)
            if not 400 <= response.status_code < 500:
                # A 4xx is a refusal before any work (bad field, key, credits, rate limit): not billed.
                # Anything else may have cost, even a 5xx, and counts as sent.
                mark_sent()
            try:
                content = await self._read_capped(response)
            finally:
                await response.aclose()
        return HttpAnswer(response.status_code, response.headers, content)

    async def _send_on_a_live_connection(
        self, method: str, url: str, *, payload: Mapping[str, Any] | None = None, purpose: str = "api"
    ) -> httpx.Response:
        """Send the request; when a kept-alive connection turns out to have been closed by the server
        (it drops idle ones after a few seconds: uvicorn after 5, gunicorn after 2) and fails at
        once, before any answer, send it again on a new connection. The server closed that connection
        while idle, so it never read the request: nothing ran, nothing was charged. A failure on a
        new connection, or after a while, may have run, and goes up as it is.

        For the quota (:func:`~backends.base.mark_sent`): an API request whose headers started going out
        and that then failed, timed out or was stopped may have been billed; one that never got a
        connection (connect error, pool timeout, stopped while connecting) was not."""
        client = self._client(purpose)
        for attempt in range(STALE_CONNECTION_RETRIES + 1):
            connected: list[str] = []
            wrote: list[str] = []

            async def trace(
                name: str, info: Mapping[str, Any], connected: list[str] = connected, wrote: list[str] = wrote
            ) -> None:
                if name == "connection.connect_tcp.started":
                    connected.append(name)
                elif name.endswith("send_request_headers.started"):
                    wrote.append(name)

            request = client.build_request(method, url, json=payload, extensions={"trace": trace})
            sent = time.monotonic()
            try:
                return await client.send(request, stream=True)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                stale = not connected and time.monotonic() - sent < STALE_CONNECTION_WINDOW_S
                if not stale or attempt == STALE_CONNECTION_RETRIES:
                    if wrote and purpose == "api":
                        mark_sent()
                    raise
                log.info("%s: a kept-alive connection had been closed (%s); sending again", self.provider, type(exc).__name__)
            except BaseException as exc:
                never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
                # An injected transport (tests) traces nothing: whatever it did may have gone out.
                if purpose == "api" and not never_sent and (wrote or self._transport is not None):
                    mark_sent()
                raise
        raise AssertionError("unreachable")

    async def _read_capped(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.limits.max_bytes:
            raise self._too_large(int(declared))
        chunks, total = [], 0
        async for chunk in response.aiter_bytes():
            total += len(chunk)
            if total > self.limits.max_bytes:
                raise self._too_large(total)
            chunks.append(chunk)
        return b"".join(chunks)

    def error_for(self, response: HttpAnswer) -> ProviderError:
        """Turn a non-2xx response into the matching error, with the provider's own words, redacted."""
        status = response.status_code
        detail = clip(redact(self.describer.extract_message(response), self._secret))
        said = provider_said(detail)
        name = self.provider
        special = self.describer.special_error(status, detail, name)
        if special is not None:
            return special
        if status in (401, 403):
            return AuthenticationFailed(
                Message("provider_auth", provider=name, status=status, hint=self.describer.key_hint, said=said),
                provider=name, status=status,
            )
        if status == 402:
            return InsufficientCredits(Message("provider_no_credits", provider=name, said=said), provider=name, status=status)
        if status == 429:
            retry_after = self._retry_after(response)
            if retry_after is not None:
                message = Message("provider_rate_limited_for", provider=name, seconds=retry_after, said=said)
            else:
                message = Message("provider_rate_limited", provider=name, said=said)
            return RateLimited(message, provider=name, retry_after=retry_after)
        if status >= 500:
            return ProviderServerError(
                Message("provider_server_error", provider=name, status=status, said=said), provider=name, status=status
            )
        if status in (404, 405):
            return RequestRejected(
                Message("provider_no_endpoint", provider=name, status=status, url=self.base_url, said=said),
                provider=name, status=status,
            )
        return RequestRejected(Message("provider_rejected", provider=name, status=status, said=said), provider=name, status=status)

    @staticmethod
    def _retry_after(response: HttpAnswer) -> float | None:
        value = response.headers.get("retry-after")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value) if value else None
            return max(0.0, parsed.timestamp() - time.time()) if parsed else None

    def parse_json(self, response: HttpAnswer) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise BadProviderResponse(
                Message("provider_malformed_json", provider=self.provider), provider=self.provider, status=response.status_code
            ) from exc

    async def download_image(self, url: str) -> tuple[bytes, str, int, int]:
        """Fetch an image URL at once (they expire), within the size, type, pixel and time bounds.

        Returns (bytes, mime type, width, height). The provider's key is not sent to image URLs.
        """
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
            shown = clip(url) if isinstance(url, str) and len(url) < 80 else Message("not_an_http_address")
            raise ImageDownloadFailed(
                Message("image_location_not_http", provider=self.provider, location=shown), provider=self.provider
            )
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeouts.download):
                response = await self._follow_image_redirects(httpx.URL(url))
                try:
                    if response.status_code in (403, 404, 410):
                        raise ImageDownloadFailed(
                            Message("image_link_expired", provider=self.provider, status=response.status_code),
                            provider=self.provider, status=response.status_code,
                        )
                    if not response.is_success:
                        raise ImageDownloadFailed(
                            Message("image_download_status", provider=self.provider, status=response.status_code),
                            provider=self.provider, status=response.status_code,
                        )
                    data = await self._read_capped(response)
                    content_type = response.headers.get("content-type", "")
                finally:
                    await response.aclose()
        except TimeoutError as exc:
            raise ImageDownloadFailed(
                Message("image_download_too_slow", provider=self.provider, seconds=self.timeouts.download),
                provider=self.provider,
            ) from exc
        except httpx.TimeoutException as exc:
            raise ImageDownloadFailed(
                Message("image_download_timeout", provider=self.provider, seconds=time.monotonic() - started),
                provider=self.provider,
            ) from exc
        except httpx.HTTPError as exc:
            raise ImageDownloadFailed(
                Message("image_download_failed", provider=self.provider, error_type=type(exc).__name__),
                provider=self.provider,
            ) from exc
        if content_type and not content_type.startswith(("image/", "application/octet-stream", "binary/")):
            raise ImageDownloadFailed(
                Message("image_url_not_an_image", provider=self.provider, content_type=clip(content_type.split(";")[0], 100)),
                provider=self.provider,
            )
        mime, width, height = await inspect_image_off_the_loop(data, provider=self.provider, limits=self.limits)
        return data, mime, width, height

    async def _follow_image_redirects(self, url: httpx.URL) -> httpx.Response:
        """The answer at ``url`` after at most MAX_IMAGE_REDIRECTS redirects, every hop's scheme and
        address checked before anything is sent to it."""
        for _ in range(MAX_IMAGE_REDIRECTS + 1):
            if url.scheme not in ("http", "https"):
                raise ImageDownloadFailed(Message("image_redirect_refused", provider=self.provider), provider=self.provider)
            await self.check_image_address(url)
            response = await self._send_on_a_live_connection("GET", str(url), purpose="download")
            if not response.is_redirect:
                return response
            location = response.headers["location"]
            await response.aclose()
            url = response.url.join(location)
        raise ImageDownloadFailed(
            Message("image_too_many_redirects", provider=self.provider, limit=MAX_IMAGE_REDIRECTS), provider=self.provider
        )

    async def check_image_address(self, url: httpx.URL) -> None:
        """Refuse an image URL whose host is, or resolves to, a loopback, private, link-local, reserved,
        multicast or unspecified address, unless it is the backend's own host (or one of its addresses).

        The rule: the operator chose ``base_url`` (a self-hosted Xinference on 192.168.x.x, an emulator
        on 127.0.0.1), so image URLs on that host are as trusted as the API itself; any other host must
        be public, so a provider's answer (or a redirect it points at) cannot make this server fetch
        from its own machine or network. A host that does not resolve is left to fail on connecting.
        """
        host = url.host
        if not host:
            raise ImageDownloadFailed(Message("image_redirect_refused", provider=self.provider), provider=self.provider)
        own = httpx.URL(self.base_url).host
        if host.lower() == own.lower():
            return
        addresses = await _addresses_of(host, url.port or (443 if url.scheme == "https" else 80))
        private = [address for address in addresses if not _is_public(address)]
        if private and not set(private) <= set(await _addresses_of(own, 0)):
            raise ImageDownloadFailed(
                Message("image_address_refused", provider=self.provider, host=host[:80], address=str(private[0])),
                provider=self.provider,
            )

    def _too_large(self, size: int) -> BadProviderResponse:
        return BadProviderResponse(
            Message("image_over_megabytes", provider=self.provider, limit_mb=self.limits.max_bytes // (1024 * 1024), size=size),
            provider=self.provider,
        )


async def _addresses_of(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address ``host`` names (itself when it is an address); none when it does not resolve."""
    try:
        return [_unmapped(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    addresses = []
    for *_, sockaddr in found:
        try:
            addresses.append(_unmapped(ipaddress.ip_address(str(sockaddr[0]).split("%")[0])))
        except ValueError:
            continue
    return addresses


def _unmapped(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """``::ffff:127.0.0.1`` is 127.0.0.1."""
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return address.is_global and not (
        address.is_private or address.is_loopback or address.is_link_local or address.is_reserved
        or address.is_multicast or address.is_unspecified
    )


async def inspect_image_off_the_loop(data: bytes, *, provider: str, limits: ImageLimits = ImageLimits()) -> tuple[str, int, int]:
    """:func:`inspect_image`, in a worker thread for JPEG and WebP: checking them means decoding them
    (5-20 ms at 1024x1024), which would hold up every other visitor on the event loop. A PNG's check
    reads its chunks only (0.5 ms) and stays here."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return inspect_image(data, provider=provider, limits=limits)
    return await asyncio.to_thread(inspect_image, data, provider=provider, limits=limits)


def inspect_image(data: bytes, *, provider: str, limits: ImageLimits = ImageLimits()) -> tuple[str, int, int]:
    """Check that ``data`` is a whole PNG, JPEG or WebP within the pixel bound; return (mime, w, h).

    The header is read first, so a decompression bomb is refused before any pixel is decoded.
    """
    if len(data) > limits.max_bytes:
        raise BadProviderResponse(Message("image_over_size_limit", provider=provider, size=len(data)), provider=provider)
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            kind = image.format
            if width * height > limits.max_pixels:
                raise BadProviderResponse(
                    Message("image_too_many_pixels", provider=provider, width=width, height=height, limit=limits.max_pixels),
                    provider=provider,
                )
            if kind not in IMAGE_TYPES:
                raise BadProviderResponse(Message("image_unexpected_format", provider=provider, kind=kind), provider=provider)
            if kind == "PNG":
                # Every chunk's CRC up to IEND: a cut or damaged PNG fails here without a pixel being
                # decoded (0.5 ms instead of 35 ms for a 1024x1024 photo, on the event loop). The
                # history store decodes it once, for the thumbnail.
                image.verify()
            else:
                image.load()
    except Image.DecompressionBombError as exc:
        raise BadProviderResponse(Message("image_decompression_bomb", provider=provider), provider=provider) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadProviderResponse(
            Message("image_incomplete", provider=provider, error_type=type(exc).__name__), provider=provider
        ) from exc
    return IMAGE_TYPES[kind], width, height
