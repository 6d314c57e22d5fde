"""Every remote backend against its provider's emulator, over real HTTP on 127.0.0.1.

The emulators check requests the way each provider documents them, so a request they accept is a
request the provider would accept; these tests cover every field on the wire, every range edge and
every error path.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import socket
from dataclasses import replace

import pytest
from PIL import Image

from backends.base import GenerationRequest
from backends.errors import (
    AuthenticationFailed,
    BadProviderResponse,
    ImageDownloadFailed,
    InsufficientCredits,
    InvalidRequest,
    ProviderServerError,
    ProviderTimeout,
    ProviderUnreachable,
    RateLimited,
    RequestRejected,
)
from backends.providers.http import ImageLimits
from backends.settings import PlaygroundSettings
from backends.validation import validate_request
from tests.conftest import SHORT_TIMEOUTS, make_backend

SENTINEL = "sk-SENTINEL-7f3a9c-never-show-me"


def run(coro):
    return asyncio.run(coro)


def request_for(backend, **values) -> GenerationRequest:
    request = validate_request({"prompt": "a red fox in snow", **values}, backend.capabilities)
    if request.seed is None:
        request = GenerationRequest(**{**request.to_dict(), "seed": 1234})
    return request


def generate(backend, **values):
    return run(backend.generate(request_for(backend, **values)))


# --- the request on the wire ------------------------------------------------------------------


def test_dieyuyun_sends_every_documented_field(dieyuyun_emulator):
    backend = make_backend("dieyuyun", dieyuyun_emulator)
    output = generate(backend, negative_prompt="blurry", size="720x1280", seed=77, steps=30, guidance=9.5)
    (recorded,) = dieyuyun_emulator.requests
    assert recorded.path == "/v1/images/generations"
    assert recorded.headers["authorization"] == "Bearer test-key"
    assert recorded.json == {
        "model": "Kwai-Kolors/Kolors", "prompt": "a red fox in snow", "size": "720x1280", "n": 1,
        "negative_prompt": "blurry", "seed": 77, "num_inference_steps": 30, "guidance_scale": 9.5,
    }
    (image,) = output.images
    assert (image.width, image.height, image.seed, image.mime_type) == (720, 1280, 77, "image/png")
    assert output.info["usage"]["generated_images"] == 1


def test_segmind_sends_every_documented_field(segmind_emulator):
    backend = make_backend("segmind", segmind_emulator)
    output = generate(
        backend, negative_prompt="text", size="640x1536", seed=5, steps=50, guidance=0,
        scheduler="DPMSolverMultistepScheduler_SDE_karras", output_format="jpg", output_quality=55,
    )
    (recorded,) = segmind_emulator.requests
    assert recorded.path == "/v1/kolors"
    assert recorded.headers["x-api-key"] == "test-key" and "authorization" not in recorded.headers
    assert recorded.json == {
        "prompt": "a red fox in snow", "negative_prompt": "text", "width": 640, "height": 1536, "steps": 50,
        "cfg": 0.0, "seed": 5, "scheduler": "DPMSolverMultistepScheduler_SDE_karras", "output_format": "jpg",
        "output_quality": 55, "number_of_images": 1,
    }
    (image,) = output.images
    assert (image.mime_type, image.width, image.height, image.seed) == ("image/jpeg", 640, 1536, 5)
    assert isinstance(output.info["remaining_credits"], float)


def test_segmind_reports_remaining_credits_going_down(segmind_emulator):
    backend = make_backend("segmind", segmind_emulator)
    first = generate(backend).info["remaining_credits"]
    second = generate(backend).info["remaining_credits"]
    assert second < first


@pytest.mark.parametrize("fmt, mime", [("webp", "image/webp"), ("jpg", "image/jpeg"), ("png", "image/png")])
def test_segmind_output_formats(segmind_emulator, fmt, mime):
    output = generate(make_backend("segmind", segmind_emulator), output_format=fmt, size="512x512")
    assert output.images[0].mime_type == mime
    assert Image.open(io.BytesIO(output.images[0].data)).format == {"jpg": "JPEG"}.get(fmt, fmt.upper())


def test_siliconflow_sends_every_documented_field(siliconflow_emulator):
    backend = make_backend("siliconflow", siliconflow_emulator)
    output = generate(backend, negative_prompt="dark", size="960x1280", seed=9, steps=100, guidance=20)
    (recorded,) = siliconflow_emulator.requests
    assert recorded.headers["authorization"] == "Bearer test-key"
    assert recorded.json == {
        "model": "Kwai-Kolors/Kolors", "prompt": "a red fox in snow", "image_size": "960x1280", "batch_size": 1,
        "num_inference_steps": 100, "guidance_scale": 20.0, "seed": 9, "negative_prompt": "dark",
    }
    assert output.info["seed"] == 9 and "inference" in output.info["timings"]
    assert siliconflow_emulator.image_fetches == 1  # the URL was fetched at once


def test_generic_endpoint_asks_for_b64_and_reads_it(openai_emulator):
    backend = make_backend("openai", openai_emulator)
    output = generate(backend, size="512x768")
    (recorded,) = openai_emulator.requests
    assert recorded.json["response_format"] == "b64_json" and recorded.json["model"] == "kolors"
    assert (output.images[0].width, output.images[0].height) == (512, 768)


def test_generic_endpoint_with_server_local_paths_says_to_use_b64(openai_emulator):
    from backends.providers.endpoints import EndpointConfig, endpoint_backends
    from tests.conftest import FAST_RETRY

    config = EndpointConfig(
        id="x", label="Xinference", base_url=openai_emulator.base_url, model="kolors", size_range=(256, 2048),
        api_key_env="SELFHOSTED_KEY",
    )
    (backend,) = endpoint_backends([config], PlaygroundSettings.from_mapping({"SELFHOSTED_KEY": "test-key"}), retry=FAST_RETRY)
    with pytest.raises(ImageDownloadFailed, match='response_format = "b64_json"'):
        generate(backend)


# --- range edges: what validation lets through, the provider accepts --------------------------


def edges(caps):
    sizes = [f"{w}x{h}" for w, h in caps.sizes] if caps.sizes else [
        f"{caps.size_range[0]}x{caps.size_range[0]}", f"{caps.size_range[1]}x{caps.size_range[0]}"
    ]
    values = [{"size": s} for s in sizes]
    values += [{"steps": caps.steps[0]}, {"steps": caps.steps[1]}, {"guidance": caps.guidance[0]}, {"guidance": caps.guidance[1]}]
    values += [{"seed": 0}, {"seed": caps.seed_max}]
    values += [{"scheduler": s} for s in caps.schedulers] + [{"output_format": f} for f in caps.output_formats]
    if caps.output_quality:
        values += [{"output_quality": caps.output_quality[0]}, {"output_quality": caps.output_quality[1]}]
    return values


def test_every_edge_that_validation_accepts_the_provider_accepts(backend, emulator):
    for values in edges(backend.capabilities):
        size = values.get("size", "512x512" if backend.capabilities.size_range else None)
        values = {**values, **({"size": size} if size else {})}
        output = generate(backend, **values)
        assert len(output.images) == 1, values
    assert len(emulator.requests) == len(edges(backend.capabilities))


def test_the_largest_batch_each_provider_documents(backend, emulator, provider):
    if provider == "segmind":
        pytest.skip("Segmind is always called one image at a time (its batch answer is undocumented)")
    caps = backend.capabilities
    size = "512x512" if caps.size_range else None
    output = generate(backend, n=caps.max_images, **({"size": size} if size else {}))
    assert [image.seed for image in output.images] == [1234 + i for i in range(caps.max_images)]


@pytest.mark.parametrize(
    "values",
    [{"steps": 0}, {"steps": 101}, {"guidance": -1}, {"guidance": 21}, {"seed": -5}, {"n": 0}, {"size": "100x100"}, {"prompt": ""}],
)
def test_out_of_range_values_never_reach_the_provider(backend, emulator, values):
    with pytest.raises(InvalidRequest) as info:
        validate_request({"prompt": "x", **values}, backend.capabilities)
    assert next(iter(values)) in info.value.fields
    assert emulator.requests == []


# --- error paths -----------------------------------------------------------------------------


def test_wrong_key_is_named_with_its_variable_and_not_retried(backend, emulator, provider):
    wrong = make_backend(provider, emulator, key="not-the-key")
    with pytest.raises(AuthenticationFailed) as info:
        generate(wrong)
    assert backend.key_env_var in str(info.value) and "not-the-key" not in str(info.value)
    assert len(emulator.requests) == 1


def test_segmind_406_says_not_enough_credits(segmind_emulator):
    segmind_emulator.fault("status", status=406)
    with pytest.raises(InsufficientCredits, match="not enough credits"):
        generate(make_backend("segmind", segmind_emulator))
    assert len(segmind_emulator.requests) == 1


@pytest.mark.parametrize("status", [404, 405])
def test_segmind_404_and_405_say_check_the_base_url(segmind_emulator, status):
    segmind_emulator.fault("status", status=status)
    with pytest.raises(RequestRejected, match="base URL"):
        generate(make_backend("segmind", segmind_emulator))


def test_wrong_base_url_is_a_clear_404(segmind_emulator):
    from backends.providers.segmind import segmind_from_settings
    from tests.conftest import FAST_RETRY

    backend = segmind_from_settings(
        PlaygroundSettings.from_mapping({"SEGMIND_API_KEY": "test-key", "SEGMIND_BASE_URL": segmind_emulator.base_url + "/nope"}), retry=FAST_RETRY
    )
    with pytest.raises(RequestRejected, match="no such endpoint"):
        generate(backend)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried_then_succeed(backend, emulator, status):
    emulator.fault("status", status=status, times=2)
    output = generate(backend, **({"size": "512x512"} if backend.capabilities.size_range else {}))
    assert len(output.images) == 1 and len(emulator.requests) == 3


def test_server_errors_give_up_after_bounded_retries(backend, emulator):
    emulator.fault("status", status=500, times=10)
    with pytest.raises(ProviderServerError, match="HTTP 500"):
        generate(backend)
    assert len(emulator.requests) == 3


def test_429_honours_retry_after_then_succeeds(backend, emulator):
    emulator.fault("status", status=429, headers={"Retry-After": "0.3"})
    import time

    started = time.monotonic()
    generate(backend)
    assert time.monotonic() - started >= 0.3
    assert len(emulator.requests) == 2


def test_429_without_retry_after_backs_off_and_gives_up(backend, emulator):
    emulator.fault("status", status=429, times=10)
    with pytest.raises(RateLimited, match="429"):
        generate(backend)
    assert len(emulator.requests) == 3


def test_retry_after_beyond_the_wait_budget_fails_at_once_saying_when(backend, emulator):
    emulator.fault("status", status=429, headers={"Retry-After": "120"}, times=5)
    with pytest.raises(RateLimited, match="in 120 s"):
        generate(backend)
    assert len(emulator.requests) == 1


def test_content_policy_refusal_is_shown_and_not_retried(backend, emulator):
    emulator.fault("content_policy")
    with pytest.raises(RequestRejected) as info:
        generate(backend)
    assert "HTTP 400" in str(info.value) and len(emulator.requests) == 1


@pytest.mark.parametrize(
    "fault, error",
    [
        ("malformed_json", BadProviderResponse),
        ("truncated_image", BadProviderResponse),
        ("non_image", (BadProviderResponse, ImageDownloadFailed)),
        ("huge_image", BadProviderResponse),
    ],
)
def test_unusable_answers(backend, emulator, provider, fault, error):
    if fault == "malformed_json" and provider == "segmind":
        pytest.skip("Segmind answers with image bytes, not JSON")
    emulator.fault(fault)
    with pytest.raises(error) as info:
        generate(backend)
    assert backend.label in str(info.value)


def test_decompression_bomb_is_refused_before_decoding(dieyuyun_emulator):
    dieyuyun_emulator.fault("huge_image")
    with pytest.raises(BadProviderResponse, match=r"pixels|decompression"):
        generate(make_backend("dieyuyun", dieyuyun_emulator))


@pytest.mark.parametrize("status", [403, 404])
def test_expired_image_urls(status, provider, backend, emulator):
    if provider in ("segmind", "openai"):
        pytest.skip("this backend receives image bytes, not URLs")
    emulator.fault("expired_url", status=status)
    with pytest.raises(ImageDownloadFailed, match="expired"):
        generate(backend)


def test_download_size_cap(dieyuyun_emulator):
    backend = make_backend("dieyuyun", dieyuyun_emulator, limits=ImageLimits(max_bytes=1000))
    with pytest.raises(BadProviderResponse, match="over"):
        generate(backend)


def test_non_http_image_urls_are_never_followed(dieyuyun_emulator):
    backend = make_backend("dieyuyun", dieyuyun_emulator)
    for url in ("file:///etc/passwd", "ftp://example.com/x.png", "/tmp/x.png"):
        with pytest.raises(ImageDownloadFailed, match="not an http"):
            run(backend.http.download_image(url))


def test_slow_answer_times_out_without_retry(provider, emulator):
    backend = make_backend(provider, emulator, timeouts=replace(SHORT_TIMEOUTS, read=0.3))
    emulator.fault("slow", seconds=1)
    with pytest.raises(ProviderTimeout, match=r"did not answer within 0\.3 s"):
        generate(backend)
    assert len(emulator.requests) == 1


def test_endless_slow_body_is_cut_off_in_bounded_time(provider, emulator):
    """A body that keeps coming a little at a time never trips the read limit; the download limit (an
    image at a URL) or the total limit (an answer with the image inside) cuts it off."""
    import time

    backend = make_backend(provider, emulator, timeouts=replace(SHORT_TIMEOUTS, download=0.5, total=1.0))
    emulator.fault("slow_body", interval=0.1)
    started = time.monotonic()
    with pytest.raises((ProviderTimeout, ImageDownloadFailed), match=r"(longer than 0\.5 s|within 1 s)\. "):
        generate(backend)
    assert time.monotonic() - started < 5
    generate(backend)  # and the next request is served


def test_connection_refused_is_retried_then_explained():
    from backends.providers.dieyuyun import dieyuyun_from_settings
    from tests.conftest import FAST_RETRY

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = dieyuyun_from_settings(PlaygroundSettings.from_mapping({"DIEYUYUN_API_KEY": "k", "DIEYUYUN_BASE_URL": f"http://127.0.0.1:{port}/v1"}), retry=FAST_RETRY)
    with pytest.raises(ProviderUnreachable, match="Could not connect"):
        generate(backend)


# --- the key stays in its header ---------------------------------------------------------------


def test_the_key_appears_in_no_message_repr_or_log(provider, emulator, caplog):
    caplog.set_level(logging.DEBUG)
    backend = make_backend(provider, emulator, key=SENTINEL)
    texts = [repr(backend), str(backend.availability())]
    for fault in ({"kind": "status", "status": 500, "times": 5}, {"kind": "status", "status": 401, "body": f"bad key {SENTINEL}"}):
        emulator.fault(fault.pop("kind"), **fault)
        with pytest.raises(Exception) as info:
            generate(backend)
        texts += [str(info.value), repr(info.value), str(info.value.__cause__)]
    texts.append(caplog.text)
    assert not any(SENTINEL in text for text in texts)
    assert "***" in texts[-2] or "***" in " ".join(texts)  # the provider's echo of the key was redacted
    good = make_backend(provider, emulator)
    assert repr(good.with_api_key(SENTINEL)).count("***") == 1


def test_b64_answers_decode(openai_emulator):
    output = generate(make_backend("openai", openai_emulator))
    assert output.images[0].data.startswith(b"\x89PNG")
    assert base64.b64encode(output.images[0].data)  # the bytes are the provider's, untouched


def test_a_connect_timeout_is_retried_and_names_the_connect_limit(caplog):
    """A server whose accept queue is full drops new connections: a real connect timeout. Nothing was
    sent, so it is retried like a refused connection, and the message names the connect limit."""
    from backends.providers.dieyuyun import dieyuyun_from_settings
    from backends.providers.http import Timeouts
    from tests.conftest import FAST_RETRY

    caplog.set_level(logging.INFO, logger="backends.providers.http")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        queued = []
        for _ in range(3):  # fill the accept queue; the server never accepts
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(("127.0.0.1", port))
            queued.append(client)
        try:
            backend = dieyuyun_from_settings(
                PlaygroundSettings.from_mapping({"DIEYUYUN_API_KEY": "k", "DIEYUYUN_BASE_URL": f"http://127.0.0.1:{port}/v1"}),
                retry=FAST_RETRY, timeouts=Timeouts(connect=0.1, read=5, total=10),
            )
            with pytest.raises(ProviderUnreachable, match=r"Could not connect to .* within 0\.1 s\. Check your network"):
                generate(backend)
        finally:
            for client in queued:
                client.close()
    retries = [r for r in caplog.records if "ProviderUnreachable; retrying" in r.getMessage()]
    assert len(retries) == FAST_RETRY.attempts - 1


def test_a_trickling_answer_is_cut_off_by_the_total_limit_and_says_so(dieyuyun_emulator):
    """The read limit never fires while bytes keep coming; the total limit does, and the message
    names the limit that fired, not the read limit."""
    from backends.providers.http import Timeouts

    backend = make_backend("dieyuyun", dieyuyun_emulator, timeouts=Timeouts(connect=2, read=30, total=0.6))
    dieyuyun_emulator.fault("slow_body", target="response", interval=0.1)
    with pytest.raises(ProviderTimeout, match=r"did not answer within 0\.6 s\. "):
        generate(backend)
    assert len(dieyuyun_emulator.requests) == 1  # sent, maybe charged: not retried


@pytest.mark.parametrize("output_format, off_the_loop", [("webp", True), ("jpg", True), ("png", False)])
def test_jpeg_and_webp_are_checked_off_the_event_loop(segmind_emulator, monkeypatch, output_format, off_the_loop):
    """Checking a JPEG or WebP decodes it (5-20 ms): that happens in a worker thread, not on the loop
    every visitor shares. A PNG's check reads its chunks only and stays."""
    import threading

    from backends.providers import http

    checked_in: list[int] = []
    real = http.inspect_image

    def spy(data, **kwargs):
        checked_in.append(threading.get_ident())
        return real(data, **kwargs)

    monkeypatch.setattr(http, "inspect_image", spy)
    backend = make_backend("segmind", segmind_emulator)

    async def on_the_loop():
        return threading.get_ident(), await backend.generate(request_for(backend, output_format=output_format, width=512, height=512))

    loop_thread, output = run(on_the_loop())
    assert len(output.images) == 1 and len(checked_in) == 1
    assert (checked_in[0] != loop_thread) is off_the_loop


class ScriptedHttpServer:
    """A raw HTTP/1.1 server on 127.0.0.1 that keeps connections alive and plays ``script``, one
    word per request received: "answer" (200 with a JSON body) or "drop" (close the connection
    without a word, as a server does to a kept-alive connection it just timed out)."""

    def __init__(self, script: list[str], *, body: bytes | None = None, content_type: str = "application/json") -> None:
        self.script, self.requests, self.connections = list(script), 0, 0
        self.body, self.content_type = body, content_type
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        import threading

        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                buffer = b""
                while True:
                    while b"\r\n\r\n" not in buffer:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        buffer += chunk
                    if b"\r\n\r\n" not in buffer:
                        break
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length:")), 0)
                    while len(buffer) < length:
                        buffer += conn.recv(65536)
                    buffer = buffer[length:]
                    self.requests += 1
                    action = self.script.pop(0) if self.script else "answer"
                    if action == "drop":
                        break
                    body = self.body or json.dumps({"request": self.requests}).encode()
                    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: " + self.content_type.encode()
                                 + b"\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

    def close(self) -> None:
        # shutdown wakes the thread blocked in accept(); close alone leaves it listening
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        self._thread.join(timeout=5)


def _plain_http(url: str):
    from backends.providers.http import ProviderHttp, Timeouts
    from tests.conftest import FAST_RETRY

    return ProviderHttp(provider="Scripted", base_url=url, headers={}, timeouts=Timeouts.within(5), retry=FAST_RETRY)


def test_a_kept_alive_connection_the_server_closed_is_replaced_and_the_request_sent_again():
    server = ScriptedHttpServer(["answer", "drop", "answer"])
    http = _plain_http(server.url)

    async def two_posts():
        first = await http.post("/x", json={"n": 1})
        second = await http.post("/x", json={"n": 2})  # goes out on the kept-alive connection first
        await http.aclose()
        return first, second

    try:
        first, second = run(two_posts())
    finally:
        server.close()
    assert json.loads(first.content) == {"request": 1} and json.loads(second.content) == {"request": 3}
    assert server.connections == 2


def test_a_new_connection_closed_without_an_answer_is_not_sent_again():
    """That request may have run (and cost money): no second try, and a message that says so."""
    server = ScriptedHttpServer(["drop", "answer"])
    http = _plain_http(server.url)
    try:
        with pytest.raises(ProviderUnreachable, match="connection to Scripted failed"):
            run(http.post("/x", json={"n": 1}))
    finally:
        server.close()
    assert server.requests == 1


def test_an_image_download_on_a_closed_kept_alive_connection_is_fetched_again():
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 200, 90)).save(out, "PNG")
    server = ScriptedHttpServer(["answer", "drop", "answer"], body=out.getvalue(), content_type="image/png")
    http = _plain_http(server.url)

    async def two_downloads():
        first = await http.download_image(f"{server.url}/a.png")
        second = await http.download_image(f"{server.url}/b.png")
        await http.aclose()
        return first, second

    try:
        first, second = run(two_downloads())
    finally:
        server.close()
    assert first[1:] == second[1:] == ("image/png", 32, 24) and second[0] == out.getvalue()
    assert server.connections == 2 and server.requests == 3


def test_clients_share_one_tls_context_that_verifies_certificates():
    """Every client (one per event loop and backend) reuses one CA bundle instead of loading its own,
    and that context still verifies the provider's certificate and host name."""
    import ssl

    from backends.providers.http import shared_tls_context

    context = shared_tls_context()
    assert context is shared_tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0
