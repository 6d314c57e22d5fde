"""A hosted demo's per-visitor image quota (``PLAYGROUND_QUOTA_PER_HOUR``), protecting the operator's
credits. Images are reserved before a job starts; only the ones whose request was never sent to the
provider (or that it refused before any work) are refunded, so Stop does not give back billed images.

A visitor is counted under every key it presents (its signed visitor id and the network address
the server sees, see :mod:`backends.identity`), so clearing the browser's storage or opening a new
session does not reset the count. Visitors who paste their own API key
spend their own credits and are not counted. Counts live in memory: a restart forgives them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from .errors import QuotaExceeded
from .messages import Message

__all__ = ["HourlyQuota", "Reservation"]

WINDOW_S = 3600.0


class Reservation:
    """Images taken from the quota for one job; :meth:`refund` gives back those never sent."""

    def __init__(self, quota: HourlyQuota | None, keys: tuple[str, ...], stamps: list[float]) -> None:
        self._quota, self._keys, self._stamps = quota, keys, stamps

    def refund(self, count: int) -> None:
        if self._quota is not None and count > 0:
            self._quota._refund(self._keys, self._stamps[:count])


class HourlyQuota:
    """At most ``limit`` images per rolling hour for each key."""

    def __init__(self, limit: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("the quota must allow at least one image per hour")
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._used: dict[str, deque[float]] = {}

    def reserve(self, keys: Iterable[str], count: int) -> Reservation:
        """Take ``count`` images for every key, or raise :class:`QuotaExceeded` taking none."""
        keys = tuple(dict.fromkeys(k for k in keys if k))
        now = self._clock()
        with self._lock:
            for key in keys:
                used = self._window(key, now)
                if len(used) + count > self.limit:
                    left = max(self.limit - len(used), 0)
                    wait = (used[0] + WINDOW_S - now) if used else 0.0
                    if count > self.limit:
                        raise QuotaExceeded(Message("quota_over_limit", limit=self.limit), retry_after=0.0)
                    if left:
                        message = Message("quota_used_up_some_left", limit=self.limit, left=left, count=count, wait=_minutes(wait))
                    else:
                        message = Message("quota_used_up", limit=self.limit, wait=_minutes(wait))
                    raise QuotaExceeded(message, retry_after=wait)
            stamps = [now] * count
            for key in keys:
                self._used[key].extend(stamps)
        return Reservation(self, keys, stamps)

    def _window(self, key: str, now: float) -> deque[float]:
        used = self._used.setdefault(key, deque())
        while used and used[0] <= now - WINDOW_S:
            used.popleft()
        return used

    def _refund(self, keys: tuple[str, ...], stamps: list[float]) -> None:
        with self._lock:
            for key in keys:
                used = self._used.get(key)
                for stamp in stamps:
                    if used and stamp in used:
                        used.remove(stamp)

    def remaining(self, keys: Iterable[str]) -> int:
        now = self._clock()
        with self._lock:
            return min((self.limit - len(self._window(k, now)) for k in keys if k), default=self.limit)


def _minutes(seconds: float) -> Message:
    minutes = max(1, round(seconds / 60))
    return Message("minutes", n=minutes) if minutes != 1 else Message("minutes_one")
