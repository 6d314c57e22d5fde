"""What a person in Chromium waits for and receives: the page's rows of the README's Performance table.

Each row is a ratio of two figures measured side by side in one run, in Debian's chromium driven by
Playwright, on the real ``python app.py`` (its own process):

8. Painted: click on Generate -> all four images of a 4-image run painted (loaded and decoded in the
   gallery), against the provider's latency, on the dieyuyun emulator (its own process, a fixed
   latency, answering with 1024x1024 PNGs of a photograph, ~1.2 MB like Kolors' own). The same for one
   image is listed under the table.
9. Bytes in the browser: what Chromium fetched for the gallery's images during those 4-image runs,
   against the PNG originals the history stored for them.
10. First image on a backend that finishes images one by one: the local backend on the tiny Kolors
    pipeline (built here; CPU), click -> the first finished image painted, n=4 against n=1.

Medians of several runs, the sides interleaved so drift hits both alike. Not part of the test suite's
timing (tests/test_bench_smoke.py runs ``--quick`` only to see every row come out). From the
repository root:

    python -m tests.benchmarks.bench_page [--latency 2.0] [--repeats 5] [--quick] [--markdown PATH]
        [--rows paint,bytes,local]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.benchmarks.bench_playground import (
    API_KEY,
    APP,
    PROMPT,
    Launched,
    Row,
    emulator_process,
    launch,
    loadavg,
    machine,
    stop,
)
from tests.browser_fixtures import CHROMIUM, CHROMIUM_ARGS, VIEWPORT

ROWS = ("paint", "bytes", "local")
FIRST_NUMBER = 8  # bench_playground's rows are 1-7
PAINT_TARGET = 1.15
BYTES_TARGET = 0.20
LOCAL_TARGET = 1.10

# In the page: the moment ``count`` gallery images of this run (not among the ``before`` sources) with a
# finished image's caption ("seed N", kept in data-caption once the page's alt text names the prompt) are loaded and decoded, ready to paint. Polled every 5 ms (a
# headless page that shows nothing new may not run animation frames).
WAIT_PAINTED = """([count, since, before]) => new Promise(resolve => {
    const finished = () => [...document.querySelectorAll('#gallery img')]
        .filter(img => !before.includes(img.src) && /^seed /.test(img.dataset.caption ?? img.alt) && img.complete && img.naturalWidth > 0);
    const check = () => {
        const images = finished();
        if (/^⚠/.test(document.querySelector('#status').innerText.trim())) {
            resolve(-1);  // refused or failed: no image will come
        } else if (images.length >= count) {
            Promise.all(images.slice(0, count).map(img => img.decode().catch(() => null)))
                .then(() => resolve(performance.now() - since));
        } else {
            setTimeout(check, 5);
        }
    };
    check();
})"""

CLICK = """() => { const t = performance.now(); document.querySelector('#generate-btn').click(); return t; }"""


@dataclass
class PageRun:
    """One page's runs: each ``generate`` presses Generate and times the gallery in the browser."""

    page: object
    app: Launched
    image_bytes: list[int] = field(default_factory=list)  # of each image response since the last reset

    def __post_init__(self) -> None:
        self.page.on("requestfinished", self._count)

    def _count(self, request) -> None:
        if request.resource_type == "image":
            try:
                self.image_bytes.append(request.sizes()["responseBodySize"])
            except Exception:  # the page went away
                pass

    def set(self, elem_id: str, value: str) -> None:
        box = self.page.locator(f"#{elem_id} input[type=number]" if elem_id in ("n", "steps")
                                else f"#{elem_id} textarea" if elem_id == "prompt" else f"#{elem_id} input").first
        if elem_id == "steps" and not box.is_visible():
            self.page.locator("#advanced button").first.click()
        box.fill(value)
        box.blur()

    def generate(self, n: int, *, first_only: bool = False) -> tuple[float, str]:
        """Click -> the first (or all n) finished images painted, in seconds; and the run's status line
        once it has ended."""
        self.set("n", str(n))
        self.set("seed", str(time.monotonic_ns() % 10**9))  # a fresh seed: nothing cached on the way
        self._idle()
        self.image_bytes.clear()
        before = self.page.locator("#gallery img").evaluate_all("images => images.map(img => img.src)")
        since = self.page.evaluate(CLICK)
        elapsed_ms = self.page.evaluate(WAIT_PAINTED, [1 if first_only else n, since, before])
        if elapsed_ms < 0:
            raise RuntimeError(f"the run failed: {self.page.locator('#status').inner_text()}")
        self.page.wait_for_function(
            "() => /[✅⚠]/.test(document.querySelector('#status').innerText)", timeout=600_000
        )
        self._idle()
        return elapsed_ms / 1000, self.page.locator("#status").inner_text()

    def _idle(self) -> None:
        self.page.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=status-tracker]')].every(t => t.classList.contains('hide'))",
            timeout=600_000,
        )


def open_page(browser, app: Launched) -> PageRun:
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(600_000)
    page = context.new_page()
    page.goto(app.url)
    page.wait_for_selector("#generate-btn")
    page.wait_for_function("() => window.__gradio_session_hash__ !== undefined")
    run = PageRun(page, app)
    run.set("prompt", PROMPT)
    return run


def newest_originals_bytes(data_dir: Path) -> tuple[int, int]:
    """(images, their stored bytes) of the newest generation: the run that just ended."""
    with sqlite3.connect(f"file:{data_dir / 'history.sqlite3'}?mode=ro", uri=True) as db:
        (newest,) = db.execute("SELECT id FROM generations ORDER BY created_at DESC, rowid DESC LIMIT 1").fetchone()
        count, total = db.execute("SELECT COUNT(*), SUM(bytes) FROM images WHERE generation_id = ?", (newest,)).fetchone()
        return count, total or 0


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


@dataclass
class Measured:
    rows: dict[str, Row] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def measure_emulator_rows(browser, scratch: Path, *, latency: float, repeats: int, wanted: list[str], out: Measured) -> None:
    with emulator_process(latency, scratch) as emulator_url:
        env = {"DIEYUYUN_API_KEY": API_KEY, "DIEYUYUN_BASE_URL": emulator_url}
        app = launch(APP, env, data_dir=scratch / "app-data", log_path=scratch / "app.log")
        try:
            page = open_page(browser, app)
            page.generate(1)  # warm-up: the first run pays for imports and the gallery's first mount
            four, one, fetched, stored, statuses = [], [], [], [], []
            for _ in range(repeats):
                seconds, status = page.generate(4)
                four.append(seconds)
                fetched.append(sum(page.image_bytes))
                count, total = newest_originals_bytes(app.data_dir)
                stored.append(total)
                statuses.append(f"{status.splitlines()[0]} ({count} stored)")
                one.append(page.generate(1)[0])
        finally:
            stop(app.process)
    if not all(status.startswith("✅ 4 images") and "(4 stored)" in status for status in statuses):
        out.notes.append(f"row 8: some 4-image runs did not end with 4 images: {statuses}")
    if "paint" in wanted:
        ratio = median(four) / latency
        out.rows["paint"] = Row(
            "paint", "Painted: click → all 4 photo images painted in Chromium vs the provider's latency",
            f"{median(four):.2f} s vs {latency:g} s · one image {median(one):.2f} s (×{median(one) / latency:.2f})",
            ratio, f"≤ {PAINT_TARGET:.2f}", ratio <= PAINT_TARGET,
        )
        out.notes.append(f"row 8 samples (s): 4 images {spread(four)}; 1 image {spread(one)}")
    if "bytes" in wanted:
        ratios = [f / s for f, s in zip(fetched, stored, strict=True) if s]
        ratio = median(ratios) if ratios else float("nan")
        out.rows["bytes"] = Row(
            "bytes", "Bytes in the browser: a 4-image photo gallery's images vs the PNG originals",
            f"{median(fetched) / 1000:,.0f} KB fetched vs {median(stored) / 1000:,.0f} KB stored",
            ratio, f"≤ {BYTES_TARGET:.2f}", ratio <= BYTES_TARGET,
        )


def measure_local_row(browser, scratch: Path, *, repeats: int, steps: int, size: int, out: Measured) -> None:
    from tests.tiny_kolors import cached_tiny_kolors

    model = cached_tiny_kolors()
    env = {"KOLORS_MODEL": str(model), "KOLORS_DEVICE": "cpu"}
    app = launch(APP, env, data_dir=scratch / "local-data", log_path=scratch / "local.log")
    try:
        page = open_page(browser, app)
        page.page.locator("#size input").first.click()
        page.page.locator("ul[role=listbox] li[role=option]", has_text="Custom").first.click()
        page.set("width", str(size))
        page.set("height", str(size))
        page.set("steps", str(steps))
        page.generate(1)  # warm-up: loads the pipeline
        first_of_four, one, whole_four = [], [], []
        for _ in range(repeats):
            started = time.perf_counter()
            first_of_four.append(page.generate(4, first_only=True)[0])
            whole_four.append(time.perf_counter() - started)
            one.append(page.generate(1)[0])
    finally:
        stop(app.process)
    ratio = median(first_of_four) / median(one)
    out.rows["local"] = Row(
        "local", "First image: n=4 vs n=1 on the local backend (tiny pipeline, CPU), click → first image painted",
        f"{median(first_of_four):.2f} s vs {median(one):.2f} s · the whole 4-image run {median(whole_four):.2f} s "
        f"({size}×{size}, {steps} steps)",
        ratio, f"≤ {LOCAL_TARGET:.2f}", ratio <= LOCAL_TARGET,
    )
    out.notes.append(f"row 10 samples (s): first of 4 {spread(first_of_four)}; 1 image {spread(one)}")


def render(rows: list[Row], *, markdown: bool) -> str:
    lines = (["| # | row | measured | ratio | target | result |", "|---|---|---|---:|---|---|"] if markdown else [])
    for row in rows:
        number = FIRST_NUMBER + ROWS.index(row.key)
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "—"
        if markdown:
            lines.append(f"| {number} | {row.title} | {row.measured} | {ratio} | {row.target} | {row.verdict} |")
        else:
            lines.append(f"{number:<3} {row.title:<96} {ratio:>6}  {row.target:<8} {row.verdict:<6} {row.measured}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, help="the emulator's fixed latency in seconds (2.0; --quick 0.2)")
    parser.add_argument("--repeats", type=int, help="timed runs per side (5; --quick 1)")
    parser.add_argument("--steps", type=int, help="the tiny pipeline's steps per image in row 10 (8; --quick 2)")
    parser.add_argument("--size", type=int, help="the tiny pipeline's image side in row 10 (256)")
    parser.add_argument("--quick", action="store_true", help="few runs, short waits: a smoke run")
    parser.add_argument("--markdown", type=Path, help="also write the table as markdown to this file")
    parser.add_argument("--rows", help=f"a comma-separated subset of the rows ({','.join(ROWS)}); all by default")
    args = parser.parse_args(argv)
    latency = args.latency if args.latency is not None else (0.2 if args.quick else 2.0)
    repeats = args.repeats or (1 if args.quick else 5)
    steps = args.steps or (2 if args.quick else 8)
    size = args.size or 256
    wanted = [key.strip() for key in args.rows.split(",")] if args.rows else list(ROWS)
    unknown = set(wanted) - set(ROWS)
    if unknown:
        parser.error(f"unknown row(s) {', '.join(sorted(unknown))}; rows are {', '.join(ROWS)}")

    from playwright.sync_api import sync_playwright

    load_before = loadavg()
    wall = time.perf_counter()
    out = Measured()
    print(f"machine: {machine()}\nload average before: {load_before}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-page-") as folder, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            steps_of: list[tuple[str, Callable[[], None]]] = []
            if {"paint", "bytes"} & set(wanted):
                steps_of.append(("paint, bytes", lambda: measure_emulator_rows(
                    browser, Path(folder), latency=latency, repeats=repeats, wanted=wanted, out=out)))
            if "local" in wanted:
                steps_of.append(("local", lambda: measure_local_row(
                    browser, Path(folder), repeats=repeats, steps=steps, size=size, out=out)))
            for name, step in steps_of:
                started = time.perf_counter()
                print(f"[{name}] …", end=" ", flush=True)
                step()
                print(f"{time.perf_counter() - started:.1f} s", flush=True)
        finally:
            browser.close()
    ordered = [out.rows[key] for key in ROWS if key in out.rows]
    load_after = loadavg()
    print(f"\nemulator latency {latency:g} s · medians of {repeats}" + (" · QUICK (figures not meaningful)" if args.quick else ""))
    print(render(ordered, markdown=False))
    print()
    for note in out.notes:
        print(f"- {note}")
    print(f"- load average before {load_before}, after {load_after}; whole run {time.perf_counter() - wall:.0f} s")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(
            render(ordered, markdown=True) + f"\n\nMachine: {machine()}. Emulator latency {latency:g} s; load average "
            f"{load_before} before, {load_after} after.\n", encoding="utf-8",
        )
    return 0 if all(row.passed is not False for row in ordered) else 1


if __name__ == "__main__":
    raise SystemExit(main())
