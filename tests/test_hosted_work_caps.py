"""Bounded work per visitor on a hosted app (issue 20, item 6), played against a launched app on 127.0.0.1:
one client flooding the queue from many sessions gets its cap of jobs and a message for the rest while
another visitor's job still runs; a big /compare export leaves the page answering; a grid over the pixel
budget is refused before any provider call. Each test prints its figures."""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError, ValidationError
from gradio_client.utils import QueueError

from tests.app_harness import emulator_env, running_app
from tests.browser_fixtures import browser_fixture, open_page  # noqa: F401

pytestmark = pytest.mark.e2e

QUEUE_SIZE = 10
CAP = 2


@pytest.fixture(scope="module")
def hosted_app(tmp_path_factory, dieyuyun_emulator_session, segmind_emulator_session):
    folder = tmp_path_factory.mktemp("hosted-work-caps")
    env = {
        **emulator_env(("dieyuyun", dieyuyun_emulator_session), ("segmind", segmind_emulator_session)),
        "PLAYGROUND_MODE": "hosted", "PLAYGROUND_QUEUE_SIZE": str(QUEUE_SIZE),
    }
    with running_app(env, data_dir=folder / "data", log_path=folder / "app.log") as app:
        yield app


def another_address() -> httpx.Client:
    """A client whose requests come from 127.0.0.2: another visitor, as the server sees its peer."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=60)


def wait_for_prompts(emulator, *prompts: str, count: int | None = None, timeout: float = 20.0) -> None:
    """Until the provider has been asked for each of ``prompts`` (``count`` times each, default once)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sent = [r.json["prompt"] for r in emulator.requests]
        if all(sent.count(prompt) >= (count or 1) for prompt in prompts):
            return
        time.sleep(0.05)
    raise AssertionError(f"the provider was not asked for {prompts} within {timeout} s")


def call(http: httpx.Client, url: str, api_name: str, arguments: dict) -> tuple[str, object]:
    """Gradio's plain HTTP API (through the queue, like gradio_client): ("complete", output), ("error", text)
    or ("refused", the join's answer)."""
    joined = http.post(f"{url}gradio_api/call/v2/{api_name}", json=arguments)
    if joined.status_code != 200:
        return "refused", joined.text
    event_id = joined.json()["event_id"]
    kind = ""
    with http.stream("GET", f"{url}gradio_api/call/{api_name}/{event_id}") as stream:
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind in ("complete", "error"):
                return kind, json.loads(line.removeprefix("data: "))
    return "lost", None


def test_one_client_gets_its_cap_of_the_queue_and_another_visitor_still_runs(hosted_app, dieyuyun_emulator):
    """The attack: one address opens 20 sessions and submits 40 generations against a provider that takes
    8 s, with a queue of 10. Before the cap the queue filled and every other visitor got "Queue is full".
    (The cap bounds jobs at once: a join after the first two ended would run, so the provider is slow
    enough for all 40 to have joined meanwhile.)"""
    latency = 8.0
    dieyuyun_emulator.latency = latency
    with ThreadPoolExecutor(8) as pool:
        clients = list(pool.map(lambda _: Client(hosted_app.url, verbose=False), range(20)))
    started = time.monotonic()
    jobs = [client.submit(backend="dieyuyun", prompt=f"flood {i}", api_name="/generate")
            for i in range(2) for client in clients]
    outcomes: dict[str, int] = {"ran": 0, "refused": 0, "queue full": 0, "other": 0}
    messages = set()
    answered: list[float] = []  # when each refusal came, from the start of the flood

    def settle(job) -> str:
        try:
            job.result(timeout=120)
            return "ran"
        except ValidationError as exc:
            answered.append(time.monotonic() - started)
            messages.add(str(exc))
            return "refused"
        except QueueError:
            return "queue full"
        except Exception:
            return "other"

    with ThreadPoolExecutor(len(jobs)) as pool:
        flood = pool.map(settle, jobs)
        deadline = time.monotonic() + 30  # the cap's two are at the provider (a fixed 1 s: a busy machine outlasts it)
        while len(dieyuyun_emulator.requests) < CAP:
            assert time.monotonic() < deadline, "the cap's two jobs did not reach the provider"
            time.sleep(0.05)
        with another_address() as other:
            asked = time.monotonic()
            kind, output = call(other, hosted_app.url, "generate", {"backend": "dieyuyun", "prompt": "another visitor's picture"})
            waited = time.monotonic() - asked
        for outcome in flood:
            outcomes[outcome] += 1
    elapsed = time.monotonic() - started
    print(f"\nflood of {len(jobs)} jobs from one address in {len(clients)} sessions (queue {QUEUE_SIZE}, cap {CAP}): "
          f"{outcomes['ran']} ran, {outcomes['refused']} refused, {outcomes['queue full']} queue full, "
          f"{outcomes['other']} other, in {elapsed:.1f} s (the last refusal after {max(answered, default=0):.1f} s); "
          f"the other visitor waited {waited:.1f} s for its {latency:.0f} s job ({kind})")
    assert kind == "complete", output
    assert max(answered) < latency, "the flood joined too slowly to test the cap"
    assert outcomes == {"ran": CAP, "refused": len(jobs) - CAP, "queue full": 0, "other": 0}
    assert waited < latency + 10.0  # its own time, not behind the flood
    (message,) = messages
    assert "You already have 2 jobs queued or running on this demo, and it allows 2 at a time" in message
    prompts = sorted(r.json["prompt"] for r in dieyuyun_emulator.requests)
    assert len(prompts) == CAP + 1 and "another visitor's picture" in prompts
    # The places come back when the jobs end: the same client may run again.
    dieyuyun_emulator.latency = 0.0
    clients[0].predict(backend="dieyuyun", prompt="after the flood", api_name="/generate")


def test_the_cap_counts_grids_with_generations(hosted_app, dieyuyun_emulator):
    dieyuyun_emulator.latency = 2.0
    first, second, third = (Client(hosted_app.url, verbose=False) for _ in range(3))
    grid = first.submit(backend="dieyuyun", prompt="a grid", x_type="seed", x_values="2", api_name="/compare")
    image = second.submit(backend="dieyuyun", prompt="an image", api_name="/generate")
    wait_for_prompts(dieyuyun_emulator, "a grid", "an image")
    with pytest.raises(ValidationError, match="You already have 2 jobs"):
        third.predict(backend="dieyuyun", prompt="a third", x_type="seed", x_values="2", api_name="/compare")
    grid.result(timeout=60)
    image.result(timeout=60)
    third.predict(backend="dieyuyun", prompt="now it runs", api_name="/generate")


@pytest.mark.browser
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_the_page_says_why_its_generate_was_refused(browser, hosted_app, dieyuyun_emulator, locale):
    """The page's Generate counts with the API's jobs from the same address; the refusal is a toast in
    the visitor's language, and the page's job never reaches the provider."""
    dieyuyun_emulator.latency = 3.0
    with open_page(browser, hosted_app, locale=locale) as page:
        clients = [Client(hosted_app.url, verbose=False) for _ in range(CAP)]
        jobs = [client.submit(backend="dieyuyun", prompt="taking the places", api_name="/generate") for client in clients]
        wait_for_prompts(dieyuyun_emulator, "taking the places", count=CAP)
        page.fill("prompt", "a page's picture")
        page.page.click("#generate-btn")
        toast = page.page.locator(".toast-body.error [data-testid=toast-text]").first
        toast.wait_for(timeout=10_000)
        text = toast.inner_text()
        print(f"\n{locale}: {text}")
        assert ("每位访客同时最多 2 个" if locale.startswith("zh") else "it allows 2 at a time per visitor") in text
        for job in jobs:
            job.result(timeout=60)
        assert sorted(r.json["prompt"] for r in dieyuyun_emulator.requests) == ["taking the places"] * CAP
        dieyuyun_emulator.latency = 0.0
        page.generate(expect_images=1)  # the places are back


def join_and_leave(url: str, api_name: str, arguments: dict, *, times: int) -> list[int]:
    """What a page does to run an event (join the queue, then read its stream), then going away: the
    stream closes and Gradio drops the session's queued events. Returns the joins' status codes."""
    config = httpx.get(url + "config", timeout=10).json()
    dependency = next(d for d in config["dependencies"] if d.get("api_name") == api_name)
    values = {c["id"]: c.get("props", {}).get("value") for c in config["components"]}
    names = [name for name, _ in sorted(dependency.get("inputs_kwargs", {}).items(), key=lambda kv: kv[1])]
    session_hash = uuid.uuid4().hex
    with httpx.Client(timeout=10) as http:
        data = [values.get(i) for i in dependency["inputs"]]
        for name, value in arguments.items():
            data[names.index(name) if names else list(arguments).index(name)] = value
        codes = [http.post(url + "gradio_api/queue/join", json={
            "data": data, "fn_index": dependency["id"], "session_hash": session_hash, "event_data": None,
            "trigger_id": None}).status_code for _ in range(times)]
        with http.stream("GET", url + "gradio_api/queue/data", params={"session_hash": session_hash}) as stream:
            for line in stream.iter_lines():
                if "estimation" in line:  # the queue told it its place: now it leaves
                    break
    return codes


def test_a_client_that_left_the_queue_gets_its_places_back(hosted_app, dieyuyun_emulator):
    """Jobs Gradio's queue dropped before they ran (the client went away) give their places back: four
    other addresses fill the eight places where generations run, a client joins twice and leaves."""
    dieyuyun_emulator.latency = 8.0
    busy: list[httpx.Client] = [
        httpx.Client(transport=httpx.HTTPTransport(local_address=f"127.0.0.{3 + i}"), timeout=60) for i in range(4)
    ]
    with ThreadPoolExecutor(8) as pool:
        running = [pool.submit(call, http, hosted_app.url, "generate", {"backend": "dieyuyun", "prompt": f"busy {i}"})
                   for i, http in enumerate(busy) for _ in range(CAP)]
        deadline = time.monotonic() + 20  # the provider takes 4 at a time: the first four are there, the rest wait
        while len(dieyuyun_emulator.requests) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        admitted = time.monotonic()
        codes = join_and_leave(hosted_app.url, "generate", {"backend": "dieyuyun", "prompt": "left"}, times=CAP)
        assert codes == [200] * CAP
        staying = Client(hosted_app.url, verbose=False)
        with pytest.raises(ValidationError):  # within the grace the places are still taken
            staying.predict(backend="dieyuyun", prompt="too soon", api_name="/generate")
        time.sleep(max(0.0, admitted + 11.0 - time.monotonic()))  # past the grace (10 s)
        dieyuyun_emulator.latency = 0.0
        started = time.monotonic()
        staying.predict(backend="dieyuyun", prompt="back", api_name="/generate")
        print(f"\nits client left: a job of the same address joined {started - admitted:.1f} s after the dropped ones "
              f"and was answered in {time.monotonic() - started:.1f} s (behind the busy ones)")
        for future in running:
            assert future.result()[0] == "complete"
    prompts = [r.json["prompt"] for r in dieyuyun_emulator.requests]
    assert "left" not in prompts and "back" in prompts
    for http in busy:
        http.close()


def test_a_big_compare_export_leaves_the_page_answering(hosted_app, dieyuyun_emulator):
    """A 100-cell grid of 1024² images: decoding and drawing it took the event loop for 19-22 s, and every
    visitor's page with it. Drawn in a worker thread, a page request answers meanwhile."""
    client = Client(hosted_app.url, verbose=False)
    latencies: list[float] = []
    done = threading.Event()

    def poll() -> None:
        with another_address() as other:
            while not done.is_set():
                asked = time.monotonic()
                assert other.get(hosted_app.url + "gradio_api/info").status_code == 200
                latencies.append(time.monotonic() - asked)
                time.sleep(0.05)

    poller = threading.Thread(target=poll)
    started = time.monotonic()
    poller.start()
    try:
        _, cells, info = client.predict(backend="dieyuyun", prompt="a big grid", x_type="seed", x_values="10",
                                           y_type="steps", y_values="10-19", confirm=True, api_name="/compare")
    finally:
        done.set()
        poller.join()
    elapsed = time.monotonic() - started
    worst = max(latencies)
    print(f"\n/compare of {len(cells)} cells of 1024² in {elapsed:.1f} s: {len(latencies)} page requests meanwhile, "
          f"worst {worst:.2f} s, median {sorted(latencies)[len(latencies) // 2]:.3f} s")
    assert len(cells) == 100 and all(cell["status"] == "ok" for cell in info["cells"])
    assert worst < 2.0


def test_a_grid_over_the_pixel_budget_is_refused_before_any_provider_call(hosted_app, segmind_emulator):
    client = Client(hosted_app.url, verbose=False)
    with pytest.raises(AppError) as caught:
        client.predict(backend="segmind", prompt="too many pixels", size="2048x2048", x_type="seed", x_values="100",
                       confirm=True, api_name="/compare")
    print(f"\nrefused: {caught.value}")
    assert "100 cells of 2048×2048 = 419,430,400 pixels is not allowed; at most 134,217,728 pixels" in str(caught.value)
    assert segmind_emulator.requests == []
