"""How much the local backend adds to calling diffusers' KolorsPipeline directly.

Both sides run the same weights, prompt, size, steps, guidance, sampler and seed (a CPU generator, as the
backend uses), after warm-up runs, in alternating blocks so drift hits both alike; medians and minimums
are compared. The backend's time includes everything ``generate`` does: the worker thread, the lock,
the step callback and the PNG encoding. The check also confirms that both produce the same pixels.

On a CUDA machine it uses the real weights from KOLORS_MODEL (default Kwai-Kolors/Kolors-diffusers, fp16);
elsewhere a tiny random Kolors pipeline (tests/tiny_kolors.py) on the CPU, which measures the overhead
alone since the model itself costs almost nothing. Run from the repository root:

    python -m tests.benchmarks.bench_local [--size 1024] [--steps 25] [--repeats 5] [--scheduler Euler]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # python tests/benchmarks/bench_local.py
    sys.path.insert(0, str(ROOT))

from backends.base import GenerationRequest
from backends.providers.local import DEFAULT_MODEL, LocalBackend, LocalSettings
from backends.providers.local.schedulers import build_scheduler

PROMPT = "一张瓢虫的照片，微距，变焦，高质量，电影，拿着一个牌子，写着“可图”"
NEGATIVE = "blurry, low quality"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tiny", action="store_true", help="use the tiny CPU pipeline even where a GPU is present"
    )
    parser.add_argument("--size", type=int, help="width and height (GPU 1024, tiny 64)")
    parser.add_argument("--steps", type=int, help="denoising steps (GPU 25, tiny 4)")
    parser.add_argument("--repeats", type=int, help="timed runs per side (GPU 5, tiny 30)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per side first")
    parser.add_argument("--block", type=int, default=5, help="runs per side in a row, sides alternating")
    parser.add_argument("--scheduler", default="Euler")
    parser.add_argument("--seed", type=int, default=66)
    args = parser.parse_args(argv)

    import torch

    gpu = torch.cuda.is_available() and not args.tiny
    with tempfile.TemporaryDirectory(prefix="bench-kolors-") as scratch:
        if gpu:
            model, device, dtype = os.environ.get("KOLORS_MODEL", DEFAULT_MODEL), "cuda", torch.float16
            size, steps, repeats = args.size or 1024, args.steps or 25, args.repeats or 5
        else:
            from tests.tiny_kolors import build_tiny_kolors

            model, device, dtype = str(build_tiny_kolors(Path(scratch) / "kolors")), "cpu", torch.float32
            size, steps, repeats = args.size or 64, args.steps or 4, args.repeats or 30

        request = GenerationRequest(
            prompt=PROMPT,
            negative_prompt=NEGATIVE,
            width=size,
            height=size,
            n=1,
            seed=args.seed,
            steps=steps,
            guidance=5.0,
            scheduler=args.scheduler,
            output_format="png",
        )
        backend = LocalBackend(LocalSettings(model=model, device=device)).allowing_download()  # as the direct load does
        direct = _load_direct(model, device, dtype)
        direct.scheduler = build_scheduler(args.scheduler, direct.scheduler.config)

        loop = asyncio.new_event_loop()

        def run_backend():
            return loop.run_until_complete(backend.generate(request)).images[0]

        def run_direct():
            return direct(
                prompt=request.prompt,
                negative_prompt=request.negative_prompt,
                width=size,
                height=size,
                num_inference_steps=steps,
                guidance_scale=request.guidance,
                generator=torch.Generator("cpu").manual_seed(args.seed),
            ).images[0]

        print(
            f"torch {torch.__version__}, {_versions()}, {platform.processor() or platform.machine()}, "
            f"{torch.get_num_threads()} threads"
        )
        print(
            f"model {model if gpu else 'tiny random Kolors (tests/tiny_kolors.py)'} on {device} ({dtype}); "
            f"{size}x{size}, {steps} steps, {args.scheduler}, guidance 5.0; "
            f"{args.warmup} warm-up + {repeats} timed runs each"
        )

        for _ in range(args.warmup):
            produced, reference = run_backend(), run_direct()
        same = _pixels(produced.data) == reference.tobytes()
        print(f"same pixels from backend and direct call: {same}")

        backend_s: list[float] = []
        direct_s: list[float] = []
        order = [(backend_s, run_backend), (direct_s, run_direct)]
        for block in range(0, repeats, args.block):
            for times, run in order if (block // args.block) % 2 == 0 else order[::-1]:
                for _ in range(min(args.block, repeats - block)):
                    started = time.perf_counter()
                    run()
                    times.append(time.perf_counter() - started)
        wrapper_s, png_s = _wrapper_overhead(loop, backend, request, reference, repeats)
        loop.close()

    b, d = statistics.median(backend_s), statistics.median(direct_s)
    print(f"backend.generate : median {b:.4f} s/image (min {min(backend_s):.4f})")
    print(f"pipeline direct  : median {d:.4f} s/image (min {min(direct_s):.4f})")
    print(
        f"ratio            : {b / d:.3f} of medians, {min(backend_s) / min(direct_s):.3f} of minimums "
        f"(target <= 1.02); load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    print(
        f"overhead alone   : {wrapper_s * 1000:.1f} ms per image around a stub pipeline "
        f"(thread, lock, {steps} step callbacks), of which PNG encoding {png_s * 1000:.1f} ms"
    )
    return 0 if same else 1


def _wrapper_overhead(loop, backend, request, picture, repeats: int) -> tuple[float, float]:
    """Median time of ``generate`` when the pipeline itself takes no time, and of the PNG encoding.

    Immune to a busy machine in a way the end-to-end ratio is not: it times only what the backend adds.
    """
    from types import SimpleNamespace

    from backends.providers.local import LOADER
    from backends.providers.local.backend import _png

    pipeline_class = type(LOADER.loaded.pipe)

    def stub(pipe, **kwargs):
        pipe._num_timesteps = kwargs["num_inference_steps"]
        for step in range(kwargs["num_inference_steps"]):
            kwargs["callback_on_step_end"](pipe, step, 0, {})
        return SimpleNamespace(images=[picture])

    real_call = pipeline_class.__call__
    pipeline_class.__call__ = stub
    try:
        wrapper = [_timed(lambda: loop.run_until_complete(backend.generate(request))) for _ in range(repeats)]
    finally:
        pipeline_class.__call__ = real_call
    png = [_timed(lambda: _png(picture)) for _ in range(repeats)]
    return statistics.median(wrapper), statistics.median(png)


def _timed(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def _load_direct(model: str, device: str, dtype):
    """The pipeline as the diffusers docs load it, independent of the backend's loader."""
    from diffusers import KolorsPipeline

    kwargs = {"dtype": dtype}
    try:
        pipe = KolorsPipeline.from_pretrained(model, variant="fp16" if device != "cpu" else None, **kwargs)
    except ValueError:  # a folder without fp16 files
        pipe = KolorsPipeline.from_pretrained(model, **kwargs)
    pipe.set_progress_bar_config(disable=True)  # as in the backend
    return pipe.to(device)


def _pixels(png: bytes) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return image.convert("RGB").tobytes()


def _versions() -> str:
    import diffusers
    import transformers

    return f"diffusers {diffusers.__version__}, transformers {transformers.__version__}"


if __name__ == "__main__":
    sys.exit(main())
