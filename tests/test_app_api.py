"""The launched app end to end through gradio_client: the public /generate endpoint, history written
to SQLite and PNG metadata, and clear errors for bad input."""

from __future__ import annotations

import io
import sqlite3
from urllib.parse import unquote

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

from backends.history import read_image_parameters


@pytest.fixture
def client(launched_app):
    return Client(launched_app.url, verbose=False)


def test_generate_endpoint_takes_keywords_and_returns_gallery_and_info(client, launched_app, dieyuyun_emulator):
    gallery, info = client.predict(
        backend="dieyuyun", prompt="一只橘猫坐在窗台上看雨", negative_prompt="blurry", size="768x1024", n=2, seed=42,
        steps=25, guidance=6.5, api_name="/generate",
    )
    assert info["backend"] == "dieyuyun" and info["seeds"] == [42, 43] and info["elapsed_s"] > 0
    assert info["cost"] == "¥0.02" and info["generation_id"]
    assert [item["caption"] for item in gallery] == ["seed 42", "seed 43"]
    for item, seed in zip(gallery, (42, 43)):
        with open(item["image"], "rb") as handle:
            data = handle.read()
        assert Image.open(io.BytesIO(data)).size == (768, 1024)
        restored = read_image_parameters(data)  # the downloaded file keeps its metadata
        assert (restored.prompt, restored.seed, restored.steps, restored.guidance) == ("一只橘猫坐在窗台上看雨", seed, 25, 6.5)
        assert restored.backend_id == "dieyuyun" and f"Seed: {seed}" in Image.open(io.BytesIO(data)).text["parameters"]
    with sqlite3.connect(launched_app.data_dir / "history.sqlite3") as db:
        assert db.execute(
            "select count(*), max(seed), max(n) from generations where id = ?", (info["generation_id"],)
        ).fetchone() == (1, 42, 2)


def test_the_same_call_gives_the_same_pixels(client):
    first, _ = client.predict(backend="siliconflow", prompt="a teapot", seed=7, api_name="/generate")
    second, _ = client.predict(backend="siliconflow", prompt="a teapot", seed=7, api_name="/generate")
    pixels = [Image.open(item[0]["image"]).tobytes() for item in (first, second)]
    assert pixels[0] == pixels[1]


def test_random_seed_is_drawn_and_reported(client):
    _, info = client.predict(backend="segmind", prompt="a kite", size="512x512", seed=-1, api_name="/generate")
    assert info["seeds"][0] >= 0 and info["request"]["seed"] == info["seeds"][0]


def test_segmind_options_pass_through(client, segmind_emulator):
    _, info = client.predict(
        backend="segmind", prompt="a kite", size="640x512", scheduler="UniPCMultistepScheduler", output_format="png",
        output_quality=90, steps=12, guidance=4, seed=3, api_name="/generate",
    )
    sent = segmind_emulator.requests[-1].json
    assert (sent["scheduler"], sent["output_format"], sent["output_quality"], sent["steps"], sent["cfg"]) == (
        "UniPCMultistepScheduler", "png", 90, 12, 4.0,
    )
    assert info["provider"]["remaining_credits"] > 0


@pytest.mark.parametrize(
    "values, field",
    [
        ({"backend": "nope"}, "backend"),
        ({"backend": "dieyuyun", "size": "1000x1000"}, "size"),
        ({"backend": "dieyuyun", "steps": 500}, "steps"),
        ({"backend": "segmind", "scheduler": "Fancy"}, "scheduler"),
        ({"backend": "dieyuyun", "prompt": ""}, "prompt"),
    ],
)
def test_bad_input_gets_a_message_naming_the_field_and_no_provider_call(client, values, field, dieyuyun_emulator, segmind_emulator):
    with pytest.raises(AppError) as info:
        client.predict(**{"prompt": "x", **values}, api_name="/generate")
    message = str(info.value)
    assert field in message and "Traceback" not in message
    assert dieyuyun_emulator.requests == [] and segmind_emulator.requests == []


def test_a_provider_failure_is_explained_and_saved(client, launched_app, dieyuyun_emulator):
    dieyuyun_emulator.fault("status", status=401, times=1)
    with pytest.raises(AppError, match=r"refused the API key.*DIEYUYUN_API_KEY"):
        client.predict(backend="dieyuyun", prompt="a refused key", api_name="/generate")
    with sqlite3.connect(launched_app.data_dir / "history.sqlite3") as db:
        assert db.execute("select status from generations where prompt = 'a refused key'").fetchall() == [("failed",)]
    _, info = client.predict(backend="dieyuyun", prompt="x", api_name="/generate")  # and the app serves on
    assert len(info["seeds"]) == 1


def test_a_partial_failure_returns_the_rest(client, dieyuyun_emulator):
    dieyuyun_emulator.fault("content_policy", times=1)
    gallery, info = client.predict(backend="dieyuyun", prompt="x", n=3, seed=10, api_name="/generate")
    assert len(gallery) == 2 and len(info["failures"]) == 1
    assert sorted(info["seeds"] + [info["failures"][0]["seed"]]) == [10, 11, 12]


def test_only_generate_and_compare_are_public(client):
    assert list(client.view_api(return_format="dict", print_info=False)["named_endpoints"]) == ["/generate", "/compare"]


def test_gallery_files_are_served_in_place_not_copied(launched_app):
    """The gallery's URLs name the stored files themselves (no hashed copy in Gradio's cache per
    update), and what they serve is the stored file, metadata included."""
    client = Client(launched_app.url, verbose=False, download_files=False)
    gallery, info = client.predict(backend="dieyuyun", prompt="served in place", n=2, seed=5, api_name="/generate")
    images_dir = (launched_app.data_dir / "images").resolve()
    with sqlite3.connect(launched_app.data_dir / "history.sqlite3") as db:
        names = [row[0] for row in db.execute(
            "select file_name from images where generation_id = ? order by idx", (info["generation_id"],)
        )]
    assert len(names) == 2
    for item, name in zip(gallery, names):
        url = item["image"]["url"]
        assert unquote(url).endswith(f"file={images_dir / name}"), url
        served = httpx.get(url, timeout=10)
        assert served.status_code == 200 and served.content == (images_dir / name).read_bytes()


def test_generate_takes_a_preset_by_name(client, dieyuyun_emulator):
    _, info = client.predict(backend="dieyuyun", prompt="一只白鹭", preset="水墨画", api_name="/generate")
    assert info["request"]["prompt"].startswith("一只白鹭，中国水墨画") and info["request"]["width"] == 768
    assert dieyuyun_emulator.requests[-1].json["prompt"] == info["request"]["prompt"]
    with pytest.raises(AppError, match="preset"):
        client.predict(backend="dieyuyun", prompt="x", preset="no such style", api_name="/generate")


def test_left_out_settings_are_each_backends_own(client, segmind_emulator, siliconflow_emulator):
    """Only a backend and a prompt: Segmind gets its documented 25 steps, cfg 6, webp at quality 80 (the
    default backend's 20 / 7.5 and quality 0 before), SiliconFlow its 20 / 7.5."""
    _, info = client.predict(backend="segmind", prompt="a kite", api_name="/generate")
    sent = segmind_emulator.requests[-1].json
    assert (sent["steps"], sent["cfg"], sent["output_format"], sent["output_quality"], sent["scheduler"]) == (
        25, 6.0, "webp", 80, "EulerDiscreteScheduler")
    assert (sent["width"], sent["height"]) == (1024, 1024) and info["request"]["steps"] == 25
    client.predict(backend="siliconflow", prompt="a kite", api_name="/generate")
    sent = siliconflow_emulator.requests[-1].json
    assert (sent["num_inference_steps"], sent["guidance_scale"], sent["image_size"]) == (20, 7.5, "1024x1024")


def test_an_a1111_sampler_name_reaches_segmind_in_its_spelling(client, segmind_emulator):
    _, info = client.predict(backend="segmind", prompt="a kite", scheduler="Euler a", api_name="/generate")
    assert segmind_emulator.requests[-1].json["scheduler"] == "EulerAncestralDiscreteScheduler"
    assert info["request"]["scheduler"] == "EulerAncestralDiscreteScheduler"


@pytest.mark.parametrize("option, value", [("scheduler", "Euler a"), ("output_format", "png"), ("output_quality", 90)])
def test_a_setting_the_backend_lacks_is_refused_by_name_not_dropped(client, dieyuyun_emulator, option, value):
    with pytest.raises(AppError) as info:
        client.predict(backend="dieyuyun", prompt="x", api_name="/generate", **{option: value})
    message = str(info.value)
    assert option in message and "dieyuyun (Kolors) has no such setting" in message, message
    assert dieyuyun_emulator.requests == []


def test_the_api_describes_every_parameter(launched_app):
    """/gradio_api/info, which the API page and view_api() read: a description a caller can act on for every
    parameter, whole numbers typed integer, every choice parameter listing its values."""
    info = httpx.get(f"{launched_app.url}gradio_api/info", timeout=10).json()["named_endpoints"]
    assert list(info) == ["/generate", "/compare"]
    for name, endpoint in info.items():
        assert "Args:" not in endpoint["description"] and len(endpoint["description"]) > 60
        for parameter in endpoint["parameters"]:
            described = parameter["python_type"]["description"]
            assert len(described) > 25 and described == parameter["type"]["description"], (name, parameter)
            if parameter["type"].get("enum") is not None:
                assert parameter["type"]["enum"], (name, parameter["parameter_name"])
    generate = {p["parameter_name"]: p for p in info["/generate"]["parameters"]}
    for name in ("n", "seed", "steps", "output_quality"):
        assert generate[name]["type"]["type"] == "integer", name
    assert generate["guidance"]["type"]["type"] == "number"
    for name in ("steps", "guidance", "scheduler", "output_format", "output_quality", "size"):
        assert generate[name]["parameter_default"] is None and "backend's own default" in generate[name]["python_type"]["description"]
    assert "segmind 1-50, default 25" in generate["steps"]["python_type"]["description"]
    assert {"Euler a", "EulerAncestralDiscreteScheduler"} <= set(generate["scheduler"]["type"]["enum"])
    assert generate["output_format"]["type"]["enum"] == ["webp", "jpg", "png"]
    compare = {p["parameter_name"]: p for p in info["/compare"]["parameters"]}
    assert compare["x_type"]["type"]["enum"] == ["seed", "guidance", "steps", "scheduler", "size", "backend", "prompt_sr"]
    assert compare["y_type"]["type"]["enum"][-1] == "none"
    listing = Client(launched_app.url, verbose=False).view_api(print_info=False, return_format="str")
    assert "n: int | None" in listing or "n: int" in listing
    assert "Leave it out for the chosen backend's own default" in listing
