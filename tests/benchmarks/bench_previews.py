"""What a preview weighs and how far it is from its original, for the qualities and methods it could use.

The history's previews (backends/history/previews.py) take their quality and method from this table:
for each photograph of tests/emulators/images.py (1024x1024 PNGs, as heavy as Kolors' own), the WebP
at each setting against the PNG: its weight as a share of the PNG's, the time to encode it (the PNG
decoded already, as the history store has it), PSNR over RGB and SSIM over luma (7x7 uniform window,
scikit-image's default) against the original pixels. JPEG rows are there for scale. The last line is
the setting the store uses, over all the photographs, as the page would get four of them.

    python -m tests.benchmarks.bench_previews [--quick] [--size 1024]
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # python tests/benchmarks/bench_previews.py
    sys.path.insert(0, str(ROOT))

import numpy as np
from PIL import Image

from backends.history.previews import PREVIEW_METHOD, PREVIEW_QUALITY, make_preview
from tests.emulators.images import PHOTOS, render_photo

SETTINGS = [("WEBP", q, m) for m in (0, 4) for q in (70, 75, 80, 85, 90)] + [("JPEG", 85, None), ("JPEG", 90, None)]
QUICK_SETTINGS = [("WEBP", 80, 0), ("WEBP", 85, 0)]
TARGET = 0.20  # four previews against four PNG originals


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255**2 / mse))


def _window_mean(x: np.ndarray, k: int) -> np.ndarray:
    """Mean over every k x k window (valid positions only), by summed-area table."""
    s = np.pad(x, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    return (s[k:, k:] - s[:-k, k:] - s[k:, :-k] + s[:-k, :-k]) / (k * k)


def ssim(a: np.ndarray, b: np.ndarray, k: int = 7) -> float:
    """Mean SSIM of two luma planes (Wang et al. 2004, uniform k x k window)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = _window_mean(a, k), _window_mean(b, k)
    var_a = _window_mean(a * a, k) - mu_a**2
    var_b = _window_mean(b * b, k) - mu_b**2
    cov = _window_mean(a * b, k) - mu_a * mu_b
    n = k * k
    var_a, var_b, cov = (v * n / (n - 1) for v in (var_a, var_b, cov))  # sample variances, as scikit-image
    m = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(m.mean())


def encode(image: Image.Image, fmt: str, quality: int, method: int | None, repeats: int) -> tuple[bytes, float]:
    times = []
    for _ in range(repeats):
        out = io.BytesIO()
        options = {"quality": quality} | ({"method": method} if method is not None else {})
        started = time.perf_counter()
        image.save(out, fmt, **options)
        times.append(time.perf_counter() - started)
    return out.getvalue(), min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one photograph, two settings: a smoke run")
    parser.add_argument("--size", type=int, default=1024, help="side of the square photographs (1024)")
    args = parser.parse_args(argv)
    settings = QUICK_SETTINGS if args.quick else SETTINGS
    variants = [0] if args.quick else list(range(len(PHOTOS)))
    repeats = 1 if args.quick else 3

    print(f"{'photograph':<24} {'setting':<14} {'bytes':>8} {'of PNG':>7} {'encode':>8} {'PSNR':>7} {'SSIM':>7}")
    chosen_bytes, png_bytes = 0, 0
    for variant in variants:
        png = render_photo(width=args.size, height=args.size, variant=variant)
        started = time.perf_counter()
        with Image.open(io.BytesIO(png)) as opened:
            original = opened.convert("RGB")
        decode_ms = 1000 * (time.perf_counter() - started)
        pixels, luma = np.asarray(original), np.asarray(original.convert("L"))
        print(f"{PHOTOS[variant]:<24} {'PNG':<14} {len(png) / 1000:>6.0f} KB {'':>7} {'':>8} (decode {decode_ms:.0f} ms)")
        for fmt, quality, method in settings:
            data, seconds = encode(original, fmt, quality, method, repeats)
            with Image.open(io.BytesIO(data)) as decoded:
                back = decoded.convert("RGB")
            label = f"{fmt.lower()} q{quality}" + (f" m{method}" if method is not None else "")
            mark = " <- the store's" if (fmt, quality, method) == ("WEBP", PREVIEW_QUALITY, PREVIEW_METHOD) else ""
            print(
                f"{'':<24} {label:<14} {len(data) / 1000:>6.0f} KB {len(data) / len(png):>7.3f} {1000 * seconds:>5.0f} ms "
                f"{psnr(pixels, np.asarray(back)):>5.1f} dB {ssim(luma, np.asarray(back.convert('L'))):>7.4f}{mark}"
            )
        preview = make_preview(original)
        chosen_bytes += len(preview or b"")
        png_bytes += len(png)
    ratio = chosen_bytes / png_bytes
    print(
        f"\nthe store's previews (WebP q{PREVIEW_QUALITY} m{PREVIEW_METHOD}) of {len(variants)} photograph(s): "
        f"{chosen_bytes / 1000:.0f} KB vs {png_bytes / 1000:.0f} KB of PNG, ratio {ratio:.3f} (target ≤ {TARGET:.2f}): "
        f"{'PASS' if ratio <= TARGET else 'MISS'}"
    )
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
