"""How close a comparison grid comes to the ideal of its concurrency limit.

A 4×4 grid (16 cells) against the dieyuyun emulator, started in this process with a fixed latency,
and a backend allowed 4 calls at once: ideally 4 waves, so the grid's wall time is 4 single-image
latencies; one cell after another would be 16. The single-image latency is measured the same way
(one :meth:`Playground.generate` with n=1: HTTP, download, history save), so the ratio counts
everything a cell costs beyond the provider's wait. Target: ratio ≤ 4.5.

Not a test (timings belong to a quiet machine, not to CI). Run from the repository root:

    python -m tests.benchmarks.bench_compare [--latency 1.0] [--size 1024x1024] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # python tests/benchmarks/bench_compare.py
    sys.path.insert(0, str(ROOT))

from backends.compare import plan_compare, run_grid
from backends.history import HistoryStore
from backends.playground import Playground
from backends.providers.dieyuyun import dieyuyun_from_settings
from backends.registry import Registry
from backends.settings import PlaygroundSettings
from tests.emulators import make_emulator

CONCURRENCY = 4
TARGET = 4.5


async def _single(playground: Playground, size: str, seed: int) -> float:
    started = time.perf_counter()
    outcome = await playground.generate("dieyuyun", {"prompt": "a lighthouse at dusk", "size": size, "seed": seed, "n": 1})
    elapsed = time.perf_counter() - started
    if not outcome.result.images:
        raise SystemExit(f"single image failed: {outcome.entry.error}")
    return elapsed


async def _grid(playground: Playground, size: str, seed: int) -> float:
    plan = plan_compare(
        playground, backend_id="dieyuyun", values={"prompt": "a lighthouse at dusk", "size": size, "seed": seed},
        x_kind="guidance", x_text="3-9 [4]", y_kind="seed", y_text="4",
    )
    assert len(plan) == 16
    started = time.perf_counter()
    result = await run_grid(playground, plan)
    elapsed = time.perf_counter() - started
    if result.ok_count != 16:
        raise SystemExit(f"grid had failed cells: {[c.error for c in result.cells if not c.ok][:3]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=1.0, help="the emulator's fixed latency in seconds")
    parser.add_argument("--size", default="1024x1024", help="image size (one of dieyuyun's)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement; the median counts")
    args = parser.parse_args(argv)

    emulator = make_emulator("dieyuyun", latency=args.latency)
    with emulator.running(), tempfile.TemporaryDirectory() as data_dir:
        backend = dieyuyun_from_settings(
            PlaygroundSettings.from_mapping({"DIEYUYUN_API_KEY": emulator.api_key, "DIEYUYUN_BASE_URL": emulator.base_url}),
            max_concurrency=CONCURRENCY,
        )
        playground = Playground(registry=Registry([backend]), history=HistoryStore(data_dir))

        async def measure() -> tuple[list[float], list[float]]:
            await _single(playground, args.size, 1)  # warm-up: connections, imports, caches
            singles, grids = [], []
            for repeat in range(args.repeats):
                singles.append(await _single(playground, args.size, 1000 + repeat))
                grids.append(await _grid(playground, args.size, 10_000 + 100 * repeat))
            return singles, grids

        singles, grids = asyncio.run(measure())

    single = statistics.median(singles)
    grid = statistics.median(grids)
    ratio = grid / single
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"4x4 grid, max_concurrency={CONCURRENCY}, emulator latency {args.latency:g} s, size {args.size}, "
          f"median of {args.repeats}")
    print()
    print(f"{'measure':<28}{'seconds':>10}")
    print(f"{'single image (n=1)':<28}{single:>10.3f}")
    print(f"{'4x4 grid wall time':<28}{grid:>10.3f}")
    print(f"{'ratio grid / single':<28}{ratio:>10.2f}   (ideal 4.0, target <= {TARGET:g}, one by one 16)")
    print(f"{'all singles':<28}{', '.join(f'{s:.3f}' for s in singles):>10}")
    print(f"{'all grids':<28}{', '.join(f'{g:.3f}' for g in grids):>10}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
