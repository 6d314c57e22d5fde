"""How long a grid will take, learned from this history: the median time of each backend's last runs.

A fixed guess (``Capabilities.typical_latency_s``) was off by ten times either way; a backend's own recent
generations that came back whole say what one image costs here, today.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from ..history import HistoryStore

__all__ = ["RECENT_RUNS", "Latency", "recent_latencies"]

RECENT_RUNS = 20


@dataclass(frozen=True)
class Latency:
    """The median seconds of ``runs`` recent whole generations of one backend."""

    seconds: float
    runs: int


def recent_latencies(
    store: HistoryStore, backend_ids: Iterable[str], *, visitor: str = "", runs: int = RECENT_RUNS
) -> dict[str, Latency]:
    """Per backend with any whole run in this visitor's history: the median time of its last ``runs``.
    A run of n images is counted as one call's time: the runner makes them side by side."""
    learned: dict[str, Latency] = {}
    for backend_id in dict.fromkeys(backend_ids):
        page = store.list_entries(visitor=visitor, backend_id=backend_id, outcome="ok", limit=runs)
        times = [entry.elapsed_s for entry in page.entries if entry.elapsed_s > 0]
        if times:
            learned[backend_id] = Latency(statistics.median(times), len(times))
    return learned
