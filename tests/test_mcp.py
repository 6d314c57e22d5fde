"""The playground as an MCP server, driven by the official ``mcp`` client over streamable HTTP against the
launched app (PLAYGROUND_MCP=1) and the provider emulators."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time

import httpx
import pytest
from PIL import Image

mcp = pytest.importorskip("mcp")
from mcp import ClientSession  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def mcp_app(app_env, tmp_path_factory):
    from tests.app_harness import running_app

    folder = tmp_path_factory.mktemp("mcp")
    with running_app({**app_env, "PLAYGROUND_MCP": "1"}, data_dir=folder / "data", log_path=folder / "app.log") as app:
        yield app


@pytest.fixture(scope="module")
def hosted_mcp_app(app_env, tmp_path_factory):
    from tests.app_harness import running_app

    folder = tmp_path_factory.mktemp("mcp-hosted")
    env = {**app_env, "PLAYGROUND_MCP": "1", "PLAYGROUND_MODE": "hosted", "PLAYGROUND_QUOTA_PER_HOUR": "2",
           "PLAYGROUND_SECRET": "a-fixed-secret-for-the-test"}
    with running_app(env, data_dir=folder / "data", log_path=folder / "app.log") as app:
        yield app


async def session_call(url: str, work, headers=None):
    async with httpx.AsyncClient(headers=headers or {}, timeout=60) as http, \
            streamable_http_client(f"{url}gradio_api/mcp", http_client=http) as (read, write, _), \
            ClientSession(read, write) as session:
        await session.initialize()
        return await work(session)


def run(url, work, headers=None):
    return asyncio.run(session_call(url, work, headers))


def test_the_tools_describe_themselves(mcp_app):
    tools = run(mcp_app.url, lambda s: s.list_tools())
    by_name = {t.name: t for t in tools.tools}
    assert set(by_name) == {"generate", "compare"}
    schema = by_name["generate"].inputSchema
    assert schema["required"] == ["prompt"]
    properties = schema["properties"]
    assert all(p.get("description") for p in properties.values()), properties
    assert "dieyuyun" in json.dumps(properties["backend"]) and "segmind" in json.dumps(properties["backend"])
    assert "Leave it out for the chosen backend's own default" in properties["steps"]["description"]
    assert "Euler a = EulerAncestralDiscreteScheduler" in properties["scheduler"]["description"]
    assert {"integer"} <= {a.get("type") for a in properties["n"]["anyOf"]}
    assert "x_type" in by_name["compare"].inputSchema["properties"]


def test_generate_returns_the_image_and_the_settings_that_reproduce_it(mcp_app, segmind_emulator):
    started = time.perf_counter()
    result = run(mcp_app.url, lambda s: s.call_tool("generate", {"prompt": "a red kite", "backend": "segmind", "seed": 5}))
    seconds = time.perf_counter() - started
    print(f"MCP generate (session, initialize, call): {seconds:.2f} s")
    assert not result.isError, result.content
    image, text = result.content
    assert image.type == "image" and image.mimeType == "image/webp"
    assert Image.open(io.BytesIO(base64.b64decode(image.data))).size == (1024, 1024)
    answer = json.loads(text.text)
    assert answer["images"][0]["url"].startswith(mcp_app.url) and answer["images"][0]["caption"] == "seed 5"
    request = answer["info"]["request"]
    assert (request["seed"], request["steps"], request["guidance"], request["output_quality"]) == (5, 25, 6.0, 80)
    assert len(segmind_emulator.requests) == 1


def test_a_refused_value_is_a_tool_error_with_our_message(mcp_app, dieyuyun_emulator):
    result = run(mcp_app.url, lambda s: s.call_tool("generate", {"prompt": "x", "backend": "dieyuyun", "scheduler": "Euler a"}))
    assert result.isError and "dieyuyun (Kolors) has no such setting" in result.content[0].text
    assert dieyuyun_emulator.requests == []


def test_compare_returns_the_grid(mcp_app, dieyuyun_emulator):
    result = run(mcp_app.url, lambda s: s.call_tool("compare", {"prompt": "a kite", "x_type": "seed", "x_values": "2"}))
    assert not result.isError, result.content
    grid, text = result.content
    assert grid.mimeType == "image/png" and len(json.loads(text.text)["cells"]) == 2
    assert len(dieyuyun_emulator.requests) == 2


def test_in_hosted_mode_an_mcp_caller_is_a_visitor_under_the_quota(hosted_mcp_app, dieyuyun_emulator):
    """Quota 2 images an hour: the MCP caller gets two, then our quota message, and the provider saw two requests."""
    async def work(session):
        first = await session.call_tool("generate", {"prompt": "one", "n": 2})
        second = await session.call_tool("generate", {"prompt": "two"})
        return first, second

    first, second = run(hosted_mcp_app.url, work)
    assert not first.isError and [c.type for c in first.content] == ["image", "image", "text"]
    assert second.isError and "used this demo's 2 images for this hour" in second.content[0].text, second.content[0].text
    assert len(dieyuyun_emulator.requests) == 2  # one per image; none for the refused call

    # A REST caller is a new session but the same address: the same quota holds it.
    rest = httpx.post(f"{hosted_mcp_app.url}api/generate", json={"prompt": "four"}, timeout=60)
    assert rest.status_code == 422 and "used this demo's 2 images for this hour" in rest.json()["error"]
    assert len(dieyuyun_emulator.requests) == 2

    # The caller's own key, as a header: its own credits, so the quota does not count it.
    own = run(hosted_mcp_app.url, lambda s: s.call_tool("generate", {"prompt": "three"}),
              headers={"X-Provider-Key": dieyuyun_emulator.api_key})
    assert not own.isError, own.content
    assert len(dieyuyun_emulator.requests) == 3
    assert dieyuyun_emulator.requests[-1].headers["authorization"] == f"Bearer {dieyuyun_emulator.api_key}"
    assert dieyuyun_emulator.api_key not in hosted_mcp_app.log()

