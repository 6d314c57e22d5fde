"""Load, and two app processes writing one history.

5. 32 concurrent clients, each its own gradio_client ``Client``, each making 5 generations on the
   launched app against the emulators (n=1, small sizes, 50 ms of provider latency, the four remote
   backends in turn): every request is answered without error, the history gains exactly 160
   entries, whole, with 160 distinct ids. The latency percentiles are printed.
6. A person who starts the app twice on one data dir: both processes start at once on a fresh
   directory (both run the migrations), generate concurrently into the same SQLite file (WAL, busy
   timeout), and one is restarted while the other is saving (its start-up clean-up must not take the
   other's files for debris). Nothing is lost or corrupted.
"""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from gradio_client import Client

from tests.app_harness import running_app, start_app, stop_app
from tests.reliability_support import (
    GENERIC_ID,
    GENERIC_KEY_ENV,
    api_client,
    check_history,
    generic_backend_toml,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

CLIENTS = 32
PER_CLIENT = 5
LATENCY_S = 0.05
SIZES = {"segmind": "512x512", GENERIC_ID: "256x256", "dieyuyun": "1024x768", "siliconflow": "768x1024"}
ORDER = list(SIZES)


@pytest.fixture
def emulators(dieyuyun_emulator, segmind_emulator, siliconflow_emulator, openai_emulator):
    found = {
        "dieyuyun": dieyuyun_emulator, "segmind": segmind_emulator, "siliconflow": siliconflow_emulator,
        GENERIC_ID: openai_emulator,
    }
    for emulator in found.values():
        emulator.latency = LATENCY_S
    return found


@pytest.fixture
def env(emulators, tmp_path):
    values = {**generic_backend_toml(tmp_path / "backends.toml", emulators[GENERIC_ID].base_url, max_concurrency=8)}
    values[GENERIC_KEY_ENV] = emulators[GENERIC_ID].api_key
    for provider in ("dieyuyun", "segmind", "siliconflow"):
        values[f"{provider.upper()}_API_KEY"] = emulators[provider].api_key
        values[f"{provider.upper()}_BASE_URL"] = emulators[provider].base_url
    return values


def generate(client: Client, backend: str, prompt: str, seed: int) -> tuple[str, float]:
    """One generation; returns its history id and how long it took."""
    started = time.perf_counter()
    gallery, info = client.predict(
        backend=backend, prompt=prompt, size=SIZES[backend], n=1, seed=seed, api_name="/generate"
    )
    elapsed = time.perf_counter() - started
    assert len(gallery) == 1 and info["failures"] == [] and info["seeds"] == [seed], info
    return info["generation_id"], elapsed


def client_run(url: str, number: int, count: int, start: threading.Barrier | None = None) -> list[tuple[str, float]]:
    client = api_client(url)
    if start is not None:
        start.wait(timeout=120)
    try:
        return [
            generate(client, ORDER[(number + i) % len(ORDER)], f"load test, client {number}, image {i}", 1000 * number + i)
            for i in range(count)
        ]
    finally:
        client.close()


def test_32_clients_times_5_generations(env, emulators, tmp_path):
    with running_app(env, data_dir=tmp_path / "data", log_path=tmp_path / "app.log") as app:
        before = check_history(tmp_path / "data")
        barrier = threading.Barrier(CLIENTS)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            futures = [pool.submit(client_run, app.url, number, PER_CLIENT, barrier) for number in range(CLIENTS)]
            results = [future.result(timeout=480) for future in futures]  # re-raises any client's error
        wall = time.perf_counter() - started
        answered = [answer for result in results for answer in result]
        ids = [generation_id for generation_id, _ in answered]
        assert len(answered) == CLIENTS * PER_CLIENT == 160
        assert len(set(ids)) == 160, "duplicate history ids"
        after = check_history(tmp_path / "data", decode=False)
        assert after.ok, after.problems[:5]
        assert len(after.ids) - len(before.ids) == 160 and len(set(after.ids)) == len(after.ids)
        assert set(ids) == set(after.ids) - set(before.ids)
        assert all(after.statuses[i] == "ok" for i in ids)
        assert sum(len(e.requests) for e in emulators.values()) == 160  # one provider call each, no retry
        assert "Traceback" not in app.log()
    latencies = sorted(elapsed for _, elapsed in answered)
    p50 = statistics.median(latencies)
    p95 = latencies[int(0.95 * len(latencies)) - 1]
    print(f"\n160 generations by {CLIENTS} clients in {wall:.1f} s: p50 {p50:.2f} s, p95 {p95:.2f} s, max {latencies[-1]:.2f} s")


def test_two_apps_on_one_data_dir(env, emulators, tmp_path):
    data_dir = tmp_path / "data"
    # 1. Started twice at once on a fresh directory: both come up (the migrations take turns).
    with ThreadPoolExecutor(max_workers=2) as pool:
        starting = [pool.submit(start_app, env, data_dir=data_dir, log_path=tmp_path / f"app-{name}.log") for name in "ab"]
        apps = [future.result(timeout=120) for future in starting]
    try:
        # 2. Both generate at once into the same SQLite file: 2 clients per app, 6 generations each.
        with ThreadPoolExecutor(max_workers=4) as pool:
            runs = [pool.submit(client_run, apps[number % 2].url, number, 6) for number in range(4)]
            ids = [generation_id for run in runs for generation_id, _ in run.result(timeout=300)]
        check = check_history(data_dir)
        assert check.ok, check.problems[:5]
        assert len(ids) == len(set(ids)) == 24 and sorted(ids) == sorted(check.ids)

        # 3. The second is restarted while the first keeps saving: its start-up clean-up (recover)
        #    runs between the first's saves, never in the middle of one.
        stop_app(apps[1])
        with ThreadPoolExecutor(max_workers=2) as pool:
            busy = pool.submit(client_run, apps[0].url, 10, 12)
            time.sleep(0.5)
            apps[1] = start_app(env, data_dir=data_dir, log_path=tmp_path / "app-b.log")
            more = [generation_id for generation_id, _ in busy.result(timeout=300)]
        more += [generation_id for generation_id, _ in client_run(apps[1].url, 11, 3)]
        final = check_history(data_dir)
        assert final.ok, final.problems[:5]
        assert len(final.ids) == 24 + 15 == len(set(final.ids)) and set(ids + more) == set(final.ids)
        for app in apps:
            assert "Traceback" not in app.log() and "database is locked" not in app.log()
    finally:
        for app in apps:
            stop_app(app)
