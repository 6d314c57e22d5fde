"""REST for curl against the launched app: the README's curl lines run verbatim with the real ``curl``
binary, and every answer, good or bad, is one JSON object with URLs and our messages."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

README = Path(__file__).resolve().parent.parent / "README.md"

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl binary")]


def readme_curl_commands() -> list[str]:
    """The commands of the README's block after ``<!-- rest-examples -->``, continuation lines joined."""
    text = README.read_text()
    block = re.search(r"<!-- rest-examples -->\s*```bash\n(.*?)```", text, re.S)
    assert block, "README lost its rest-examples block"
    return [c.strip() for c in block[1].replace("\\\n", " ").splitlines() if c.strip()]


def run_curl(command: str, url: str) -> tuple[dict, float]:
    assert command.startswith("curl ") and "http://127.0.0.1:7860/" in command
    started = time.perf_counter()
    done = subprocess.run(command.replace("http://127.0.0.1:7860/", url), shell=True, capture_output=True, text=True, timeout=60)
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), elapsed


def test_the_readme_curl_examples_run_as_written(launched_app, segmind_emulator, dieyuyun_emulator):
    generate, compare, refused = readme_curl_commands()
    answer, seconds = run_curl(generate, launched_app.url)
    print(f"README curl /api/generate: {seconds:.2f} s")
    assert set(answer) == {"images", "info"} and len(answer["images"]) == 1
    image = answer["images"][0]
    assert image["caption"] == "seed 42" and image["url"].startswith(launched_app.url)
    assert httpx.get(image["url"], timeout=10).status_code == 200
    request = answer["info"]["request"]
    assert (request["steps"], request["guidance"], request["output_format"], request["output_quality"]) == (25, 6.0, "webp", 80)
    # URLs, no "path" fields; Gradio's file URL itself still names the stored file (``file=<path>``).
    assert '"path"' not in json.dumps(answer) and image["url"].startswith(f"{launched_app.url}gradio_api/file=")

    answer, seconds = run_curl(compare, launched_app.url)
    print(f"README curl /api/compare: {seconds:.2f} s")
    assert set(answer) == {"grid", "cells", "info"} and len(answer["cells"]) == 2
    assert httpx.get(answer["grid"]["url"], timeout=10).headers["content-type"] == "image/png"
    assert [c["url"] is not None for c in answer["cells"]] == [True, True]
    assert len(segmind_emulator.requests) == 3  # one image, two cells

    answer, _ = run_curl(refused, launched_app.url)
    assert set(answer) == {"error"} and "steps: 500 is not allowed" in answer["error"] and "1 to 100" in answer["error"]
    assert dieyuyun_emulator.requests == []


def test_only_a_prompt_is_enough(launched_app, dieyuyun_emulator):
    answer = httpx.post(f"{launched_app.url}api/generate", json={"prompt": "a teapot"}, timeout=60)
    assert answer.status_code == 200 and len(answer.json()["images"]) == 1
    assert len(dieyuyun_emulator.requests) == 1  # the default backend, its own defaults


@pytest.mark.parametrize(
    "body, status, words",
    [
        (b"not json", 400, "must be a JSON object"),
        (b"[1, 2]", 400, "must be a JSON object"),
        (b'{"prompt": "x", "colour": "red"}', 422, "Unknown field colour: /api/generate takes backend, prompt"),
        (b'{"prompt": ""}', 422, "prompt"),
        (b'{"backend": "nope", "prompt": "x"}', 422, "backend"),
        (b'{"backend": "dieyuyun", "prompt": "x", "scheduler": "Euler a"}', 422, "dieyuyun (Kolors) has no such setting"),
    ],
)
def test_every_refusal_is_our_message_in_json(launched_app, dieyuyun_emulator, body, status, words):
    answer = httpx.post(f"{launched_app.url}api/generate", content=body, headers={"content-type": "application/json"}, timeout=60)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error and words in error and "Traceback" not in error, error
    assert dieyuyun_emulator.requests == []


def test_a_provider_failure_is_our_message_too(launched_app, dieyuyun_emulator):
    dieyuyun_emulator.fault("status", status=401, times=1)
    answer = httpx.post(f"{launched_app.url}api/generate", json={"backend": "dieyuyun", "prompt": "x"}, timeout=60)
    assert answer.status_code == 422 and "DIEYUYUN_API_KEY" in answer.json()["error"]


def test_refusals_speak_chinese_when_asked(launched_app):
    answer = httpx.post(f"{launched_app.url}api/compare", json={"colour": 1}, headers={"accept-language": "zh-CN"}, timeout=60)
    assert answer.status_code == 422 and answer.json()["error"].startswith("未知字段 colour：/api/compare")


@pytest.fixture(scope="module")
def hosted_rest_app(app_env, tmp_path_factory):
    from tests.app_harness import running_app

    folder = tmp_path_factory.mktemp("rest-hosted")
    env = {**app_env, "PLAYGROUND_MODE": "hosted", "PLAYGROUND_QUOTA_PER_HOUR": "1",
           "PLAYGROUND_SECRET": "a-fixed-secret-for-the-test"}
    with running_app(env, data_dir=folder / "data", log_path=folder / "app.log") as app:
        yield app


def from_address(address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.x.y.z reaches the app on Linux's loopback)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=60)


def test_in_hosted_mode_each_rest_caller_is_counted_by_its_own_address(hosted_rest_app, dieyuyun_emulator):
    """Quota 1 image an hour. The JSON route calls the endpoint over the loopback, yet each caller is counted
    as the address it connected from (before, all were 127.0.0.1: the first caller's image refused everyone
    else's); a forged relay header on Gradio's own route is not believed."""
    url = f"{hosted_rest_app.url}api/generate"
    with from_address("127.0.0.2") as first, from_address("127.0.0.3") as second:
        assert first.post(url, json={"prompt": "one"}).status_code == 200
        refused = first.post(url, json={"prompt": "two"})
        assert refused.status_code == 422 and "used this demo's 1 images for this hour" in refused.json()["error"]
        assert second.post(url, json={"prompt": "three"}).status_code == 200
        assert len(dieyuyun_emulator.requests) == 2

        # Gradio's own route, from the first address, claiming to be a relay for another: still the first.
        forged = {"x-playground-relay": "guess", "x-playground-relayed-peer": "127.0.0.9"}
        event = first.post(f"{hosted_rest_app.url}gradio_api/call/v2/generate", json={"prompt": "four"},
                           headers=forged).json()["event_id"]
        stream = first.get(f"{hosted_rest_app.url}gradio_api/call/generate/{event}").text
        assert "event: error" in stream and "1 images for this hour" in stream, stream
    assert len(dieyuyun_emulator.requests) == 2


def test_many_callers_at_once_all_get_their_images(launched_app, dieyuyun_emulator):
    """More REST calls at once than the event loop's default thread pool has threads (min(32, CPUs + 4)):
    each waits for its loopback call in a pool of its own, so the endpoints' own work in the default pool
    still runs (sharing it, 6 calls on 2 CPUs would hold every thread and wait for ever)."""
    from concurrent.futures import ThreadPoolExecutor

    calls = 12
    started = time.perf_counter()
    with ThreadPoolExecutor(calls) as pool:
        answers = list(pool.map(
            lambda i: httpx.post(f"{launched_app.url}api/generate", json={"prompt": f"caller {i}"}, timeout=90),
            range(calls),
        ))
    seconds = time.perf_counter() - started
    print(f"{calls} REST calls at once: {seconds:.2f} s")
    assert [a.status_code for a in answers] == [200] * calls
    assert len(dieyuyun_emulator.requests) == calls


def test_mcp_is_off_unless_asked(launched_app):
    """Without PLAYGROUND_MCP (or --mcp) there is no MCP route (tests/test_mcp.py turns it on)."""
    assert httpx.post(f"{launched_app.url}gradio_api/mcp", json={}, timeout=10).status_code in (404, 405)
