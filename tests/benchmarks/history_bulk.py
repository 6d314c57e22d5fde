"""A large history, fast: rows written in bulk the way ``HistoryStore.save_many`` writes them.

Saving 100,000 generations through the store takes ~6 minutes here (every image is opened, checked and
given its metadata); writing the same rows with one ``executemany`` per table in one transaction, and
one small image file per image row, takes about a minute. The rows are what a save writes (made by the
same functions, backends/history/rows.py; ``created_at`` growing with ``seq``; the triggers keeping the
prompt index and the counts); the files are one small PNG each, so the folders hold as many files as
such a history does.
"""

from __future__ import annotations

import io
import random
import secrets
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from backends.base import GenerationRequest
from backends.history import HistoryStore
from backends.history.rows import INSERT_GENERATION, INSERT_IMAGE, generation_row, image_row

__all__ = ["ADJECTIVES", "STYLES", "SUBJECTS", "seed_history", "varied_prompt"]

ADJECTIVES = ("misty", "golden", "quiet", "neon", "ancient", "tiny", "stormy", "sunlit", "frozen", "velvet")
SUBJECTS = ("fox", "teapot", "castle", "robot", "orchard", "harbor", "violin", "glacier", "market", "owl",
            "bicycle", "temple", "meadow", "train", "koi pond", "library", "desert", "lantern", "whale")
STYLES = ("oil painting", "watercolor", "35mm photo", "ink sketch", "isometric render", "ukiyo-e print")


def varied_prompt(index: int, rng: random.Random, *, term: str = "lighthouse", every: int = 20) -> str:
    """A person's kind of prompt; one in ``every`` names ``term``."""
    subject = term if index % every == 0 else rng.choice(SUBJECTS)
    return f"a {rng.choice(ADJECTIVES)} {subject}, {rng.choice(STYLES)}, detailed, soft light"


def _small_png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 120, 40)).save(out, "PNG")
    return out.getvalue()


def seed_history(
    data_dir: Path,
    count: int,
    *,
    prompt: Callable[[int, random.Random], str] = varied_prompt,
    visitor: Callable[[int], str] = lambda index: "",
    files: bool = True,
    seed: int = 0,
) -> float:
    """Add ``count`` generations (n cycling 1..4, as a person's history would) to the history in
    ``data_dir``; return the seconds it took. ``files``: write each image's file too."""
    HistoryStore(data_dir).close()  # creates and migrates it
    store_dir = Path(data_dir)
    png = _small_png()
    rng = random.Random(seed)
    started = time.perf_counter()
    conn = sqlite3.connect(store_dir / "history.sqlite3", isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN IMMEDIATE")
        last = conn.execute("SELECT created_at FROM generations ORDER BY seq DESC LIMIT 1").fetchone()
        created_at = max(time.time() - count, (last[0] if last else 0.0) + 1e-6)
        generations, images = [], []
        for index in range(count):
            text = prompt(index, rng)
            n = 1 + index % 4
            request = GenerationRequest(
                prompt=text, negative_prompt="blurry", width=1024, height=1024, n=n, seed=index * 4
            )
            generation_id = secrets.token_urlsafe(12)
            generations.append(generation_row(
                id=generation_id, created_at=created_at + index, visitor=visitor(index), backend_id="dieyuyun",
                backend_label="dieyuyun (Kolors)", model="Kwai-Kolors/Kolors", request=request, images=n, elapsed_s=1.0,
            ))
            for k in range(n):
                token = secrets.token_urlsafe(16)
                images.append(image_row(
                    id=token, generation_id=generation_id, index=k, seed=index * 4 + k, width=64, height=64,
                    mime_type="image/png", source_mime_type="image/png", file_name=token + ".png", thumb_name=None,
                    preview_name=None, size_bytes=len(png),
                ))
                if files:
                    with open(store_dir / "images" / (token + ".png"), "xb") as handle:
                        handle.write(png)
        conn.executemany(INSERT_GENERATION, generations)
        conn.executemany(INSERT_IMAGE, images)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return time.perf_counter() - started
