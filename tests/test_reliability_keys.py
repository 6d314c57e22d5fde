"""A configured API key never leaves its request header.

Every backend of the launched app is given a sentinel key (a fresh random token each run), the
providers' emulators accept only that key, and a run of successes and failures goes through
``/generate`` — including providers that echo the key back in a 401, a 403 page, a 429, a 500 and in
the JSON of a successful answer. Then the sentinel (as text, base64 and URL-encoded) is searched in:
the app's log (stdout and stderr, at DEBUG), every file under the data dir (the SQLite file with its
WAL, every PNG and thumbnail, and the text chunks of each PNG), every file Gradio serves from its
cache, ``GET /``, ``/config``, ``/gradio_api/info`` and ``/gradio_api/openapi.json``, and every API
answer and error message.
"""

from __future__ import annotations

import base64
import io
import json
import re
import secrets
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from gradio_client.exceptions import AppError
from PIL import Image

from tests.app_harness import running_app
from tests.browser_fixtures import app_under_test, browser_fixture, open_page  # noqa: F401
from tests.emulators import OpenAIImagesEmulator, make_emulator
from tests.reliability_support import (
    GENERIC_ID,
    GENERIC_KEY_ENV,
    api_client,
    fast_http_env,
    generic_backend_toml,
)

pytestmark = pytest.mark.timeout(600)

TOKEN = secrets.token_hex(8)
KEYS = {
    "dieyuyun": f"sk-dieyuyun-SENTINEL-{TOKEN}",
    "segmind": f"SG_segmind-SENTINEL-{TOKEN}",
    "siliconflow": f"sk-siliconflow-SENTINEL-{TOKEN}",
    GENERIC_ID: f"selfhosted-SENTINEL-{TOKEN}",
}
SIZES = {"dieyuyun": "1024x768", "segmind": "512x512", "siliconflow": "768x1024", GENERIC_ID: "256x256"}


def needles(text_key: str) -> list[bytes]:
    """The forms a key could leak in: as is, base64 (a Basic header or a data URL), URL-encoded."""
    raw = text_key.encode()
    return [raw, base64.b64encode(raw)[:-4], base64.urlsafe_b64encode(raw)[:-4], quote(text_key, safe="").encode()]


NEEDLES = [needle for key in KEYS.values() for needle in needles(key)] + [TOKEN.encode()]


def leaks(data: bytes | str) -> list[str]:
    blob = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return [needle.decode() for needle in NEEDLES if needle in blob]


class EchoingEmulator(OpenAIImagesEmulator):
    """dieyuyun's API, but one that echoes the caller's Authorization header in its usage report."""

    async def answer(self, request, params, fault):
        response = await super().answer(request, params, fault)
        body = json.loads(response.body)
        body["usage"]["billed_to"] = request.headers.get("authorization", "")
        body["usage"]["note"] = f"key {self.api_key} has 41 images left"
        from starlette.responses import JSONResponse

        return JSONResponse(body)


@pytest.fixture(scope="module")
def keyed_app(tmp_path_factory):
    emulators = {
        "dieyuyun": EchoingEmulator(api_key=KEYS["dieyuyun"]),
        "segmind": make_emulator("segmind", api_key=KEYS["segmind"]),
        "siliconflow": make_emulator("siliconflow", api_key=KEYS["siliconflow"]),
        GENERIC_ID: make_emulator("openai", api_key=KEYS[GENERIC_ID]),
    }
    tmp = tmp_path_factory.mktemp("keys")
    running = [emulator.running() for emulator in emulators.values()]
    for context in running:
        context.__enter__()
    try:
        env = {
            **fast_http_env(timeout=1.5, retries=2, backoff=0.05),
            "PLAYGROUND_LOG_LEVEL": "DEBUG",
            "GRADIO_TEMP_DIR": str(tmp / "gradio-cache"),
            **generic_backend_toml(tmp / "backends.toml", emulators[GENERIC_ID].base_url),
            GENERIC_KEY_ENV: KEYS[GENERIC_ID],
        }
        for provider in ("dieyuyun", "segmind", "siliconflow"):
            env[f"{provider.upper()}_API_KEY"] = KEYS[provider]
            env[f"{provider.upper()}_BASE_URL"] = emulators[provider].base_url
        with running_app(env, data_dir=tmp / "data", log_path=tmp / "app.log") as app:
            app.emulators, app.tmp = emulators, tmp
            app.client = api_client(app.url, download_files=str(tmp / "downloads"))
            yield app
            app.client.close()
    finally:
        for context in running:
            context.__exit__(None, None, None)


def play_a_run_with_failures(app) -> list[str]:
    """Successes and failures on every backend; returns every answer and message as text."""
    answers: list[str] = []

    def call(backend: str, **values) -> None:
        try:
            gallery, info = app.client.predict(
                api_name="/generate",
                **{"backend": backend, "prompt": "a fox reading a newspaper", "size": SIZES[backend], **values},
            )
        except AppError as exc:
            answers.append(str(exc))
            return
        answers.append(json.dumps(info, ensure_ascii=False))
        for item in gallery:
            answers.append(Path(item["image"]).read_bytes().decode("latin-1"))

    for backend, emulator in app.emulators.items():
        key = KEYS[backend]
        call(backend, n=2, seed=5)  # a success
        emulator.fault("status", status=401, body={"error": {"message": f"Incorrect API key provided: {key}"}})
        call(backend)
        emulator.fault("status", status=403, body=f"<html><body>Forbidden for key {key}</body></html>")
        call(backend)
        emulator.fault("status", status=429, times=3, body={"message": f"{key} is over its quota"}, headers={"Retry-After": "0"})
        call(backend)
        emulator.fault("status", status=500, times=3, body={"code": 500, "message": f"upstream rejected {key}", "data": None})
        call(backend)
        emulator.fault("content_policy")
        call(backend, n=2, seed=9)  # half of a batch fails
        emulator.fault("malformed_json" if backend != "segmind" else "non_image")
        call(backend)
        call(backend, prompt="")  # refused before any call
    # The key was sent, in its header, on every call: the sentinel is the real one.
    for backend, emulator in app.emulators.items():
        sent = {r.headers.get("authorization") or r.headers.get("x-api-key") for r in emulator.requests}
        assert sent == {KEYS[backend] if backend == "segmind" else f"Bearer {KEYS[backend]}"}
    return answers


def test_the_key_appears_nowhere(keyed_app):
    answers = play_a_run_with_failures(keyed_app)
    # Echoes were redacted, not dropped: in an error, and in what a provider reported with a success.
    assert any("Incorrect API key provided: ***" in text for text in answers)
    assert any('"billed_to": "Bearer ***"' in text for text in answers)
    found: dict[str, list[str]] = {}

    def look(where: str, data: bytes | str) -> None:
        hits = leaks(data)
        if hits:
            found[where] = hits

    for number, text in enumerate(answers):
        look(f"API answer #{number}", text)
    look("the app's log", keyed_app.log())
    scanned = 0
    for folder in (keyed_app.tmp / "data", keyed_app.tmp / "gradio-cache", keyed_app.tmp / "downloads"):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            scanned += 1
            data = path.read_bytes()
            look(str(path.relative_to(keyed_app.tmp)), data)
            if path.suffix in (".png", ".webp", ".jpg"):
                with Image.open(io.BytesIO(data)) as image:
                    look(f"{path.name} text chunks", json.dumps(getattr(image, "text", {}) or image.info, default=str))
    for route in ("", "config", "gradio_api/info", "gradio_api/openapi.json", "gradio_api/info?all_endpoints=true"):
        response = httpx.get(keyed_app.url + route, timeout=30)
        assert response.status_code == 200, route
        look(f"GET /{route}", response.content)
    assert not found, sorted(found)
    assert scanned >= 20  # the SQLite file, its WAL, the PNGs, thumbnails, cached and downloaded copies
    assert "HTTP Request: POST" in keyed_app.log()  # the log ran at DEBUG and saw the calls


@pytest.mark.browser
def test_a_key_pasted_in_the_page_is_gone_after_the_visit(browser, tmp_path):
    """A visitor pastes a key in Settings (Chromium) and generates with it. The box empties once the key
    is read, so Gradio's per-session state never holds it; the deep-link route that wrote that state to
    a served file answers 404. After the visit the sentinel is in no file under the data dir or Gradio's
    cache, in no deep-link answer, in neither ``/config`` nor the page's HTML, nor in the log."""
    sentinel = f"SG_pasted-SENTINEL-{secrets.token_hex(8)}"
    emulator = make_emulator("segmind", api_key=sentinel)
    cache = tmp_path / "gradio-cache"
    session_hashes: set[str] = set()
    with emulator.running():
        env = {"PLAYGROUND_MODE": "hosted", "SEGMIND_BASE_URL": emulator.base_url, "GRADIO_TEMP_DIR": str(cache),
               "KOLORS_MODEL": str(tmp_path / "no-weights"), "PLAYGROUND_LOG_LEVEL": "DEBUG"}
        with app_under_test(tmp_path, env) as app, open_page(browser, app) as page:
            page.page.on("request", lambda request: session_hashes.update(
                re.findall(r'session_hash["=:\s]+"?([a-z0-9]+)', (request.post_data or "") + request.url)))
            page.page.click("#settings-btn")
            page.page.locator("#key-segmind input").fill(sentinel)
            page.page.locator("#key-segmind input").press("Enter")
            page.expect("#key-segmind-kept").to_contain_text("kept for this session")
            assert page.page.locator("#key-segmind input").input_value() == ""
            page.open_tab("generate")
            page.choose("backend", "Segmind")
            page.fill("prompt", "a key that leaves with its visitor")
            page.generate(expect_images=1)
            assert emulator.requests[-1].headers["x-api-key"] == sentinel  # the pasted key was the one used
            html = page.page.content()
            assert session_hashes
            answers = {"the page's HTML": html}
            for session_hash in session_hashes:
                deep = httpx.get(app.url + f"gradio_api/deep_link?session_hash={session_hash}", timeout=30)
                assert deep.status_code == 404
                answers[f"deep_link {session_hash}"] = deep.text
            for route in ("", "config", "gradio_api/info"):
                answers[f"GET /{route}"] = httpx.get(app.url + route, timeout=30).text
            log = app.log()
    scanned = sorted(p for folder in (tmp_path / "data", cache) for p in folder.rglob("*") if p.is_file())
    found = [str(path.relative_to(tmp_path)) for path in scanned if sentinel.encode() in path.read_bytes()]
    found += [where for where, text in answers.items() if sentinel in text]
    found += ["the app's log"] if sentinel in log else []
    print(f"\npasted key: {len(scanned)} files scanned under data/ and gradio-cache/, "
          f"{len(answers)} answers, sessions {sorted(session_hashes)}: found in {found or 'none'}")
    assert not (cache / "deep_links").exists()
    assert not found
    assert len(scanned) >= 3  # the SQLite file, the image, its thumbnail
