"""What the playground adds to the provider's wait: overhead, fan-out, history at scale, start-up, load, bytes.

Every row is a ratio of two figures measured side by side in the same run, against the dieyuyun
emulator (its own process, a fixed latency, answering with 1024x1024 PNGs of a photograph, ~1.2 MB
like Kolors' own) and the real ``python app.py`` (its own process):

1. Overhead: ``/generate`` through gradio_client, n=1, against calling the emulator directly with
   httpx (request + image download), same size; Gradio's own round trip for an endpoint that does
   nothing (``tests/benchmarks/bare_app.py``'s ``/echo``) is printed for scale.
2. Fan-out: ``/generate`` with n=4 against n=1.
3. History at scale: the first page and a prompt search (one prompt in 20 matches) of a history of
   100,000 entries against one of 480, which just fills a page of each (the same page work), and one
   of 10, all seeded in bulk the way a save writes its rows (tests/benchmarks/history_bulk.py); other
   searches are listed under the table.
4. Start-up and memory: ``python app.py`` until the first HTTP 200 against the bare app launched the
   same way; resident memory at idle (the process tree) against the same.
5. Load: 32 concurrent gradio_client clients x 5 generations each: every one succeeds, the history
   holds exactly 160 new entries; p50/p95 latency against the single-client latency of row 1.
6. Bytes to the page: what the page's gallery fetches for one 4-image generation, the stored previews
   (served by the app where it serves previews/), against the PNG originals, which ``/generate``
   still returns; and what making the previews before the answer would add to a save.
7. Reopening the history: opening the store (migrations checked, crash recovery), as every start
   does, at 100,000 entries against 10; and what listing every stored file costs, for scale.

Medians of several repetitions, sides interleaved so drift hits both alike. Not part of the test
suite's timing (tests/test_bench_smoke.py runs ``--quick`` only to see every row come out). Run from
the repository root:

    python -m tests.benchmarks.bench_playground [--latency 1.0] [--quick] [--markdown PATH]
        [--rows overhead,fanout,history,startup,load,bytes,reopen] [--images photo|mosaic] [--repeats N]
        [--history N]

The machine is usually shared: the load average before and after is printed, and every sample of
rows 1, 2, 4 and 7 is listed under the table, so a noisy run shows itself. Rows 3 and 7 run first, in
this process, and need neither the emulator nor the app.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import random
import signal
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # python tests/benchmarks/bench_playground.py
    sys.path.insert(0, str(ROOT))

import httpx

from backends.base import GeneratedImage, GenerationRequest, GenerationResult
from backends.history import HistoryStore
from backends.history.store import COUNT_UP_TO
from backends.settings import PlaygroundSettings
from tests.app_harness import free_port
from tests.benchmarks.history_bulk import seed_history, varied_prompt
from tests.emulators.images import render_photo

APP = ROOT / "app.py"
BARE_APP = ROOT / "tests" / "benchmarks" / "bare_app.py"
API_KEY = "bench-key"
MODEL = "Kwai-Kolors/Kolors"
PROMPT = "a lighthouse on a cliff at dusk, oil painting"
PAGE_SIZE = 24  # ui.history_panel.PAGE_SIZE (not imported: that would import gradio here)
SEARCH_TERM = "lighthouse"
SEARCH_EVERY = 20  # one seeded prompt in SEARCH_EVERY names SEARCH_TERM
# The table's rows, in order; a new row goes at the end, so that a row's number stays what it was.
ROWS = ("overhead", "fanout", "history", "startup", "load", "bytes", "reopen")

# The targets each figure is held to.
OVERHEAD_TARGET = 1.10
FANOUT_TARGET = 1.25
PAGE_MS_TARGET = 5.0
SEARCH_MS_TARGET = 20.0
REOPEN_RATIO_TARGET = 3.0
REOPEN_MS_TARGET = 100.0
BYTES_RATIO_TARGET = 0.20
STARTUP_RATIO_TARGET = 1.3
MEMORY_MB_TARGET = 50.0


@dataclass(frozen=True)
class Settings:
    latency: float
    size: str
    repeats: int
    history_small: int
    history_big: int
    history_repeats: int
    reopen_repeats: int
    startup_repeats: int
    load_clients: int
    load_each: int
    images: str
    quick: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Settings:
        quick = args.quick
        return cls(
            latency=args.latency if args.latency is not None else (0.05 if quick else 1.0),
            size=args.size,
            repeats=args.repeats or (2 if quick else 7),
            history_small=10,
            history_big=args.history or (200 if quick else 100_000),
            history_repeats=5 if quick else 50,
            reopen_repeats=5 if quick else 21,
            startup_repeats=args.startup_repeats or (1 if quick else 5),
            load_clients=args.clients or (4 if quick else 32),
            load_each=args.each or (2 if quick else 5),
            images=args.images,
            quick=quick,
        )


@dataclass
class Row:
    key: str
    title: str
    measured: str
    ratio: float | None
    target: str
    passed: bool | None  # None: nothing to pass, a figure to read

    @property
    def verdict(self) -> str:
        return "INFO" if self.passed is None else ("PASS" if self.passed else "MISS")


@dataclass
class Run:
    """What the rows share: the emulator, the launched app and bare app, and notes for the footer."""

    settings: Settings
    scratch: Path
    emulator_url: str = ""
    app: Launched | None = None
    bare: Launched | None = None
    app_single_s: float | None = None  # row 1's median, the single-client latency row 5 compares to
    direct_s: float | None = None  # row 1's direct median: the provider's own time for one image
    notes: list[str] = field(default_factory=list)
    histories: dict[int, Path] = field(default_factory=dict)  # entries -> data dir, seeded once for rows 3 and 7
    seeding: dict[int, float] = field(default_factory=dict)  # entries -> seconds it took
    seeds: Iterator[int] = field(default_factory=lambda: iter(range(random.randrange(10**9), 10**10)))


# -- processes --------------------------------------------------------------------------------


@dataclass
class Launched:
    process: subprocess.Popen
    url: str
    started_s: float  # from spawn to the first HTTP 200
    data_dir: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment tests/app_harness.start_app gives the app: no real keys, telemetry off."""
    env = {
        key: value for key, value in os.environ.items()
        if not key.endswith(("_API_KEY", "_BASE_URL")) and key not in ("PLAYGROUND_BACKENDS", "SPACE_ID", "PLAYGROUND_MODE")
    }
    env.update(GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def launch(script: Path, env: Mapping[str, str], *, data_dir: Path, log_path: Path, timeout: float = 120.0) -> Launched:
    """``python SCRIPT`` as app_harness.start_app does it, timing spawn -> first 200 (polled every 20 ms)."""
    port = free_port()
    full_env = _env({
        **env, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "PLAYGROUND_DATA_DIR": str(data_dir),
    })
    url = f"http://127.0.0.1:{port}/"
    with open(log_path, "ab") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, str(script)], cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    launched = Launched(process, url, 0.0, data_dir, log_path)
    deadline = started + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{script.name} exited with {process.returncode}:\n{launched.log()}")
            try:
                if client.get(url).status_code == 200:
                    launched.started_s = time.perf_counter() - started
                    return launched
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
    stop(process)
    raise TimeoutError(f"{script.name} did not answer within {timeout:g} s:\n{launched.log()}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextmanager
def emulator_process(latency: float, scratch: Path, *, images: str = "photo", size: str = "1024x1024") -> Iterator[str]:
    """The dieyuyun emulator in its own process (its rendering must not share this process's GIL with
    the clients being timed), serving ``images`` ("photo" or the emulator's own "mosaic"); yields its
    base URL."""
    log_path = scratch / "emulator.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.benchmarks.bench_playground", "--serve-emulator", "--latency", str(latency),
             "--images", images, "--size", size],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True,
        )
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith("ready "):
            raise RuntimeError(f"the emulator did not start: {line!r}\n{log_path.read_text(errors='replace')}")
        yield line.split(" ", 1)[1].strip()
    finally:
        stop(process)


PHOTO_VARIANTS = 2


def photo_image(*, prompt: str, seed: int, width: int, height: int, fmt: str = "png", extra: str = "", quality: int = 80) -> bytes:
    """A stand-in for tests.emulators.images.render_image whose PNGs weigh what Kolors' do (a 1024x1024
    photograph: ~1.2 MB, ~35 ms to decode; the emulator's mosaics: ~17 KB, ~5 ms). A text chunk
    naming the request makes every answer's bytes unique, so no cache on the way dedupes two images."""
    if fmt != "png":
        raise ValueError("photo images are PNG only")
    png = render_photo(width=width, height=height, variant=seed % PHOTO_VARIANTS)
    text = f"{prompt}|{seed}|{extra}".encode("latin-1", "replace")
    chunk = struct.pack(">I", len(text) + 9) + b"tEXt" + b"emulator\0" + text
    chunk += struct.pack(">I", zlib.crc32(chunk[4:]))
    return png[:33] + chunk + png[33:]  # after the signature (8) and IHDR (25)


def serve_emulator(latency: float, images: str, size: str) -> None:
    if images == "photo":
        import tests.emulators.common as emulator_common

        width, height = (int(v) for v in size.split("x"))
        for variant in range(PHOTO_VARIANTS):  # before "ready": no timed call pays for the encoding
            render_photo(width=width, height=height, variant=variant)
        emulator_common.render_image = photo_image
    from tests.emulators.__main__ import main as serve

    serve(["--provider", "dieyuyun", "--latency", str(latency), "--api-key", API_KEY])


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB (10**6 bytes)."""
    total_kb, pending, seen = 0, [pid], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total_kb += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total_kb * 1024 / 1e6


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


# -- calls ------------------------------------------------------------------------------------


def gradio_client(url: str, downloads: Path | bool):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=str(downloads) if downloads else False)


def direct_call(client: httpx.Client, base_url: str, *, size: str, n: int, seed: int) -> float:
    """What the backend does for one request, without the playground: POST, then download each image."""
    started = time.perf_counter()
    answer = client.post(
        f"{base_url}/images/generations",
        headers={"Authorization": f"Bearer {API_KEY}"},
        json={"model": MODEL, "prompt": PROMPT, "size": size, "n": n, "seed": seed,
              "num_inference_steps": 20, "guidance_scale": 7.5},
    )
    answer.raise_for_status()
    for item in answer.json()["data"]:
        image = client.get(item["url"])
        image.raise_for_status()
        if not image.content:
            raise RuntimeError("empty image")
    return time.perf_counter() - started


def gallery_urls(gallery: list) -> list[str]:
    urls = []
    for item in gallery:
        image = item["image"] if isinstance(item, dict) else item[0]
        urls.append(image["url"] if isinstance(image, dict) else image.url)
    return urls


def fetch_gallery(http: httpx.Client, gallery: list) -> tuple[int, set[str]]:
    """Fetch every image of a gallery as the page does (kept-alive connections, all at once); return the
    bytes received and their content types."""

    def fetch(url: str) -> tuple[int, str]:
        answer = http.get(url)
        answer.raise_for_status()
        return len(answer.content), answer.headers.get("content-type", "?").split(";")[0]

    urls = gallery_urls(gallery)
    got = list(_POOL.map(fetch, urls)) if len(urls) > 1 else [fetch(url) for url in urls]
    return sum(size for size, _ in got), {kind for _, kind in got}


_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="page-fetch")


def app_call(client, http: httpx.Client | None, *, size: str, n: int, seed: int) -> tuple[float, Any, dict]:
    """``/generate`` through gradio_client, then the gallery's images fetched as the page fetches them.

    With ``http`` None the client downloads the files itself (``download_files``), which costs a new
    httpx client, so a new SSL context, per file, one after another: a cost of gradio_client, not of
    the playground, reported beside row 1 but not in it.
    """
    started = time.perf_counter()
    gallery, info = client.predict(
        backend="dieyuyun", prompt=PROMPT, size=size, n=n, seed=seed, api_name="/generate"
    )
    if http is not None:
        fetch_gallery(http, gallery)
    elapsed = time.perf_counter() - started
    if len(gallery) != n or len(info.get("seeds") or ()) != n:
        raise RuntimeError(f"/generate returned {len(gallery)} images for n={n}: {info.get('failures')}")
    return elapsed, gallery, info


class RawEndpoint:
    """An endpoint called over Gradio's HTTP API (POST ``/gradio_api/call/NAME``, then its SSE stream),
    as a page or any HTTP client does, without gradio_client: that client checks for new messages
    every 50 ms from a worker thread, a wait of its own that the raw figures leave out."""

    def __init__(self, client, http: httpx.Client, base_url: str, api_name: str) -> None:
        spec = client.view_api(return_format="dict", print_info=False)["named_endpoints"][api_name]
        self.defaults = {p["parameter_name"]: p.get("parameter_default") for p in spec["parameters"]}
        self.http, self.url = http, f"{base_url.rstrip('/')}/gradio_api/call/{api_name.strip('/')}"

    def __call__(self, **values: Any) -> list:
        unknown = set(values) - set(self.defaults)
        if unknown:
            raise TypeError(f"no parameters {sorted(unknown)}")
        data = [values.get(name, default) for name, default in self.defaults.items()]
        event_id = self.http.post(self.url, json={"data": data}).raise_for_status().json()["event_id"]
        event = None
        with self.http.stream("GET", f"{self.url}/{event_id}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    event = line[7:].strip()
                elif line.startswith("data: ") and event in ("complete", "error"):
                    if event == "error":
                        raise RuntimeError(f"{self.url} answered an error: {line[6:200]}")
                    return json.loads(line[6:])
        raise RuntimeError(f"{self.url} closed its stream without an answer")


def raw_app_call(endpoint: RawEndpoint, http: httpx.Client, *, size: str, n: int, seed: int) -> float:
    """``/generate`` over the raw HTTP API, then the gallery's images fetched as the page fetches them."""
    started = time.perf_counter()
    gallery, info = endpoint(backend="dieyuyun", prompt=PROMPT, size=size, n=n, seed=seed)
    fetch_gallery(http, gallery)
    elapsed = time.perf_counter() - started
    if len(gallery) != n or len(info.get("seeds") or ()) != n:
        raise RuntimeError(f"/generate returned {len(gallery)} images for n={n}: {info.get('failures')}")
    return elapsed


def raw_echo_call(endpoint: RawEndpoint) -> float:
    started = time.perf_counter()
    if endpoint(text="ping") != ["ping"]:
        raise RuntimeError("echo app answered something else")
    return time.perf_counter() - started


def echo_call(client) -> float:
    started = time.perf_counter()
    if client.predict("ping", api_name="/echo") != "ping":
        raise RuntimeError("echo app answered something else")
    return time.perf_counter() - started


def history_count(data_dir: Path) -> int:
    with sqlite3.connect(f"file:{data_dir / 'history.sqlite3'}?mode=ro", uri=True) as db:
        return db.execute("SELECT count(*) FROM generations").fetchone()[0]


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float], unit: float = 1.0, fmt: str = "{:.3f}") -> str:
    return "[" + ", ".join(fmt.format(v * unit) for v in values) + "]"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# -- rows -------------------------------------------------------------------------------------


def row_overhead(run: Run) -> Row:
    s = run.settings
    app_client = gradio_client(run.app.url, False)
    downloading = gradio_client(run.app.url, run.scratch / "downloads")
    echo_client = gradio_client(run.bare.url, False)
    direct, app, client_downloads, echo, raw_app, raw_echo = [], [], [], [], [], []
    with httpx.Client(timeout=60) as http:
        raw_generate = RawEndpoint(app_client, http, run.app.url, "/generate")
        raw_echoing = RawEndpoint(echo_client, http, run.bare.url, "/echo")
        direct_call(http, run.emulator_url, size=s.size, n=1, seed=next(run.seeds))  # warm-up
        app_call(app_client, http, size=s.size, n=1, seed=next(run.seeds))
        app_call(downloading, None, size=s.size, n=1, seed=next(run.seeds))
        raw_app_call(raw_generate, http, size=s.size, n=1, seed=next(run.seeds))
        echo_call(echo_client)
        raw_echo_call(raw_echoing)
        for _ in range(s.repeats):
            direct.append(direct_call(http, run.emulator_url, size=s.size, n=1, seed=next(run.seeds)))
            app.append(app_call(app_client, http, size=s.size, n=1, seed=next(run.seeds))[0])
            raw_app.append(raw_app_call(raw_generate, http, size=s.size, n=1, seed=next(run.seeds)))
            client_downloads.append(app_call(downloading, None, size=s.size, n=1, seed=next(run.seeds))[0])
            echo.append(echo_call(echo_client))
            raw_echo.append(raw_echo_call(raw_echoing))
    d, a, e, ra, re_ = median(direct), median(app), median(echo), median(raw_app), median(raw_echo)
    run.app_single_s, run.direct_s = a, d
    run.notes.append(
        f"row 1 samples (s): direct {spread(direct)}; /generate {spread(app)}; over raw HTTP {spread(raw_app)}; "
        f"echo {spread(echo)}; echo over raw HTTP {spread(raw_echo)}"
    )
    run.notes.append(
        f"row 1: over Gradio's HTTP API without gradio_client, /generate takes {ra:.3f} s (×{ra / d:.2f} of direct, "
        f"+{1000 * (ra - d):.0f} ms) and the echo {1000 * re_:.0f} ms: of that, the playground itself adds "
        f"{1000 * (ra - d - re_):.0f} ms (validation, download, storing with metadata, the history write, the gallery). "
        f"gradio_client's own wait is {1000 * (e - re_):.0f} ms per call"
    )
    run.notes.append(
        f"row 1: with gradio_client downloading the image itself (download_files) /generate takes "
        f"{median(client_downloads):.3f} s: it opens a new httpx client (a new SSL context) per file"
    )
    ratio = a / d
    return Row(
        "overhead", f"Overhead: `/generate` n=1 vs direct httpx ({s.size}, latency {s.latency:g} s)",
        f"/generate {a:.3f} s · direct {d:.3f} s · added {1000 * (a - d):.0f} ms · Gradio echo round trip "
        f"{1000 * e:.0f} ms through gradio_client, {1000 * re_:.0f} ms over raw HTTP · over raw HTTP /generate "
        f"×{ra / d:.2f} (+{1000 * (ra - d):.0f} ms)",
        ratio, f"≤ {OVERHEAD_TARGET:.2f}", ratio <= OVERHEAD_TARGET,
    )


def row_fanout(run: Run) -> Row:
    s = run.settings
    client = gradio_client(run.app.url, False)
    ones, fours = [], []
    with httpx.Client(timeout=60) as http:
        app_call(client, http, size=s.size, n=4, seed=next(run.seeds))  # warm-up
        for _ in range(s.repeats):
            ones.append(app_call(client, http, size=s.size, n=1, seed=next(run.seeds))[0])
            fours.append(app_call(client, http, size=s.size, n=4, seed=next(run.seeds))[0])
    one, four = median(ones), median(fours)
    run.notes.append(f"row 2 samples (s): n=1 {spread(ones)}; n=4 {spread(fours)}")
    ratio = four / one
    return Row(
        "fanout", "Fan-out: `/generate` n=4 vs n=1",
        f"n=4 {four:.3f} s · n=1 {one:.3f} s (one after another would be ×4)",
        ratio, f"≤ {FANOUT_TARGET:.2f}", ratio <= FANOUT_TARGET,
    )


def _seeded_histories(run: Run) -> dict[int, Path]:
    """The histories rows 3 and 7 read, seeded once per run in bulk (tests/benchmarks/history_bulk.py):
    the small one, the large one, and one that just fills a page of each query (the same page work as
    the large one). One prompt in SEARCH_EVERY names the searched subject; n cycles 1..4."""
    if run.histories:
        return run.histories
    s = run.settings
    for count in sorted({s.history_small, _control(s), s.history_big}):
        folder = run.scratch / f"history-{count}"
        run.seeding[count] = seed_history(
            folder, count, prompt=partial(varied_prompt, term=SEARCH_TERM, every=SEARCH_EVERY), seed=count
        )
        HistoryStore(folder).close()  # its first open, before the timed ones
        run.histories[count] = folder
    return run.histories


def _control(s: Settings) -> int:
    return min(PAGE_SIZE * SEARCH_EVERY, s.history_big)


def _matches(count: int) -> int:
    """How many of ``count`` seeded entries name the searched subject."""
    return -(-count // SEARCH_EVERY)


def _time_queries(stores: Mapping[int, HistoryStore], repeats: int) -> dict[int, tuple[list[float], list[float]]]:
    """First page and search of every store, the stores taken in turn within each repetition so that
    the machine's drift hits them alike."""
    timed: dict[int, tuple[list[float], list[float]]] = {count: ([], []) for count in stores}
    for store in stores.values():  # warm-up: page cache, statement cache
        store.list_entries(limit=PAGE_SIZE)
        store.list_entries(limit=PAGE_SIZE, query=SEARCH_TERM)
    for _ in range(repeats):
        for count, store in stores.items():
            pages, searches = timed[count]
            started = time.perf_counter()
            page = store.list_entries(limit=PAGE_SIZE)
            pages.append(time.perf_counter() - started)
            started = time.perf_counter()
            found = store.list_entries(limit=PAGE_SIZE, query=SEARCH_TERM)
            searches.append(time.perf_counter() - started)
            if not page.entries or not found.entries:
                raise RuntimeError("the seeded history came back empty")
    return timed


def _time_other_searches(store: HistoryStore, repeats: int) -> str:
    """A word in every prompt, one in a few, one in none, a word shorter than a trigram, and a second page."""
    parts = []
    first = store.list_entries(limit=PAGE_SIZE, query=SEARCH_TERM)
    for label, kwargs in (
        ("“soft light” (every entry)", {"query": "soft light"}),
        ("“fox” (1 in 20)", {"query": "fox"}),
        ("“zebra” (none)", {"query": "zebra"}),
        ("“ox” (LIKE)", {"query": "ox"}),
        (f"“{SEARCH_TERM}” page 2", {"query": SEARCH_TERM, "before": first.next_cursor}),
    ):
        store.list_entries(limit=PAGE_SIZE, **kwargs)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            page = store.list_entries(limit=PAGE_SIZE, **kwargs)
            times.append(time.perf_counter() - started)
        shown = f"{page.total}+" if page.total_is_lower_bound else str(page.total)
        parts.append(f"{label} {1000 * median(times):.1f} ms ({shown})")
    return ", ".join(parts)


def row_history(run: Run) -> Row:
    s = run.settings
    folders = _seeded_histories(run)
    control = _control(s)
    stores: dict[int, HistoryStore] = {}
    try:
        for count, folder in folders.items():
            stores[count] = HistoryStore(folder)
        results = _time_queries(stores, s.history_repeats)
        others = _time_other_searches(stores[s.history_big], max(5, s.history_repeats // 5))
    finally:
        for store in stores.values():
            store.close()
    small, big, full = results[s.history_small], results[s.history_big], results[control]
    page_small, page_big, page_full = (median(times[0]) * 1000 for times in (small, big, full))
    search_small, search_big, search_full = (median(times[1]) * 1000 for times in (small, big, full))
    # The ratio that tells whether a page grows with the history: against a history that just fills a
    # page of each query, the same page work (the 10-entry one shows 10 entries and 1 match).
    page_ratio, search_ratio = page_big / page_full, search_big / search_full
    run.notes.append(
        f"row 3: at {s.history_big:,} entries the search finds {_matches(s.history_big):,} and counts {min(COUNT_UP_TO, _matches(s.history_big))} "
        f"of them (“{COUNT_UP_TO}+”); at {control} entries, {_matches(control)}. Against {s.history_small} entries (a page of "
        f"{min(PAGE_SIZE, s.history_small)}, {_matches(s.history_small)} match): page {page_small:.1f} ms, search {search_small:.1f} ms"
    )
    run.notes.append(f"row 3: other searches at {s.history_big:,} entries: {others}")
    run.notes.append(
        f"row 3: seeding {s.history_big:,} entries in bulk took {run.seeding[s.history_big]:.1f} s"
    )
    passed = page_big < PAGE_MS_TARGET and search_big < SEARCH_MS_TARGET
    return Row(
        "history", f"History: first page ({PAGE_SIZE}) and search “{SEARCH_TERM}” at {s.history_big:,} entries vs {control}",
        f"page {page_big:.1f} ms vs {page_full:.1f} ms (×{page_ratio:.2f}) · search {search_big:.1f} ms vs "
        f"{search_full:.1f} ms (×{search_ratio:.2f}) · {_matches(s.history_big):,} matches, counted to {COUNT_UP_TO}",
        max(page_ratio, search_ratio), f"< {PAGE_MS_TARGET:g} ms, < {SEARCH_MS_TARGET:g} ms", passed,
    )


def row_reopen(run: Run) -> Row:
    """Opening the store (migrations checked, crash recovery) as every start does, the small and the
    large history in turn; then what listing every stored file, as recovery used to, costs."""
    s = run.settings
    folders = _seeded_histories(run)
    timed: dict[int, list[float]] = {s.history_small: [], s.history_big: []}
    for _ in range(s.reopen_repeats):
        for count in timed:
            started = time.perf_counter()
            store = HistoryStore(folders[count])
            timed[count].append(time.perf_counter() - started)
            store.close()
    small, big = median(timed[s.history_small]) * 1000, median(timed[s.history_big]) * 1000
    with HistoryStore(folders[s.history_big]) as store:
        started = time.perf_counter()
        store.sweep()
        swept = time.perf_counter() - started
    files = sum(1 + i % 4 for i in range(s.history_big))
    run.notes.append(
        f"row 7 samples (ms): {s.history_big:,} entries {spread(timed[s.history_big], 1000, '{:.2f}')}; "
        f"{s.history_small} entries {spread(timed[s.history_small], 1000, '{:.2f}')}"
    )
    run.notes.append(
        f"row 7: listing all {files:,} image files of the {s.history_big:,}-entry history against its rows (HistoryStore.sweep, "
        f"what recovery did at every start before it read notes of the writes in flight) takes {1000 * swept:.0f} ms"
    )
    ratio = big / small
    return Row(
        "reopen", f"Reopening the history: {s.history_big:,} vs {s.history_small} entries",
        f"{big:.2f} ms vs {small:.2f} ms", ratio, f"≤ {REOPEN_RATIO_TARGET:g}, < {REOPEN_MS_TARGET:g} ms",
        ratio <= REOPEN_RATIO_TARGET and big < REOPEN_MS_TARGET,
    )


def row_startup(run: Run, env: Mapping[str, str]) -> Row:
    """Launch both apps ``startup_repeats`` times, alternating; the last launch of each stays up for the
    other rows (idle memory is read before anything has been asked of it)."""
    s = run.settings
    app_s, bare_s, app_mb, bare_mb = [], [], [], []
    for attempt in range(s.startup_repeats):
        last = attempt == s.startup_repeats - 1
        for script, times, memory in ((APP, app_s, app_mb), (BARE_APP, bare_s, bare_mb)):
            data_dir = run.scratch / f"{script.stem}-data-{attempt}"
            launched = launch(script, env, data_dir=data_dir, log_path=run.scratch / f"{script.stem}-{attempt}.log")
            time.sleep(1.5)  # idle: let start-up threads settle
            times.append(launched.started_s)
            memory.append(tree_rss_mb(launched.process.pid))
            if last:
                if script == APP:
                    run.app = launched
                else:
                    run.bare = launched
            else:
                stop(launched.process)
    a, b, am, bm = median(app_s), median(bare_s), median(app_mb), median(bare_mb)
    run.notes.append(
        f"row 4 samples: app.py {spread(app_s)} s, {spread(app_mb, fmt='{:.0f}')} MB; "
        f"bare {spread(bare_s)} s, {spread(bare_mb, fmt='{:.0f}')} MB"
    )
    ratio = a / b
    extra = am - bm
    return Row(
        "startup", "Start-up and idle memory: `python app.py` vs a bare `gr.Blocks` app",
        f"first 200 after {a:.2f} s vs {b:.2f} s · RSS {am:.0f} MB vs {bm:.0f} MB (+{extra:.0f} MB)",
        ratio, f"≤ {STARTUP_RATIO_TARGET:g}, ≤ +{MEMORY_MB_TARGET:.0f} MB",
        ratio <= STARTUP_RATIO_TARGET and extra <= MEMORY_MB_TARGET,
    )


def row_load(run: Run) -> Row:
    s = run.settings
    clients, each = s.load_clients, s.load_each
    before = history_count(run.app.data_dir)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)
    seeds = [[next(run.seeds) for _ in range(each)] for _ in range(clients)]

    http = httpx.Client(timeout=120, limits=httpx.Limits(max_connections=clients * 2))

    def visitor(index: int) -> None:
        client = None
        try:
            client = gradio_client(run.app.url, False)
        finally:
            ready.wait()
        if client is None:
            return
        for seed in seeds[index]:
            try:
                elapsed = app_call(client, http, size=s.size, n=1, seed=seed)[0]
            except Exception as exc:  # counted, not raised: the row reports how many failed
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=visitor, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    http.close()
    added = history_count(run.app.data_dir) - before
    total = clients * each
    ok = len(latencies) == total and not errors and added == total
    single = run.app_single_s or median(latencies or [math.nan])
    p50 = percentile(latencies, 0.5) if latencies else math.nan
    p95 = percentile(latencies, 0.95) if latencies else math.nan
    if errors:
        run.notes.append(f"row 5 errors ({len(errors)}): " + " | ".join(errors[:3]))
    limit = run_max_concurrency()
    provider_s = run.direct_s or s.latency
    floor = math.ceil(total / limit) * provider_s
    run.notes.append(
        f"row 5: {total} generations in {wall:.1f} s ({total / wall:.2f}/s); the app calls one backend at most {limit} "
        f"at a time, so the provider alone needs ≥ {floor:.1f} s ({math.ceil(total / limit)} waves of {provider_s:.3f} s): "
        f"{100 * floor / wall:.0f}% of that bound"
    )
    return Row(
        "load", f"Load: {clients} clients × {each} generations, n=1",
        f"{len(latencies)}/{total} ok · {added} new history entries · p50 {p50:.2f} s, p95 {p95:.2f} s "
        f"vs single {single:.2f} s (p95 ×{p95 / single:.1f})",
        p50 / single, f"all ok, {total} entries", ok,
    )


def run_max_concurrency() -> int:
    from backends.providers.dieyuyun import dieyuyun_from_settings

    return dieyuyun_from_settings(PlaygroundSettings.from_mapping({})).max_concurrency


def _stored_images(data_dir: Path, generation_id: str, *, wait_s: float = 60.0) -> list[tuple[Path, Path | None]]:
    """(original, preview or None) of a generation's images, once the app has made every preview it
    makes (after its answer, with the thumbnails), as ``HistoryStore.get`` would wait for them."""
    from backends.history.previews import needs_preview

    deadline = time.monotonic() + wait_s
    while True:
        with sqlite3.connect(f"file:{data_dir / 'history.sqlite3'}?mode=ro", uri=True) as db:
            rows = db.execute(
                "SELECT file_name, preview_name, width, height, bytes FROM images WHERE generation_id = ? ORDER BY idx",
                (generation_id,),
            ).fetchall()
        waiting = [row for row in rows if row[1] is None and needs_preview(row[2], row[3], row[4])]
        if not waiting or time.monotonic() > deadline:
            return [
                (data_dir / "images" / name, data_dir / "previews" / preview if preview else None)
                for name, preview, *_ in rows
            ]
        time.sleep(0.05)


def _served(http: httpx.Client, app_url: str, path: Path) -> int | None:
    """The bytes the app serves for a stored file at its static URL; None when it does not serve it."""
    answer = http.get(f"{app_url}gradio_api/file={path}")
    return len(answer.content) if answer.status_code == 200 else None


def _preview_cost(originals: list[bytes], repeats: int) -> str:
    """What making the previews before the answer costs: a 4-image save that makes them against one that
    leaves them (and the thumbnails) for later, as the app saves today; and one image's decode and encode."""
    from PIL import Image

    from backends.history.previews import make_preview

    request = GenerationRequest(prompt=PROMPT, width=1024, height=1024, n=len(originals), seed=1)
    result = GenerationResult(
        backend_id="dieyuyun", backend_label="dieyuyun (Kolors)", model=MODEL, request=request,
        images=tuple(GeneratedImage(data, "image/png", 1024, 1024, seed=1 + i, index=i) for i, data in enumerate(originals)),
        failures=(), elapsed_s=1.0,
    )
    later, first, decode, encode = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-previews-") as folder, HistoryStore(folder) as store:
        for _ in range(repeats):
            for defer_previews, times in ((True, later), (False, first)):
                started = time.perf_counter()
                entry = store.save(result, defer_thumbnails=True, defer_previews=defer_previews)
                times.append(time.perf_counter() - started)
                store.get(entry.id)  # the background's work is done before the next sample
            started = time.perf_counter()
            with Image.open(io.BytesIO(originals[0])) as image:
                image.load()
                decode.append(time.perf_counter() - started)
                started = time.perf_counter()
                make_preview(image)
                encode.append(time.perf_counter() - started)
    return (
        f"a {len(originals)}-image save takes {1000 * median(first):.0f} ms making the previews (and thumbnails) before the "
        f"answer vs {1000 * median(later):.0f} ms leaving them for after it, as the app does now "
        f"(+{1000 * (median(first) - median(later)):.0f} ms; one image: decode {1000 * median(decode):.0f} ms, "
        f"preview {1000 * median(encode):.0f} ms; {os.cpu_count()} CPUs)"
    )


def row_bytes(run: Run) -> Row:
    s = run.settings
    client = gradio_client(run.app.url, False)
    gallery, info = client.predict(
        backend="dieyuyun", prompt=PROMPT, size=s.size, n=4, seed=next(run.seeds), api_name="/generate"
    )
    stored = _stored_images(run.app.data_dir, info["generation_id"])
    originals = [original.read_bytes() for original, _ in stored]
    with httpx.Client(timeout=60) as http:
        api_bytes, api_types = fetch_gallery(http, gallery)  # /generate answers with the originals
        # What the page shows: each image's preview, or the image itself where it has none.
        shown = [preview or original for original, preview in stored]
        served = [_served(http, run.app.url, path) for path in shown]
    page_bytes = sum(size if size is not None else path.stat().st_size for size, path in zip(served, shown))
    stored_bytes = sum(map(len, originals))
    previews = sum(preview is not None for _, preview in stored)
    if any(size is None for size in served):
        run.notes.append(
            "row 6: the app does not serve previews/ yet (gr.set_static_paths): the page figure is the previews' size on disk"
        )
    run.notes.append(f"row 6: {_preview_cost(originals, 3 if s.quick else 7)}")
    ratio = page_bytes / stored_bytes
    return Row(
        "bytes", "Bytes to the page: one 4-image generation's gallery (previews) vs the PNG originals",
        f"previews {page_bytes / 1000:.0f} KB ({previews} of 4 images have one) · originals {stored_bytes / 1000:.0f} KB · "
        f"/generate returns the originals ({api_bytes / 1000:.0f} KB, {', '.join(sorted(api_types))})",
        ratio, f"≤ {BYTES_RATIO_TARGET:.2f}", ratio <= BYTES_RATIO_TARGET,
    )


# Rows measured on the history store in this process, before the emulator and the apps are started, and
# rows measured on the launched app (``run.app``, ``run.bare``; row 4 launches them itself). A new row is
# a ``row_...(run) -> Row`` function added to ROWS and to one of these.
STORE_ROWS: dict[str, Callable[[Run], Row]] = {"history": row_history, "reopen": row_reopen}
APP_ROWS: dict[str, Callable[[Run], Row]] = {
    "overhead": row_overhead, "fanout": row_fanout, "load": row_load, "bytes": row_bytes,
}


# -- the table --------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import gradio

        gradio_version = gradio.__version__
    except Exception:
        gradio_version = "?"
    return (f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, Python "
            f"{platform.python_version()}, Gradio {gradio_version}")


def render_text(rows: list[Row]) -> str:
    header = ("#", "row", "ratio", "target", "result", "measured")
    lines = [f"{header[0]:<2} {header[1]:<64} {header[2]:>6}  {header[3]:<22} {header[4]:<6} {header[5]}"]
    for row in rows:
        number = ROWS.index(row.key) + 1
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "—"
        lines.append(f"{number:<2} {row.title:<64} {ratio:>6}  {row.target:<22} {row.verdict:<6} {row.measured}")
    return "\n".join(lines)


def render_markdown(rows: list[Row]) -> str:
    lines = ["| # | row | measured | ratio | target | result |", "|---|---|---|---:|---|---|"]
    for row in rows:
        number = ROWS.index(row.key) + 1
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "—"
        lines.append(f"| {number} | {row.title} | {row.measured} | {ratio} | {row.target} | {row.verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, help="the emulator's fixed latency in seconds (1.0; --quick 0.05)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few repetitions: a smoke run of seconds")
    parser.add_argument("--markdown", type=Path, help="also write the table as markdown to this file")
    parser.add_argument("--size", default="1024x1024", help="image size, one of dieyuyun's (1024x1024)")
    parser.add_argument("--repeats", type=int, help="timed runs per side of rows 1-2 (7; --quick 2)")
    parser.add_argument("--history", type=int, help="entries of the large history (100000; --quick 200)")
    parser.add_argument("--startup-repeats", type=int, help="launches of each app (5; --quick 1)")
    parser.add_argument("--clients", type=int, help="concurrent clients of row 5 (32; --quick 4)")
    parser.add_argument("--each", type=int, help="generations per client in row 5 (5; --quick 2)")
    parser.add_argument("--images", choices=("photo", "mosaic"), default="photo",
                        help="what the emulator answers: PNGs of a photograph, as heavy as Kolors' (default), "
                             "or its own light colour mosaics")
    parser.add_argument("--rows", help=f"a comma-separated subset of the rows ({','.join(ROWS)}); all by default")
    parser.add_argument("--serve-emulator", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_emulator:
        serve_emulator(args.latency or 0.0, args.images, args.size)
        return 0
    settings = Settings.from_args(args)

    wanted = [key.strip() for key in args.rows.split(",")] if args.rows else list(ROWS)
    unknown = set(wanted) - set(ROWS)
    if unknown:
        parser.error(f"unknown row(s) {', '.join(sorted(unknown))}; rows are {', '.join(ROWS)}")

    load_before = loadavg()
    wall = time.perf_counter()
    rows: dict[str, Row] = {}
    with tempfile.TemporaryDirectory(prefix="bench-playground-") as scratch_dir:
        run = Run(settings, Path(scratch_dir))
        print(f"machine: {machine()}", flush=True)
        print(f"load average before: {load_before}", flush=True)
        for key, measure in STORE_ROWS.items():  # in this process, before any other is started
            if key in wanted:
                rows[key] = _step(key, partial(measure, run))
        if set(wanted) & set(APP_ROWS) or "startup" in wanted:
            with emulator_process(settings.latency, run.scratch, images=settings.images, size=settings.size) as emulator_url:
                run.emulator_url = emulator_url
                env = {"DIEYUYUN_API_KEY": API_KEY, "DIEYUYUN_BASE_URL": emulator_url}
                try:
                    if "startup" in wanted:  # launches both apps; the last launch of each serves the rows below
                        rows["startup"] = _step("startup", lambda: row_startup(run, env))
                    else:
                        run.app = launch(APP, env, data_dir=run.scratch / "app-data", log_path=run.scratch / "app.log")
                        run.bare = launch(BARE_APP, env, data_dir=run.scratch / "bare-data", log_path=run.scratch / "bare.log")
                    for key, measure in APP_ROWS.items():
                        if key in wanted:
                            rows[key] = _step(key, partial(measure, run))
                finally:
                    for launched in (run.app, run.bare):
                        if launched is not None:
                            stop(launched.process)
        ordered = [rows[key] for key in ROWS if key in rows]
        load_after = loadavg()
        print()
        print(f"emulator latency {settings.latency:g} s · {settings.images} images {settings.size} · medians of {settings.repeats} "
              f"(rows 1-2), {settings.history_repeats} (row 3), {settings.startup_repeats} (row 4), {settings.reopen_repeats} (row 7)"
              + (" · QUICK (figures not meaningful)" if settings.quick else ""))
        print(render_text(ordered))
        print()
        for note in run.notes:
            print(f"- {note}")
        print(f"- load average before {load_before}, after {load_after}; whole run {time.perf_counter() - wall:.0f} s")
        if args.markdown:
            text = (
                render_markdown(ordered)
                + f"\n\nMachine: {machine()}. Emulator latency {settings.latency:g} s, {settings.images} PNGs of "
                f"{settings.size}; "
                f"load average {load_before} before, {load_after} after.\n"
            )
            args.markdown.parent.mkdir(parents=True, exist_ok=True)
            args.markdown.write_text(text, encoding="utf-8")
    return 0 if all(row.passed is not False for row in ordered) else 1


def _step(name: str, measure: Callable[[], Row]) -> Row:
    started = time.perf_counter()
    print(f"[{name}] …", end=" ", flush=True)
    row = measure()
    print(f"{row.verdict} ({time.perf_counter() - started:.1f} s)", flush=True)
    return row


if __name__ == "__main__":
    raise SystemExit(main())
