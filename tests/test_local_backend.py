"""The local diffusers backend, run for real on a tiny randomly initialised Kolors pipeline.

The pipeline (see tests/tiny_kolors.py) is saved once per session and loaded through the backend's own
loading path with KOLORS_MODEL pointing at it. Images are 64x64 with 2-4 steps, so each takes ~0.1 s.
Tests that need no torch (availability, import cost) run even where the local extras are missing.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import subprocess
import sys
import threading
import types
from dataclasses import replace
from pathlib import Path

import pytest

from backends.base import CancelToken, GenerationRequest, StepProgress
from backends.errors import BackendUnavailable, ConfigurationError, GenerationCancelled, InvalidRequest
from backends.providers.local import (
    CAPABILITIES,
    LOADER,
    SCHEDULER_NAMES,
    DeviceDetection,
    DeviceInfo,
    LocalBackend,
    LocalEnvironment,
    LocalSettings,
    OutOfMemory,
)
from backends.providers.local import pipeline as local_pipeline
from backends.settings import PlaygroundSettings

pytestmark = [
    pytest.mark.local,
    # third-party noise: diffusers' schedulers under numpy 2, ChatGLM's torch.jit.script
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
    pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning"),
]

REPO = Path(__file__).resolve().parents[1]
REQUEST = GenerationRequest(
    prompt="a red cat on a blue chair",
    negative_prompt="blurry",
    width=64,
    height=64,
    n=1,
    seed=1234,
    steps=3,
    guidance=5.0,
    scheduler="Euler",
    output_format="png",
)


def _needs_extras() -> None:
    for name in ("torch", "diffusers", "transformers", "sentencepiece"):
        pytest.importorskip(name)


@pytest.fixture
def backend(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> LocalBackend:
    monkeypatch.setenv("KOLORS_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("KOLORS_DEVICE", "cpu")  # deterministic and fast even where a GPU is present
    for name in ("KOLORS_CPU_OFFLOAD", "KOLORS_VAE_TILING"):
        monkeypatch.delenv(name, raising=False)
    return LocalBackend.from_settings(PlaygroundSettings.load(env_file=None))


def generate(backend: LocalBackend, request: GenerationRequest = REQUEST, **kwargs):
    return asyncio.run(backend.generate(request, **kwargs))


def pixels(data: bytes):
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


# -- without torch ----------------------------------------------------------------------------------


def test_importing_the_backend_does_not_import_torch() -> None:
    code = "import backends.providers.local, sys; assert 'torch' not in sys.modules and 'diffusers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)


def test_unavailable_without_the_local_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name in ("torch", "diffusers") else real_find_spec(name, *args),
    )
    availability = LocalBackend(LocalSettings()).availability()
    assert not availability.available
    assert 'pip install "kolors-playground[local]"' in availability.reason
    assert "torch, diffusers" in availability.reason


def test_unavailable_when_the_model_folder_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("backends.providers.local.backend._installed", lambda name: True)
    missing = LocalBackend(LocalSettings(model=str(tmp_path / "nowhere"))).availability()
    assert not missing.available and "KOLORS_MODEL" in missing.reason and "not a folder" in missing.reason
    empty = LocalBackend(LocalSettings(model=str(tmp_path))).availability()
    assert not empty.available and "model_index.json" in empty.reason


def test_settings_from_the_environment() -> None:
    settings = LocalSettings.from_settings(
        PlaygroundSettings.from_mapping({
            "KOLORS_MODEL": " /models/kolors ",
            "KOLORS_DEVICE": "CUDA:1",
            "KOLORS_CPU_OFFLOAD": "1",
            "KOLORS_VAE_TILING": "true",
            "KOLORS_GPU_DURATION": "90",
        })
    )
    assert settings == LocalSettings(
        model="/models/kolors", device="cuda:1", cpu_offload=True, vae_tiling=True, gpu_duration=90
    )
    assert LocalSettings.from_settings(PlaygroundSettings.from_mapping({})) == LocalSettings(model="Kwai-Kolors/Kolors-diffusers", device=None)
    assert LocalSettings.from_settings(PlaygroundSettings.from_mapping({"KOLORS_DEVICE": "auto"})).device is None
    assert LocalSettings().model_folder is None  # a Hub id
    with pytest.raises(ConfigurationError, match="KOLORS_DEVICE='gpu'"):
        LocalSettings.from_settings(PlaygroundSettings.from_mapping({"KOLORS_DEVICE": "gpu"}))
    with pytest.raises(ConfigurationError, match="KOLORS_VAE_TILING='maybe'"):
        LocalSettings.from_settings(PlaygroundSettings.from_mapping({"KOLORS_VAE_TILING": "maybe"}))


def test_capabilities_follow_the_kolors_readme() -> None:
    assert LocalBackend.id == "local" and LocalBackend.max_concurrency == 1
    assert CAPABILITIES.schedulers == (
        "Euler",
        "Euler a",
        "DPM++ 2M",
        "DPM++ 2M Karras",
        "DPM++ SDE Karras",
        "UniPC",
        "DEIS",
    )
    assert CAPABILITIES.default_scheduler == "Euler"
    assert CAPABILITIES.default_steps_for("Euler") == 50
    assert CAPABILITIES.default_steps_for("DPM++ 2M Karras") == 25
    assert CAPABILITIES.guidance[2] == 5.0
    assert CAPABILITIES.accepts_size(1024, 768) and CAPABILITIES.accepts_size(1152, 896)
    assert not CAPABILITIES.accepts_size(1020, 1024)
    assert CAPABILITIES.seed_max == 2**32 - 1
    assert CAPABILITIES.output_formats == ("png",)
    assert not CAPABILITIES.batch_is_per_image_reproducible


# -- on the tiny pipeline ---------------------------------------------------------------------------


def test_generates_png_images_of_the_requested_size(backend: LocalBackend) -> None:
    output = generate(backend, replace(REQUEST, width=64, height=96))
    (image,) = output.images
    assert (image.mime_type, image.width, image.height, image.seed, image.index) == (
        "image/png",
        64,
        96,
        1234,
        0,
    )
    assert image.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert pixels(image.data).shape == (96, 64, 3)
    assert output.info["device"] == "cpu" and output.info["dtype"] == "float32"
    assert output.info["scheduler"] == "Euler"


def test_batch_image_i_is_pixel_identical_to_seed_plus_i_alone(backend: LocalBackend) -> None:
    batch = generate(backend, replace(REQUEST, n=2))
    assert [(image.seed, image.index) for image in batch.images] == [(1234, 0), (1235, 1)]
    assert (pixels(batch.images[0].data) != pixels(batch.images[1].data)).any()
    for image in batch.images:
        (alone,) = generate(backend, replace(REQUEST, seed=image.seed)).images
        assert (pixels(alone.data) == pixels(image.data)).all(), f"seed {image.seed} differs"
        assert alone.data == image.data


def test_negative_prompt_and_guidance_change_the_image(backend: LocalBackend) -> None:
    base = pixels(generate(backend).images[0].data)
    assert (pixels(generate(backend, replace(REQUEST, negative_prompt="")).images[0].data) != base).any()
    assert (pixels(generate(backend, replace(REQUEST, guidance=1.0)).images[0].data) != base).any()


@pytest.mark.parametrize("scheduler", SCHEDULER_NAMES)
def test_every_scheduler_runs_and_is_reproducible(backend: LocalBackend, scheduler: str) -> None:
    request = replace(REQUEST, scheduler=scheduler, steps=2, seed=77)
    first = generate(backend, request)
    again = generate(backend, request)  # the cached scheduler must not carry state over
    assert first.images[0].data == again.images[0].data
    assert pixels(first.images[0].data).shape == (64, 64, 3)
    assert first.info["scheduler"] == scheduler
    # each sampler is built from Kolors' own schedule
    scheduler_object = LOADER.loaded.pipe.scheduler
    assert scheduler_object.config.num_train_timesteps == 1100
    assert scheduler_object.config.beta_end == 0.014
    assert scheduler_object.config.timestep_spacing == "leading"


def test_karras_variants_use_karras_sigmas(backend: LocalBackend) -> None:
    generate(backend, replace(REQUEST, scheduler="DPM++ 2M Karras", steps=2))
    assert LOADER.loaded.pipe.scheduler.config.use_karras_sigmas
    generate(backend, replace(REQUEST, scheduler="DPM++ 2M", steps=2))
    assert not LOADER.loaded.pipe.scheduler.config.use_karras_sigmas


def test_unknown_scheduler_is_an_invalid_request(backend: LocalBackend) -> None:
    with pytest.raises(InvalidRequest) as caught:
        generate(backend, replace(REQUEST, scheduler="LMS"))
    assert caught.value.fields == ("scheduler",)


def test_the_first_load_is_reported_before_the_steps(backend: LocalBackend) -> None:
    LOADER.unload()
    seen: list[StepProgress] = []
    generate(backend, replace(REQUEST, steps=2), progress=seen.append)
    assert "Loading the Kolors weights" in str(seen[0].phase) and counts(seen[1:]) == [(1, 2), (2, 2)]
    seen.clear()
    generate(backend, replace(REQUEST, steps=2), progress=seen.append)
    assert all(not step.phase for step in seen)  # loaded once, not again


def counts(seen: list[StepProgress]) -> list[tuple[int, int]]:
    return [(step.done, step.total) for step in seen]


def test_progress_is_reported_once_per_step(backend: LocalBackend) -> None:
    seen: list[StepProgress] = []
    generate(backend, replace(REQUEST, steps=4), progress=seen.append)
    seen = [step for step in seen if not step.phase]  # a first load reports itself too
    assert counts(seen) == [(done, 4) for done in range(1, 5)]
    seen.clear()
    generate(backend, replace(REQUEST, steps=2, n=2), progress=seen.append)
    assert counts(seen) == [(done, 4) for done in range(1, 5)]


def test_a_live_preview_comes_every_few_steps(backend: LocalBackend) -> None:
    seen: list[StepProgress] = []
    generate(backend, replace(REQUEST, steps=8), progress=seen.append)
    previews = [step for step in seen if step.preview is not None]
    assert [step.done for step in previews] == [2, 4, 6]  # four per image, the last being the image itself
    picture = previews[-1].preview
    assert picture.mode == "RGB" and picture.size[0] < REQUEST.width and any(low != high for low, high in picture.getextrema())


def test_stop_interrupts_between_steps(backend: LocalBackend) -> None:
    cancel = CancelToken()
    seen: list[StepProgress] = []

    def on_progress(step: StepProgress) -> None:
        seen.append(step)
        if step.done == 2:
            cancel.cancel()

    request = replace(REQUEST, steps=4, scheduler="DPM++ 2M")
    with pytest.raises(GenerationCancelled):
        generate(backend, request, progress=on_progress, cancel=cancel)
    assert [step.done for step in seen] == [1, 2]  # stopped after 2 of 4 steps
    assert LOADER.loaded.pipe.interrupt
    # an interrupted run leaves nothing behind: the same request afterwards matches a fresh one
    after = generate(backend, request).images[0].data
    LOADER.loaded._schedulers.clear()
    assert generate(backend, request).images[0].data == after


def test_stop_before_the_start_runs_nothing(backend: LocalBackend) -> None:
    cancel = CancelToken()
    cancel.cancel()
    seen: list[StepProgress] = []
    with pytest.raises(GenerationCancelled):
        generate(backend, progress=seen.append, cancel=cancel)
    assert seen == []


def test_cancelling_the_task_stops_the_worker_thread(backend: LocalBackend) -> None:
    generate(backend)  # loaded
    started = threading.Event()
    seen: list[StepProgress] = []

    def on_progress(step: StepProgress) -> None:
        seen.append(step)
        started.set()

    async def scenario() -> None:
        task = asyncio.create_task(backend.generate(replace(REQUEST, steps=100), progress=on_progress))
        while not started.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())  # asyncio.run waits for the worker thread when it shuts the loop down
    assert len(seen) < 100


def test_pipeline_is_loaded_once_and_shared(backend: LocalBackend, tiny_model_dir: Path) -> None:
    backend.load()
    loads, pipe = LOADER.loads, LOADER.loaded.pipe
    other = LocalBackend(LocalSettings(model=str(tiny_model_dir), device="cpu"))
    generate(other)
    assert LOADER.loads == loads and LOADER.loaded.pipe is pipe
    assert "load_s" not in generate(other).info


def test_two_jobs_never_run_the_pipeline_at_once(backend: LocalBackend) -> None:
    generate(backend)
    events: list[str] = []

    def recorder(name: str):
        return lambda step: events.append(name)

    async def both() -> None:
        await asyncio.gather(
            backend.generate(replace(REQUEST, steps=3), progress=recorder("a")),
            backend.generate(replace(REQUEST, steps=3, seed=9), progress=recorder("b")),
        )

    asyncio.run(both())
    assert "".join(events) in ("aaabbb", "bbbaaa")


def test_out_of_memory_becomes_a_clear_error(backend: LocalBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    generate(backend)

    def out_of_memory(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(type(LOADER.loaded.pipe), "__call__", out_of_memory)
    with pytest.raises(OutOfMemory) as caught:
        generate(backend, replace(REQUEST, width=2048, height=2048))
    message = str(caught.value)
    assert "2048x2048" in message and "KOLORS_CPU_OFFLOAD=1" in message and "KOLORS_VAE_TILING=1" in message
    assert caught.value.provider == local_pipeline.PROVIDER


def test_a_folder_that_fails_to_load_is_reported(tmp_path: Path) -> None:
    _needs_extras()
    (tmp_path / "model_index.json").write_text(
        '{"_class_name": "KolorsPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}'
    )
    backend = LocalBackend(LocalSettings(model=str(tmp_path), device="cpu"))
    assert backend.availability().available  # it looks like a pipeline folder...
    with pytest.raises(BackendUnavailable, match=r"Could not load Kolors weights from .*KOLORS_MODEL"):
        generate(backend)  # ...but is not one


def test_missing_folder_fails_before_loading_anything(tmp_path: Path) -> None:
    backend = LocalBackend(LocalSettings(model=str(tmp_path / "nowhere")))
    with pytest.raises(BackendUnavailable, match="not a folder"):
        generate(backend)


def test_cpu_fallback_is_logged_and_vae_tiling_applied(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _needs_extras()
    no_gpu = LocalEnvironment(devices=DeviceDetection.fixed(DeviceInfo("cpu", total_bytes=16 * 2**30)))
    backend = LocalBackend(LocalSettings(model=str(tiny_model_dir), vae_tiling=True), environment=no_gpu)
    with caplog.at_level(logging.INFO, logger="backends.providers.local"):
        output = generate(backend)
    assert output.info["device"] == "cpu" and "load_s" in output.info
    assert any(r.levelno == logging.WARNING and "No GPU found" in r.getMessage() for r in caplog.records)
    assert LOADER.loaded.pipe.vae.use_tiling


def test_gpu_function_is_wrapped_with_spaces_gpu(
    backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def gpu(*, duration: int):
        def wrap(function):
            def wrapped(*args):
                calls.append(duration)
                return function(*args)

            return wrapped

        return wrap

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=gpu))
    monkeypatch.setattr(local_pipeline, "_gpu_render", None)
    monkeypatch.setenv("KOLORS_GPU_DURATION", "45")
    seen: list[StepProgress] = []
    output = generate(LocalBackend.from_settings(PlaygroundSettings.load(env_file=None)), progress=seen.append)
    assert calls == [45] and len(output.images) == 1 and seen  # off ZeroGPU, progress still flows

    monkeypatch.setenv("SPACES_ZERO_GPU", "true")  # there the call crosses a process: no callbacks
    seen.clear()
    generate(LocalBackend.from_settings(PlaygroundSettings.load(env_file=None)), progress=seen.append)
    assert calls == [45, 45] and seen == []


def test_on_zero_gpu_the_gpu_function_is_declared_when_the_app_starts(tmp_path: Path) -> None:
    # ZeroGPU wants its @spaces.GPU functions to exist when the app starts, not on the first click.
    (tmp_path / "spaces.py").write_text(
        "declared = []\n"
        "def GPU(*, duration):\n"
        "    def wrap(function):\n"
        "        declared.append((function.__name__, duration))\n"
        "        return function\n"
        "    return wrap\n"
    )
    code = (
        "import sys, spaces\n"
        "from backends.registry import build_registry\n"
        "from backends.settings import PlaygroundSettings\n"
        "build_registry(PlaygroundSettings.load(env_file=None), include_plugins=False)\n"
        "assert spaces.declared == [('_render_current', 75)], spaces.declared\n"
        "assert 'torch' not in sys.modules\n"
    )
    env = {
        **os.environ,
        "SPACES_ZERO_GPU": "true",
        "KOLORS_GPU_DURATION": "75",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
    }
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True, timeout=60)


def test_fp16_weights_are_asked_for_only_where_they_exist(tiny_model_dir: Path, tmp_path: Path) -> None:
    assert not local_pipeline._offers_fp16_variant(tiny_model_dir)
    assert local_pipeline._offers_full_precision(tiny_model_dir)
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "diffusion_pytorch_model.fp16.safetensors").write_bytes(b"")
    assert local_pipeline._offers_fp16_variant(tmp_path)
    assert not local_pipeline._offers_full_precision(tmp_path)  # the CPU loads these fp16 files as float32


def test_out_of_memory_while_loading_says_to_offload(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import diffusers
    import torch

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")

    monkeypatch.setattr(diffusers.KolorsPipeline, "from_pretrained", out_of_memory)
    backend = LocalBackend(LocalSettings(model=str(tiny_model_dir), device="cpu", vae_tiling=True))
    with pytest.raises(BackendUnavailable, match="KOLORS_CPU_OFFLOAD=1"):
        generate(backend)
