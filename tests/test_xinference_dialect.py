"""The Xinference dialect without a server: the request body it sends, the TOML that selects it, and
how its errors read. Against a real Xinference cluster: tests/test_xinference.py."""

from __future__ import annotations

import json

import httpx
import pytest

from backends.errors import ConfigurationError, ProviderServerError, RequestRejected
from backends.providers.endpoints import EndpointConfig, endpoint_backends, load_endpoints
from backends.providers.http import HttpAnswer
from backends.providers.openai_compatible import OpenAICompatibleBackend
from backends.providers.xinference import XinferenceBackend, xinference_payload
from backends.settings import PlaygroundSettings
from backends.validation import validate_request

ENTRY = '[[backend]]\nid = "xinf"\nlabel = "Kolors on Xinference"\nbase_url = "http://127.0.0.1:9997/v1"\nmodel = "kolors"\nsize_range = [64, 2048]\n'


def backends_from(tmp_path, extra: str = ""):
    path = tmp_path / "backends.toml"
    path.write_text(ENTRY + extra)
    return endpoint_backends(load_endpoints(path), PlaygroundSettings.from_mapping({}))


def xinference_capabilities():
    return EndpointConfig(
        id="x", label="X", base_url="http://127.0.0.1:1/v1", model="kolors", size_range=(64, 2048), dialect="xinference"
    ).capabilities()


def test_extension_fields_go_in_kwargs_as_a_json_string_with_one_seed_per_image():
    caps = xinference_capabilities()
    request = validate_request(
        {"prompt": "一只猫", "negative_prompt": "blurry", "size": "64x64", "n": 3, "seed": 42, "steps": 2, "guidance": 3.5},
        caps,
    )
    body = xinference_payload("kolors", request, request_id="r1")
    assert set(body) == {"model", "prompt", "n", "size", "response_format", "kwargs"}
    assert (body["model"], body["prompt"], body["n"], body["size"], body["response_format"]) == (
        "kolors", "一只猫", 3, "64x64", "b64_json",
    )
    assert json.loads(body["kwargs"]) == {
        "seed": [42, 43, 44], "negative_prompt": "blurry", "num_inference_steps": 2, "guidance_scale": 3.5,
        "request_id": "r1",
    }
    single = xinference_payload("kolors", validate_request({"prompt": "p", "size": "64x64", "seed": 7}, caps), request_id="r2")
    assert json.loads(single["kwargs"])["seed"] == 7 and "negative_prompt" not in json.loads(single["kwargs"])


def test_the_dialect_is_one_line_of_toml_and_keeps_batches_in_one_request(tmp_path):
    (plain,) = backends_from(tmp_path)
    assert type(plain) is OpenAICompatibleBackend and not plain.capabilities.batch_is_per_image_reproducible
    (xinf,) = backends_from(tmp_path, 'dialect = "xinference"\n')
    assert isinstance(xinf, XinferenceBackend) and xinf.capabilities.batch_is_per_image_reproducible
    assert xinf.response_format == "b64_json"


@pytest.mark.parametrize(
    "extra, message",
    [
        ('dialect = "comfyui"\n', "dialect: Input should be 'openai' or 'xinference'"),
        ('dialect = "xinference"\nresponse_format = "url"\n', 'dialect "xinference" always asks for b64_json'),
        ('dialect = "xinference"\nextensions = false\n', "needs extensions = true"),
    ],
)
def test_a_wrong_dialect_entry_says_where_and_what(tmp_path, extra, message):
    with pytest.raises(ConfigurationError) as info:
        backends_from(tmp_path, extra)
    assert "backend #1" in str(info.value) and message in str(info.value)


def answer(status: int, detail: str) -> HttpAnswer:
    return HttpAnswer(status, httpx.Headers({"content-type": "application/json"}), json.dumps({"detail": detail}).encode())


def test_errors_drop_the_actor_address_and_say_what_to_do(tmp_path):
    (xinf,) = backends_from(tmp_path, 'dialect = "xinference"\n')
    missing = xinf.http.error_for(answer(404, "[address=127.0.0.1:33591, pid=17834] Model not found in the model list, uid: kolors."))
    assert isinstance(missing, RequestRejected)
    assert "has no model 'kolors' running" in str(missing) and "xinference launch" in str(missing)
    assert "address=" not in str(missing) and "Model not found in the model list" in str(missing)
    dead = xinf.http.error_for(answer(500, "[address=127.0.0.1:1, pid=2] [Errno 111] Connect call failed ('127.0.0.1', 19999)"))
    assert isinstance(dead, ProviderServerError) and dead.retryable
    assert "could not reach the worker that serves 'kolors'" in str(dead) and "Restart the worker" in str(dead)


def test_check_reports_a_supervisor_that_does_not_answer(tmp_path):
    from backends.check import run_check

    path = tmp_path / "backends.toml"
    path.write_text(ENTRY.replace("9997", "9") + 'dialect = "xinference"\n')
    (xinf,) = endpoint_backends(load_endpoints(path), PlaygroundSettings.from_mapping({}))
    lines: list[str] = []
    assert run_check([xinf], out=lines.append) == 1
    assert lines[0].startswith("FAILED  xinf (Kolors on Xinference): unreachable: no answer from http://127.0.0.1:9/v1")
