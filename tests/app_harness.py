"""Start the real app (``python app.py``) in a subprocess against the emulators, and stop it.

End-to-end tests use this rather than an in-process ``launch()`` so that what they drive is exactly
what a person runs, restarts included.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent

APP_ALLOWED = True
"""Set by tests/conftest.py for each test: whether it carries the ``e2e`` marker. The fast tier
deselects e2e tests, so a test that starts the app without the marker would slow it down unseen."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RunningApp:
    url: str
    process: subprocess.Popen
    log_path: Path
    data_dir: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def emulator_env(*emulators_by_provider: tuple[str, object]) -> dict[str, str]:
    """Environment variables that point the app's backends at the given emulators."""
    env: dict[str, str] = {}
    for provider, emulator in emulators_by_provider:
        prefix = provider.upper()
        env[f"{prefix}_API_KEY"] = emulator.api_key
        env[f"{prefix}_BASE_URL"] = emulator.base_url
    return env


@contextmanager
def running_app(env: Mapping[str, str], *, data_dir: Path, log_path: Path, timeout: float = 60.0) -> Iterator[RunningApp]:
    app = start_app(env, data_dir=data_dir, log_path=log_path, timeout=timeout)
    try:
        yield app
    finally:
        stop_app(app)


def start_app(env: Mapping[str, str], *, data_dir: Path, log_path: Path, timeout: float = 60.0) -> RunningApp:
    if not APP_ALLOWED:
        raise RuntimeError("This test starts the app: mark it (or its module) with pytest.mark.e2e.")
    port = int(env.get("GRADIO_SERVER_PORT") or free_port())  # a given port: the same origin across restarts
    full_env = {
        key: value for key, value in os.environ.items()
        if not key.endswith(("_API_KEY", "_BASE_URL")) and key not in ("PLAYGROUND_BACKENDS", "SPACE_ID", "PLAYGROUND_MODE")
    }
    full_env.update(
        GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False",
        HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1", PLAYGROUND_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1",
    )
    full_env.update(env)
    log = open(log_path, "ab")
    # The working directory is the test's own folder: a developer's .env in the repository stays out.
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")], cwd=Path(data_dir).parent, env=full_env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    app = RunningApp(url=url, process=process, log_path=log_path, data_dir=Path(data_dir))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app exited with {process.returncode}:\n{app.log()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return app
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_app(app)
    raise TimeoutError(f"app did not answer within {timeout} s:\n{app.log()}")


def stop_app(app: RunningApp, *, kill: bool = False) -> None:
    if app.process.poll() is None:
        try:
            os.killpg(app.process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            app.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(app.process.pid, signal.SIGKILL)
            app.process.wait(timeout=10)
