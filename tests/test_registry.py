"""The registry: availability from the environment, TOML-declared endpoints, and plugins registered
through the ``kolors_playground.backends`` entry-point group by a separately installed package."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest

from backends.errors import ConfigurationError, InvalidRequest
from backends.registry import build_registry
from backends.settings import PlaygroundSettings


def test_backends_without_keys_are_listed_as_unavailable_with_the_variable():
    registry = build_registry(PlaygroundSettings.from_mapping({}), include_plugins=False)
    entries = {entry.id: entry for entry in registry.entries()}
    assert {"dieyuyun", "segmind", "siliconflow", "local"} <= set(entries)
    for backend_id, variable in (("dieyuyun", "DIEYUYUN_API_KEY"), ("segmind", "SEGMIND_API_KEY"), ("siliconflow", "SILICONFLOW_API_KEY")):
        assert not entries[backend_id].availability.available
        assert variable in entries[backend_id].availability.reason
    assert registry.available() == [] or [b.id for b in registry.available()] == ["local"]


def test_keys_and_base_urls_come_from_the_environment():
    registry = build_registry(
        PlaygroundSettings.from_mapping({"SEGMIND_API_KEY": "k", "SEGMIND_BASE_URL": "http://127.0.0.1:9/", "DIEYUYUN_API_KEY": "k2"}),
        include_plugins=False, include_local=False,
    )
    assert [b.id for b in registry.available()] == ["dieyuyun", "segmind"]
    assert registry.get("segmind").base_url == "http://127.0.0.1:9"
    assert registry.get("dieyuyun").base_url == "https://open.dieyuyun.com/v1"


def test_unknown_backend_names_the_field_and_the_choices():
    with pytest.raises(InvalidRequest, match=r"backend: 'nope'.*dieyuyun, segmind, siliconflow"):
        build_registry(PlaygroundSettings.from_mapping({}), include_plugins=False, include_local=False).get("nope")


def write(tmp_path, text: str):
    path = tmp_path / "backends.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return {"PLAYGROUND_BACKENDS": str(path)}


def test_a_toml_endpoint_is_one_entry_away(tmp_path, openai_emulator):
    env = write(tmp_path, f"""
        [[backend]]
        id = "cluster"
        label = "Kolors on our cluster"
        base_url = "{openai_emulator.base_url}"
        model = "kolors"
        api_key_env = "CLUSTER_KEY"
        size_range = [256, 1536]
        max_images = 2
        steps = [1, 60, 30]
        response_format = "b64_json"
        price_per_image = 0.002
        currency = "USD"
    """)
    registry = build_registry(PlaygroundSettings.from_mapping({**env, "CLUSTER_KEY": "test-key"}), include_plugins=False, include_local=False)
    backend = registry.get("cluster")
    assert backend.availability().available
    caps = backend.capabilities
    assert (caps.size_range, caps.max_images, caps.steps, str(caps.price_per_image)) == ((256, 1536), 2, (1, 60, 30), "$0.002")
    from backends.runner import JobRunner
    from backends.validation import validate_request

    result = asyncio.run(JobRunner().run(backend, validate_request({"prompt": "hi", "size": "512x512", "n": 2}, caps)))
    assert len(result.images) == 2 and str(result.cost) == "$0.004"
    missing_key = build_registry(PlaygroundSettings.from_mapping(env), include_plugins=False, include_local=False).get("cluster")
    assert "CLUSTER_KEY" in missing_key.availability().reason


@pytest.mark.parametrize(
    "text, message",
    [
        ("[[backend]]\nid='a'\nlabel='A'\nbase_url='http://x'\nmodel='m'\n", "exactly one of sizes"),
        ("[[backend]]\nid='a b'\nlabel='A'\nbase_url='http://x'\nmodel='m'\nsizes=['1x1']\n", "backend #1: id"),
        ("[[backend]]\nid='a'\nlabel='A'\nbase_url='ftp://x'\nmodel='m'\nsizes=['1x1']\n", "base_url"),
        ("[[backend]]\nid='a'\nlabel='A'\nbase_url='http://x'\nmodel='m'\nsizes=['big']\n", "WxH"),
        ("[[backend]]\nid='a'\nlabel='A'\nbase_url='http://x'\nmodel='m'\nsizes=['1x1']\ncolour='red'\n", "colour"),
        ("[[backend]]\nid='a'\nlabel='A'\nbase_url='http://x'\nmodel='m'\nsizes=['1x1']\n" * 2, "repeated: a"),
        ("this is = not toml [", "not valid TOML"),
    ],
)
def test_a_wrong_file_says_where_and_what(tmp_path, text, message):
    path = tmp_path / "b.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=message):
        build_registry(PlaygroundSettings.from_mapping({"PLAYGROUND_BACKENDS": str(path)}), include_plugins=False, include_local=False)


def test_a_missing_file_is_named():
    with pytest.raises(ConfigurationError, match="does not exist"):
        build_registry(PlaygroundSettings.from_mapping({"PLAYGROUND_BACKENDS": "/nonexistent/b.toml"}), include_plugins=False, include_local=False)


def test_an_installed_package_registers_its_backend_through_the_entry_point(tmp_path, monkeypatch):
    package = tmp_path / "src"
    (package / "kp_echo_backend").mkdir(parents=True)
    (package / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "kp-echo-backend"
        version = "0.1"

        [project.entry-points."kolors_playground.backends"]
        echo = "kp_echo_backend:register_backends"
    """))
    (package / "kp_echo_backend" / "__init__.py").write_text(textwrap.dedent("""
        import io
        from PIL import Image
        from backends.base import Availability, BackendOutput, Capabilities, GeneratedImage

        class EchoBackend:
            id = "echo"
            label = "Echo (plugin)"
            model = "echo-1"
            max_concurrency = 2
            capabilities = Capabilities(size_range=(64, 256), max_images=2)

            def __init__(self, colour):
                self.colour = colour

            def availability(self):
                return Availability(True)

            async def generate(self, request, *, progress=None, cancel=None):
                buffer = io.BytesIO()
                Image.new("RGB", (request.width, request.height), self.colour).save(buffer, "PNG")
                image = GeneratedImage(buffer.getvalue(), "image/png", request.width, request.height, request.seed)
                return BackendOutput(images=(image,))

        def register_backends(register, env):
            register(EchoBackend(env.get("ECHO_COLOUR", "red")))
    """))
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(package)],
        check=True,
    )
    monkeypatch.syspath_prepend(str(target))
    registry = build_registry(PlaygroundSettings.from_mapping({"ECHO_COLOUR": "blue"}), include_local=False)
    backend = registry.get("echo")
    assert backend.label == "Echo (plugin)" and backend.colour == "blue"
    from backends.runner import JobRunner
    from backends.validation import validate_request

    result = asyncio.run(JobRunner().run(backend, validate_request({"prompt": "x", "size": "64x64", "n": 2, "seed": 3}, backend.capabilities)))
    assert result.seeds == (3, 4)
