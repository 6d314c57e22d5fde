"""The job runner against real backends and emulators: per-image seeds, fan-out under a concurrency
limit, progress, Stop, and partial failure."""

from __future__ import annotations

import asyncio

import pytest

from backends.base import CancelToken, GenerationRequest
from backends.runner import JobRunner, draw_seed
from backends.validation import validate_request
from tests.conftest import make_backend
from tests.probes import ConcurrencyProbe


def req(backend, **values) -> GenerationRequest:
    return validate_request({"prompt": "lighthouse at dusk", **values}, backend.capabilities)


def test_a_batch_becomes_per_image_calls_with_consecutive_seeds(dieyuyun_emulator):
    backend = make_backend("dieyuyun", dieyuyun_emulator)
    result = asyncio.run(JobRunner().run(backend, req(backend, n=4, seed=500)))
    assert result.seeds == (500, 501, 502, 503)
    assert [r.json["n"] for r in dieyuyun_emulator.requests] == [1, 1, 1, 1]
    assert sorted(r.json["seed"] for r in dieyuyun_emulator.requests) == [500, 501, 502, 503]
    assert [image.index for image in result.images] == [0, 1, 2, 3]


def test_each_image_of_a_batch_is_reproduced_alone(dieyuyun_emulator):
    backend = make_backend("dieyuyun", dieyuyun_emulator)
    runner = JobRunner()
    batch = asyncio.run(runner.run(backend, req(backend, n=3, seed=40)))
    for image in batch.images:
        alone = asyncio.run(runner.run(backend, req(backend, n=1, seed=image.seed)))
        assert alone.images[0].data == image.data


def test_why_fan_out_the_providers_own_batch_is_not_reproducible_per_image(dieyuyun_emulator):
    backend = make_backend("dieyuyun", dieyuyun_emulator)
    provider_batch = asyncio.run(backend.generate(GenerationRequest(prompt="lighthouse at dusk", n=2, seed=40)))
    alone = asyncio.run(backend.generate(GenerationRequest(prompt="lighthouse at dusk", n=1, seed=41)))
    assert provider_batch.images[1].data != alone.images[0].data


def test_a_random_seed_is_drawn_in_range_and_returned(segmind_emulator):
    backend = make_backend("segmind", segmind_emulator)
    result = asyncio.run(JobRunner().run(backend, req(backend, n=2, seed=-1)))
    seed = result.request.seed
    assert seed is not None and 0 <= seed <= backend.capabilities.seed_max - 1
    assert result.seeds == (seed, seed + 1)
    assert {r.json["seed"] for r in segmind_emulator.requests} == {seed, seed + 1}


def test_draw_seed_leaves_room_for_the_batch():
    import random

    rng = random.Random(1)
    assert all(0 <= draw_seed(10, 4, rng) <= 7 for _ in range(500))


def test_concurrency_is_limited_per_backend(dieyuyun_emulator):
    dieyuyun_emulator.latency = 0.2
    probe = ConcurrencyProbe(make_backend("dieyuyun", dieyuyun_emulator, max_concurrency=2))

    async def two_jobs():
        runner = JobRunner()
        return await asyncio.gather(runner.run(probe, req(probe, n=4, seed=1)), runner.run(probe, req(probe, n=4, seed=9)))

    first, second = asyncio.run(two_jobs())
    assert probe.calls == 8 and probe.peak == 2
    assert len(first.images) == len(second.images) == 4


def test_progress_is_reported_per_image(siliconflow_emulator):
    backend = make_backend("siliconflow", siliconflow_emulator)
    seen = []
    asyncio.run(JobRunner().run(backend, req(backend, n=3, seed=3), progress=seen.append))
    assert [p.images_done for p in seen] == [1, 2, 3]
    assert seen[-1].fraction == 1.0 and seen[-1].label == "3/3 images"


def test_one_failed_image_does_not_lose_the_others(dieyuyun_emulator):
    backend = make_backend("dieyuyun", dieyuyun_emulator, max_concurrency=1)
    dieyuyun_emulator.fault("content_policy")  # the first call is refused
    result = asyncio.run(JobRunner().run(backend, req(backend, n=3, seed=100)))
    assert len(result.images) == 2 and len(result.failures) == 1
    (failure,) = result.failures
    assert failure.seed == 100 + failure.index and failure.error_type == "RequestRejected"
    assert "HTTP 400" in failure.error
    assert sorted([*result.seeds, failure.seed]) == [100, 101, 102]
    assert result.cost is not None and result.cost.amount == pytest.approx(0.02)


def test_stop_keeps_finished_images_and_never_starts_the_rest(dieyuyun_emulator):
    dieyuyun_emulator.latency = 0.4
    backend = make_backend("dieyuyun", dieyuyun_emulator, max_concurrency=1)
    token = CancelToken()
    seen = []

    def on_progress(progress):
        seen.append(progress)
        if progress.images_done == 1:
            token.cancel()

    result = asyncio.run(JobRunner().run(backend, req(backend, n=4, seed=7), progress=on_progress, cancel=token))
    assert result.cancelled
    assert result.seeds == (7,)
    assert [f.error_type for f in result.failures] == ["GenerationCancelled"] * 3
    assert len(dieyuyun_emulator.requests) <= 2  # the one in flight when Stop came may have been sent


def test_stop_interrupts_a_call_in_flight(segmind_emulator):
    segmind_emulator.latency = 5.0
    backend = make_backend("segmind", segmind_emulator, timeouts=None)
    token = CancelToken()

    async def stop_soon():
        job = asyncio.ensure_future(JobRunner().run(backend, req(backend, seed=1), cancel=token))
        await asyncio.sleep(0.3)
        token.cancel()
        return await asyncio.wait_for(job, timeout=2)

    result = asyncio.run(stop_soon())
    assert result.cancelled and result.images == () and result.failures[0].error == "Generation stopped."


def test_cancelling_the_task_cancels_the_calls(dieyuyun_emulator):
    dieyuyun_emulator.latency = 5.0
    backend = make_backend("dieyuyun", dieyuyun_emulator, timeouts=None)
    token = CancelToken()

    async def cancel_task():
        job = asyncio.ensure_future(JobRunner().run(backend, req(backend, n=2, seed=1), cancel=token))
        await asyncio.sleep(0.3)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job

    asyncio.run(cancel_task())
    assert token.cancelled
