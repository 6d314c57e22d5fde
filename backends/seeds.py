"""Seeds, in one place (DESIGN §3).

Image *i* of a batch whose seed is *s* is made with seed *s + i*, so that running that seed alone gives
that image again; a batch of *n* therefore starts at most at ``seed_max - (n - 1)``. A missing seed
("-1", or empty) is picked by the runner (:meth:`backends.runner.JobRunner.with_seed`) within that room,
before any backend sees the request: a backend reads its images' seeds from :func:`image_seeds`.
"""

from __future__ import annotations

import random

from .base import GenerationRequest

__all__ = ["draw_seed", "highest_seed", "image_seeds", "seed_run"]


def highest_seed(seed_max: int, n: int = 1) -> int:
    """The highest seed a batch of ``n`` may start from when seeds go up to ``seed_max`` (negative when
    even seed 0 leaves no room)."""
    return seed_max - max(n - 1, 0)


def draw_seed(seed_max: int, n: int = 1, rng: random.Random | None = None) -> int:
    """A random seed s such that s + n - 1 <= seed_max (0 when there is no room)."""
    return (rng or random.SystemRandom()).randint(0, max(highest_seed(seed_max, n), 0))


def seed_run(first: int, count: int) -> range:
    """The seeds of ``count`` images (or cells) from ``first``: first, first + 1, …"""
    return range(first, first + count)


def image_seeds(request: GenerationRequest) -> range:
    """The seed of each image of ``request``, image *i* at index *i*. The runner has picked the seed by the
    time a backend is called; a request without one is a caller's mistake, said at once."""
    if request.seed is None:
        raise ValueError("a backend is called with the request's seed picked (JobRunner.with_seed)")
    return seed_run(request.seed, request.n)
