"""The project as a Python user meets it: ``pip install .``, then ``kolors-playground`` in any folder,
configured by a ``.env`` file there.

The install goes into a virtual environment that sees this machine's site-packages (so gradio and the
rest are not downloaded again) with ``--no-deps``; what this checks is the wheel itself: every
package and asset inside it, the console script, and dependencies declared for everything the code
imports.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.app_harness import ROOT, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

# What a top-level import is called, and the distribution that provides it.
DISTRIBUTIONS = {"PIL": "pillow", "pydantic_settings": "pydantic-settings"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A venv with the project installed from a copy of its tracked files; returns the venv."""
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True,
        text=True, check=True,
    ).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    # The wheel is built here (this interpreter has setuptools >= 70) and installed into the venv.
    wheels = work / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--no-build-isolation", "--wheel-dir", str(wheels), str(source)],
        check=True, timeout=300,
    )
    (wheel,) = wheels.glob("kolors_playground-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-deps", str(wheel)],
        check=True, timeout=300,
    )
    return venv


def test_the_wheel_holds_every_package_and_asset(installed):
    code = (
        "import importlib.util, pathlib, backends, ui, app\n"
        "root = pathlib.Path(backends.__file__).parent.parent\n"
        "print(root)\n"
        "for module in ('backends.history.store', 'backends.compare.plan', 'backends.providers.local.pipeline',"
        " 'backends.providers.endpoints', 'backends.settings', 'ui.generate_tab'):\n"
        "    assert importlib.util.find_spec(module), module\n"
        "assert (root / 'assets' / 'style.css').is_file()\n"
    )
    done = subprocess.run(
        [str(installed / "bin" / "python"), "-c", code], cwd=installed, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    site = Path(done.stdout.strip())
    assert installed in site.parents and ROOT not in site.parents  # the installed copy, not this checkout


def test_every_imported_distribution_is_declared(installed):
    declared = subprocess.run(
        [str(installed / "bin" / "python"), "-c",
         "import importlib.metadata as m; print('\\n'.join(m.requires('kolors-playground') or []))"],
        capture_output=True, text=True, check=True,
    ).stdout
    runtime = {line.split(";")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower()
               for line in declared.splitlines() if "extra ==" not in line}
    imported = set()
    for path in [ROOT / "app.py", *ROOT.glob("backends/**/*.py"), *ROOT.glob("ui/**/*.py")]:
        if "providers/local" in path.as_posix():
            continue  # torch and friends are the [local] extra, imported only when used
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            imported.update(name.split(".")[0] for name in names)
    third_party = {
        name for name in imported
        if name not in sys.stdlib_module_names and name not in ("backends", "ui", "app", "assets", "spaces")
    }
    missing = {DISTRIBUTIONS.get(name, name).lower() for name in third_party} - runtime
    # dotenv and starlette come with pydantic-settings and gradio, which are declared
    assert missing <= {"dotenv", "python-dotenv", "gradio_client", "starlette"}, (missing, runtime)


def test_kolors_playground_serves_the_page_from_an_empty_folder_with_a_dot_env(
    installed, tmp_path, dieyuyun_emulator
):
    from gradio_client import Client

    port = free_port()
    (tmp_path / ".env").write_text(
        f"DIEYUYUN_API_KEY={dieyuyun_emulator.api_key}\n"
        f"DIEYUYUN_BASE_URL={dieyuyun_emulator.base_url}\n"
        f"GRADIO_SERVER_PORT={port}\n"
        "PLAYGROUND_HTTP_TIMEOUT=\n",  # empty, as in .env.example: unset
        encoding="utf-8",
    )
    log = tmp_path / "app.log"
    env = {"PATH": f"{installed / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "GRADIO_ANALYTICS_ENABLED": "False",
           "HF_HUB_OFFLINE": "1"}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(installed / "bin" / "kolors-playground")], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("kolors-playground did not answer:\n" + log.read_text())
        css = httpx.get(url + "config", timeout=10).json().get("css") or ""
        first_rule = (ROOT / "assets" / "style.css").read_text(encoding="utf-8").strip().splitlines()[0]
        assert first_rule in css  # assets/style.css was found as package data
        client = Client(url, verbose=False)
        gallery, info = client.predict(backend="dieyuyun", prompt="a lantern", seed=3, api_name="/generate")
        assert info["backend"] == "dieyuyun" and info["seeds"] == [3] and len(gallery) == 1
        assert (tmp_path / "data" / "history.sqlite3").is_file()  # PLAYGROUND_DATA_DIR defaults to ./data
    finally:
        process.terminate()
        process.wait(timeout=20)
