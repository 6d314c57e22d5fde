"""The local backend says what it will cost before it costs it: device, memory, download.

Device and memory figures are handed in (there is no GPU here): ``DeviceDetection.fixed(DeviceInfo(...))``
and a ``free_memory`` function. Downloads come from a fake Hugging Face Hub on 127.0.0.1 serving the tiny
pipeline (tests/emulators/hf_hub.py) through huggingface_hub's own download code, into a temporary cache.
Tests that load or download the pipeline need torch and are marked ``local``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from backends.base import CancelToken, GenerationRequest, StepProgress
from backends.errors import BackendUnavailable, DownloadRequired, GenerationCancelled, NotEnoughMemory
from backends.history import HistoryStore
from backends.playground import Playground
from backends.providers.dieyuyun import dieyuyun_from_settings
from backends.providers.local import (
    LOADER,
    DeviceDetection,
    DeviceInfo,
    FreeMemory,
    Hub,
    LocalBackend,
    LocalEnvironment,
    LocalSettings,
    check_memory,
    estimate_footprint,
    start_local_backends,
)
from backends.providers.local.memory import KOLORS_PARAMETERS
from backends.providers.local.sizes import GIB, MIB
from backends.providers.local.weights import cached_snapshot, select_files
from backends.providers.segmind import segmind_from_settings
from backends.providers.siliconflow import siliconflow_from_settings
from backends.registry import Registry, cpu_only_notice, default_backend_id
from backends.settings import PlaygroundSettings
from tests.emulators.hf_hub import FakeHub

REPO_ID = "kolors-test/tiny-kolors"
RTX_4090 = DeviceInfo("cuda", name="NVIDIA GeForce RTX 4090", index=0, total_bytes=25_757_220_864)
RTX_3060 = DeviceInfo("cuda", name="NVIDIA GeForce RTX 3060", index=0, total_bytes=12_884_901_888)
APPLE = DeviceInfo("mps", total_bytes=32 * GIB)
LAPTOP_CPU = DeviceInfo("cpu", total_bytes=16 * GIB)
PLENTY = FreeMemory(device=100 * GIB, host=100 * GIB)
REQUEST = GenerationRequest(
    prompt="a red cat", width=64, height=64, n=1, seed=7, steps=2, guidance=5.0, scheduler="Euler", output_format="png"
)
VALUES = {"prompt": "a red cat", "size": "64x64", "n": 1, "seed": 7, "steps": 2, "guidance": 5.0, "scheduler": "Euler"}

pytestmark = [
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning"),
]


def small(backend: LocalBackend) -> LocalBackend:
    """The backend accepting 64x64 images, which the tiny pipeline makes in a blink (Kolors' own minimum,
    256x256, takes the tiny pipeline seconds on a busy CPU)."""
    backend.capabilities = replace(backend.capabilities, size_range=(64, 2048))
    return backend


def environment(device: DeviceInfo, free: FreeMemory = PLENTY, hub: Hub | None = None) -> LocalEnvironment:
    return LocalEnvironment(
        devices=DeviceDetection.fixed(device), free_memory=lambda _device: free, hub=hub or Hub(cache_dir=Path("/nonexistent"))
    )


def known(backend: LocalBackend) -> LocalBackend:
    """The backend with its device found (as the app's start-up does in the background)."""
    backend.start_detection()
    backend.environment.devices.result(backend.settings.device)
    return backend


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local extras count as installed, so availability does not depend on this machine's packages."""
    monkeypatch.setattr("backends.providers.local.backend._installed", lambda name: True)


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test suite runs with HF_HUB_OFFLINE=1; these tests talk to the fake Hub on 127.0.0.1 only."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 16 * 1024)  # progress and Stop every 16 KB


@pytest.fixture
def fake_hub(tiny_model_dir: Path):
    with FakeHub({REPO_ID: tiny_model_dir}).running() as hub:
        yield hub


@pytest.fixture
def hub(fake_hub: FakeHub, tmp_path: Path, online: None) -> Hub:
    return Hub(endpoint=fake_hub.base_url, cache_dir=tmp_path / "hf-cache")


# -- the device in the label ------------------------------------------------------------------------


def test_the_label_names_the_device_once_it_is_known() -> None:
    hub_model = LocalSettings(model="Kwai-Kolors/Kolors-diffusers")
    unknown = LocalBackend(hub_model, environment=environment(RTX_4090))
    assert unknown.label == "Kolors (local)" and unknown.runs_on_cpu() is None  # not probed yet
    assert known(unknown).label == "Local (CUDA, RTX 4090, 24 GB)"
    assert known(LocalBackend(hub_model, environment=environment(APPLE))).label == "Local (Apple MPS)"
    cpu = known(LocalBackend(hub_model, environment=environment(LAPTOP_CPU)))
    # Kolors in float32 from its published sizes (not cached here): 33.2 GB of weights + working memory
    assert cpu.label == "Local (CPU: minutes per image, ~40 GB memory)"
    assert cpu.runs_on_cpu() is True and known(unknown).runs_on_cpu() is False


def test_detection_runs_once_and_off_the_event_loop() -> None:
    release = threading.Event()
    probed_in: list[str] = []

    def slow_probe(requested: str | None, zero_gpu: bool) -> DeviceInfo:
        probed_in.append(threading.current_thread().name)
        release.wait(10)
        return RTX_4090

    detection = DeviceDetection(slow_probe)
    backends = [LocalBackend(LocalSettings(), environment=LocalEnvironment(devices=detection)) for _ in range(3)]

    async def page_loads() -> list[str]:
        labels = []
        for backend in backends:
            backend.start_detection()
            started = time.perf_counter()
            labels.append(backend.label)  # what a page handler reads: never waits for the probe
            assert time.perf_counter() - started < 0.5
        release.set()
        await asyncio.to_thread(detection.result, None)
        return labels + [backend.label for backend in backends]

    labels = asyncio.run(page_loads())
    assert labels == ["Kolors (local)"] * 3 + ["Local (CUDA, RTX 4090, 24 GB)"] * 3
    assert detection.probes == 1 and len(probed_in) == 1
    assert probed_in[0] == "kolors-device-probe" != threading.main_thread().name


@pytest.mark.local
@pytest.mark.slow
def test_the_real_probe_asks_torch_in_a_child_process() -> None:
    import torch

    from backends.providers.local.device import probe_device, total_ram

    found = probe_device(None)
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert found.kind == expected
    if found.runs_on_cpu:
        assert found.total_bytes == total_ram() and found.describe().startswith("CPU, ")
    else:
        assert found.total_bytes and found.name
    with pytest.raises(BackendUnavailable, match=r"KOLORS_DEVICE=cuda:99 but torch .* sees no such device"):
        probe_device("cuda:99")


def test_a_missing_device_is_a_problem_not_a_label(installed: None) -> None:
    def no_such_gpu(requested: str | None, zero_gpu: bool) -> DeviceInfo:
        raise BackendUnavailable("KOLORS_DEVICE=cuda:3 but torch sees no such device here.")

    backend = LocalBackend(LocalSettings(device="cuda:3"), environment=LocalEnvironment(devices=DeviceDetection(no_such_gpu)))
    backend.start_detection()
    readiness = backend.readiness()
    assert "cuda:3" in readiness.problem and not readiness.can_generate
    assert backend.label == "Kolors (local)" and backend.runs_on_cpu() is None


# -- never the CPU by default -----------------------------------------------------------------------


def test_default_skips_the_cpu_while_a_hosted_backend_is_available(installed: None) -> None:
    hosted = dieyuyun_from_settings(PlaygroundSettings.from_mapping({"DIEYUYUN_API_KEY": "k-123456"}))
    no_key = dieyuyun_from_settings(PlaygroundSettings.from_mapping({}))
    on_cpu = known(LocalBackend(LocalSettings(), environment=environment(LAPTOP_CPU)))
    on_gpu = known(LocalBackend(LocalSettings(), environment=environment(RTX_4090)))
    probing = LocalBackend(LocalSettings(), environment=LocalEnvironment(devices=DeviceDetection(lambda r, z: RTX_4090)))

    assert default_backend_id(Registry([on_cpu, hosted])) == "dieyuyun"
    assert cpu_only_notice(Registry([on_cpu, hosted])) == ""
    assert default_backend_id(Registry([probing, hosted])) == "dieyuyun"  # unknown yet: not the CPU's risk
    assert default_backend_id(Registry([on_gpu, hosted])) == "local"  # a GPU is a fine default
    assert default_backend_id(Registry([no_key])) is None

    unset = PlaygroundSettings.from_mapping({})  # the built-in hosted providers, without keys: each names its variable
    alone = Registry([no_key, segmind_from_settings(unset), siliconflow_from_settings(unset), on_cpu])  # the only one available
    assert default_backend_id(alone) == "local"
    notice = cpu_only_notice(alone)
    assert "minutes per image, ~40 GB memory" in notice
    for variable in ("DIEYUYUN_API_KEY", "SEGMIND_API_KEY", "SILICONFLOW_API_KEY", "PLAYGROUND_BACKENDS"):
        assert variable in notice
    assert cpu_only_notice(Registry([no_key, on_gpu])) == ""


# -- memory before loading --------------------------------------------------------------------------


def test_kolors_documented_sizes() -> None:
    parameters = {folder: count for _, folder, count in KOLORS_PARAMETERS}
    assert parameters["text_encoder"] * 2 == 12_487_168_000  # ChatGLM3-6B's index: 12,487,168,064 with its buffer
    fp16 = estimate_footprint(None, "float16")
    assert fp16.documented == ("text encoder", "UNet", "VAE")
    assert round((fp16.weights_bytes - parameters["vae"] * 2) / GIB, 1) == 16.6  # the fp16 download people quote
    fp32 = estimate_footprint(None, "float32")
    assert round(fp32.total_bytes / GIB) == 40
    assert fp32.weights_bytes == 4 * sum(parameters.values())


def test_memory_refusal_names_both_figures_and_the_ways_out() -> None:
    cpu = check_memory(estimate_footprint(None, "float32"), LAPTOP_CPU, FreeMemory(14 * GIB, 14 * GIB)).error()
    assert isinstance(cpu, NotEnoughMemory)
    assert "needs about 39.8 GB in RAM" in str(cpu) and "only 14.0 GB is free" in str(cpu)
    assert "KOLORS_DEVICE=cuda" in str(cpu) and "DIEYUYUN_API_KEY" in str(cpu)
    assert (cpu.needed_bytes, cpu.free_bytes) == (estimate_footprint(None, "float32").total_bytes, 14 * GIB)

    gpu = check_memory(estimate_footprint(None, "float16"), RTX_3060, FreeMemory(11 * GIB, 30 * GIB)).error()
    assert "needs about 20.1 GB on the GPU (CUDA, RTX 3060, 12 GB)" in str(gpu) and "only 11.0 GB" in str(gpu)
    assert "KOLORS_CPU_OFFLOAD=1" in str(gpu) and "KOLORS_DEVICE=cuda:N" in str(gpu)

    # With CPU offload the GPU holds one model at a time (the text encoder, 11.6 GB, is the largest) and
    # RAM holds them all.
    fp16 = estimate_footprint(None, "float16")
    offloaded = check_memory(fp16, RTX_4090, FreeMemory(16 * GIB, 30 * GIB), cpu_offload=True)
    assert offloaded.error() is None
    short_of_ram = check_memory(fp16, RTX_4090, FreeMemory(16 * GIB, 10 * GIB), cpu_offload=True).error()
    assert "needs about 16.7 GB in RAM (every model waits there, with CPU offload)" in str(short_of_ram)
    assert "only 10.0 GB is free" in str(short_of_ram) and "KOLORS_CPU_OFFLOAD=0" in str(short_of_ram)


def test_tight_memory_is_a_warning_not_a_refusal() -> None:
    need = estimate_footprint(None, "float16").total_bytes
    verdict = check_memory(estimate_footprint(None, "float16"), RTX_4090, FreeMemory(int(need * 1.05), 64 * GIB))
    assert verdict.error() is None
    assert str(verdict.warning()).startswith("Memory is tight: Kolors needs about 20.1 GB of the 21.1 GB free")
    assert verdict.warning().render("zh").startswith("内存紧张：可图需要")
    roomy = check_memory(estimate_footprint(None, "float16"), RTX_4090, FreeMemory(int(need * 1.3), 64 * GIB))
    assert roomy.warning() is None


def test_sizes_come_from_the_model_files_when_present(tmp_path: Path) -> None:
    # Only a weights index (its shards not downloaded): total_size, in the stored precision, counts.
    unet = tmp_path / "unet"
    unet.mkdir()
    (unet / "config.json").write_text("{}")
    (unet / "diffusion_pytorch_model.safetensors.index.fp16.json").write_text(
        '{"metadata": {"total_size": 1000000}, "weight_map": {"a": "diffusion_pytorch_model.fp16-00001-of-00002.safetensors"}}'
    )
    footprint = estimate_footprint(tmp_path, "float32")
    assert dict(footprint.components)["UNet"] == 2_000_000  # 500,000 fp16 weights, 4 bytes each on the CPU
    assert footprint.documented == ("text encoder", "VAE")


@pytest.mark.local
def test_tiny_pipeline_sizes_are_read_from_safetensors_headers(tiny_model_dir: Path) -> None:
    from diffusers import KolorsPipeline

    pipe = KolorsPipeline.from_pretrained(tiny_model_dir)
    footprint = estimate_footprint(tiny_model_dir, "float16")
    counted = {"text encoder": pipe.text_encoder, "UNet": pipe.unet, "VAE": pipe.vae}
    expected = {label: sum(t.numel() for t in model.state_dict().values()) * (4 if label == "VAE" else 2)
                for label, model in counted.items()}  # the VAE decodes in float32 (force_upcast)
    assert dict(footprint.components) == expected and footprint.documented == ()


@pytest.mark.local
def test_loading_is_refused_before_it_starts_when_memory_is_short(tiny_model_dir: Path) -> None:
    LOADER.unload()
    loads = LOADER.loads
    backend = LocalBackend(LocalSettings(model=str(tiny_model_dir), device="cpu"),
                           environment=environment(LAPTOP_CPU, free=FreeMemory(MIB, MIB)))
    seen: list[StepProgress] = []
    with pytest.raises(NotEnoughMemory) as refused:
        asyncio.run(backend.generate(REQUEST, progress=seen.append))
    need = estimate_footprint(tiny_model_dir, "float32").total_bytes
    assert f"needs about {need / MIB:.1f} MB in RAM" in str(refused.value) and "only 1.0 MB is free" in str(refused.value)
    assert LOADER.loads == loads and LOADER.loaded is None and seen == []  # nothing loaded, nothing reported
    assert backend.status().startswith("Not loaded: Not enough memory")
    readiness = backend.readiness()
    assert readiness.problem == str(refused.value) and not readiness.can_generate


@pytest.mark.local
def test_tight_memory_shows_in_the_progress_line(tiny_model_dir: Path) -> None:
    LOADER.unload()
    need = estimate_footprint(tiny_model_dir, "float32").total_bytes
    backend = LocalBackend(LocalSettings(model=str(tiny_model_dir), device="cpu"),
                           environment=environment(LAPTOP_CPU, free=FreeMemory(int(need * 1.1), int(need * 1.1))))
    seen: list[StepProgress] = []
    output = asyncio.run(backend.generate(REQUEST, progress=seen.append))
    assert len(output.images) == 1
    assert str(seen[0].phase).startswith("Loading the Kolors weights") and "Memory is tight" in str(seen[0].phase)
    assert seen[0].phase.render("zh").startswith("正在从") and "内存紧张" in seen[0].phase.render("zh")


# -- the download asks first --------------------------------------------------------------------------


def test_files_for_the_gpu_and_for_the_cpu() -> None:
    listing = {
        ".gitattributes": 1, "README.md": 1, "model_index.json": 1, "imgs/cover.png": 9,
        "scheduler/scheduler_config.json": 1,
        "text_encoder/config.json": 1, "text_encoder/tokenizer.model": 1,
        "text_encoder/pytorch_model-00001-of-00002.bin": 70, "text_encoder/pytorch_model-00002-of-00002.bin": 70,
        "text_encoder/pytorch_model.bin.index.json": 1,
        "text_encoder/model.fp16-00001-of-00002.safetensors": 30, "text_encoder/model.fp16-00002-of-00002.safetensors": 30,
        "text_encoder/model.safetensors.index.fp16.json": 1,
        "unet/config.json": 1, "unet/diffusion_pytorch_model.safetensors": 100,
        "unet/diffusion_pytorch_model.fp16.safetensors": 50,
        "vae/config.json": 1, "vae/diffusion_pytorch_model.safetensors": 4, "vae/diffusion_pytorch_model.fp16.safetensors": 2,
    }
    gpu = select_files(listing, "fp16")
    assert sorted(p for p in gpu if p.endswith((".safetensors", ".bin")) or ".index" in p) == [
        "text_encoder/model.fp16-00001-of-00002.safetensors", "text_encoder/model.fp16-00002-of-00002.safetensors",
        "text_encoder/model.safetensors.index.fp16.json", "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/diffusion_pytorch_model.fp16.safetensors",
    ]
    assert {"model_index.json", "scheduler/scheduler_config.json", "text_encoder/tokenizer.model"} <= set(gpu)
    assert not {".gitattributes", "README.md", "imgs/cover.png"} & set(gpu)
    cpu = select_files(listing, None)
    # no full-precision safetensors for the text encoder: its pickles; the others' full-precision safetensors
    assert "text_encoder/pytorch_model.bin.index.json" in cpu and "text_encoder/pytorch_model-00002-of-00002.bin" in cpu
    assert "unet/diffusion_pytorch_model.safetensors" in cpu and not any(".fp16" in p for p in cpu if p.startswith(("unet", "vae")))
    assert sum(gpu.values()) < sum(cpu.values())


@pytest.mark.local
def test_an_uncached_model_asks_before_downloading(hub: Hub, fake_hub: FakeHub, tiny_model_dir: Path, tmp_path: Path) -> None:
    LOADER.unload()  # a pipeline loaded by an earlier test would need no weights
    backend = small(LocalBackend(LocalSettings(model=REPO_ID, device="cpu"), environment=environment(LAPTOP_CPU, hub=hub)))
    playground = Playground(registry=Registry([backend]), history=HistoryStore(tmp_path / "data"))

    with pytest.raises(DownloadRequired) as asked:
        asyncio.run(playground.generate("local", VALUES))
    tiny_bytes = sum(p.stat().st_size for p in tiny_model_dir.rglob("*") if p.is_file())
    assert asked.value.size_bytes == tiny_bytes and asked.value.size_source == "hub"
    assert asked.value.destination == str(hub.cache / "models--kolors-test--tiny-kolors")
    message = str(asked.value)
    assert f"{tiny_bytes / MIB:.1f} MB" in message and asked.value.destination in message and "download=true" in message
    assert fake_hub.downloads() == [] and not hub.cache.exists()  # asked the Hub for sizes, fetched nothing
    assert playground.history.count() == 0

    readiness = backend.readiness()
    assert not readiness.can_generate and not readiness.problem
    assert any(fact.startswith("weights: not in the Hugging Face cache; 2.0 MB to download") for fact in readiness.facts)


@pytest.mark.local
def test_with_consent_it_downloads_with_progress_then_generates(hub: Hub, fake_hub: FakeHub, tmp_path: Path) -> None:
    LOADER.unload()
    backend = small(LocalBackend(LocalSettings(model=REPO_ID, device="cpu"), environment=environment(LAPTOP_CPU, hub=hub)))
    playground = Playground(registry=Registry([backend]), history=HistoryStore(tmp_path / "data"))
    seen = []
    outcome = asyncio.run(playground.generate("local", VALUES, download=True, progress=seen.append))
    assert len(outcome.result.images) == 1 and outcome.result.ok

    downloading = [str(p.phase) for p in seen if str(p.phase).startswith("Downloading the Kolors weights")]
    assert downloading[-1].startswith("Downloading the Kolors weights: 2.0 MB of 2.0 MB at ") and downloading[-1].endswith("MB/s")
    assert any(str(p.phase).startswith("Loading the Kolors weights") for p in seen)
    assert sorted(fake_hub.downloads()) == sorted(fake_hub.files(REPO_ID))  # each file once, every file needed
    assert cached_snapshot(REPO_ID, hub) is not None
    assert backend.status().startswith("Loaded from kolors-test/tiny-kolors on cpu")

    # From now on the weights are here: no question, no download.
    fetched = len(fake_hub.downloads())
    again = asyncio.run(playground.generate("local", replace_seed(VALUES, 8)))
    assert again.result.ok and len(fake_hub.downloads()) == fetched
    assert any(fact.startswith("weights: in the Hugging Face cache") for fact in backend.readiness().facts)


def replace_seed(values: dict, seed: int) -> dict:
    return {**values, "seed": seed}


@pytest.mark.local
def test_stop_cancels_the_download_and_leaves_no_half_file(hub: Hub, fake_hub: FakeHub) -> None:
    LOADER.unload()
    fake_hub.chunk_size, fake_hub.chunk_delay_s = 16 * 1024, 0.02  # the tiny model takes seconds to arrive
    consenting = LocalBackend(
        LocalSettings(model=REPO_ID, device="cpu"), environment=environment(LAPTOP_CPU, hub=hub)
    ).allowing_download()
    cancel = CancelToken()
    stopped_at: list[float] = []

    def on_progress(step: StepProgress) -> None:
        if str(step.phase).startswith("Downloading") and step.done > 300_000 and not cancel.cancelled:
            cancel.cancel()
            stopped_at.append(time.perf_counter())

    with pytest.raises(GenerationCancelled):
        asyncio.run(consenting.generate(REQUEST, progress=on_progress, cancel=cancel))
    assert time.perf_counter() - stopped_at[0] < 2.0
    blobs = hub.cache / "models--kolors-test--tiny-kolors" / "blobs"
    assert not list(blobs.glob("*.incomplete")) and not list(blobs.glob("*.incomplete*"))
    assert cached_snapshot(REPO_ID, hub) is None  # what arrived does not pass for the model
    assert LOADER.loaded is None and consenting.status().startswith("Not loaded")
    total = sum(file.stat().st_size for file in fake_hub.files(REPO_ID).values())
    assert sum(p.stat().st_size for p in blobs.iterdir()) < total

    fake_hub.chunk_delay_s = 0.0
    assert len(asyncio.run(consenting.generate(REQUEST)).images) == 1  # and the next try finishes the job


def test_offline_says_no_download_can_help(installed: None, tmp_path: Path) -> None:
    backend = LocalBackend(LocalSettings(device="cpu"), environment=environment(LAPTOP_CPU, hub=Hub(cache_dir=tmp_path)))
    with pytest.raises(BackendUnavailable, match="HF_HUB_OFFLINE=1 forbids downloading") as refused:
        backend.allowing_download().check_weights()
    assert not isinstance(refused.value, DownloadRequired) and "33.2 GB" in str(refused.value)


def test_an_unreachable_hub_gives_the_documented_size(installed: None, online: None, tmp_path: Path) -> None:
    unreachable = Hub(endpoint="http://127.0.0.1:9", cache_dir=tmp_path, timeout_s=2)
    backend = LocalBackend(LocalSettings(), environment=environment(RTX_4090, hub=unreachable))
    with pytest.raises(DownloadRequired) as asked:
        backend.check_weights()
    assert asked.value.size_source == "documented" and "16.6 GB (Kolors' published size" in str(asked.value)
    backend.allowing_download().check_weights()  # consent given: nothing to refuse up front


@pytest.mark.local
def test_consent_does_not_help_without_disk_space(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    LOADER.unload()  # a loaded pipeline needs no weights from disk
    monkeypatch.setattr("backends.providers.local.weights._free_disk", lambda path: 1000)
    backend = LocalBackend(LocalSettings(model=REPO_ID, device="cpu"), environment=environment(LAPTOP_CPU, hub=hub))
    for asking in (backend, backend.allowing_download()):
        with pytest.raises(BackendUnavailable, match=r"only 0\.0 MB of disk is free there") as refused:
            asking.check_weights()
        assert not isinstance(refused.value, DownloadRequired)


# -- start-up ------------------------------------------------------------------------------------------


@pytest.mark.local
def test_preload_downloads_and_loads_in_the_background(hub: Hub, fake_hub: FakeHub) -> None:
    LOADER.unload()
    backend = LocalBackend(LocalSettings(model=REPO_ID, device="cpu", preload=True),
                           environment=environment(LAPTOP_CPU, hub=hub))
    started = time.perf_counter()
    threads = start_local_backends(Registry([backend]).available())
    assert len(threads) == 1 and time.perf_counter() - started < 1.0  # the page need not wait for it
    threads[0].join(120)
    assert LOADER.is_loaded(backend.settings) and fake_hub.downloads()
    assert backend.status().startswith("Loaded from kolors-test/tiny-kolors")
    output = asyncio.run(backend.generate(REQUEST))
    assert "load_s" not in output.info  # the load was paid at start-up, not by the first visitor


def test_without_preload_start_up_only_finds_the_device(installed: None) -> None:
    probed = threading.Event()

    def probe(requested: str | None, zero_gpu: bool) -> DeviceInfo:
        probed.set()
        return RTX_4090

    loads = LOADER.loads
    backend = LocalBackend(LocalSettings(), environment=LocalEnvironment(devices=DeviceDetection(probe)))
    assert start_local_backends(Registry([backend]).available()) == []
    assert probed.wait(5)
    time.sleep(0.2)
    assert LOADER.loads == loads and backend.label == "Local (CUDA, RTX 4090, 24 GB)"
