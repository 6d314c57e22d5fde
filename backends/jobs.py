"""A hosted demo's cap on each visitor's queued and running jobs (``PLAYGROUND_JOBS_PER_VISITOR``), so one
client cannot fill the queue that every visitor shares.

A job takes a place when it asks to join the queue (:meth:`JobCap.admit`, before the queue holds it) and
keeps it while it runs (:meth:`JobCap.begin` to :meth:`JobCap.end`); ``join`` is whatever identifies that
one request to join (the UI passes the HTTP request, which its handler sees again). A visitor is counted
under every key it presents (its visitor id and its network address, as the quota counts it), so new
sessions from one address share its places. A job the queue dropped before it ran (its client went away,
or cancelled it) gives its place back once ``waiting`` says the queue no longer holds it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .errors import TooManyJobs
from .messages import Message

__all__ = ["GRACE_S", "Job", "JobCap"]

GRACE_S = 10.0
"""How long an admitted job keeps its place without being seen in the queue: between the admission and
the queue holding it, and between the queue letting it go and its handler beginning."""


@dataclass(eq=False)
class Job:
    """One place: ``queued`` from the admission until its handler begins."""

    keys: tuple[str, ...]
    join: object
    queued: bool
    since: float = field(default=0.0)


class JobCap:
    """At most ``limit`` jobs queued or running for each key; ``limit=None`` counts nothing.

    ``waiting(join)`` says whether the queue still holds that job (not yet running); without it a queued
    place is given back after ``max_wait_s``.
    """

    def __init__(
        self, limit: int | None, *, waiting: Callable[[object], bool] | None = None, grace_s: float = GRACE_S,
        max_wait_s: float = 3600.0, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit is not None and limit < 1:
            raise ValueError("the cap must allow at least one job")
        self.limit = limit
        self.waiting = waiting
        self._grace_s, self._max_wait_s, self._clock = grace_s, max_wait_s, clock
        self._lock = threading.Lock()
        self._jobs: list[Job] = []

    def admit(self, keys: Iterable[str], join: object) -> None:
        """Take a queued place for a job about to join the queue, or raise :class:`TooManyJobs`."""
        if self.limit is None:
            return
        keys = _keys(keys)
        with self._lock:
            self._forget_dropped()
            self._check(keys, self.limit)
            self._jobs.append(Job(keys, join, queued=True, since=self._clock()))

    def begin(self, keys: Iterable[str], join: object) -> Job | None:
        """The place of a job whose handler begins: the one it was admitted with, else a new one within the
        cap (raises :class:`TooManyJobs`). None when nothing is counted."""
        if self.limit is None:
            return None
        keys = _keys(keys)
        with self._lock:
            for job in self._jobs:
                if job.queued and job.join is join:
                    job.queued = False
                    return job
            self._forget_dropped()
            self._check(keys, self.limit)
            job = Job(keys, join, queued=False, since=self._clock())
            self._jobs.append(job)
            return job

    def end(self, job: Job | None) -> None:
        if job is None:
            return
        with self._lock:
            if job in self._jobs:
                self._jobs.remove(job)

    def count(self, keys: Iterable[str]) -> int:
        """The jobs queued or running under any of ``keys``."""
        keys = _keys(keys)
        with self._lock:
            self._forget_dropped()
            return max((self._count(key) for key in keys), default=0)

    def _count(self, key: str) -> int:
        return sum(1 for job in self._jobs if key in job.keys)

    def _check(self, keys: tuple[str, ...], limit: int) -> None:
        count = max((self._count(key) for key in keys), default=0)
        if count >= limit:
            raise TooManyJobs(Message("too_many_jobs", count=count, limit=limit), limit=limit)

    def _forget_dropped(self) -> None:
        """Give back the queued places of jobs the queue no longer holds (their client left or cancelled)."""
        now = self._clock()
        for job in [job for job in self._jobs if job.queued and now - job.since > self._grace_s]:
            held = self.waiting(job.join) if self.waiting is not None else True
            if not held or now - job.since > self._max_wait_s:
                self._jobs.remove(job)


def _keys(keys: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(k for k in keys if k))
