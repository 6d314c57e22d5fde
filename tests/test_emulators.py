"""Self-tests of the provider emulators, over real HTTP: if these drift from the provider documents,
every contract test built on them proves nothing."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import time

import httpx
import pytest
from PIL import Image, ImageChops

from tests.emulators import (
    DIEYUYUN_SIZES,
    SEGMIND_SCHEDULERS,
    SILICONFLOW_SIZES,
    EmulatorServer,
    decompression_bomb_png,
    render_image,
    truncated,
)
from tests.emulators.common import FileStore, StoredFile

pytest_plugins = ["tests.emulators.fixtures"]

KEY = "test-key"
BEARER = {"Authorization": f"Bearer {KEY}"}


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT = _Omit()  # drop the field from the default body


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=10) as client:  # one client: building its TLS context costs ~50 ms
        yield client


def _body(defaults: dict, fields: dict) -> dict:
    merged = {**defaults, **fields}
    return {k: v for k, v in merged.items() if v is not OMIT}


def post_dieyuyun(client, emulator, **fields):
    body = _body(
        {"model": "Kwai-Kolors/Kolors", "prompt": "a red fox", "size": "720x1280", "seed": 1}, fields
    )
    return client.post(f"{emulator.base_url}/images/generations", json=body, headers=BEARER)


def post_openai(client, emulator, **fields):
    body = _body({"model": "kolors", "prompt": "a red fox", "size": "256x256", "seed": 1}, fields)
    return client.post(f"{emulator.base_url}/images/generations", json=body, headers=BEARER)


def post_siliconflow(client, emulator, **fields):
    body = _body(
        {"model": "Kwai-Kolors/Kolors", "prompt": "a red fox", "image_size": "720x1280", "seed": 1}, fields
    )
    return client.post(f"{emulator.base_url}/images/generations", json=body, headers=BEARER)


def post_segmind(client, emulator, **fields):
    body = _body({"prompt": "a red fox", "width": 512, "height": 512, "seed": 1}, fields)
    return client.post(f"{emulator.base_url}/v1/kolors", json=body, headers={"x-api-key": KEY})


def image_of(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def fetch_images(client, response) -> list[bytes]:
    payload = response.json()
    entries = payload["data"] if "data" in payload else payload["images"]
    return [client.get(entry["url"]).content for entry in entries]


# -- images ---------------------------------------------------------------------------------------


def test_render_image_is_deterministic_cheap_and_seed_sensitive():
    args = {"prompt": "fox", "width": 2048, "height": 2048}
    started = time.perf_counter()
    first = render_image(seed=1, extra="steps=3", **args)
    assert time.perf_counter() - started < 1.0
    assert render_image(seed=1, extra="steps=3", **args) == first
    other = image_of(render_image(seed=2, extra="steps=3", **args))
    mine = image_of(first)
    assert mine.size == (2048, 2048) and mine.format == "PNG"
    changed = ImageChops.difference(mine.convert("RGB"), other.convert("RGB")).getbbox()
    assert changed is not None and changed[2] - changed[0] > 1000  # visibly different, not one pixel
    assert render_image(seed=1, extra="steps=4", **args) != first
    assert image_of(render_image(seed=1, fmt="webp", **args)).format == "WEBP"
    assert image_of(render_image(seed=1, fmt="jpeg", **args)).format == "JPEG"


def test_decompression_bomb_is_small_and_trips_pillow():
    bomb = decompression_bomb_png()
    assert len(bomb) < 100_000
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(bomb))


def test_truncated_image_does_not_decode():
    data = render_image(prompt="fox", seed=1, width=256, height=256)
    assert len(truncated(data)) == len(data) // 2
    with pytest.raises(OSError):
        image_of(truncated(data))


def test_file_store_drops_the_oldest_past_its_limit():
    store = FileStore(limit=3)
    tokens = [store.put(StoredFile(bytes([i]), "image/png")) for i in range(5)]
    assert store.get(tokens[0]) is None and store.get(tokens[1]) is None
    assert store.get(tokens[4]).body == b"\x04"
    assert len(set(tokens)) == 5 and all(len(t) >= 20 for t in tokens)


def test_server_context_manager(client):
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("hi"))])
    with EmulatorServer(app) as server:
        assert server.base_url.startswith("http://127.0.0.1:") and not server.base_url.endswith("/")
        assert client.get(server.base_url + "/").text == "hi"
    with pytest.raises(httpx.ConnectError):
        client.get(server.base_url + "/")


# -- fixtures and auth ----------------------------------------------------------------------------


def test_fixture_base_urls(dieyuyun_emulator, openai_emulator, segmind_emulator, siliconflow_emulator):
    for emulator in (dieyuyun_emulator, openai_emulator, siliconflow_emulator):
        assert emulator.base_url.startswith("http://127.0.0.1:") and emulator.base_url.endswith("/v1")
    assert not segmind_emulator.base_url.endswith("/v1") and not segmind_emulator.base_url.endswith("/")
    assert {e.api_key for e in (dieyuyun_emulator, segmind_emulator, siliconflow_emulator)} == {KEY}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}])
def test_bearer_auth(client, dieyuyun_emulator, siliconflow_emulator, headers):
    body = {"model": "Kwai-Kolors/Kolors", "prompt": "fox"}
    answer = client.post(f"{dieyuyun_emulator.base_url}/images/generations", json=body, headers=headers)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_api_key"
    answer = client.post(f"{siliconflow_emulator.base_url}/images/generations", json=body, headers=headers)
    assert answer.status_code == 401 and set(answer.json()) == {"code", "message", "data"}


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}, BEARER])
def test_segmind_auth(client, segmind_emulator, headers):
    answer = client.post(f"{segmind_emulator.base_url}/v1/kolors", json={"prompt": "fox"}, headers=headers)
    assert answer.status_code == 401 and "error" in answer.json()


def test_requests_are_recorded_even_when_refused(client, dieyuyun_emulator):
    client.post(f"{dieyuyun_emulator.base_url}/images/generations", json={"prompt": "fox"})
    post_dieyuyun(client, dieyuyun_emulator)
    first, second = dieyuyun_emulator.requests
    assert (first.method, first.path, first.json) == ("POST", "/v1/images/generations", {"prompt": "fox"})
    assert "authorization" not in first.headers and second.headers["authorization"] == f"Bearer {KEY}"
    assert dieyuyun_emulator.image_fetches == 0


# -- validation -----------------------------------------------------------------------------------

DIEYUYUN_OK = [
    {"n": 1},
    {"n": 4},
    {"num_inference_steps": 1},
    {"num_inference_steps": 100},
    {"guidance_scale": 0},
    {"guidance_scale": 20},
    {"guidance_scale": 7},
    {"seed": 0},
    {"seed": 9_999_999_999},
    {"seed": OMIT},
    {"size": OMIT},
    {"size": "1280x720"},
    {"negative_prompt": ""},
    {"negative_prompt": "blurry"},
    {"response_format": "url"},
    {"response_format": "b64_json"},
    {"user": "someone"},
    {"prompt": "一只橘猫"},
]
DIEYUYUN_BAD = [
    ({"n": 0}, "n"),
    ({"n": 5}, "n"),
    ({"n": "2"}, "n"),
    ({"n": 1.0}, "n"),
    ({"n": True}, "n"),
    ({"n": None}, "n"),
    ({"num_inference_steps": 0}, "num_inference_steps"),
    ({"num_inference_steps": 101}, "num_inference_steps"),
    ({"num_inference_steps": 20.5}, "num_inference_steps"),
    ({"guidance_scale": -0.1}, "guidance_scale"),
    ({"guidance_scale": 20.01}, "guidance_scale"),
    ({"guidance_scale": "7.5"}, "guidance_scale"),
    ({"guidance_scale": True}, "guidance_scale"),
    ({"seed": -1}, "seed"),
    ({"seed": 10_000_000_000}, "seed"),
    ({"seed": "1"}, "seed"),
    ({"seed": True}, "seed"),
    ({"size": "512x512"}, "size"),
    ({"size": "1024*1024"}, "size"),
    ({"size": 1024}, "size"),
    ({"prompt": ""}, "prompt"),
    ({"prompt": "   "}, "prompt"),
    ({"prompt": OMIT}, "prompt"),
    ({"prompt": 5}, "prompt"),
    ({"model": OMIT}, "model"),
    ({"response_format": "png"}, "response_format"),
    ({"negative_prompt": None}, "negative_prompt"),
    ({"quality": "hd"}, "quality"),
    ({"batch_size": 2}, "batch_size"),
]


@pytest.mark.parametrize("fields", DIEYUYUN_OK, ids=repr)
def test_dieyuyun_accepts(client, dieyuyun_emulator, fields):
    answer = post_dieyuyun(client, dieyuyun_emulator, **fields)
    assert answer.status_code == 200, answer.text
    payload = answer.json()
    assert set(payload) == {"created", "data", "usage"} and isinstance(payload["created"], int)
    assert len(payload["data"]) == payload["usage"]["generated_images"] == fields.get("n", 1)
    assert payload["usage"]["total_tokens"] == 0


@pytest.mark.parametrize(("fields", "param"), DIEYUYUN_BAD, ids=repr)
def test_dieyuyun_rejects(client, dieyuyun_emulator, fields, param):
    answer = post_dieyuyun(client, dieyuyun_emulator, **fields)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == param and param in error["message"] and error["type"] == "invalid_request_error"


def test_dieyuyun_wrong_model_and_bodies(client, dieyuyun_emulator):
    answer = post_dieyuyun(client, dieyuyun_emulator, model="kolors")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "model_not_found"
    url = f"{dieyuyun_emulator.base_url}/images/generations"
    for content in (b"{not json", b"[1, 2]", b""):
        answer = client.post(url, content=content, headers={**BEARER, "content-type": "application/json"})
        assert answer.status_code == 400 and answer.json()["error"]["message"]
    assert client.get(url, headers=BEARER).status_code == 405
    assert client.post(f"{dieyuyun_emulator.base_url}/images/edits", headers=BEARER).status_code == 404


@pytest.mark.parametrize(
    ("size", "status"),
    [
        ("256x256", 200),
        ("2048x256", 200),
        ("255x256", 400),
        ("256x2049", 400),
        ("abcx12", 400),
        ("1024x", 400),
    ],
)
def test_openai_free_sizes(client, openai_emulator, size, status):
    answer = post_openai(client, openai_emulator, size=size)
    assert answer.status_code == status, answer.text


def test_openai_local_paths_unless_b64(client, openai_emulator):
    url = post_openai(client, openai_emulator).json()["data"][0]["url"]
    assert url.startswith("/tmp/") and url.endswith(".png")
    encoded = post_openai(client, openai_emulator, response_format="b64_json").json()["data"][0]["b64_json"]
    assert image_of(base64.b64decode(encoded)).size == (256, 256)
    assert post_openai(client, openai_emulator, model="Kwai-Kolors/Kolors").status_code == 404


SEGMIND_OK = [
    {"width": 2048},
    {"height": 2048},
    {"steps": 1},
    {"steps": 50},
    {"cfg": 0},
    {"cfg": 20},
    {"cfg": 6.5},
    {"seed": 0},
    {"seed": 2**32 - 1},
    {"seed": OMIT},
    {"scheduler": SEGMIND_SCHEDULERS[-1]},
    {"output_quality": 0},
    {"output_quality": 100},
    {"number_of_images": 10},
    {"base64": False},
    {"negative_prompt": "blurry"},
]
SEGMIND_BAD = [
    ({"width": 511}, "width"),
    ({"width": 2049}, "width"),
    ({"width": "1024"}, "width"),
    ({"width": 1024.0}, "width"),
    ({"height": 511}, "height"),
    ({"height": 2049}, "height"),
    ({"steps": 0}, "steps"),
    ({"steps": 51}, "steps"),
    ({"cfg": -0.5}, "cfg"),
    ({"cfg": 20.5}, "cfg"),
    ({"cfg": "6"}, "cfg"),
    ({"seed": -1}, "seed"),
    ({"seed": 2**32}, "seed"),
    ({"scheduler": "Euler"}, "scheduler"),
    ({"output_format": "jpeg"}, "output_format"),
    ({"output_quality": 101}, "output_quality"),
    ({"output_quality": -1}, "output_quality"),
    ({"number_of_images": 0}, "number_of_images"),
    ({"number_of_images": 11}, "number_of_images"),
    ({"base64": "yes"}, "base64"),
    ({"prompt": OMIT}, "prompt"),
    ({"prompt": ""}, "prompt"),
    ({"samples": 1}, "samples"),
    ({"model": "kolors"}, "model"),
]


@pytest.mark.parametrize("fields", SEGMIND_OK, ids=repr)
def test_segmind_accepts(client, segmind_emulator, fields):
    answer = post_segmind(client, segmind_emulator, **fields)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/webp"
    image = image_of(answer.content)
    assert image.size == (fields.get("width", 512), fields.get("height", 512))


@pytest.mark.parametrize(("fields", "param"), SEGMIND_BAD, ids=repr)
def test_segmind_rejects(client, segmind_emulator, fields, param):
    answer = post_segmind(client, segmind_emulator, **fields)
    assert answer.status_code == 400, answer.text
    assert set(answer.json()) == {"error"} and param in answer.json()["error"]


@pytest.mark.parametrize(
    ("fmt", "content_type", "pil"),
    [("webp", "image/webp", "WEBP"), ("jpg", "image/jpeg", "JPEG"), ("png", "image/png", "PNG")],
)
def test_segmind_output_formats(client, segmind_emulator, fmt, content_type, pil):
    answer = post_segmind(client, segmind_emulator, output_format=fmt)
    assert answer.headers["content-type"] == content_type and image_of(answer.content).format == pil


def test_segmind_form_body_as_the_docs_python_example_sends(client, segmind_emulator):
    form = {
        "prompt": "a red fox",
        "width": "512",
        "height": "512",
        "seed": "1",
        "cfg": "6",
        "steps": "25",
        "scheduler": "EulerDiscreteScheduler",
        "output_format": "webp",
        "output_quality": "80",
        "negative_prompt": "",
        "number_of_images": "1",
    }
    url = f"{segmind_emulator.base_url}/v1/kolors"
    answer = client.post(url, data=form, headers={"x-api-key": KEY})
    assert answer.status_code == 200 and answer.content == post_segmind(client, segmind_emulator).content
    assert segmind_emulator.requests[0].form["seed"] == "1" and segmind_emulator.requests[0].json is None
    multipart = client.post(url, data=form, files={"unused": ("x", b"")}, headers={"x-api-key": KEY})
    assert multipart.status_code == 200
    for name, text in (("width", "abc"), ("steps", "6.5"), ("base64", "maybe")):
        answer = client.post(url, data={**form, name: text}, headers={"x-api-key": KEY})
        assert answer.status_code == 400 and name in answer.json()["error"]


def test_segmind_methods_paths_and_credits(client, segmind_emulator):
    assert client.get(f"{segmind_emulator.base_url}/v1/kolors").status_code == 405
    missing = client.post(f"{segmind_emulator.base_url}/v1/nope", json={})
    assert missing.status_code == 404 and "error" in missing.json()
    first = float(post_segmind(client, segmind_emulator).headers["x-remaining-credits"])
    second = float(post_segmind(client, segmind_emulator).headers["x-remaining-credits"])
    assert first == 999.2 and second == pytest.approx(998.4)
    segmind_emulator.credits = 0.5
    refused = post_segmind(client, segmind_emulator)
    assert refused.status_code == 406 and refused.json() == {"error": "Not enough credits"}
    segmind_emulator.reset()
    assert segmind_emulator.credits == 1000.0


SILICONFLOW_OK = [{"image_size": size} for size in SILICONFLOW_SIZES] + [
    {"batch_size": 4},
    {"num_inference_steps": 1},
    {"num_inference_steps": 100},
    {"guidance_scale": 0},
    {"guidance_scale": 20},
    {"seed": 9_999_999_999},
    {"seed": OMIT},
    {"negative_prompt": "blurry"},
]
SILICONFLOW_BAD = [
    ({"image_size": "1280x720"}, "image_size"),
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": 5}, "batch_size"),
    ({"num_inference_steps": 101}, "num_inference_steps"),
    ({"guidance_scale": 20.5}, "guidance_scale"),
    ({"seed": 10_000_000_000}, "seed"),
    ({"seed": -1}, "seed"),
    ({"n": 2}, "n"),
    ({"size": "1024x1024"}, "size"),
    ({"prompt": OMIT}, "prompt"),
    ({"batch_size": "2"}, "batch_size"),
]


@pytest.mark.parametrize("fields", SILICONFLOW_OK, ids=repr)
def test_siliconflow_accepts(client, siliconflow_emulator, fields):
    answer = post_siliconflow(client, siliconflow_emulator, **fields)
    assert answer.status_code == 200, answer.text
    payload = answer.json()
    assert len(payload["images"]) == fields.get("batch_size", 1)
    assert isinstance(payload["timings"]["inference"], float) and isinstance(payload["seed"], int)


@pytest.mark.parametrize(("fields", "param"), SILICONFLOW_BAD, ids=repr)
def test_siliconflow_rejects(client, siliconflow_emulator, fields, param):
    answer = post_siliconflow(client, siliconflow_emulator, **fields)
    assert answer.status_code == 400, answer.text
    assert (
        answer.json()["code"] == 20015 and param in answer.json()["message"] and answer.json()["data"] is None
    )


def test_siliconflow_wrong_model(client, siliconflow_emulator):
    answer = post_siliconflow(client, siliconflow_emulator, model="Kwai-Kolors/Kolors-v2")
    assert answer.status_code == 400 and answer.json()["code"] == 20012


# -- determinism and batches ----------------------------------------------------------------------


def test_same_inputs_same_bytes_other_inputs_other_bytes(
    client, dieyuyun_emulator, segmind_emulator, siliconflow_emulator
):
    def dieyuyun(**fields):
        return fetch_images(client, post_dieyuyun(client, dieyuyun_emulator, **fields))[0]

    base = dieyuyun()
    assert dieyuyun() == base
    for change in (
        {"seed": 2},
        {"prompt": "a blue fox"},
        {"negative_prompt": "x"},
        {"num_inference_steps": 21},
        {"guidance_scale": 7.0001},
        {"size": "1280x720"},
    ):
        assert dieyuyun(**change) != base, change
    assert dieyuyun(guidance_scale=7.5) == base  # the default, said or not

    base = post_segmind(client, segmind_emulator).content
    assert post_segmind(client, segmind_emulator).content == base
    for change in ({"seed": 2}, {"scheduler": SEGMIND_SCHEDULERS[2]}, {"cfg": 5}, {"steps": 24}):
        assert post_segmind(client, segmind_emulator, **change).content != base, change

    siliconflow = fetch_images(client, post_siliconflow(client, siliconflow_emulator))
    assert fetch_images(client, post_siliconflow(client, siliconflow_emulator)) == siliconflow


def test_missing_seed_draws_one_and_siliconflow_reports_it(client, siliconflow_emulator, dieyuyun_emulator):
    answer = post_siliconflow(client, siliconflow_emulator, seed=OMIT)
    drawn = answer.json()["seed"]
    assert 0 <= drawn <= 9_999_999_999
    assert fetch_images(client, answer) == fetch_images(
        client, post_siliconflow(client, siliconflow_emulator, seed=drawn)
    )
    assert fetch_images(client, post_dieyuyun(client, dieyuyun_emulator, seed=OMIT)) != fetch_images(
        client, post_dieyuyun(client, dieyuyun_emulator, seed=OMIT)
    )


def test_batch_image_i_is_not_seed_plus_i_alone(client, dieyuyun_emulator, siliconflow_emulator):
    """Why the playground sends n single-image calls: a batch draws all noise from one generator."""
    batch = fetch_images(client, post_dieyuyun(client, dieyuyun_emulator, seed=10, n=3))
    alone = [fetch_images(client, post_dieyuyun(client, dieyuyun_emulator, seed=10 + i))[0] for i in range(3)]
    assert len(set(batch)) == 3
    assert batch[0] == alone[0]  # the first latent of the generator is the same as a single image's
    assert batch[1] != alone[1] and batch[2] != alone[2]

    batch = fetch_images(client, post_siliconflow(client, siliconflow_emulator, seed=10, batch_size=2))
    alone = fetch_images(client, post_siliconflow(client, siliconflow_emulator, seed=11))
    assert batch[1] != alone[0]


# -- image URLs -----------------------------------------------------------------------------------


def test_image_urls_serve_png_count_fetches_and_expire(client, dieyuyun_emulator):
    url = post_dieyuyun(client, dieyuyun_emulator).json()["data"][0]["url"]
    assert url.startswith(dieyuyun_emulator.base_url.removesuffix("/v1") + "/files/")
    answer = client.get(url)
    assert answer.headers["content-type"] == "image/png" and image_of(answer.content).size == (720, 1280)
    assert dieyuyun_emulator.image_fetches == 1
    dieyuyun_emulator.expire_all()
    assert client.get(url).status_code == 404
    assert dieyuyun_emulator.image_fetches == 2


# -- faults ---------------------------------------------------------------------------------------


def test_fault_arguments_are_checked(segmind_emulator):
    with pytest.raises(ValueError):
        segmind_emulator.fault("gremlins")
    with pytest.raises(TypeError):
        segmind_emulator.fault("status")
    with pytest.raises(TypeError):
        segmind_emulator.fault("slow", secs=1)
    with pytest.raises(ValueError):
        segmind_emulator.fault("expired_url")


def test_status_fault_plays_after_auth_and_validation_for_times_requests(client, dieyuyun_emulator):
    dieyuyun_emulator.fault("status", times=2, status=429, headers={"Retry-After": "3"})
    assert client.post(f"{dieyuyun_emulator.base_url}/images/generations", json={}).status_code == 401
    assert post_dieyuyun(client, dieyuyun_emulator, n=9).status_code == 400
    for _ in range(2):
        answer = post_dieyuyun(client, dieyuyun_emulator)
        assert answer.status_code == 429 and answer.headers["retry-after"] == "3"
        assert answer.json()["error"]["code"] == "rate_limit_exceeded"
    assert post_dieyuyun(client, dieyuyun_emulator).status_code == 200


def test_status_fault_bodies(client, segmind_emulator, siliconflow_emulator):
    segmind_emulator.fault("status", status=500)
    answer = post_segmind(client, segmind_emulator)
    assert answer.status_code == 500 and set(answer.json()) == {"error"}
    segmind_emulator.fault("status", status=502, body="<html><body>502 Bad Gateway</body></html>")
    answer = post_segmind(client, segmind_emulator)
    assert answer.status_code == 502 and answer.headers["content-type"].startswith("text/html")
    siliconflow_emulator.fault("status", status=503, body={"code": 50505, "message": "busy", "data": None})
    answer = post_siliconflow(client, siliconflow_emulator)
    assert answer.status_code == 503 and answer.json()["code"] == 50505


def test_content_policy_fault_in_each_shape(
    client, dieyuyun_emulator, segmind_emulator, siliconflow_emulator
):
    dieyuyun_emulator.fault("content_policy")
    answer = post_dieyuyun(client, dieyuyun_emulator)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "content_policy_violation"
    segmind_emulator.fault("content_policy")
    answer = post_segmind(client, segmind_emulator)
    assert answer.status_code == 400 and "safety" in answer.json()["error"]
    siliconflow_emulator.fault("content_policy")
    answer = post_siliconflow(client, siliconflow_emulator)
    assert answer.status_code == 400 and "safety" in answer.json()["message"]


def test_slow_fault_and_latency(client, segmind_emulator):
    segmind_emulator.fault("slow", seconds=0.3)
    started = time.perf_counter()
    assert post_segmind(client, segmind_emulator).status_code == 200
    assert time.perf_counter() - started >= 0.3
    segmind_emulator.latency = 0.2
    started = time.perf_counter()
    post_segmind(client, segmind_emulator)
    assert time.perf_counter() - started >= 0.2
    segmind_emulator.reset()
    assert segmind_emulator.latency == 0.0


def test_malformed_json_fault(client, siliconflow_emulator):
    siliconflow_emulator.fault("malformed_json")
    answer = post_siliconflow(client, siliconflow_emulator)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        answer.json()


def test_truncated_image_fault(client, dieyuyun_emulator, segmind_emulator):
    dieyuyun_emulator.fault("truncated_image")
    answer = client.get(post_dieyuyun(client, dieyuyun_emulator).json()["data"][0]["url"])
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    with pytest.raises(OSError):
        image_of(answer.content)
    segmind_emulator.fault("truncated_image")
    with pytest.raises(OSError):
        image_of(post_segmind(client, segmind_emulator).content)


def test_truncated_image_fault_in_b64_json(client, openai_emulator):
    openai_emulator.fault("truncated_image")
    encoded = post_openai(client, openai_emulator, response_format="b64_json").json()["data"][0]["b64_json"]
    with pytest.raises(OSError):
        image_of(base64.b64decode(encoded))


def test_non_image_fault(client, siliconflow_emulator, segmind_emulator):
    siliconflow_emulator.fault("non_image")
    answer = client.get(post_siliconflow(client, siliconflow_emulator).json()["images"][0]["url"])
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    segmind_emulator.fault("non_image")
    answer = post_segmind(client, segmind_emulator)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("status", [403, 404])
def test_expired_url_fault(client, dieyuyun_emulator, status):
    dieyuyun_emulator.fault("expired_url", status=status)
    urls = [item["url"] for item in post_dieyuyun(client, dieyuyun_emulator, n=2).json()["data"]]
    assert [client.get(url).status_code for url in urls] == [status, status]


def test_huge_image_fault(client, segmind_emulator, siliconflow_emulator):
    segmind_emulator.fault("huge_image")
    answer = post_segmind(client, segmind_emulator)
    assert answer.headers["content-type"] == "image/png"
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(answer.content))
    siliconflow_emulator.fault("huge_image")
    url = post_siliconflow(client, siliconflow_emulator).json()["images"][0]["url"]
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(client.get(url).content))


def _read_until_timeout(url: str, **request) -> bytes:
    received = b""
    with (
        httpx.Client(timeout=httpx.Timeout(5, read=0.2)) as slow_client,
        pytest.raises(httpx.ReadTimeout),
        slow_client.stream(url=url, **request) as answer,
    ):
        assert answer.status_code == 200
        for piece in answer.iter_raw():
            received += piece
    return received


def test_slow_body_fault_on_the_response(client, segmind_emulator):
    segmind_emulator.fault("slow_body")
    received = _read_until_timeout(
        f"{segmind_emulator.base_url}/v1/kolors",
        method="POST",
        json={"prompt": "fox", "width": 512, "height": 512},
        headers={"x-api-key": KEY},
    )
    assert 0 < len(received) < 64
    started = time.perf_counter()
    assert post_segmind(client, segmind_emulator).status_code == 200
    assert time.perf_counter() - started < 1


def test_slow_body_fault_on_the_image_url_does_not_block_others(client, siliconflow_emulator):
    siliconflow_emulator.fault("slow_body", interval=0.5)
    url = post_siliconflow(client, siliconflow_emulator).json()["images"][0]["url"]
    with httpx.Client(timeout=5) as slow_client, slow_client.stream("GET", url) as stalled:
        next(stalled.iter_raw())  # the stream is open and stalling
        started = time.perf_counter()
        assert post_siliconflow(client, siliconflow_emulator).status_code == 200
        assert time.perf_counter() - started < 1
    assert _read_until_timeout(url, method="GET").startswith(b"\x89PNG")


# -- the command line -----------------------------------------------------------------------------


def test_command_line_runs_one_emulator(client):
    command = [
        sys.executable,
        "-m",
        "tests.emulators",
        "--provider",
        "dieyuyun",
        "--port",
        "0",
        "--api-key",
        "k2",
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            line = process.stdout.readline().split()
            assert line[0] == "ready" and line[1].endswith("/v1")
            body = {"model": "Kwai-Kolors/Kolors", "prompt": "fox", "size": DIEYUYUN_SIZES[0]}
            answer = client.post(
                f"{line[1]}/images/generations", json=body, headers={"Authorization": "Bearer k2"}
            )
            assert answer.status_code == 200
        finally:
            process.terminate()
            assert process.wait(timeout=10) == 0
