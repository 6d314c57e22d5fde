"""The image downloader refuses loopback, link-local and private addresses on every redirect hop, except the
backend's own host. Real HTTP servers: the "provider" on 127.0.0.2, an "internal" service on 127.0.0.1 that
must never be reached (Linux routes all of 127.0.0.0/8 to the loopback)."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from backends.errors import ImageDownloadFailed
from backends.providers.http import MAX_IMAGE_REDIRECTS, ProviderHttp, Timeouts


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(out, format="PNG")
    return out.getvalue()


PNG = _png()


class _Server:
    def __init__(self, host: str, routes: dict[str, tuple[int, dict[str, str], bytes]]) -> None:
        self.hits: list[str] = []
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served.hits.append(self.path)
                status, headers, body = routes.get(self.path, (404, {}, b""))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value.format(**served.links))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.links: dict[str, str] = {}
        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers() -> Iterator[tuple[_Server, _Server]]:
    internal = _Server("127.0.0.1", {"/secret": (200, {"Content-Type": "image/png"}, PNG)})
    provider = _Server("127.0.0.2", {
        "/image.png": (200, {"Content-Type": "image/png"}, PNG),
        "/to-own-host": (302, {"Location": "/image.png"}, b""),
        "/to-internal": (302, {"Location": "{internal}/secret"}, b""),
        "/to-localhost": (307, {"Location": "http://localhost:{internal_port}/secret"}, b""),
        "/to-metadata": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
        "/to-private": (301, {"Location": "http://10.0.0.1/x.png"}, b""),
        "/to-mapped": (302, {"Location": "http://[::ffff:127.0.0.1]:{internal_port}/secret"}, b""),
        "/to-file": (302, {"Location": "file:///etc/passwd"}, b""),
        "/hop2": (302, {"Location": "/to-internal"}, b""),
        "/loop": (302, {"Location": "/loop"}, b""),
    })
    provider.links = {"internal": internal.url, "internal_port": internal.url.rsplit(":", 1)[1]}
    try:
        yield provider, internal
    finally:
        provider.close()
        internal.close()


def _download(base_url: str, url: str):
    async def run():
        http = ProviderHttp(provider="Scripted", base_url=base_url, headers={}, timeouts=Timeouts.within(5))
        try:
            return await http.download_image(url)
        finally:
            await http.aclose()

    return asyncio.run(run())


def test_image_urls_on_the_backends_own_host_are_followed(servers):
    provider, _ = servers
    data, mime, width, height = _download(provider.url, f"{provider.url}/to-own-host")
    assert data == PNG and mime == "image/png" and (width, height) == (8, 8)
    assert provider.hits == ["/to-own-host", "/image.png"]


@pytest.mark.parametrize("path", ["/to-internal", "/to-localhost", "/to-mapped", "/hop2", "/to-metadata", "/to-private"])
def test_a_redirect_to_a_loopback_or_private_address_is_refused_before_it_is_sent(servers, path):
    provider, internal = servers
    with pytest.raises(ImageDownloadFailed) as caught:
        _download(provider.url, f"{provider.url}{path}")
    print(f"{path}: {caught.value}; internal service reached {len(internal.hits)} times")
    assert "private or local address" in str(caught.value)
    assert internal.hits == []


def test_a_first_url_on_another_private_host_is_refused_and_a_scheme_change_too(servers):
    provider, internal = servers
    with pytest.raises(ImageDownloadFailed, match="private or local address"):
        _download(provider.url, f"{internal.url}/secret")
    with pytest.raises(ImageDownloadFailed, match="off http"):
        _download(provider.url, f"{provider.url}/to-file")
    assert internal.hits == []


def test_redirects_stop_after_the_hop_limit(servers):
    provider, _ = servers
    with pytest.raises(ImageDownloadFailed, match=f"more than {MAX_IMAGE_REDIRECTS} times"):
        _download(provider.url, f"{provider.url}/loop")
    print(f"redirect loop: {len(provider.hits)} requests sent")
    assert len(provider.hits) == MAX_IMAGE_REDIRECTS + 1
