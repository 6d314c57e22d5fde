"""The command line behaves: ``--help`` lists every option and, like ``--version``, answers without importing
gradio; a port in use and a bad GRADIO_SERVER_PORT each give one line on stderr, no traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
CLEAN_ENV = {"PATH": "/usr/bin:/bin", "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
             "HF_HUB_DISABLE_TELEMETRY": "1", "HOME": str(Path.home())}

# Runs app.main(argv) and reports whether gradio was imported by then.
PROBE = """
import sys
sys.path.insert(0, {root!r})
import app
try:
    app.main({argv!r})
except SystemExit as exc:
    code = exc.code
print("GRADIO-IMPORTED" if "gradio" in sys.modules else "GRADIO-NOT-IMPORTED", code)
"""


def run_probe(argv: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROBE.format(root=str(ROOT), argv=argv)], cwd=tmp_path,
                          env=CLEAN_ENV, capture_output=True, text=True, timeout=60)


def test_help_lists_every_option_without_importing_gradio(tmp_path):
    started = time.monotonic()
    done = run_probe(["--help"], tmp_path)
    seconds = time.monotonic() - started
    print(f"--help in {seconds:.2f} s")
    for option in ("--host", "--port", "--version", "--check", "--seeds", "--yes", "--backend"):
        assert option in done.stdout, option
    assert "GRADIO-NOT-IMPORTED 0" in done.stdout
    assert seconds < 10  # a loaded machine; it is ~0.3 s (gradio's import alone is ~3 s)


def test_version_answers_without_importing_gradio(tmp_path):
    done = run_probe(["--version"], tmp_path)
    assert done.stdout.startswith("kolors-playground 0.") and "GRADIO-NOT-IMPORTED 0" in done.stdout


def test_a_bad_gradio_server_port_is_one_line_naming_it(tmp_path):
    done = subprocess.run([sys.executable, APP], cwd=tmp_path, env={**CLEAN_ENV, "GRADIO_SERVER_PORT": "abc"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "GRADIO_SERVER_PORT='abc'" in done.stderr and "Traceback" not in done.stderr


def test_a_bad_port_option_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, APP, "--port", "http"], cwd=tmp_path, env=CLEAN_ENV,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "'http' is not a port number" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.e2e
def test_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, APP, "--host", "127.0.0.1", "--port", str(port)], cwd=tmp_path,
            env={**CLEAN_ENV, "PLAYGROUND_DATA_DIR": str(tmp_path / "data")}, capture_output=True, text=True,
            timeout=120,
        )
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith(("INFO", "WARNING"))]
    print(f"stderr: {lines}")
    assert done.returncode == 2
    assert lines == [f"Kolors Playground cannot start: port {port} on 127.0.0.1 is in use (or not allowed); choose "
                     "another with --port or GRADIO_SERVER_PORT."]
    assert "Traceback" not in done.stderr


@pytest.mark.e2e
def test_a_host_that_is_not_an_address_is_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, APP, "--host", "no-such-host.invalid"], cwd=tmp_path,
        env={**CLEAN_ENV, "PLAYGROUND_DATA_DIR": str(tmp_path / "data")}, capture_output=True, text=True, timeout=120,
    )
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith(("INFO", "WARNING"))]
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert lines == ["Kolors Playground cannot start: 'no-such-host.invalid' (--host or GRADIO_SERVER_NAME) is not an "
                     "address of this machine; use 127.0.0.1 or 0.0.0.0."]
