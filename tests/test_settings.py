"""The one settings model: environment plus .env, typed, with one message for every bad value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backends.errors import ConfigurationError
from backends.registry import build_registry
from backends.settings import PlaygroundSettings

ROOT = Path(__file__).resolve().parent.parent


def test_dot_env_is_read_and_the_real_environment_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(
        "DIEYUYUN_API_KEY=from-the-file\nSEGMIND_API_KEY=also-from-the-file\nCLUSTER_KEY=cluster-secret\n"
        "PLAYGROUND_HTTP_TIMEOUT=\nKOLORS_CPU_OFFLOAD=1\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    settings = PlaygroundSettings.load({"SEGMIND_API_KEY": "from-the-environment"})
    assert settings.dieyuyun_api_key.get_secret_value() == "from-the-file"
    assert settings.segmind_api_key.get_secret_value() == "from-the-environment"
    assert settings.playground_http_timeout is None  # empty counts as unset
    assert settings.kolors_cpu_offload is True
    assert settings.variable("CLUSTER_KEY") == "cluster-secret"  # a TOML entry's api_key_env, from .env too
    registry = build_registry(settings, include_plugins=False, include_local=False)
    assert registry.get("dieyuyun").availability().available


def test_no_dot_env_no_keys():
    settings = PlaygroundSettings.from_mapping({})
    assert settings.dieyuyun_api_key is None and settings.playground_data_dir == Path("data")
    assert not settings.hosted and PlaygroundSettings.from_mapping({"SPACE_ID": "me/space"}).hosted
    assert not PlaygroundSettings.from_mapping({"SPACE_ID": "me/space", "PLAYGROUND_MODE": "local"}).hosted


def test_every_bad_value_is_named_in_one_message_and_secrets_are_not_echoed():
    with pytest.raises(ConfigurationError) as caught:
        PlaygroundSettings.from_mapping({
            "PLAYGROUND_QUOTA_PER_HOUR": "lots", "KOLORS_DEVICE": "gpu", "GRADIO_SERVER_PORT": "99999",
            "PLAYGROUND_SECRET": "short-secret", "DIEYUYUN_BASE_URL": "ftp://x",
        })
    message = str(caught.value)
    for line in (
        "PLAYGROUND_QUOTA_PER_HOUR='lots' is not allowed; use a whole number",
        "KOLORS_DEVICE='gpu' is not allowed; use cuda, cuda:N, mps, cpu or auto.",
        "GRADIO_SERVER_PORT='99999' is not allowed; use a port number from 1 to 65535.",
        "PLAYGROUND_SECRET=*** is not allowed",
        "DIEYUYUN_BASE_URL='ftp://x' is not allowed; use an http(s) URL",
    ):
        assert line in message, message
    assert "short-secret" not in message


@pytest.mark.e2e  # runs python app.py
def test_the_app_stops_with_that_message(tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, str(ROOT / "app.py")], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PLAYGROUND_HTTP_RETRIES": "many", "GRADIO_ANALYTICS_ENABLED": "False"},
    )
    assert done.returncode == 2
    assert "PLAYGROUND_HTTP_RETRIES='many' is not allowed; use a whole number from 0 to 10." in done.stderr
    assert "Traceback" not in done.stderr


def test_every_setting_is_listed_in_env_example():
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), flags=re.M))
    variables = {info.validation_alias for info in PlaygroundSettings.model_fields.values()}
    set_by_spaces = {"SPACE_ID", "SPACES_ZERO_GPU"}
    assert variables - set_by_spaces - listed == set()


def test_no_module_reads_the_environment_itself():
    readers = []
    for path in [ROOT / "app.py", *ROOT.glob("backends/**/*.py"), *ROOT.glob("ui/**/*.py")]:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"os\.environ(?!\.setdefault)|os\.getenv|getenv\(", text):
            readers.append(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}")
    assert [r for r in readers if not r.startswith("backends/settings.py")] == []
