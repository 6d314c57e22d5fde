"""Every fault the emulators play, against every remote backend, through the app a
person runs (``python app.py``, driven by gradio_client, writing its real SQLite history).

Each cell of :data:`TABLE` is one test: the fault is played on the backend's emulator (or its
connection is refused by a :class:`Gate` in front of it), ``/generate`` is called, and the test checks

- the job ends in bounded time (:data:`BOUND_S`), with the provider bounds an operator sets through
  ``PLAYGROUND_HTTP_TIMEOUT`` / ``PLAYGROUND_HTTP_RETRIES`` / ``PLAYGROUND_HTTP_BACKOFF``;
- a failure comes back as the message the page shows (a ``gr.Error``): it names the provider, says
  what happened (the cell's pattern) and what to do, with no traceback;
- transient faults are retried within bounds (the emulator counts the requests) and then succeed,
  or fail cleanly;
- the history gained exactly one entry, whole (``failed`` with no image, or ``ok`` with its image
  on disk and decodable), and no file is left that no entry names;
- the app stays up: the next request to the same backend succeeds.

The fault table (fault × backend → expected outcome; ``ok/2`` = succeeds after 2 requests, ``fails/3``
= fails after 3 requests, ``n/a`` = the backend never meets that fault)::

    fault                 dieyuyun          segmind            siliconflow       selfhosted (TOML)
    connect_refused       fails/0 connect   fails/0 connect    fails/0 connect   fails/0 connect
    slow_answer           fails/1 timeout   fails/1 timeout    fails/1 timeout   fails/1 timeout
    429_retry_after       ok/2              ok/2               ok/2              ok/2
    429_persistent        fails/3 429       fails/3 429        fails/3 429       fails/3 429
    500_twice             ok/3              ok/3               ok/3              ok/3
    502_persistent        fails/3 502       fails/3 502        fails/3 502       fails/3 502
    503_once              ok/2              ok/2               ok/2              ok/2
    401                   fails/1 key       fails/1 key        fails/1 key       fails/1 key
    406                   fails/1 rejected  fails/1 credits    fails/1 rejected  fails/1 rejected
    content_policy        fails/1 400       fails/1 400        fails/1 400       fails/1 400
    malformed_json        fails/1 JSON      fails/1 not image  fails/1 JSON      fails/1 JSON
    truncated_image       fails/1 partial   fails/1 partial    fails/1 partial   fails/1 partial
    non_image             fails/1 html      fails/1 html       fails/1 html      fails/1 not image
    expired_url           fails/1 expired   n/a (bytes)        fails/1 expired   n/a (b64_json)
    huge_image (bomb)     fails/1 bomb      fails/1 bomb       fails/1 bomb      fails/1 bomb
    slow_body (endless)   fails/1 download  fails/1 timeout    fails/1 download  fails/1 timeout

The table below is the source of truth; :func:`test_the_table_in_the_docstring_is_the_table` keeps
this drawing honest.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from backends.errors import ConfigurationError
from backends.providers.http import RetryPolicy, Timeouts, http_options
from backends.registry import build_registry
from backends.settings import PlaygroundSettings
from tests.app_harness import running_app
from tests.reliability_support import (
    GENERIC_ID,
    GENERIC_KEY_ENV,
    Gate,
    api_client,
    check_history,
    fast_http_env,
    generic_backend_toml,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

TIMEOUT_S = 1.5  # PLAYGROUND_HTTP_TIMEOUT for the app under test
RETRIES = 2  # PLAYGROUND_HTTP_RETRIES: 3 attempts in all
# One job: up to 3 attempts of TIMEOUT_S each, the backoff waits, a Retry-After, and the app's own work.
BOUND_S = 3 * TIMEOUT_S + 4.0

# backend id -> (emulator, label shown to people, key variable, a size it takes)
BACKENDS = {
    "dieyuyun": ("dieyuyun", "dieyuyun (Kolors)", "DIEYUYUN_API_KEY", "1024x768"),
    "segmind": ("segmind", "Segmind (Kolors)", "SEGMIND_API_KEY", "512x512"),
    "siliconflow": ("siliconflow", "SiliconFlow (Kolors)", "SILICONFLOW_API_KEY", "768x1024"),
    GENERIC_ID: ("openai", "Self-hosted Kolors", GENERIC_KEY_ENV, "256x256"),
}


@dataclass(frozen=True)
class Expect:
    """One cell: ``ok`` (the image comes back), ``fails`` (the message matches ``says``, which must tell
    what happened and what to do), or ``n/a`` (``says`` tells why the backend never meets the fault).
    ``requests`` is how many generation requests the emulator sees, retries included."""

    outcome: str
    requests: int = 1
    says: str = ""


def ok(requests: int) -> Expect:
    return Expect("ok", requests)


def fails(says: str, requests: int = 1) -> Expect:
    return Expect("fails", requests, says)


def na(why: str) -> Expect:
    return Expect("n/a", 0, why)


CONNECT = r"Could not connect to .* Check your network and the base URL, then try again"
TIMEOUT = rf"did not answer within {TIMEOUT_S:g} s\. .*try again"
RATE = r"rate-limiting requests \(HTTP 429\)\. Try again in a minute"
BAD_GATEWAY = r"internal problem \(HTTP 502\) and retries did not help\. Try again later"
REJECTED_406 = r"rejected the request \(HTTP 406\)\..* Change the prompt or settings and try again"
CREDITS = r"not enough credits for this request \(HTTP 406\)\. Add credits to the Segmind account"
POLICY = r"rejected the request \(HTTP 400\)\. It said: \"Your request was rejected by the safety system.*Change the prompt"
MALFORMED = r"answered with malformed JSON\. This is usually temporary; try again"
JSON_NOT_IMAGE = r"answered with application/json instead of an image\. Try again"
INCOMPLETE = r"sent something that is not a complete image \(\w+\)\. Try again"
HTML_URL = r"image URL returned text/html instead of an image\. Try again"
HTML_BODY = r"answered with text/html instead of an image\. Try again"
EXPIRED = r"image link had already expired \(HTTP 403\)\. Generate again"
BOMB = r"(decompression bomb\)|over the limit of \d+ pixels); refused\. Try again"
DOWNLOAD_SLOW = rf"Downloading the image from .* took longer than {TIMEOUT_S:g} s\. Try again"
# Every failure says what to do, in one of these ways.
ADVICE = r"Try again|try again|Check |Add credits|Generate again|Change the prompt"


def key(variable: str) -> Expect:
    return fails(rf"refused the API key \(HTTP 401\)\. Check {variable}, or paste a valid key in Settings")


# fault -> backend -> expected outcome (the docstring draws this table)
TABLE: dict[str, dict[str, Expect]] = {
    "connect_refused": {b: fails(CONNECT, 0) for b in BACKENDS},
    "slow_answer": {b: fails(TIMEOUT) for b in BACKENDS},
    "429_retry_after": {b: ok(2) for b in BACKENDS},
    "429_persistent": {b: fails(RATE, 3) for b in BACKENDS},
    "500_twice": {b: ok(3) for b in BACKENDS},
    "502_persistent": {b: fails(BAD_GATEWAY, 3) for b in BACKENDS},
    "503_once": {b: ok(2) for b in BACKENDS},
    "401": {b: key(BACKENDS[b][2]) for b in BACKENDS},
    "406": {b: fails(CREDITS if b == "segmind" else REJECTED_406) for b in BACKENDS},
    "content_policy": {b: fails(POLICY) for b in BACKENDS},
    "malformed_json": {b: fails(JSON_NOT_IMAGE if b == "segmind" else MALFORMED) for b in BACKENDS},
    "truncated_image": {b: fails(INCOMPLETE) for b in BACKENDS},
    "non_image": {
        "dieyuyun": fails(HTML_URL), "segmind": fails(HTML_BODY), "siliconflow": fails(HTML_URL),
        GENERIC_ID: fails(INCOMPLETE),
    },
    "expired_url": {
        "dieyuyun": fails(EXPIRED), "segmind": na("Segmind sends the image bytes, never a URL"),
        "siliconflow": fails(EXPIRED), GENERIC_ID: na("the self-hosted entry asks for b64_json, never a URL"),
    },
    "huge_image": {b: fails(BOMB) for b in BACKENDS},
    "slow_body": {
        "dieyuyun": fails(DOWNLOAD_SLOW), "segmind": fails(TIMEOUT), "siliconflow": fails(DOWNLOAD_SLOW),
        GENERIC_ID: fails(TIMEOUT),
    },
}

# How each fault is played: (emulator, gate) -> None
PLAYS: dict[str, Callable] = {
    "connect_refused": lambda emulator, gate: gate.close(),
    "slow_answer": lambda emulator, gate: emulator.fault("slow", seconds=TIMEOUT_S + 2),
    "429_retry_after": lambda emulator, gate: emulator.fault("status", status=429, headers={"Retry-After": "0.3"}),
    "429_persistent": lambda emulator, gate: emulator.fault("status", status=429, times=10),
    "500_twice": lambda emulator, gate: emulator.fault("status", status=500, times=2),
    "502_persistent": lambda emulator, gate: emulator.fault("status", status=502, times=10),
    "503_once": lambda emulator, gate: emulator.fault("status", status=503),
    "401": lambda emulator, gate: emulator.fault("status", status=401),
    "406": lambda emulator, gate: emulator.fault("status", status=406),
    "content_policy": lambda emulator, gate: emulator.fault("content_policy"),
    "malformed_json": lambda emulator, gate: emulator.fault("malformed_json"),
    "truncated_image": lambda emulator, gate: emulator.fault("truncated_image"),
    "non_image": lambda emulator, gate: emulator.fault("non_image"),
    "expired_url": lambda emulator, gate: emulator.fault("expired_url"),
    "huge_image": lambda emulator, gate: emulator.fault("huge_image"),
    "slow_body": lambda emulator, gate: emulator.fault("slow_body", interval=0.2),
}

CELLS = [(fault, backend) for fault in TABLE for backend in BACKENDS]
PLAYED = [cell for cell in CELLS if TABLE[cell[0]][cell[1]].outcome != "n/a"]


@dataclass
class FaultApp:
    url: str
    client: Client
    data_dir: object
    emulators: dict
    gates: dict
    log: Callable[[], str]


@pytest.fixture(scope="module")
def fault_app(
    tmp_path_factory, dieyuyun_emulator_session, segmind_emulator_session, siliconflow_emulator_session,
    openai_emulator_session,
):
    """The app, its four remote backends each behind a gate in front of its emulator."""
    emulators = {
        "dieyuyun": dieyuyun_emulator_session, "segmind": segmind_emulator_session,
        "siliconflow": siliconflow_emulator_session, "openai": openai_emulator_session,
    }
    for emulator in emulators.values():
        emulator.reset()
    gates = {name: Gate(emulator.base_url) for name, emulator in emulators.items()}
    tmp = tmp_path_factory.mktemp("faults")
    env = {**fast_http_env(timeout=TIMEOUT_S, retries=RETRIES, backoff=0.05)}
    for provider in ("dieyuyun", "segmind", "siliconflow"):
        env[f"{provider.upper()}_API_KEY"] = emulators[provider].api_key
        env[f"{provider.upper()}_BASE_URL"] = gates[provider].url
    env.update(generic_backend_toml(tmp / "backends.toml", gates["openai"].url))
    env[GENERIC_KEY_ENV] = emulators["openai"].api_key
    try:
        with running_app(env, data_dir=tmp / "data", log_path=tmp / "app.log") as app:
            client = api_client(app.url)
            yield FaultApp(app.url, client, tmp / "data", emulators, gates, app.log)
            client.close()
    finally:
        for gate in gates.values():
            gate.close()


def generate(client: Client, backend: str, **values):
    """(outcome, gallery or message, info or None, seconds) of one /generate call."""
    started = time.monotonic()
    size = BACKENDS[backend][3]
    try:
        gallery, info = client.predict(
            backend=backend, prompt="a lighthouse in a storm", size=size, n=1, api_name="/generate", **values
        )
    except AppError as exc:
        return "fails", str(exc), None, time.monotonic() - started
    return "ok", gallery, info, time.monotonic() - started


def test_every_cell_of_the_table_is_played_or_says_why_not():
    assert set(PLAYS) == set(TABLE)
    assert all(set(row) == set(BACKENDS) for row in TABLE.values())
    not_played = [TABLE[f][b] for f, b in CELLS if (f, b) not in PLAYED]
    assert all(cell.says for cell in not_played)
    assert len(PLAYED) == len(CELLS) - 2 == 62


def test_the_table_in_the_docstring_is_the_table():
    drawn = {}
    for line in __doc__.splitlines():
        words = line.split()
        if words and words[0] in TABLE:
            drawn[words[0]] = re.findall(r"ok/\d|fails/\d|n/a", line)
    short = {"ok": lambda c: f"ok/{c.requests}", "fails": lambda c: f"fails/{c.requests}", "n/a": lambda c: "n/a"}
    assert drawn == {fault: [short[c.outcome](c) for c in row.values()] for fault, row in TABLE.items()}


@pytest.mark.parametrize("fault, backend", PLAYED, ids=[f"{f}-{b}" for f, b in PLAYED])
def test_fault(fault_app: FaultApp, fault: str, backend: str):
    expect = TABLE[fault][backend]
    provider, label, _, _ = BACKENDS[backend]
    emulator, gate = fault_app.emulators[provider], fault_app.gates[provider]
    emulator.reset()
    gate.open()
    before = check_history(fault_app.data_dir, decode=False)
    assert before.ok, before.problems

    PLAYS[fault](emulator, gate)
    try:
        outcome, answer, info, seconds = generate(fault_app.client, backend)
    finally:
        gate.open()

    # 1. bounded time, and the retries the table promises (no more, no fewer)
    assert seconds < BOUND_S, f"{fault} on {backend} took {seconds:.1f} s"
    assert len(emulator.requests) == expect.requests, (fault, backend, len(emulator.requests))
    # 2. the outcome, and a message a person can act on
    assert outcome == expect.outcome, (fault, backend, answer)
    if outcome == "fails":
        assert label in answer, f"the message does not name the provider: {answer}"
        assert re.search(expect.says, answer), f"{fault} on {backend}: {answer}"
        assert re.search(ADVICE, answer), f"the message does not say what to do: {answer}"
        assert "Traceback" not in answer and "Error(" not in answer and "Exception" not in answer
        assert emulator.api_key not in answer
    else:
        assert len(answer) == 1 and info["failures"] == [] and info["backend"] == backend
        if fault == "429_retry_after":
            assert seconds >= 0.3  # Retry-After was honoured
    # 3. exactly one new entry, whole, and nothing half-written on disk
    new = [entry_id for entry_id in check_history(fault_app.data_dir, decode=False).ids if entry_id not in before.ids]
    after = check_history(fault_app.data_dir, decode=new)
    assert after.ok, after.problems
    assert len(new) == 1 and after.statuses[new[0]] == ("ok" if outcome == "ok" else "failed")
    # 4. the app stays up and serves the next request to the same backend
    if outcome == "fails":
        emulator.reset()
        outcome, answer, info, _ = generate(fault_app.client, backend)
        assert outcome == "ok", answer
        assert check_history(fault_app.data_dir, decode=False).ok


def test_nothing_unexpected_reached_the_log(fault_app: FaultApp):
    """After the whole table: the app is still up, and it logged no unexpected error or traceback."""
    outcome, _, _, _ = generate(fault_app.client, "dieyuyun")
    assert outcome == "ok"
    log = fault_app.log()
    assert "Traceback" not in log and "failed with an unexpected error" not in log, log[-3000:]


# --- the operator's bounds (what the app above runs with) --------------------------------------


def test_provider_bounds_default_to_each_backends_own():
    assert http_options(PlaygroundSettings.from_mapping({})) == {}
    registry = build_registry(PlaygroundSettings.from_mapping({"SEGMIND_API_KEY": "k"}), include_plugins=False, include_local=False)
    assert registry.get("segmind").http.timeouts.read == 180.0
    assert registry.get("dieyuyun").http.timeouts.read == 120.0
    assert registry.get("dieyuyun").http.retry == RetryPolicy()


def test_provider_bounds_from_the_environment(tmp_path):
    env = {
        **fast_http_env(timeout=2, retries=0, backoff=0.5), "SEGMIND_API_KEY": "k",
        **generic_backend_toml(tmp_path / "b.toml", "http://127.0.0.1:9/v1"),
    }
    registry = build_registry(PlaygroundSettings.from_mapping(env), include_plugins=False, include_local=False)
    for backend_id in ("dieyuyun", "segmind", "siliconflow", GENERIC_ID):
        http = registry.get(backend_id).http
        assert http.timeouts == Timeouts.within(2.0) and http.timeouts.total == 2.0
        assert (http.retry.attempts, http.retry.base_delay) == (1, 0.5)


def test_a_toml_entrys_own_timeout_wins(tmp_path):
    path = tmp_path / "b.toml"
    generic_backend_toml(path, "http://127.0.0.1:9/v1")
    path.write_text(path.read_text() + "timeout_s = 42\n")
    registry = build_registry(
        PlaygroundSettings.from_mapping({"PLAYGROUND_BACKENDS": str(path), "PLAYGROUND_HTTP_TIMEOUT": "5"}), include_plugins=False, include_local=False
    )
    assert registry.get(GENERIC_ID).http.timeouts.read == 42.0
    assert registry.get("dieyuyun").http.timeouts.read == 5.0


@pytest.mark.parametrize(
    "name, value",
    [("PLAYGROUND_HTTP_TIMEOUT", "soon"), ("PLAYGROUND_HTTP_TIMEOUT", "0"), ("PLAYGROUND_HTTP_TIMEOUT", "nan"),
     ("PLAYGROUND_HTTP_RETRIES", "1.5"), ("PLAYGROUND_HTTP_RETRIES", "-1"), ("PLAYGROUND_HTTP_BACKOFF", "inf")],
)
def test_a_wrong_bound_stops_the_app_naming_the_variable(name, value):
    with pytest.raises(ConfigurationError, match=rf"{name}={re.escape(repr(value))} is not allowed; use a"):
        PlaygroundSettings.from_mapping({name: value})
