"""Smoke runs of the benchmarks (``--quick``): every row comes out with sane figures.

No timing is asserted; the figures of a quick run on a shared machine mean nothing. What is checked is
that the harness works end to end: the emulator, both launched apps, the table on stdout and as markdown.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

ROW_TITLES = ("Overhead", "Fan-out", "History", "Start-up", "Load", "Bytes to the page", "Reopening the history")


def run_bench(module: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
    )
    # 0: every target met; 1: some missed (a figure, not a failure of the harness).
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return done


def table_rows(markdown: Path) -> dict[int, list[str]]:
    """The markdown table's rows, by number, as lists of cells; each cell checked for sanity."""
    rows = {}
    for line in markdown.read_text(encoding="utf-8").splitlines():
        if re.match(r"\| \d+ \|", line):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            ratio = float(cells[3])
            assert math.isfinite(ratio) and ratio > 0, line
            assert cells[5] in ("PASS", "MISS", "INFO"), line
            rows[int(cells[0])] = cells
    assert "Machine:" in markdown.read_text(encoding="utf-8")
    return rows


@pytest.mark.e2e  # the benchmark launches the app
def test_quick_run_prints_every_row_and_writes_markdown(tmp_path):
    markdown = tmp_path / "table.md"
    done = run_bench(
        "tests.benchmarks.bench_playground", "--quick", "--latency", "0.02", "--history", "60", "--markdown", str(markdown)
    )
    for title in ROW_TITLES:
        assert title in done.stdout, done.stdout
    rows = table_rows(markdown)
    assert sorted(rows) == list(range(1, len(ROW_TITLES) + 1))
    for number, title in enumerate(ROW_TITLES, 1):
        assert rows[number][1].startswith(title), rows[number]

    load = " | ".join(rows[5])
    assert "8/8 ok" in load and "8 new history entries" in load, load  # 4 clients x 2, each saved once
    assert re.search(r"previews \d+ KB \(4 of 4 images have one\) · originals \d+ KB", rows[6][2]), rows[6]
    assert re.search(r"\d+\.\d+ ms vs \d+\.\d+ ms", rows[7][2]), rows[7]


@pytest.mark.slow  # no app, but seeds three histories and times them: half a minute on a busy machine
def test_the_history_rows_come_out_without_the_app(tmp_path):
    markdown = tmp_path / "table.md"
    done = run_bench(
        "tests.benchmarks.bench_playground", "--quick", "--rows", "history,reopen", "--history", "60",
        "--markdown", str(markdown),
    )
    rows = table_rows(markdown)
    assert sorted(rows) == [3, 7], done.stdout
    assert "at 60 entries" in rows[3][1] and "60 vs 10 entries" in rows[7][1]
    assert "emulator" not in done.stderr.lower()


@pytest.mark.slow
def test_the_preview_table_comes_out(tmp_path):
    done = run_bench("tests.benchmarks.bench_previews", "--quick", "--size", "256", timeout=120)
    assert "<- the store's" in done.stdout
    assert re.search(r"ratio \d\.\d{3} \(target ≤ 0\.20\): (PASS|MISS)", done.stdout), done.stdout


@pytest.mark.browser  # Chromium on the launched app; row 10 runs the tiny pipeline on the local backend
def test_the_page_rows_come_out_of_chromium(tmp_path):
    pytest.importorskip("diffusers")
    markdown = tmp_path / "page.md"
    done = run_bench("tests.benchmarks.bench_page", "--quick", "--markdown", str(markdown), timeout=600)
    rows = table_rows(markdown)
    assert sorted(rows) == [8, 9, 10], done.stdout
    assert rows[8][1].startswith("Painted") and re.search(r"[\d.]+ s vs 0\.2 s · one image [\d.]+ s", rows[8][2]), rows[8]
    assert rows[9][1].startswith("Bytes in the browser") and re.search(r"[\d,]+ KB fetched vs [\d,]+ KB stored", rows[9][2])
    assert rows[10][1].startswith("First image") and "256×256, 2 steps" in rows[10][2], rows[10]
    assert "some 4-image runs did not end with 4 images" not in done.stdout, done.stdout
