"""Shared fixtures: provider emulators over real HTTP, and backends pointed at them with short
timeouts and retry waits so fault tests finish in seconds."""

from __future__ import annotations

import os

import pytest

from backends.config import EndpointConfig, endpoint_backends
from backends.dieyuyun import dieyuyun_from_env
from backends.http import RetryPolicy, Timeouts
from backends.segmind import segmind_from_env
from backends.siliconflow import siliconflow_from_env

pytest_plugins = ["tests.emulators.fixtures"]

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.02, max_delay=0.1, max_total_wait=2.0)
SHORT_TIMEOUTS = Timeouts(connect=2.0, read=1.0, write=2.0, pool=2.0, download=2.0, total=3.0)


def make_backend(provider: str, emulator, *, key: str | None = None, **overrides):
    """The real backend class for ``provider``, configured the way the environment would."""
    overrides = {"retry": FAST_RETRY, "timeouts": SHORT_TIMEOUTS, **overrides}
    key = emulator.api_key if key is None else key
    if provider == "dieyuyun":
        return dieyuyun_from_env({"DIEYUYUN_API_KEY": key, "DIEYUYUN_BASE_URL": emulator.base_url}, **overrides)
    if provider == "segmind":
        return segmind_from_env({"SEGMIND_API_KEY": key, "SEGMIND_BASE_URL": emulator.base_url}, **overrides)
    if provider == "siliconflow":
        return siliconflow_from_env({"SILICONFLOW_API_KEY": key, "SILICONFLOW_BASE_URL": emulator.base_url}, **overrides)
    if provider == "openai":
        config = EndpointConfig(
            id="selfhosted", label="Self-hosted Kolors", base_url=emulator.base_url, model="kolors",
            api_key_env="SELFHOSTED_KEY", size_range=(256, 2048), max_images=4, response_format="b64_json",
        )
        (backend,) = endpoint_backends([config], {"SELFHOSTED_KEY": key}, **overrides)
        return backend
    raise ValueError(provider)


@pytest.fixture(params=["dieyuyun", "segmind", "siliconflow", "openai"])
def provider(request):
    return request.param


@pytest.fixture
def emulator(provider, request):
    return request.getfixturevalue(f"{provider}_emulator")


@pytest.fixture
def backend(provider, emulator):
    return make_backend(provider, emulator)


@pytest.fixture
def app_env(dieyuyun_emulator, segmind_emulator, siliconflow_emulator):
    """Environment for ``python app.py`` with the three hosted backends on their emulators."""
    from tests.app_harness import emulator_env

    return emulator_env(("dieyuyun", dieyuyun_emulator), ("segmind", segmind_emulator), ("siliconflow", siliconflow_emulator))


@pytest.fixture
def launched_app(app_env, tmp_path):
    """The real app in a subprocess, with its own data dir under ``tmp_path``."""
    from tests.app_harness import running_app

    with running_app(app_env, data_dir=tmp_path / "data", log_path=tmp_path / "app.log") as app:
        yield app
