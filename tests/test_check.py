"""``python app.py --check`` against the provider emulators: what it finds, what it spends, its exit code.

The same check against a real Xinference server is in tests/test_xinference.py.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from backends.check import cheapest_request, check_backend, pixel_difference, run_check
from backends.providers.dieyuyun import DIEYUYUN_CAPABILITIES
from tests.conftest import make_backend
from tests.emulators import render_image

ROOT = Path(__file__).resolve().parent.parent


def check(backend, **options):
    return asyncio.run(check_backend(backend, **options))


def test_the_cheapest_request_is_the_smallest_size_one_image_and_the_fewest_steps(openai_emulator):
    request = cheapest_request(make_backend("openai", openai_emulator).capabilities)
    assert (request.width, request.height, request.n, request.steps) == (256, 256, 1, 1)
    assert cheapest_request(DIEYUYUN_CAPABILITIES).size == "768x1024"


def test_pixels_are_compared_decoded_not_as_bytes():
    png = render_image(prompt="p", seed=1, width=64, height=64, fmt="png")
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "written by another tool")
    resaved = io.BytesIO()
    Image.open(io.BytesIO(png)).save(resaved, format="PNG", compress_level=0, pnginfo=info)
    other = render_image(prompt="p", seed=2, width=64, height=64, fmt="png")
    assert png != resaved.getvalue() and pixel_difference(png, resaved.getvalue()) == 0
    assert pixel_difference(png, other) > 10


def test_a_server_that_keeps_its_seeds_passes_with_one_image_and_two_more_for_the_seeds(openai_emulator):
    result = check(make_backend("openai", openai_emulator), seeds=True)
    assert result.status == "ok", result.line()
    assert "reachable, key accepted, 256x256 image" in result.line()
    assert "same seed, same pixels; next seed, other pixels" in result.line()
    sent = [r.json for r in openai_emulator.requests]
    assert [(body["size"], body["n"], body["num_inference_steps"]) for body in sent] == [("256x256", 1, 1)] * 3
    assert [body["seed"] for body in sent] == [1234, 1234, 1235]


def test_a_server_that_ignores_seeds_fails_with_the_fix(openai_emulator):
    openai_emulator.fault("ignore_seed", times=3)
    result = check(make_backend("openai", openai_emulator), seeds=True)
    assert result.status == "failed"
    assert "seed ignored: the same seed gave different images" in result.line()
    assert 'set dialect = "xinference"' in result.line()


def test_without_seeds_one_image_is_all_it_costs(openai_emulator):
    openai_emulator.fault("ignore_seed", times=3)
    result = check(make_backend("openai", openai_emulator))
    assert result.status == "ok" and len(openai_emulator.requests) == 1


def test_a_refused_key_and_an_unreachable_server_fail_and_say_which(openai_emulator):
    refused = check(make_backend("openai", openai_emulator, key="wrong-key"))
    assert refused.status == "failed" and "key refused" in refused.line()
    backend = make_backend("openai", openai_emulator)
    backend.base_url = "http://127.0.0.1:9/v1"
    backend.http = backend._make_http()
    unreachable = check(backend)
    assert unreachable.status == "failed" and "unreachable" in unreachable.line()


def test_a_paid_backend_is_only_reached_unless_allowed(dieyuyun_emulator):
    backend = make_backend("dieyuyun", dieyuyun_emulator)
    lines: list[str] = []
    assert run_check([backend], seeds=True, ask=None, out=lines.append) == 0
    assert dieyuyun_emulator.requests == []
    assert "Not generating on paid backends (dieyuyun at ¥0.01/image)" in lines[0]
    assert "paid: no image generated" in lines[1] and "reachable, key not verified (HTTP" in lines[1]
    assert lines[1].startswith("unverified dieyuyun")

    questions: list[str] = []
    assert run_check([backend], seeds=True, ask=lambda q: questions.append(q) or True, out=lines.append) == 0
    assert questions == ["Generate 3 small image(s) on each paid backend (dieyuyun at ¥0.01/image)? [y/N] "]
    assert len(dieyuyun_emulator.requests) == 3

    assert run_check([backend], yes=True, out=lines.append) == 0
    assert len(dieyuyun_emulator.requests) == 4


def test_unavailable_backends_are_skipped_not_failed(openai_emulator):
    backend = make_backend("openai", openai_emulator, key="")
    lines: list[str] = []
    assert run_check([backend], out=lines.append) == 0
    assert lines[0].startswith("skipped selfhosted") and "SELFHOSTED_KEY" in lines[0]
    assert lines[-1] == "1 backend(s): 0 ok, 0 failed, 1 skipped"


@pytest.mark.e2e  # runs python app.py
def test_app_check_exits_non_zero_on_a_server_that_ignores_seeds(tmp_path, openai_emulator, dieyuyun_emulator):
    endpoints = tmp_path / "backends.toml"
    endpoints.write_text(
        f'[[backend]]\nid = "selfhosted"\nlabel = "Self-hosted"\nbase_url = "{openai_emulator.base_url}"\n'
        'model = "kolors"\napi_key_env = "SELFHOSTED_KEY"\nsize_range = [256, 2048]\nresponse_format = "b64_json"\n'
    )
    openai_emulator.fault("ignore_seed", times=3)
    env = {
        key: value for key, value in os.environ.items()
        if not key.endswith(("_API_KEY", "_BASE_URL")) and key != "PLAYGROUND_BACKENDS"
    }
    env.update(
        PLAYGROUND_BACKENDS=str(endpoints), SELFHOSTED_KEY=openai_emulator.api_key, DIEYUYUN_API_KEY=dieyuyun_emulator.api_key,
        DIEYUYUN_BASE_URL=dieyuyun_emulator.base_url, PLAYGROUND_DATA_DIR=str(tmp_path / "data"),
    )
    done = subprocess.run(
        [sys.executable, "app.py", "--check", "--seeds", "--backend", "selfhosted", "--backend", "dieyuyun", "--backend", "segmind"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "no one to ask" in lines[0]
    assert lines[1].startswith("FAILED  selfhosted") and "seed ignored" in lines[1]
    assert lines[2].startswith("unverified dieyuyun") and "paid: no image generated" in lines[2]
    assert lines[3].startswith("skipped segmind") and "SEGMIND_API_KEY" in lines[3]
    assert lines[4] == "3 backend(s): 0 ok, 1 reachable but not verified, 1 failed, 1 skipped"
    assert dieyuyun_emulator.requests == []


def test_a_wrong_key_not_generated_on_is_never_ok(dieyuyun_emulator):
    """No one to ask, so no image: the wrong key and a wrong base URL that still answers are both
    'reachable, key not verified', never ok; exit 0 without --strict, 1 with it."""
    wrong_key = make_backend("dieyuyun", dieyuyun_emulator, key="wrong-key")
    lines: list[str] = []
    assert run_check([wrong_key], ask=None, out=lines.append) == 0
    assert lines[1].startswith("unverified dieyuyun") and "reachable, key not verified" in lines[1], lines
    assert not any(line.startswith("ok") for line in lines)
    assert lines[-1] == "1 backend(s): 0 ok, 1 reachable but not verified, 0 failed, 0 skipped"
    assert run_check([wrong_key], ask=None, out=lines.append, strict=True) == 1
    assert lines[-1] == "--strict: a check that could not be completed counts as failed."
    assert dieyuyun_emulator.requests == []
    # Allowed to generate, the same wrong key fails and says so.
    assert run_check([wrong_key], yes=True, out=lines.append, strict=True) == 1
    assert "key refused" in lines[-2]


def test_strict_passes_when_every_backend_generated(openai_emulator):
    lines: list[str] = []
    assert run_check([make_backend("openai", openai_emulator)], strict=True, out=lines.append) == 0
    assert lines[-1] == "1 backend(s): 1 ok, 0 failed, 0 skipped"


@pytest.mark.e2e  # runs python app.py
def test_app_check_strict_exits_1_on_a_wrong_key_it_did_not_try(tmp_path, dieyuyun_emulator):
    env = {
        key: value for key, value in os.environ.items()
        if not key.endswith(("_API_KEY", "_BASE_URL")) and key != "PLAYGROUND_BACKENDS"
    }
    env.update(DIEYUYUN_API_KEY="wrong-key", DIEYUYUN_BASE_URL=dieyuyun_emulator.base_url, PLAYGROUND_DATA_DIR=str(tmp_path / "data"))
    for strict, code in ((False, 0), (True, 1)):
        done = subprocess.run(
            [sys.executable, "app.py", "--check", "--backend", "dieyuyun", *(["--strict"] if strict else [])],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == code, done.stdout + done.stderr
        assert "reachable, key not verified" in done.stdout and "\nok " not in done.stdout
    assert dieyuyun_emulator.requests == []
