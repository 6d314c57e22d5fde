"""Bounded work per visitor on a hosted app (issue 20, item 6), played against a launched app on 127.0.0.1:
one client flooding the queue from many sessions gets its cap of jobs and a message for the rest while
another visitor's job still runs; a big /compare export leaves the page answering; a grid over the pixel
budget is refused before any provider call. Each test prints its figures."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError, ValidationError
from gradio_client.utils import QueueError

from tests.app_harness import emulator_env, running_app

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
    3 s, with a queue of 10. Before the cap the queue filled and every other visitor got "Queue is full"."""
    dieyuyun_emulator.latency = 3.0
    with ThreadPoolExecutor(8) as pool:
        clients = list(pool.map(lambda _: Client(hosted_app.url, verbose=False), range(20)))
    started = time.monotonic()
    jobs = [client.submit(backend="dieyuyun", prompt=f"flood {i}", api_name="/generate")
            for i in range(2) for client in clients]
    outcomes: dict[str, int] = {"ran": 0, "refused": 0, "queue full": 0, "other": 0}
    messages = set()

    def settle(job) -> str:
        try:
            job.result(timeout=120)
            return "ran"
        except ValidationError as exc:
            messages.add(str(exc))
            return "refused"
        except QueueError:
            return "queue full"
        except Exception:
            return "other"

    with ThreadPoolExecutor(len(jobs)) as pool:
        flood = pool.map(settle, jobs)
        time.sleep(1.0)  # the flood has joined (or been refused); the cap's two are running
        with another_address() as other:
            asked = time.monotonic()
            kind, output = call(other, hosted_app.url, "generate", {"backend": "dieyuyun", "prompt": "another visitor's picture"})
            waited = time.monotonic() - asked
        for outcome in flood:
            outcomes[outcome] += 1
    elapsed = time.monotonic() - started
    print(f"\nflood of {len(jobs)} jobs from one address in {len(clients)} sessions (queue {QUEUE_SIZE}, cap {CAP}): "
          f"{outcomes['ran']} ran, {outcomes['refused']} refused, {outcomes['queue full']} queue full, "
          f"{outcomes['other']} other, in {elapsed:.1f} s; the other visitor waited {waited:.1f} s ({kind})")
    assert kind == "complete", output
    assert outcomes == {"ran": CAP, "refused": len(jobs) - CAP, "queue full": 0, "other": 0}
    assert waited < 3.0 + 10.0  # its own 3 s, not behind the flood
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
    time.sleep(0.5)
    with pytest.raises(ValidationError, match="You already have 2 jobs"):
        third.predict(backend="dieyuyun", prompt="a third", x_type="seed", x_values="2", api_name="/compare")
    grid.result(timeout=60)
    image.result(timeout=60)
    third.predict(backend="dieyuyun", prompt="now it runs", api_name="/generate")


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
