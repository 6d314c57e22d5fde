"""Test helpers that wrap real backends to observe them."""

from __future__ import annotations


class ConcurrencyProbe:
    """Wraps a real backend and records how many of its calls overlap."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.id, self.label, self.model = inner.id, inner.label, inner.model
        self.capabilities, self.max_concurrency = inner.capabilities, inner.max_concurrency
        self.active = self.peak = self.calls = 0

    def availability(self):
        return self.inner.availability()

    async def generate(self, request, *, progress=None, cancel=None):
        self.active += 1
        self.calls += 1
        self.peak = max(self.peak, self.active)
        try:
            return await self.inner.generate(request, progress=progress, cancel=cancel)
        finally:
            self.active -= 1
