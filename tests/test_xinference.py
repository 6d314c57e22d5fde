"""The playground against a real Xinference cluster: a supervisor and a worker on loopback serving a tiny
Kolors saved to disk (tests/xinference/cluster.py), driven through the running app and gradio_client.

What this proves: the request dialect reaches Xinference's pipeline (seeds, negative prompt, steps),
batches are reproducible image by image, Stop aborts the request on the server, a dead worker reads as
a clear message and a relaunch recovers, and ``--check`` tells the plain dialect from the right one.
What it does not: one host, CPU, a tiny random model; no GPU, no real Kolors weights, one replica.

The first run builds Xinference's venv (about 3 minutes, 1.9 GB, cached under ~/.cache/kolors-playground;
tests/run_all.sh builds it before pytest starts); starting the cluster takes about 100 s.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

from tests.app_harness import running_app
from tests.xinference.cluster import MODEL_UID, ensure_venv, running_cluster

pytestmark = [pytest.mark.xinference, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parent.parent
BACKEND = "xinference"
PLAIN = "xinference-plain"
SMALL = {"size": "64x64", "steps": 2, "guidance": 5.0}
LONG = {"size": "64x64", "steps": 80}
"""A generation that runs for many seconds on this CPU (Xinference reports progress after every step)."""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with running_cluster(ensure_venv(), tmp_path_factory.mktemp("xinference")) as running:
        yield running


@pytest.fixture(scope="module")
def endpoints(cluster, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("endpoints") / "backends.toml"
    path.write_text(
        f'[[backend]]\nid = "{BACKEND}"\nlabel = "Kolors on Xinference"\nbase_url = "{cluster.base_url}"\n'
        f'model = "{MODEL_UID}"\nsize_range = [64, 1024]\nsteps = [1, 100, 2]\ndialect = "xinference"\n'
        f'timeout_s = 120\n\n'
        f'[[backend]]\nid = "{PLAIN}"\nlabel = "Xinference, plain OpenAI dialect"\nbase_url = "{cluster.base_url}"\n'
        f'model = "{MODEL_UID}"\nsize_range = [64, 1024]\nsteps = [1, 100, 2]\nresponse_format = "b64_json"\n'
    )
    return path


@pytest.fixture(scope="module")
def app(endpoints, tmp_path_factory):
    folder = tmp_path_factory.mktemp("app")
    env = {"PLAYGROUND_BACKENDS": str(endpoints), "PLAYGROUND_HTTP_BACKOFF": "0.5"}
    with running_app(env, data_dir=folder / "data", log_path=folder / "app.log") as running:
        yield running


@pytest.fixture(scope="module")
def client(app):
    return Client(app.url, verbose=False)


def generate(client, **values):
    return client.predict(backend=BACKEND, prompt="a red cat on a chair", api_name="/generate", **{**SMALL, **values})


def pixels(item) -> bytes:
    with Image.open(item["image"]) as image:
        return image.convert("RGB").tobytes()


def test_a_batch_is_seeds_s_and_s_plus_1_and_each_image_comes_back_alone(client):
    batch, info = generate(client, n=2, seed=42)
    assert info["seeds"] == [42, 43] and not info["failures"]
    again, _ = generate(client, n=1, seed=42)
    alone, _ = generate(client, n=1, seed=43)
    assert pixels(again[0]) == pixels(batch[0])
    assert pixels(alone[0]) == pixels(batch[1])
    assert pixels(batch[0]) != pixels(batch[1])
    with Image.open(batch[0]["image"]) as image:
        assert image.format == "JPEG" and image.size == (64, 64)


def test_negative_prompt_steps_and_guidance_reach_the_pipeline(client, cluster):
    marker = f"blurry-{uuid.uuid4().hex[:8]}"
    plain, _ = generate(client, seed=5, steps=3, guidance=2.5)
    negative, _ = generate(client, seed=5, steps=3, guidance=2.5, negative_prompt=marker)
    fewer_steps, _ = generate(client, seed=5, steps=2, guidance=2.5, negative_prompt=marker)
    assert len({pixels(plain[0]), pixels(negative[0]), pixels(fewer_steps[0])}) == 3
    # The worker logs, at debug level, the arguments the diffusers pipeline is called with.
    calls = re.findall(r"stable diffusion args: (\{.*?'generator')", cluster.log("worker"))
    sent = [call for call in calls if marker in call]
    assert len(sent) == 2, calls[-3:]
    for call, steps in zip(sent, (3, 2)):
        assert f"'negative_prompt': '{marker}'" in call
        assert f"'num_inference_steps': {steps}, 'guidance_scale': 2.5" in call


def test_check_tells_the_plain_dialect_from_the_xinference_one(endpoints):
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(PLAYGROUND_BACKENDS=str(endpoints))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "app.py", "--check", "--seeds", "--backend", BACKEND, "--backend", PLAIN],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 1, done.stdout + done.stderr
    assert lines[0].startswith(f"ok      {BACKEND} ") and "64x64 image in" in lines[0]
    assert f"model {MODEL_UID}: running on 1 replica(s)" in lines[0]
    assert "same seed, same pixels; next seed, other pixels; batch image 2 = its seed alone" in lines[0]
    assert lines[1].startswith(f"FAILED  {PLAIN} ")
    assert "seed ignored: the same seed gave different images" in lines[1]
    assert 'set dialect = "xinference"' in lines[1]
    assert lines[2] == "2 backend(s): 1 ok, 1 failed, 0 skipped"
    print(f"--check --seeds on both entries: {time.monotonic() - started:.1f} s")


def test_stop_aborts_the_request_on_the_server_and_the_app_stays_healthy(client, cluster, app):
    job = client.submit(backend=BACKEND, prompt="stopped half-way", seed=9, api_name="/generate", **LONG)
    wait_for_steps(cluster)
    job.cancel()
    deadline = time.monotonic() + 30
    while "Abort request with model uid: " + MODEL_UID not in cluster.log("supervisor"):
        assert time.monotonic() < deadline, cluster.log_tail("supervisor")
        time.sleep(0.2)
    started = time.monotonic()
    _, info = generate(client, seed=10)
    assert info["seeds"] == [10] and not info["failures"]
    print(f"first generation after Stop: {time.monotonic() - started:.1f} s")
    assert "Traceback" not in app.log()


def test_a_worker_killed_mid_run_is_a_clear_message_and_a_relaunch_recovers(client, cluster, app):
    job = client.submit(backend=BACKEND, prompt="killed half-way", seed=11, api_name="/generate", **LONG)
    wait_for_steps(cluster)
    cluster.kill_worker()
    with pytest.raises(AppError) as failure:
        job.result(timeout=180)
    message = str(failure.value)
    assert "Image 1 (seed 11): Kolors on Xinference " in message
    assert "could not reach the worker that serves 'tiny-kolors'" in message or "has no model 'tiny-kolors' running" in message
    assert "Traceback" not in message and "address=" not in message
    relaunch = cluster.replace_worker()
    print(f"worker replaced and model relaunched in {relaunch:.1f} s")
    _, info = generate(client, n=2, seed=12)
    assert info["seeds"] == [12, 13] and not info["failures"]
    assert "Traceback" not in app.log()


def wait_for_steps(cluster, timeout: float = 60.0) -> None:
    """Until the worker's pipeline is a few denoising steps into the current request."""
    before = cluster.log("worker").count("stable diffusion args")
    deadline = time.monotonic() + timeout
    while cluster.log("worker").count("stable diffusion args") == before:
        assert time.monotonic() < deadline, cluster.log_tail("worker")
        time.sleep(0.2)
    time.sleep(1.5)

