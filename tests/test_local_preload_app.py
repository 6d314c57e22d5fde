"""``KOLORS_PRELOAD=1``: the launched app downloads (from a fake Hub on 127.0.0.1) and loads Kolors at start-up,
in the background, and the first generation finds it ready."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.emulators.hf_hub import FakeHub

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.local,
    pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning"),
]

REPO_ID = "kolors-test/tiny-kolors"


def test_preload_downloads_and_loads_when_the_app_starts(tiny_model_dir: Path, tmp_path: Path) -> None:
    from gradio_client import Client

    from tests.app_harness import running_app

    cache = tmp_path / "hf-cache"
    with FakeHub({REPO_ID: tiny_model_dir}).running() as hub:
        env = {
            "HF_ENDPOINT": hub.base_url, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "0",
            "KOLORS_MODEL": REPO_ID, "KOLORS_DEVICE": "cpu", "KOLORS_PRELOAD": "1",
        }
        with running_app(env, data_dir=tmp_path / "data", log_path=tmp_path / "app.log", timeout=120) as app:
            deadline = time.monotonic() + 180
            while "Kolors preloaded" not in app.log() and "could not be preloaded" not in app.log():
                assert time.monotonic() < deadline, app.log()
                time.sleep(0.5)
            log = app.log()
            assert "Kolors preloaded: Loaded from kolors-test/tiny-kolors on cpu (float32)" in log, log
            assert sorted(hub.downloads()) == sorted(hub.files(REPO_ID))  # nobody was asked: the operator said yes
            assert (cache / "models--kolors-test--tiny-kolors" / "refs" / "main").is_file()

            client = Client(app.url, verbose=False)
            _gallery, info = client.predict(
                backend="local", prompt="a red cat", size="256x256", n=1, seed=3, steps=1, guidance=5.0,
                scheduler="Euler", api_name="/generate",
            )
            assert info["seeds"] == [3] and info["provider"]["device"] == "cpu"
            assert "load_s" not in info["provider"]  # loaded before the first visitor came
