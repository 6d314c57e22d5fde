"""Shared fixtures: provider emulators over real HTTP, and backends pointed at them with short
timeouts and retry waits so fault tests finish in seconds."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from backends.providers.dieyuyun import dieyuyun_from_settings
from backends.providers.endpoints import EndpointConfig, endpoint_backends
from backends.providers.http import RetryPolicy, Timeouts
from backends.providers.segmind import segmind_from_settings
from backends.providers.siliconflow import siliconflow_from_settings
from backends.settings import PlaygroundSettings

pytest_plugins = ["tests.emulators.fixtures"]

# Fixtures that launch the app: a test using one is end-to-end (marker ``e2e``) whatever its module.
APP_FIXTURES = frozenset(
    {"launched_app", "browser_app", "hosted_app", "fault_app", "served", "input_app", "keyed_app"}
)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        if APP_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.e2e)
        if item.get_closest_marker("local"):
            # Importing torch and diffusers and loading the tiny pipeline take ~11 s in each process:
            # with ``-n N --dist loadgroup`` one worker pays it, for all of these tests.
            item.add_marker(pytest.mark.xdist_group("local"))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # Before any fixture of this test is set up: only e2e tests may start the app (tests/app_harness.py),
    # and the Xinference tests, a tier of their own that the fast tier deselects too.
    from tests import app_harness

    app_harness.APP_ALLOWED = any(item.get_closest_marker(name) is not None for name in ("e2e", "xinference"))

@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    # Everything alive now lives until exit. pytest's cleanup then runs five full collections to find
    # late unraisable exceptions; with torch and diffusers loaded each one walks millions of objects
    # (3 s per process). Frozen objects are left out; garbage made after this point is still checked.
    import gc

    gc.collect()
    gc.freeze()


os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):  # pytest -n N: N workers share the cores; torch in each takes one
    os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

# The fast tier (README) passes --hypothesis-profile=fast: a quarter of every test's generated examples.
settings.register_profile("fast", max_examples=25)


def hypothesis_examples(full: int) -> int:
    """``full`` examples in the whole suite, scaled by the Hypothesis profile in use."""
    return max(10, full * settings().max_examples // settings.get_profile("default").max_examples)


FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.02, max_delay=0.1, max_total_wait=2.0)
SHORT_TIMEOUTS = Timeouts(connect=2.0, read=1.0, write=2.0, pool=2.0, download=2.0, total=3.0)


def make_backend(provider: str, emulator, *, key: str | None = None, **overrides):
    """The real backend class for ``provider``, configured the way the environment would."""
    overrides = {"retry": FAST_RETRY, "timeouts": SHORT_TIMEOUTS, **overrides}
    key = emulator.api_key if key is None else key
    if provider == "dieyuyun":
        return dieyuyun_from_settings(PlaygroundSettings.from_mapping({"DIEYUYUN_API_KEY": key, "DIEYUYUN_BASE_URL": emulator.base_url}), **overrides)
    if provider == "segmind":
        return segmind_from_settings(PlaygroundSettings.from_mapping({"SEGMIND_API_KEY": key, "SEGMIND_BASE_URL": emulator.base_url}), **overrides)
    if provider == "siliconflow":
        return siliconflow_from_settings(PlaygroundSettings.from_mapping({"SILICONFLOW_API_KEY": key, "SILICONFLOW_BASE_URL": emulator.base_url}), **overrides)
    if provider == "openai":
        config = EndpointConfig(
            id="selfhosted", label="Self-hosted Kolors", base_url=emulator.base_url, model="kolors",
            api_key_env="SELFHOSTED_KEY", size_range=(256, 2048), max_images=4, response_format="b64_json",
        )
        (backend,) = endpoint_backends([config], PlaygroundSettings.from_mapping({"SELFHOSTED_KEY": key}), **overrides)
        return backend
    raise ValueError(provider)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory):
    """The tiny random Kolors pipeline of tests/tiny_kolors.py (a diffusers folder), built once per machine
    and cached; read-only."""
    for name in ("torch", "diffusers", "transformers", "sentencepiece"):
        pytest.importorskip(name)
    from tests.tiny_kolors import cached_tiny_kolors

    return cached_tiny_kolors()


@pytest.fixture(params=["dieyuyun", "segmind", "siliconflow", "openai"])
def provider(request):
    return request.param


@pytest.fixture
def emulator(provider, request):
    return request.getfixturevalue(f"{provider}_emulator")


@pytest.fixture
def backend(provider, emulator):
    return make_backend(provider, emulator)


@pytest.fixture(scope="module")
def app_env(dieyuyun_emulator_session, segmind_emulator_session, siliconflow_emulator_session):
    """Environment for ``python app.py`` with the three hosted backends on their emulators (which the
    function-scoped ``*_emulator`` fixtures reset before each test)."""
    from tests.app_harness import emulator_env

    return emulator_env(
        ("dieyuyun", dieyuyun_emulator_session), ("segmind", segmind_emulator_session),
        ("siliconflow", siliconflow_emulator_session),
    )


@pytest.fixture(scope="module")
def launched_app(app_env, tmp_path_factory):
    """The real app in a subprocess, one per test module, with its own data dir (``app.data_dir``)."""
    from tests.app_harness import running_app

    folder = tmp_path_factory.mktemp("app")
    with running_app(app_env, data_dir=folder / "data", log_path=folder / "app.log") as app:
        yield app
