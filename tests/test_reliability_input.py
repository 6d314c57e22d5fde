"""Bad input at the public API, property-based.

Two levels, each honest for what it proves:

- :func:`backends.validation.validate_request`, the one place a request is checked, against every
  backend's capabilities with a few thousand generated inputs (wrong types, out-of-range numbers,
  NaN/inf, empty and 100,000-character prompts, unknown fields, sizes and choices, control characters,
  emoji, broken UTF-16): it either refuses with :class:`InvalidRequest` naming each bad field, or
  returns a request that fits the backend, and then every call the runner would make is one the
  provider's emulator accepts;
- the launched app's public endpoints, ``/generate`` and ``/compare``, through gradio_client (and,
  for what a JSON encoder refuses to send, Gradio's own REST route): never a 500, a traceback or
  Gradio's anonymous error, always a message naming the field, and the emulators never receive a
  request they would refuse.
"""

from __future__ import annotations

import json
import math
import re

import httpx
import pytest
from gradio_client.exceptions import AppError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backends.base import Capabilities, GenerationRequest
from backends.errors import InvalidRequest
from backends.providers.dieyuyun import dieyuyun_from_settings
from backends.providers.endpoints import EndpointConfig, endpoint_backends
from backends.providers.local.backend import CAPABILITIES as LOCAL_CAPABILITIES
from backends.providers.segmind import segmind_from_settings
from backends.providers.siliconflow import siliconflow_from_settings
from backends.runner import JobRunner
from backends.settings import PlaygroundSettings
from backends.validation import MAX_PROMPT_CHARS, validate_request
from tests.app_harness import running_app
from tests.conftest import hypothesis_examples
from tests.emulators import make_emulator
from tests.emulators.schema import ApiError
from tests.reliability_support import GENERIC_ID, GENERIC_KEY_ENV, api_client, generic_backend_toml

pytestmark = pytest.mark.timeout(600)

UNIT_EXAMPLES = hypothesis_examples(400)  # per backend
LIVE_EXAMPLES = 90  # /generate
COMPARE_EXAMPLES = 40  # /compare: each valid call runs a grid of up to 4 cells

FIELDS = (
    "prompt", "negative_prompt", "size", "n", "seed", "steps", "guidance", "scheduler", "output_format",
    "output_quality",
)
PUBLIC = ("backend", *FIELDS)  # the parameters of /generate
KNOWN = (*FIELDS, "width", "height")  # what validate_request takes (width/height: in place of size)

SPECIAL_TEXTS = (
    "", " ", "\t\n", "x" * 100_000, "猫" * (MAX_PROMPT_CHARS + 1), "a" * MAX_PROMPT_CHARS, "🦊🎨👩‍🎨🏳️‍🌈",
    "\x00\x07\x1b[31mred\x1b[0m", "\u202egnp.exe", "line\r\nbreak\u2028sep", "'; DROP TABLE generations; --",
    "<script>alert(1)</script>", "{{7*7}} ${HOME} %s %n", "\ufeffBOM", "Ω≈ç√∫˜µ≤≥÷", "null",
)
BAD_SIZES = (
    "", "0x0", "1x1", "99999x99999", "-512x512", "512", "512x", "x512", "1e3x512", "512x512x512", "nan x nan",
    "1024 x 1024", "1024×1024", "1024*768", "１０２４x１０２４", "2048x2048", "513x512", "1024x1024\x00", "../1024x1024",
)
BAD_NUMBER_TEXTS = ("", " ", "1.5", "abc", "-1", "1e3", "0x10", "٣", "1_000", "inf", "-inf", "nan", "1e400", "２")

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.lists(st.integers(min_value=-5, max_value=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(min_value=0, max_value=9), max_size=2),
)
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])


def junk_for(field: str, *, finite: bool) -> st.SearchStrategy:
    """Wrong values for ``field``: of the wrong type, out of range, or malformed."""
    numbers = JUNK if finite else st.one_of(JUNK, NON_FINITE)
    if field in ("prompt", "negative_prompt"):
        return st.one_of(st.text(), st.sampled_from(SPECIAL_TEXTS), numbers)
    if field == "size":
        return st.one_of(st.sampled_from(BAD_SIZES), st.text(max_size=12), numbers)
    if field in ("scheduler", "output_format"):
        return st.one_of(st.text(max_size=40), st.sampled_from(["Euler", "png", "gif", "DPM++ 2M", ""]), numbers)
    return st.one_of(
        st.integers(min_value=-(10**12), max_value=10**12), st.sampled_from(BAD_NUMBER_TEXTS), numbers,
    )


def small_size(caps: Capabilities) -> str:
    if caps.sizes:
        width, height = min(caps.sizes, key=lambda wh: wh[0] * wh[1])
        return f"{width}x{height}"
    low = caps.size_range[0]
    return f"{max(low, 256)}x{max(low, 256)}"


@st.composite
def form_values(draw, caps: Capabilities, *, finite: bool = False, corrupt: int = 4) -> dict:
    """A valid request for ``caps`` (small, to stay cheap), with up to ``corrupt`` fields made wrong
    and now and then an unknown field."""
    values = {
        "prompt": draw(st.sampled_from(["a red fox in snow", "一只橘猫", "🦊 in the rain"])),
        "negative_prompt": draw(st.sampled_from(["", "blurry"])),
        "size": small_size(caps),
        "n": draw(st.integers(min_value=1, max_value=min(2, caps.max_images))),
        "seed": draw(st.one_of(st.just(-1), st.integers(min_value=0, max_value=caps.seed_max - 1))),
        "steps": draw(st.integers(min_value=caps.steps[0], max_value=caps.steps[1])),
        "guidance": draw(st.floats(min_value=caps.guidance[0], max_value=caps.guidance[1])),
    }
    if caps.schedulers:
        values["scheduler"] = draw(st.sampled_from(caps.schedulers))
    if caps.output_formats:
        values["output_format"] = draw(st.sampled_from(caps.output_formats))
    if caps.output_quality:
        values["output_quality"] = draw(st.integers(min_value=caps.output_quality[0], max_value=caps.output_quality[1]))
    count = draw(st.one_of(st.just(0), st.integers(min_value=0, max_value=corrupt)))
    for field in draw(st.permutations(FIELDS))[:count]:
        values[field] = draw(junk_for(field, finite=finite))
    return values


# --- the validator, against every backend --------------------------------------------------------


def _remote_backends() -> dict[str, tuple[object, object]]:
    """backend id -> (backend configured the way the environment does, its provider's emulator)."""
    generic = EndpointConfig(
        id=GENERIC_ID, label="Self-hosted Kolors", base_url="http://127.0.0.1:9/v1", model="kolors",
        api_key_env=GENERIC_KEY_ENV, size_range=(256, 2048), response_format="b64_json",
    )
    return {
        "dieyuyun": (dieyuyun_from_settings(PlaygroundSettings.from_mapping({"DIEYUYUN_API_KEY": "k"})), make_emulator("dieyuyun")),
        "segmind": (segmind_from_settings(PlaygroundSettings.from_mapping({"SEGMIND_API_KEY": "k"})), make_emulator("segmind")),
        "siliconflow": (siliconflow_from_settings(PlaygroundSettings.from_mapping({"SILICONFLOW_API_KEY": "k"})), make_emulator("siliconflow")),
        GENERIC_ID: (endpoint_backends([generic], PlaygroundSettings.from_mapping({GENERIC_KEY_ENV: "k"}))[0], make_emulator("openai")),
    }


REMOTE = _remote_backends()
CAPABILITIES = {**{name: backend.capabilities for name, (backend, _) in REMOTE.items()}, "local": LOCAL_CAPABILITIES}
RUNNER = JobRunner()


def assert_fits(request: GenerationRequest, caps: Capabilities) -> None:
    """What the validator returns is within every limit of the backend."""
    assert caps.accepts_size(request.width, request.height)
    assert 1 <= request.n <= caps.max_images
    assert caps.steps[0] <= request.steps <= caps.steps[1]
    assert math.isfinite(request.guidance) and caps.guidance[0] <= request.guidance <= caps.guidance[1]
    assert request.seed is None or 0 <= request.seed <= caps.seed_max - (request.n - 1)
    for text in (request.prompt, request.negative_prompt):
        assert isinstance(text, str) and len(text) <= MAX_PROMPT_CHARS
        assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]", text)
        text.encode("utf-8")  # storable in SQLite and sendable as JSON
    assert request.prompt.strip()
    assert request.scheduler in (caps.schedulers or (None,))
    assert request.output_format in (caps.output_formats or (None,))
    if caps.output_quality:
        assert caps.output_quality[0] <= request.output_quality <= caps.output_quality[1]
    else:
        assert request.output_quality is None


def assert_refusal_names_fields(exc: InvalidRequest, values: dict) -> None:
    message = str(exc)
    assert exc.problems and message.startswith("Please fix")
    for problem in exc.problems:
        assert problem.field in KNOWN or problem.field in values, problem
        assert f"- {problem.field}: " in message
    assert len(message) <= 400 * len(exc.problems)  # a 100,000-character value is never echoed whole


@pytest.mark.parametrize("backend_id", list(CAPABILITIES))
def test_the_validator_refuses_or_returns_what_the_provider_accepts(backend_id):
    caps = CAPABILITIES[backend_id]
    seen = {"n": 0}

    @settings(max_examples=UNIT_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(values=form_values(caps, corrupt=5), extra=st.dictionaries(st.text(max_size=12), JUNK, max_size=1))
    def check(values, extra):
        seen["n"] += 1
        values = {**values, **{k: v for k, v in extra.items() if k not in values}}
        try:
            request = validate_request(values, caps)
        except InvalidRequest as exc:
            assert_refusal_names_fields(exc, values)
            return
        assert not set(values) - set(KNOWN)  # an unknown field is never silently ignored
        assert_fits(request, caps)
        if backend_id in REMOTE:  # every call the runner makes is one the provider accepts
            backend, emulator = REMOTE[backend_id]
            request = RUNNER.with_seed(request, backend)
            for _, call in RUNNER._split(request, backend):
                payload = json.loads(json.dumps(backend.build_payload(call)))  # as it goes on the wire
                try:
                    emulator.validate(payload)
                except ApiError as exc:
                    pytest.fail(f"{backend_id} would refuse {payload}: {exc.message}")

    check()
    assert seen["n"] >= UNIT_EXAMPLES // 2


def test_the_validator_refuses_what_the_issue_names():
    caps = CAPABILITIES["dieyuyun"]
    cases = {
        "prompt": ["", " \t", "x" * 100_000, "\x00\x01", "a\ud83db", 5, None, ["a"]],
        "size": ["512x512", "1024", "big", 1024, "-1x-1"],
        "n": [0, 5, 1.5, math.nan, math.inf, "two", [1], True],
        "seed": [-2, 10**10, math.nan, -math.inf, "abc", 1.5, {"a": 1}],
        "steps": [0, 101, math.nan, "many", -math.inf],
        "guidance": [-0.1, 20.1, math.nan, math.inf, "high"],
        "scheduler": ["Euler"],
        "output_format": ["png"],
        "output_quality": [80],
        "colour": ["red"],
    }
    for field, bad_values in cases.items():
        for bad in bad_values:
            with pytest.raises(InvalidRequest) as info:
                validate_request({"prompt": "a fox", field: bad}, caps)
            assert f"- {field}: " in str(info.value), (field, bad)
    # control characters and emoji are text: the former are dropped, the latter kept
    assert validate_request({"prompt": "\x07🦊\x1b fox"}, caps).prompt == "🦊 fox"


# --- the live /generate endpoint ------------------------------------------------------------------


@pytest.fixture(scope="module")
def input_app(
    tmp_path_factory, dieyuyun_emulator_session, segmind_emulator_session, siliconflow_emulator_session,
    openai_emulator_session,
):
    emulators = {
        "dieyuyun": dieyuyun_emulator_session, "segmind": segmind_emulator_session,
        "siliconflow": siliconflow_emulator_session, GENERIC_ID: openai_emulator_session,
    }
    for emulator in emulators.values():
        emulator.reset()
    tmp = tmp_path_factory.mktemp("input")
    env = {"KOLORS_MODEL": str(tmp / "no-weights-here")}  # local: listed, unavailable, says why
    for provider in ("dieyuyun", "segmind", "siliconflow"):
        env[f"{provider.upper()}_API_KEY"] = emulators[provider].api_key
        env[f"{provider.upper()}_BASE_URL"] = emulators[provider].base_url
    env.update(generic_backend_toml(tmp / "backends.toml", emulators[GENERIC_ID].base_url))
    env[GENERIC_KEY_ENV] = emulators[GENERIC_ID].api_key
    with running_app(env, data_dir=tmp / "data", log_path=tmp / "app.log") as app:
        app.client = api_client(app.url)
        app.emulators = emulators
        app.calls = {"ok": 0, "refused": 0}
        yield app
        app.client.close()


NAMED = re.compile(rf"^- ({'|'.join(PUBLIC)}): ", re.MULTILINE)
# /compare names its axes x_axis/y_axis (their kind and values together), and the grid as a whole.
COMPARE_NAMED = re.compile(rf"^- ({'|'.join(PUBLIC)}|x_axis|y_axis|grid): |Tick the confirmation box", re.MULTILINE)


def assert_answer_is_sound(app, outcome: str, answer, seen: dict[str, int], *, named=NAMED) -> None:
    """A refusal names a field, with no traceback and in a few lines; a success came back whole; and
    no emulator was sent a request it would refuse."""
    if outcome == "refused":
        assert "Traceback" not in answer and "upstream Gradio app has raised an exception" not in answer, answer
        unavailable = "Local Kolors" in answer or "KOLORS_MODEL" in answer
        assert named.search(answer) or unavailable, f"no field named in: {answer!r}"
        assert "rejected the request" not in answer, answer  # refused here, not by a provider
        assert len(answer) < 4000, f"a {len(answer)}-character message"  # a pasted 100,000 characters is not echoed
        app.calls["refused"] += 1
    elif named is NAMED:
        gallery, info = answer
        assert info["failures"] == [] and len(gallery) == info["request"]["n"] >= 1
        app.calls["ok"] += 1
    else:
        _, cells, info = answer
        assert len(cells) == len(info["cells"]) >= 1 and all(cell["status"] == "ok" for cell in info["cells"]), info
        app.calls["ok"] += 1
    for name, emulator in app.emulators.items():
        for recorded in emulator.requests[seen[name]:]:
            try:
                emulator.validate(recorded.json)
            except ApiError as exc:
                pytest.fail(f"{name}'s emulator was sent a request it refuses: {exc.message}")
    assert "Traceback" not in app.log()[seen["log"]:]


def marks(app) -> dict[str, int]:
    """Where each emulator's request log and the app's log stand before a call."""
    return {**{name: len(emulator.requests) for name, emulator in app.emulators.items()}, "log": len(app.log())}


BACKEND_VALUES = {
    "valid": st.sampled_from(["dieyuyun", "segmind", "siliconflow", GENERIC_ID]),
    "unknown": st.sampled_from(["nope", "", "DIEYUYUN", " segmind", "local", "../dieyuyun", "dieyuyun\x00"]),
    "junk": JUNK,
}


@st.composite
def api_calls(draw) -> dict:
    backend = draw(BACKEND_VALUES[draw(st.sampled_from(["valid", "valid", "valid", "unknown", "junk"]))])
    caps = CAPABILITIES.get(backend) if isinstance(backend, str) else None
    values = draw(form_values(caps or CAPABILITIES["dieyuyun"], finite=True, corrupt=3))
    return {"backend": backend, **values}


@pytest.mark.slow
def test_live_generate_answers_every_bad_input_with_a_field(input_app):
    seen_examples = {"n": 0}

    @settings(
        max_examples=LIVE_EXAMPLES, deadline=None, derandomize=True, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(values=api_calls())
    def check(values):
        seen_examples["n"] += 1
        seen = marks(input_app)
        try:
            answer = input_app.client.predict(api_name="/generate", **values)
            outcome = "ok"
        except AppError as exc:
            answer, outcome = str(exc), "refused"
        assert_answer_is_sound(input_app, outcome, answer, seen)

    check()
    assert seen_examples["n"] == LIVE_EXAMPLES
    assert input_app.calls["refused"] >= LIVE_EXAMPLES // 3 and input_app.calls["ok"] >= 5, input_app.calls


AXIS_KINDS = ["seed", "guidance", "steps", "scheduler", "size", "backend", "prompt_sr"]
AXIS_TEXTS = {
    "seed": ["2", "1, 7", "100-101", "[2]"],
    "guidance": ["3, 5", "2-4 (+2)", "0, 20"],
    "steps": ["10, 20", "5-6", "1, 100"],
    "scheduler": ["EulerDiscreteScheduler, UniPCMultistepScheduler", "DPMSolverMultistepScheduler", "Euler"],
    "size": ["512x512, 640x512", "1024x768, 768x1024", "1024x1024"],
    "backend": ["dieyuyun, segmind", "siliconflow", f"{GENERIC_ID}, dieyuyun"],
    "prompt_sr": ["fox, cat", "snow, rain", "fox"],
}
BAD_AXIS_TEXTS = (
    "", " ", "1" * 5000, "9" * 100_000, "x" * 100_000, "1-1000000", "0-5 (+0)", "5-1 (+1)", "1-3 [1]", "1-2 [100000]",
    "a, a", '"unclosed', "1,,,2", "-3", "1e9", "nan", "inf", "🦊", "1 2", "0x10", "１", "local", "nope, dieyuyun",
)


@st.composite
def compare_calls(draw) -> dict:
    """/compare's parameters: a backend, the form (no n: a cell is one image), two axes, the confirmation.
    The axis kinds are mostly the dropdown's own choices, now and then anything at all."""
    backend = draw(BACKEND_VALUES[draw(st.sampled_from(["valid", "valid", "valid", "unknown", "junk"]))])
    caps = CAPABILITIES.get(backend) if isinstance(backend, str) else None
    values = draw(form_values(caps or CAPABILITIES["dieyuyun"], finite=True, corrupt=1))
    values.pop("n")
    odd_kinds = st.one_of(st.sampled_from(["nope", "Guidance", "cfg", "", "None", "prompt s/r"]), JUNK)
    x_type = draw(st.one_of(st.sampled_from(AXIS_KINDS), st.sampled_from(AXIS_KINDS), odd_kinds))
    y_type = draw(st.one_of(st.sampled_from(["none", "none", *AXIS_KINDS]), odd_kinds))

    def axis_text(kind: str) -> st.SearchStrategy:
        good = st.sampled_from(AXIS_TEXTS.get(kind, [""]) if isinstance(kind, str) else [""])
        return st.one_of(good, good, st.sampled_from(BAD_AXIS_TEXTS), st.text(max_size=20))

    return {
        "backend": backend, **values, "x_type": x_type, "x_values": draw(axis_text(x_type)), "y_type": y_type,
        "y_values": draw(axis_text(y_type)) if y_type != "none" else draw(st.sampled_from(["", "2"])),
        "confirm": draw(st.one_of(st.booleans(), st.none(), st.sampled_from(["", 0, "yes"]))),
    }


@pytest.mark.slow
def test_live_compare_answers_every_bad_input_with_a_field(input_app):
    seen_examples = {"n": 0}

    @settings(
        max_examples=COMPARE_EXAMPLES, deadline=None, derandomize=True, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(values=compare_calls())
    def check(values):
        seen_examples["n"] += 1
        seen = marks(input_app)
        try:
            answer = input_app.client.predict(api_name="/compare", **values)
            outcome = "ok"
        except AppError as exc:
            answer, outcome = str(exc), "refused"
        assert_answer_is_sound(input_app, outcome, answer, seen, named=COMPARE_NAMED)

    check()
    assert seen_examples["n"] == COMPARE_EXAMPLES


@pytest.mark.parametrize("x_type", ["seed", "steps", "guidance", "size", "scheduler", "backend", "prompt_sr"])
@pytest.mark.parametrize("x_values", ["9" * 100_000, "fox," + "x" * 100_000], ids=["100k digits", "100k letters"])
def test_a_100000_character_axis_is_refused_in_a_few_lines(input_app, x_type, x_values):
    seen = marks(input_app)
    with pytest.raises(AppError) as info:
        input_app.client.predict(
            api_name="/compare", backend="segmind", prompt="a fox", size="512x512", x_type=x_type, x_values=x_values,
        )
    assert_answer_is_sound(input_app, "refused", str(info.value), seen, named=COMPARE_NAMED)


@pytest.mark.parametrize("x_type", ["nope", "colour", 5])  # titles like "Guidance" are accepted spellings
def test_an_axis_kind_outside_the_choices_is_refused_naming_the_field(input_app, x_type):
    seen = marks(input_app)
    with pytest.raises(AppError) as info:
        input_app.client.predict(api_name="/compare", backend="dieyuyun", prompt="a fox", size="1024x768", x_type=x_type)
    assert_answer_is_sound(input_app, "refused", str(info.value), seen, named=re.compile(r"^- x_axis: ", re.M))


@pytest.mark.parametrize("backend", [["dieyuyun"], {"id": "dieyuyun"}, []])
def test_a_list_or_dict_as_backend_is_refused_naming_the_field(input_app, backend):
    seen = marks(input_app)
    with pytest.raises(AppError) as info:
        input_app.client.predict(api_name="/generate", backend=backend, prompt="a fox", size="1024x1024")
    assert "- backend: " in str(info.value)
    assert_answer_is_sound(input_app, "refused", str(info.value), seen)


@pytest.mark.e2e
def test_an_app_whose_first_backend_has_schedulers_generates(segmind_emulator, tmp_path):
    """The form starts on the first available backend; with Segmind alone, that one has schedulers."""
    env = {
        "SEGMIND_API_KEY": segmind_emulator.api_key, "SEGMIND_BASE_URL": segmind_emulator.base_url,
        "KOLORS_MODEL": str(tmp_path / "no-weights-here"),
    }
    with running_app(env, data_dir=tmp_path / "data", log_path=tmp_path / "app.log") as app:
        client = api_client(app.url)
        for values in ({}, {"scheduler": "UniPCMultistepScheduler", "output_format": "png"}):
            gallery, info = client.predict(
                api_name="/generate", backend="segmind", prompt="a fox", size="512x512", **values
            )
            assert len(gallery) == 1 and info["failures"] == []
        assert "Traceback" not in app.log()


# What gradio_client cannot send (its JSON encoder refuses NaN and broken UTF-16) goes through
# Gradio's REST route for the same endpoint, in the endpoint's parameter order.
REST_CASES = {
    "n is NaN": {"n": math.nan},
    "n is Infinity": {"n": math.inf},
    "seed is -Infinity": {"seed": -math.inf},
    "steps is NaN": {"steps": math.nan},
    "guidance is Infinity": {"guidance": math.inf},
    "guidance is -Infinity": {"guidance": -math.inf},
    "output_quality is NaN": {"backend": "segmind", "size": "512x512", "output_quality": math.nan},
    "prompt with half a UTF-16 pair": {"prompt": "a fox \ud83d in snow"},
    "negative prompt with half a UTF-16 pair": {"negative_prompt": "\udc00"},
    "size with half a UTF-16 pair": {"size": "1024x\ud8001024"},
    "backend with half a UTF-16 pair": {"backend": "dieyu\udfffyun"},
    "seed beyond 64 bits": {"seed": 10**30},
    "n as a huge float": {"n": 1e308},
}


def rest_call(url: str, body: str) -> tuple[int, str]:
    """POST /gradio_api/call/generate, then read its event stream; (status, text of the answer)."""
    posted = httpx.post(f"{url}gradio_api/call/generate", content=body, headers={"content-type": "application/json"})
    if posted.status_code != 200:
        return posted.status_code, posted.text
    streamed = httpx.get(f"{url}gradio_api/call/generate/{posted.json()['event_id']}", timeout=60)
    return streamed.status_code, streamed.text


def rest_body(url: str, values: dict) -> str:
    """Every parameter /generate declares (the REST route wants them all), in its order, from the app's own API info."""
    parameters = httpx.get(f"{url}gradio_api/info").json()["named_endpoints"]["/generate"]["parameters"]
    base = {
        "backend": "dieyuyun", "prompt": "a fox", "negative_prompt": "", "size": "1024x1024", "n": 1, "seed": -1,
        "steps": 20, "guidance": 7.5, "scheduler": None, "output_format": None, "output_quality": None,
    }
    merged = {**base, **values}
    data = [merged[p["parameter_name"]] if p["parameter_name"] in merged else p.get("parameter_default")
            for p in parameters]
    assert [p["parameter_name"] for p in parameters][: len(PUBLIC)] == list(PUBLIC)
    return json.dumps({"data": data})  # NaN/Infinity as JavaScript writes them


@pytest.mark.parametrize("case", list(REST_CASES))
def test_rest_route_answers_what_a_json_encoder_refuses(input_app, case):
    seen = marks(input_app)
    status, text = rest_call(input_app.url, rest_body(input_app.url, REST_CASES[case]))
    assert status == 200 and "event: error" in text, text
    message = json.loads(text.split("data:", 1)[1].strip())["error"]
    assert message, f"an error without a message: {text}"
    field = next(iter(REST_CASES[case])) if len(REST_CASES[case]) == 1 else "output_quality"
    assert f"- {field}: " in message, message
    assert_answer_is_sound(input_app, "refused", message, seen)


@pytest.mark.parametrize(
    "body",
    ['{"data": "nope"}', "not json", '{"data": {"prompt": "x"}}', '{"nodata": []}', ""],
)
def test_rest_route_refuses_malformed_bodies_without_a_500(input_app, body):
    seen = marks(input_app)
    status, text = rest_call(input_app.url, body)
    assert 400 <= status < 500, (status, text)
    assert "Traceback" not in text and re.search(r'"loc":\["body"', text), text  # FastAPI names what is wrong
    assert "Traceback" not in input_app.log()[seen["log"]:]

