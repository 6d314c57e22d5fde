"""The hosted demo's hourly quota: reserved before work, refunded for images that did not come back,
counted per visitor id and per address, and not applied to visitors who bring their own key."""

from __future__ import annotations

import asyncio

import pytest

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
