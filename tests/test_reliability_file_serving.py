"""File serving: Gradio serves the files it answered with, and nothing else.

The launched app has made a generation, so its data dir holds the SQLite file and the PNG it served
in place (``gr.set_static_paths`` on the images and thumbnails folders: names with 128 random bits). Requests are sent byte for byte as written (``http.client`` does not
remove ``../``): absolute paths, ``../`` from the working directory and from the cache, URL-encoded
and doubled slashes, the deprecated ``/file/`` route, ``/static`` and ``/assets``, ``/proc/self``,
a NUL byte, and URLs that would make the app fetch from 127.0.0.1. None may answer with the file,
and none may answer 500. Uploads named ``../`` stay inside Gradio's upload folder.

Isolation between visitors in hosted mode is tested with hosted mode itself.
"""

from __future__ import annotations

import http.client
import json
import secrets
import sqlite3
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from tests.app_harness import ROOT, running_app
from tests.reliability_support import api_client

pytestmark = pytest.mark.timeout(300)

SENTINEL = f"sk-files-SENTINEL-{secrets.token_hex(6)}"


@pytest.fixture(scope="module")
def served(tmp_path_factory, dieyuyun_emulator_session):
    emulator = dieyuyun_emulator_session
    emulator.reset()
    saved_key, emulator.api_key = emulator.api_key, SENTINEL
    tmp = tmp_path_factory.mktemp("files")
    env = {"DIEYUYUN_API_KEY": SENTINEL, "DIEYUYUN_BASE_URL": emulator.base_url, "GRADIO_TEMP_DIR": str(tmp / "cache")}
    try:
        with running_app(env, data_dir=tmp / "data", log_path=tmp / "app.log") as app:
            client = api_client(app.url)
            gallery, _ = client.predict(backend="dieyuyun", prompt="a locked door", size="1024x768", api_name="/generate")
            client.close()
            app.tmp, app.emulator = tmp, emulator
            app.cache_file = urlsplit(gallery[0]["image"]["url"]).path.split("file=", 1)[1]
            app.data_image = next((tmp / "data" / "images").glob("*.png"))
            yield app
    finally:
        emulator.api_key = saved_key


def get(app, raw_path: str) -> tuple[int, bytes]:
    """GET with the request line exactly as given: no client-side normalisation of ``../``."""
    parts = urlsplit(app.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest("GET", raw_path, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def secrets_of(app) -> dict[str, bytes]:
    """What each forbidden file would reveal if it were served."""
    return {
        "/etc/passwd": b"root:x:0:0",
        "history.sqlite3": b"SQLite format 3",
        "app.py": b"Kolors Playground",
        "key": SENTINEL.encode(),
    }


def forbidden_paths(app) -> list[str]:
    data = app.tmp / "data"
    cache = Path(app.cache_file).parent
    hops = "../" * 12
    paths = [
        "/etc/passwd", f"{hops}etc/passwd", f"{cache}/{hops}etc/passwd", f"{cache}/../../{data}/history.sqlite3",
        str(data / "history.sqlite3"), str(data / "history.sqlite3-wal"), f"{app.data_image}/../../history.sqlite3",
        str(data / "images"), str(data / "thumbs"), f"{data}/thumbs/../history.sqlite3", f"{data}/images/../history.sqlite3", "app.py", "./app.py", str(ROOT / "app.py"),
        ".env", "backends/http.py", f"{hops}{str(ROOT / 'app.py').lstrip('/')}", "/proc/self/environ",
        "/proc/self/cmdline", "/proc/self/cwd/app.py", f"/proc/{app.process.pid}/environ", "//etc/passwd",
        "/etc/passwd\x00.png", "~/.bashrc", "file:///etc/passwd", "http://127.0.0.1:1/", f"{app.emulator.server_url}/",
        f"http://localhost:{urlsplit(app.url).port}/config",
    ]
    return paths


NUL_PROXY = "/gradio_api/proxy=/etc/passwd%00.png"


def routes_for(path: str) -> list[str]:
    """Every way a path can be put to Gradio's file routes, encoded and not."""
    plain = path.replace("\x00", "%00")
    encoded = quote(path, safe="")
    routes = [
        f"/gradio_api/file={plain}", f"/gradio_api/file={encoded}", f"/gradio_api/file/{plain.lstrip('/')}",
        f"/file={plain}", f"/gradio_api/proxy={plain}",
    ]
    return [route for route in routes if route != NUL_PROXY]  # that one: test_a_nul_byte_in_a_proxy_url


def assert_not_served(app, raw_path: str) -> None:
    status, body = get(app, raw_path)
    assert status < 500, (raw_path, status, body[:200])
    for what, marker in secrets_of(app).items():
        assert marker not in body, f"{raw_path} served {what} (HTTP {status})"
    assert status not in (200, 206) or not body.strip(), (raw_path, status, body[:200])


def test_the_file_gradio_made_for_the_answer_is_served(served):
    status, body = get(served, f"/gradio_api/file={served.cache_file}")
    assert status == 200 and body.startswith(b"\x89PNG")  # so the refusals below are not a broken route
    assert Path(served.cache_file) == served.data_image.resolve() and body == served.data_image.read_bytes()


def test_nothing_outside_gradios_own_files_is_served(served):
    tried = 0
    for path in forbidden_paths(served):
        for raw in routes_for(path):
            assert_not_served(served, raw)
            tried += 1
    for prefix in ("/static", "/assets", "/svelte", "/gradio_api/static"):
        for tail in ("../../../../../../etc/passwd", "%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "..%2f..%2f..%2f..%2fetc%2fpasswd"):
            assert_not_served(served, f"{prefix}/{tail}")
            tried += 1
    assert tried >= 140
    assert "Traceback" not in served.log()


def test_a_nul_byte_in_a_proxy_url_is_refused_without_a_500(served):
    # Gradio 6.31's /proxy= route alone answers 500 with a traceback; ui/limits.py refuses the path first.
    status, body = get(served, NUL_PROXY)
    assert b"root:x:0:0" not in body
    assert status == 400, (status, body[:200])
    assert "Traceback" not in served.log()


def test_an_upload_named_with_dot_dot_stays_in_the_upload_folder(served, tmp_path):
    target = Path("/tmp") / f"escaped-{secrets.token_hex(6)}.txt"
    parts = urlsplit(served.url)
    boundary = "x" + secrets.token_hex(8)
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"../../../../..{target}\"\r\n"
        f"Content-Type: text/plain\r\n\r\nnot where it should be\r\n--{boundary}--\r\n"
    ).encode()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", "/gradio_api/upload", body=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        response = conn.getresponse()
        answer = response.read()
    finally:
        conn.close()
    assert response.status < 500, answer
    assert not target.exists()
    if response.status == 200:
        (stored,) = json.loads(answer)
        assert Path(stored).resolve().is_relative_to((served.tmp / "cache").resolve()), stored


def test_the_history_database_is_untouched_by_all_this(served):
    with sqlite3.connect(f"file:{served.tmp / 'data' / 'history.sqlite3'}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM generations").fetchone()[0] == 1
