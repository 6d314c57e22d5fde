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


def restored_request(restored):
    """The request an image's metadata describes: an empty request with every field the file set."""
    from backends.base import GenerationRequest

    return GenerationRequest(**{**GenerationRequest(prompt="").to_dict(), **restored.request_fields()})


def grid_metadata_of(png):
    """The ``kolors_playground_grid`` JSON of an exported grid PNG (bytes or path); None for another file."""
    import json

    from backends.compare import GRID_JSON_KEY
    from backends.history import png_texts

    try:
        data = png if isinstance(png, (bytes, bytearray)) else open(png, "rb").read()
        return json.loads(png_texts(bytes(data))[GRID_JSON_KEY])
    except Exception:
        return None
