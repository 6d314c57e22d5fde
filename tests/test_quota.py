"""The hosted demo's hourly quota: reserved before work, refunded for images that did not come back,
counted per visitor id and per address, and not applied to visitors who bring their own key."""

from __future__ import annotations

import asyncio

import pytest

from backends.base import CancelToken
from backends.errors import QuotaExceeded
from backends.history import HistoryStore
from backends.playground import Playground
from backends.quota import HourlyQuota
from backends.registry import Registry
from tests.conftest import make_backend


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_third_image_of_a_quota_of_two_is_refused_with_when_and_what_to_do():
    clock = FakeClock()
    quota = HourlyQuota(2, clock=clock)
    quota.reserve(["visitor-a"], 1)
    clock.now += 600
    quota.reserve(["visitor-a"], 1)
    with pytest.raises(QuotaExceeded) as info:
        quota.reserve(["visitor-a"], 1)
    assert "2 images for this hour" in str(info.value) and "50 minutes" in str(info.value)
    assert "own API key" in str(info.value) and info.value.retry_after == pytest.approx(3000)
    quota.reserve(["visitor-b"], 2)  # another visitor has their own count
    clock.now += 3000.1  # the first image leaves the window
    quota.reserve(["visitor-a"], 1)


def test_a_visitor_is_counted_under_every_key_it_presents():
    quota = HourlyQuota(2)
    quota.reserve(["cookie-1", "203.0.113.9"], 2)
    with pytest.raises(QuotaExceeded):
        quota.reserve(["cookie-2-after-clearing-storage", "203.0.113.9"], 1)
    assert quota.remaining(["cookie-3"]) == 2


def test_a_refused_reservation_takes_nothing_and_refunds_give_back():
    quota = HourlyQuota(3)
    with pytest.raises(QuotaExceeded, match="ask for at most 3"):
        quota.reserve(["v"], 4)
    reservation = quota.reserve(["v"], 3)
    reservation.refund(2)
    assert quota.remaining(["v"]) == 2


def playground(tmp_path, emulator, limit):
    backend = make_backend("dieyuyun", emulator)
    return Playground(registry=Registry([backend]), history=HistoryStore(tmp_path), quota=HourlyQuota(limit))


def test_playground_checks_the_quota_before_calling_the_provider(tmp_path, dieyuyun_emulator):
    pg = playground(tmp_path, dieyuyun_emulator, 2)
    asyncio.run(pg.generate("dieyuyun", {"prompt": "a", "n": 2}, visitor="v1"))
    with pytest.raises(QuotaExceeded):
        asyncio.run(pg.generate("dieyuyun", {"prompt": "a"}, visitor="v1"))
    assert len(dieyuyun_emulator.requests) == 2
    assert pg.history.count(visitor="v1") == 1


def test_failed_images_are_refunded(tmp_path, dieyuyun_emulator):
    pg = playground(tmp_path, dieyuyun_emulator, 2)
    dieyuyun_emulator.fault("content_policy")
    outcome = asyncio.run(pg.generate("dieyuyun", {"prompt": "a"}, visitor="v1"))
    assert outcome.result.images == ()
    asyncio.run(pg.generate("dieyuyun", {"prompt": "a", "n": 2}, visitor="v1"))


def test_a_visitors_own_key_is_not_counted(tmp_path, dieyuyun_emulator):
    pg = playground(tmp_path, dieyuyun_emulator, 1)
    for _ in range(3):
        asyncio.run(pg.generate("dieyuyun", {"prompt": "a"}, visitor="v1", api_key=dieyuyun_emulator.api_key))


# -- what counts: every image whose request was sent -------------------------------------------------


def billed(emulator) -> int:
    """Images the provider was asked for: each request's n (the runner sends dieyuyun one image a call)."""
    return sum((r.json or {}).get("n", 1) for r in emulator.requests)


def counted(pg: Playground, keys=("v1",)) -> int:
    return pg.quota.limit - pg.quota.remaining(keys)


async def arrived(emulator, count: int, timeout: float = 15.0) -> None:
    """Until the provider has received ``count`` requests (a loaded machine may take a while to connect)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while len(emulator.requests) < count:
        assert asyncio.get_running_loop().time() < deadline, f"only {len(emulator.requests)} of {count} arrived"
        await asyncio.sleep(0.02)


def test_images_stopped_in_flight_count_as_the_provider_billed_them(tmp_path, dieyuyun_emulator):
    """The attack: three 4-image jobs stopped while the provider works on them. The first two by the page's
    Stop (the token), the third by cancelling the task (an API client's cancel)."""
    pg = playground(tmp_path, dieyuyun_emulator, 20)
    dieyuyun_emulator.latency = 5.0

    async def stopped_job(number: int, by_task: bool) -> None:
        cancel = CancelToken()
        task = asyncio.ensure_future(pg.generate("dieyuyun", {"prompt": f"stop {number}", "n": 4}, visitor="v1", cancel=cancel))
        await arrived(dieyuyun_emulator, 4 * (number + 1))
        if by_task:
            task.cancel()
        else:
            cancel.cancel()
        try:
            await task
        except asyncio.CancelledError:
            assert by_task

    async def three() -> None:
        for number in range(3):
            await stopped_job(number, by_task=number == 2)

    asyncio.run(three())
    print(f"\nstopped in flight: billed {billed(dieyuyun_emulator)} images, counted {counted(pg)}")
    assert billed(dieyuyun_emulator) == counted(pg) == 12


def test_images_still_waiting_for_their_turn_when_stopped_are_refunded(tmp_path, dieyuyun_emulator):
    pg = playground(tmp_path, dieyuyun_emulator, 20)
    pg.registry.get("dieyuyun").max_concurrency = 1  # one call at a time: images 2-4 wait behind the first
    dieyuyun_emulator.latency = 5.0
    cancel = CancelToken()

    async def stop_after_the_first() -> None:
        task = asyncio.ensure_future(pg.generate("dieyuyun", {"prompt": "queue", "n": 4}, visitor="v1", cancel=cancel))
        await arrived(dieyuyun_emulator, 1)
        cancel.cancel()
        await task

    asyncio.run(stop_after_the_first())
    print(f"\none sent of four: billed {billed(dieyuyun_emulator)}, counted {counted(pg)}")
    assert billed(dieyuyun_emulator) == counted(pg) == 1


def test_a_grid_counts_its_cells_as_they_were_sent(tmp_path, dieyuyun_emulator):
    from backends.compare import plan_compare, run_grid

    pg = playground(tmp_path, dieyuyun_emulator, 20)
    dieyuyun_emulator.latency = 5.0
    cancel = CancelToken()

    async def stop_the_first_wave() -> None:
        grid = plan_compare(pg, backend_id="dieyuyun", values={"prompt": "grid"}, x_kind="seed", x_text="8")
        task = asyncio.ensure_future(run_grid(pg, grid, visitor="v1", quota_keys=("v1",), cancel=cancel))
        await arrived(dieyuyun_emulator, 4)  # the first wave of 4 cells is at the provider, 4 wait
        cancel.cancel()
        await task

    asyncio.run(stop_the_first_wave())
    print(f"\ngrid of 8 stopped after 4 were sent: billed {billed(dieyuyun_emulator)}, counted {counted(pg)}")
    assert billed(dieyuyun_emulator) == counted(pg) == 4


def test_what_was_never_sent_or_refused_is_refunded_and_what_may_have_cost_is_not(tmp_path, dieyuyun_emulator):
    pg = playground(tmp_path, dieyuyun_emulator, 20)
    # Refused before any work (4xx): a payment problem, a rate limit retried until given up. Refunded.
    dieyuyun_emulator.fault("status", status=402)
    assert asyncio.run(pg.generate("dieyuyun", {"prompt": "a"}, visitor="v1")).result.images == ()
    dieyuyun_emulator.fault("status", status=429, times=3)
    assert asyncio.run(pg.generate("dieyuyun", {"prompt": "a"}, visitor="v1")).result.images == ()
    assert counted(pg) == 0
    # A server error may have run the generation; a timeout came after the request went out. Counted.
    dieyuyun_emulator.fault("status", status=500, times=3)
    assert asyncio.run(pg.generate("dieyuyun", {"prompt": "a"}, visitor="v1")).result.images == ()
    assert counted(pg) == 1
    dieyuyun_emulator.fault("slow", seconds=1.5)  # the conftest's read timeout is 1 s
    outcome = asyncio.run(pg.generate("dieyuyun", {"prompt": "a"}, visitor="v1"))
    assert outcome.result.failures[0].error_type == "ProviderTimeout"
    assert counted(pg) == 2
    # Of two images, one refused (400) and one made: the made one counts, the refused one goes back.
    dieyuyun_emulator.fault("status", status=400)
    outcome = asyncio.run(pg.generate("dieyuyun", {"prompt": "a", "n": 2}, visitor="v1"))
    assert len(outcome.result.images) == 1 and counted(pg) == 3


def test_a_provider_that_cannot_be_reached_costs_nothing(tmp_path):
    from types import SimpleNamespace

    from tests.app_harness import free_port

    nowhere = SimpleNamespace(base_url=f"http://127.0.0.1:{free_port()}/v1", api_key="k")  # nothing listens there
    pg = Playground(registry=Registry([make_backend("dieyuyun", nowhere)]), history=HistoryStore(tmp_path), quota=HourlyQuota(4))
    outcome = asyncio.run(pg.generate("dieyuyun", {"prompt": "a", "n": 4}, visitor="v1"))
    assert outcome.result.failures[0].error_type == "ProviderUnreachable"
    assert counted(pg) == 0
