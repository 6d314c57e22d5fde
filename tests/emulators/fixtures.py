"""Pytest plugin: one emulator server per provider for the whole session, reset for every test.

List it in a conftest: ``pytest_plugins = ["tests.emulators.fixtures"]``. Each function-scoped
fixture yields the emulator with ``base_url`` set: for the OpenAI-style ones it ends in ``/v1``
(what DIEYUYUN_BASE_URL would hold), for Segmind it is the server root (SEGMIND_BASE_URL).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import make_emulator
from .common import ProviderEmulator


def _serve(provider: str) -> Iterator[ProviderEmulator]:
    with make_emulator(provider).running() as emulator:
        yield emulator


def _fresh(emulator: ProviderEmulator) -> ProviderEmulator:
    emulator.reset()
    return emulator


@pytest.fixture(scope="session")
def dieyuyun_emulator_session() -> Iterator[ProviderEmulator]:
    yield from _serve("dieyuyun")


@pytest.fixture(scope="session")
def openai_emulator_session() -> Iterator[ProviderEmulator]:
    yield from _serve("openai")


@pytest.fixture(scope="session")
def segmind_emulator_session() -> Iterator[ProviderEmulator]:
    yield from _serve("segmind")


@pytest.fixture(scope="session")
def siliconflow_emulator_session() -> Iterator[ProviderEmulator]:
    yield from _serve("siliconflow")


@pytest.fixture
def dieyuyun_emulator(dieyuyun_emulator_session):
    """OpenAIImagesEmulator as dieyuyun serves Kolors: its five sizes, http image URLs."""
    return _fresh(dieyuyun_emulator_session)


@pytest.fixture
def openai_emulator(openai_emulator_session):
    """A self-hosted OpenAI-compatible server: model "kolors", any size, server-local paths as URLs."""
    return _fresh(openai_emulator_session)


@pytest.fixture
def segmind_emulator(segmind_emulator_session):
    return _fresh(segmind_emulator_session)


@pytest.fixture
def siliconflow_emulator(siliconflow_emulator_session):
    return _fresh(siliconflow_emulator_session)
