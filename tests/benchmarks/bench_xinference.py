"""What the playground adds to calling Xinference directly, on a real cluster started here.

Starts the cluster of the ``xinference`` tests (a supervisor and a worker on loopback serving the tiny
Kolors; tests/xinference/cluster.py) and the app pointed at it with ``dialect = "xinference"``, then
alternates, after warm-up: the same request sent to Xinference with httpx, ``/generate`` through
gradio_client, and ``/generate`` over Gradio's raw HTTP API (no client polling; the gallery's files fetched as a
page fetches them). Medians and minimums
are compared. Also reports the cluster's start-up time. Run from the repository root:

    python -m tests.benchmarks.bench_xinference [--repeats 15] [--size 64] [--steps 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx
from gradio_client import Client

from tests.app_harness import running_app
from tests.benchmarks.bench_playground import RawEndpoint, fetch_gallery
from tests.xinference.cluster import MODEL_UID, ensure_venv, running_cluster

PROMPT = "a red cat on a chair"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.bench_xinference")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args(argv)
    venv = ensure_venv()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        started = time.monotonic()
        with running_cluster(venv, folder / "cluster") as cluster:
            print(f"cluster start-up (supervisor start to model answering): {time.monotonic() - started:.1f} s")
            endpoints = folder / "backends.toml"
            endpoints.write_text(
                f'[[backend]]\nid = "xinference"\nlabel = "Kolors on Xinference"\nbase_url = "{cluster.base_url}"\n'
                f'model = "{MODEL_UID}"\nsize_range = [64, 2048]\ndialect = "xinference"\n'
            )
            env = {"PLAYGROUND_BACKENDS": str(endpoints)}
            with running_app(env, data_dir=folder / "data", log_path=folder / "app.log") as app:
                report(measure(cluster.base_url, app.url, args), args)
    return 0


def measure(base_url: str, app_url: str, args: argparse.Namespace) -> dict[str, list[float]]:
    size = f"{args.size}x{args.size}"
    values = {"backend": "xinference", "prompt": PROMPT, "size": size, "n": 1, "steps": args.steps, "guidance": 5.0}
    client = Client(app_url, verbose=False)
    direct = httpx.Client(timeout=300)
    raw = httpx.Client(timeout=300)

    def call_direct(seed: int) -> None:
        kwargs = {"seed": seed, "num_inference_steps": args.steps, "guidance_scale": 5.0}
        body = {"model": MODEL_UID, "prompt": PROMPT, "n": 1, "size": size, "response_format": "b64_json",
                "kwargs": json.dumps(kwargs)}
        direct.post(f"{base_url}/images/generations", json=body).raise_for_status()

    def call_client(seed: int) -> None:
        client.predict(**values, seed=seed, api_name="/generate")

    raw_generate = RawEndpoint(client, raw, app_url, "/generate")

    def call_raw(seed: int) -> None:  # the gallery's files fetched too, as the page fetches them
        gallery, _ = raw_generate(**values, seed=seed)
        fetch_gallery(raw, gallery)

    calls = {"xinference directly (httpx)": call_direct, "/generate via gradio_client": call_client,
             "/generate via Gradio's HTTP API": call_raw}
    for call in calls.values():  # warm-up
        call(1)
    times: dict[str, list[float]] = {name: [] for name in calls}
    for repeat in range(args.repeats):
        for name, call in calls.items():
            started = time.perf_counter()
            call(100 + repeat)
            times[name].append(time.perf_counter() - started)
    return times


def report(times: dict[str, list[float]], args: argparse.Namespace) -> None:
    baseline = statistics.median(next(iter(times.values())))
    print(f"{args.size}x{args.size}, {args.steps} steps, n=1, medians of {args.repeats} (interleaved):")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:34s} median {median * 1000:7.0f} ms  min {min(values) * 1000:7.0f} ms  "
              f"x{median / baseline:.2f}  (+{(median - baseline) * 1000:.0f} ms)")


if __name__ == "__main__":
    sys.exit(main())
