"""The page's plain logic, without a browser: the words in both languages, status lines, placeholder
tiles, images reported as they arrive, the history's outcome filter and readable download names."""

from __future__ import annotations

import asyncio
import html
import re
import zipfile
from pathlib import Path

import pytest

from backends.base import BackendOutput, GenerationRequest, GenerationResult, ImageFailure
from backends.history import HistoryStore
from backends.history.downloads import DownloadFolder, download_name, zip_name
from backends.runner import JobRunner
from tests.emulators import render_image
from ui.i18n import CATALOG, LANGUAGES, language_from_header, tr
from ui.results import RunView, entry_caption, failure_tile, outcome_line, progress_line, seeds_text

ROOT = Path(__file__).resolve().parent.parent


# -- the words -----------------------------------------------------------------------------------


def test_every_key_has_both_languages_and_the_same_placeholders():
    for key, texts in CATALOG.items():
        assert len(texts) == len(LANGUAGES) and all(text.strip() for text in texts), key
        english, chinese = texts
        assert set(re.findall(r"{(\w+)}", english)) == set(re.findall(r"{(\w+)}", chinese)), key


def test_every_key_the_page_uses_is_in_the_catalog():
    used = set()
    for path in ROOT.glob("ui/*.py"):
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"\b(?:tr|i18n)\(\s*\"([a-z0-9_]+)\"", text))
        used |= set(re.findall(r"\(\"(note_[a-z_]+)\"", text))
        used |= {f"outcome_{o}" for o in ("ok", "partial", "failed", "stopped", "all")} if "outcome_" in text else set()
        used -= {key for key in used if key.startswith("axis_")}  # axis words come from backends/messages.py
    missing = sorted(used - set(CATALOG))
    assert not missing, missing


def test_no_key_is_defined_and_never_used():
    sources = [path.read_text(encoding="utf-8") for path in ROOT.glob("ui/*.py")]
    # the catalog's own lines define keys; they do not use them
    text = "\n".join(re.sub(r'(?m)^    "[a-z0-9_]+": \(', "", source) for source in sources)
    families = ("outcome_", "style_keep_")  # keys built as f"{family}{value}"
    unused = [key for key in CATALOG if f'"{key}"' not in text and f"'{key}'" not in text
              and not key.startswith(families)]
    assert unused == []


def test_accept_language_picks_the_preferred_of_english_and_chinese():
    assert language_from_header("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert language_from_header("en-US,en;q=0.9,zh-CN;q=0.8") == "en"
    assert language_from_header("fr-FR,zh-TW;q=0.5") == "zh"
    assert language_from_header("") == "en"


# -- what a run says ------------------------------------------------------------------------------


def result_of(request: GenerationRequest, seeds, failures=(), *, cancelled=False, elapsed=2.0) -> GenerationResult:
    from backends.base import GeneratedImage

    images = tuple(
        GeneratedImage(data=render_image(prompt=request.prompt, seed=seed, width=64, height=64), mime_type="image/png", width=64,
                       height=64, seed=seed, index=seed - request.seed)
        for seed in seeds
    )
    return GenerationResult("dieyuyun", "dieyuyun (Kolors)", "Kwai-Kolors/Kolors", request, images, tuple(failures),
                            elapsed, cancelled=cancelled)


@pytest.fixture
def store(tmp_path):
    with HistoryStore(tmp_path / "data") as s:
        yield s


def test_status_lines_say_what_came_back_and_which_seeds_failed(store):
    request = GenerationRequest(prompt="p", width=64, height=64, n=3, seed=10)
    ok = result_of(request, [10, 11, 12])
    assert outcome_line(RunView(store.save(ok), ok), "en").startswith("✅ 3 images in 2.0 s · seeds 10–12")
    partial = result_of(request, [10, 12], [ImageFailure(1, 11, "refused by the content policy.", "RequestRejected")])
    line = html.unescape(outcome_line(RunView(store.save(partial), partial), "en"))  # the Markdown, as it reads
    assert line.startswith("⚠️ 2 of 3 images") and "Image 2 (seed 11) failed: refused by the content policy." in line
    stopped = result_of(request, [10], [ImageFailure(1, 11, "stopped", "GenerationCancelled"),
                                        ImageFailure(2, 12, "stopped", "GenerationCancelled")], cancelled=True)
    line = outcome_line(RunView(store.save(stopped), stopped), "en")
    assert line.startswith("⏹ Stopped — 1 of 3 images kept") and "failed" not in line
    assert outcome_line(RunView(store.save(stopped), stopped), "zh").startswith("⏹ 已停止")


def test_progress_counts_images_and_steps():
    assert progress_line(1, 4, "en", step=(12, 25)) == "⏳ ▰▱▱▱ Generating · 1 of 4 images ready · step 12 of 25"
    assert "1/4" in progress_line(1, 4, "zh")
    assert seeds_text([42, 43, 44, 45]) == "42–45" and seeds_text([7, 9]) == "7, 9" and seeds_text([]) == "—"


def test_a_failed_image_becomes_a_quiet_tile_of_its_shape():
    tile = failure_tile(ImageFailure(2, 271, "The provider refused the prompt.", "RequestRejected"), "en",
                        size=(768, 1024))
    assert tile.size == (384, 512) and tile.mode == "RGB"
    colours = tile.getcolors(10_000)
    assert max(colours)[1] == (236, 236, 236) and len(colours) > 2  # grey, with the words drawn on it


def test_history_captions_count_images_and_mark_outcomes_quietly(store):
    request = GenerationRequest(prompt="a cat on a roof", width=64, height=64, n=4, seed=1)
    entry = store.save(result_of(request, [1, 2, 3, 4]))
    assert entry_caption(entry, "en").startswith("4 images · a cat on a roof · seed 1")
    stopped = result_of(request, [1], [ImageFailure(i, 1 + i, "s", "GenerationCancelled") for i in (1, 2, 3)],
                        cancelled=True)
    caption = entry_caption(store.save(stopped), "en")
    assert caption.startswith("1 image · stopped") and "✗" not in caption


def test_the_outcome_filter(store):
    request = GenerationRequest(prompt="filter me", width=64, height=64, n=2, seed=1)
    ok = store.save(result_of(request, [1, 2]))
    partial = store.save(result_of(request, [1], [ImageFailure(1, 2, "no", "RequestRejected")]))
    stopped = store.save(result_of(request, [1], [ImageFailure(1, 2, "s", "GenerationCancelled")], cancelled=True))
    failed = store.save(result_of(request, [], [ImageFailure(0, 1, "x", "ProviderServerError"),
                                                ImageFailure(1, 2, "x", "ProviderServerError")]))
    by = {o: [e.id for e in store.list_entries(outcome=o).entries] for o in ("ok", "partial", "failed", "stopped")}
    assert by == {"ok": [ok.id], "partial": [partial.id], "failed": [failed.id], "stopped": [stopped.id]}
    assert store.list_entries(outcome="stopped").total == 1
    with pytest.raises(ValueError):
        store.list_entries(outcome="lost")


# -- images as they arrive ----------------------------------------------------------------------------


def test_the_runner_reports_each_image_as_it_arrives_before_the_job_ends():
    seen: list[tuple[int, int, bool]] = []

    class Staggered:
        id, label, model, max_concurrency = "staggered", "Staggered", "m", 4

        from backends.base import Capabilities

        capabilities = Capabilities(sizes=((64, 64),))

        def availability(self):
            from backends.base import Availability

            return Availability(True)

        async def generate(self, request, *, progress=None, cancel=None):
            from backends.base import GeneratedImage

            await asyncio.sleep(0.05 * (request.seed - 100))
            data = render_image(prompt="p", seed=request.seed, width=64, height=64)
            return BackendOutput(images=(GeneratedImage(data, "image/png", 64, 64, request.seed),))

    async def run():
        done = asyncio.Event()
        runner = JobRunner()
        request = GenerationRequest(prompt="p", width=64, height=64, n=3, seed=100)
        job = asyncio.ensure_future(runner.run(Staggered(), request,
                                               on_image=lambda image: seen.append((image.index, image.seed, done.is_set()))))
        result = await job
        done.set()
        return result

    result = asyncio.run(run())
    assert [(index, seed) for index, seed, _ in seen] == [(0, 100), (1, 101), (2, 102)]
    assert not any(after for _, _, after in seen) and len(result.images) == 3


# -- downloads ---------------------------------------------------------------------------------------------


def test_downloads_are_the_originals_under_readable_ascii_names(store, tmp_path):
    request = GenerationRequest(prompt="一只猫", width=64, height=64, n=2, seed=42)
    entry = store.save(result_of(request, [42, 43]))
    assert re.fullmatch(r"kolors-\d{8}-\d{4}-seed42\.png", download_name(entry, entry.images[0]))
    assert re.fullmatch(r"kolors-\d{8}-\d{4}-seed42-43\.zip", zip_name(entry))
    folder = DownloadFolder(tmp_path / "downloads")
    single = folder.image(entry, entry.images[1])
    assert single.name.endswith("seed43.png") and single.read_bytes() == entry.images[1].path.read_bytes()
    with zipfile.ZipFile(folder.zip(entry)) as archive:
        assert sorted(archive.namelist()) == sorted(download_name(entry, image) for image in entry.images)
        assert archive.read(download_name(entry, entry.images[0])) == entry.images[0].path.read_bytes()
    assert all(name.isascii() for name in (single.name, zip_name(entry)))


def test_tr_fills_parameters_in_both_languages():
    assert tr("status_stopped", "en", kept=2, total=4) == "Stopped — 2 of 4 images kept"
    assert tr("status_stopped", "zh", kept=2, total=4) == "已停止，保留了 4 张中的 2 张"


# -- the Compare tab's words and numbers -------------------------------------------------------------------


def test_fill_lists_the_valid_values_of_an_axis_for_the_backend():
    from backends.compare import parse_axis, suggested_values
    from backends.providers.dieyuyun import DIEYUYUN_CAPABILITIES as DIEYUYUN
    from backends.providers.segmind import SEGMIND_CAPABILITIES as SEGMIND

    assert suggested_values("scheduler", SEGMIND, []) == "Euler, Euler a, DPM++ 2M, DPM++ SDE Karras, UniPC, DEIS"
    assert suggested_values("size", DIEYUYUN, []) == "1024x1024, 768x1024, 1024x768, 720x1280, 1280x720"
    assert suggested_values("backend", DIEYUYUN, ["dieyuyun", "segmind"]) == "dieyuyun, segmind"
    assert suggested_values("steps", SEGMIND, []) == "10, 20, 30, 40, 50"
    assert suggested_values("prompt_sr", SEGMIND, []) == ""
    for kind in ("seed", "guidance", "steps", "scheduler", "size"):
        for caps in (DIEYUYUN, SEGMIND):
            text = suggested_values(kind, caps, ["dieyuyun"])
            if text:
                axis = parse_axis(kind, text)
                assert len(axis) >= 1


def test_the_estimate_is_the_median_of_the_backends_recent_whole_runs(store):
    from dataclasses import replace

    from backends.compare import recent_latencies

    request = GenerationRequest(prompt="timed", width=64, height=64, n=1, seed=1)
    for elapsed in (1.0, 3.0, 2.0, 40.0):
        store.save(replace(result_of(request, [1]), elapsed_s=elapsed))
    store.save(result_of(request, [], [ImageFailure(0, 1, "x", "ProviderServerError")], elapsed=99.0))
    learned = recent_latencies(store, ["dieyuyun", "segmind"])
    assert learned["dieyuyun"].seconds == 2.5 and learned["dieyuyun"].runs == 4  # failures do not count
    assert "segmind" not in learned
    assert recent_latencies(store, ["dieyuyun"], visitor="someone else") == {}


def test_cells_are_titled_by_their_axis_values_in_the_visitors_language():
    from ui.compare_text import cell_title

    cell = {"x_label": "501", "y_label": "9"}
    assert cell_title(cell, "seed", "guidance", "en") == "Seed 501 · Guidance 9"
    assert cell_title(cell, "seed", "guidance", "zh") == "种子 501 · 引导强度 9"
    assert cell_title({"x_label": "DPM++ 2M", "y_label": None}, "scheduler", None, "en") == "Sampler DPM++ 2M"


def test_the_page_logic_imports_without_gradio():
    """The plain modules of ui/ are what the fast tests use; importing gradio costs seconds."""
    import subprocess
    import sys

    plain = ("form", "results", "compare_text", "streaming", "i18n", "language", "examples", "text_safety", "api_params")
    code = f"import sys; import {', '.join('ui.' + name for name in plain)}; assert 'gradio' not in sys.modules, 'gradio imported'"
    subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1], check=True, timeout=60)


def test_one_image_is_said_in_the_singular(store):
    request = GenerationRequest(prompt="one lantern", width=64, height=64, n=1, seed=7)
    one = result_of(request, [7])
    entry = store.save(one)
    assert outcome_line(RunView(entry, one), "en").startswith("✅ 1 image in 2.0 s · seed 7")
    assert outcome_line(RunView(entry, one), "zh").startswith("✅ 1 张，用时 2.0 秒")
    assert entry_caption(entry, "en").startswith("1 image ·")
