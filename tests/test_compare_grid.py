"""Comparison grids against the provider emulators: the right cells with the right seeds and labels,
every cell validated first, shared concurrency limits, a partial failure, Stop, and the exported PNG."""

from __future__ import annotations

import asyncio
import io
import json
import random

import pytest
from PIL import Image

from backends.base import CancelToken
from backends.compare import (
    GRID_JSON_KEY,
    GridProgress,
    export_grid_png,
    find_font,
    parse_axis,
    plan_compare,
    plan_grid,
    run_grid,
)
from backends.errors import BackendUnavailable, InvalidRequest
from backends.history import HistoryStore, read_image_parameters
from backends.playground import Playground
from backends.providers.http import Timeouts
from backends.registry import Registry
from tests.conftest import make_backend as _make_backend
from tests.probes import ConcurrencyProbe, grid_metadata_of

PROMPT = "a lighthouse at dusk, oil painting"

# Grids run several calls at once, on small and sometimes busy machines: roomier timeouts than the
# conftest's, so a slow moment is not a provider timeout.
ROOMY = Timeouts(connect=5.0, read=15.0, write=5.0, pool=15.0, download=15.0, total=30.0)


def make_backend(provider, emulator, **overrides):
    return _make_backend(provider, emulator, **{"timeouts": ROOMY, **overrides})


def make_playground(tmp_path, *backends) -> Playground:
    return Playground(registry=Registry(backends), history=HistoryStore(tmp_path / "history"))


@pytest.fixture
def dieyuyun_pg(tmp_path, dieyuyun_emulator):
    return make_playground(tmp_path, make_backend("dieyuyun", dieyuyun_emulator))


def plan(pg, x_kind, x_text, y_kind=None, y_text=None, *, backend_id="dieyuyun", **form):
    return plan_compare(
        pg, backend_id=backend_id, values={"prompt": PROMPT, **form},
        x_kind=x_kind, x_text=x_text, y_kind=y_kind, y_text=y_text,
    )


def run(pg, grid_plan, **kwargs):
    return asyncio.run(run_grid(pg, grid_plan, **kwargs))


def sent(emulator, *keys):
    """What each request to the emulator carried, as a sorted list of tuples."""
    return sorted(tuple(r.json[k] for k in keys) for r in emulator.requests)


# -- grids against the emulators -------------------------------------------------------------------


def test_a_2x2_grid_has_the_right_cells_seeds_and_labels(dieyuyun_pg, dieyuyun_emulator):
    grid_plan = plan(dieyuyun_pg, "guidance", "4.5, 6", "seed", "10, 20")
    assert (grid_plan.cols, grid_plan.rows, len(grid_plan)) == (2, 2, 4)
    assert grid_plan.x.headings == ("Guidance: 4.5", "Guidance: 6")
    assert grid_plan.y.headings == ("Seed: 10", "Seed: 20")
    assert [(c.row, c.col, c.seed, c.request.guidance) for c in grid_plan.cells] == [
        (0, 0, 10, 4.5), (0, 1, 10, 6.0), (1, 0, 20, 4.5), (1, 1, 20, 6.0),
    ]
    assert grid_plan.cell_at(1, 0).x_label == "4.5" and grid_plan.cell_at(1, 0).y_label == "20"
    assert dieyuyun_emulator.requests == []  # planning sends nothing

    result = run(dieyuyun_pg, grid_plan)
    assert [c.status for c in result.cells] == ["ok"] * 4
    assert sent(dieyuyun_emulator, "seed", "guidance_scale", "n") == [
        (10, 4.5, 1), (10, 6.0, 1), (20, 4.5, 1), (20, 6.0, 1),
    ]
    assert [c.caption for c in result.cells] == ["seed 10", "seed 10", "seed 20", "seed 20"]
    assert result.cell_at(1, 1).seed == 20 and result.cell_at(1, 1).cell.request.guidance == 6.0
    # Every cell is a history entry of its own, with its own parameters.
    store = dieyuyun_pg.history
    assert store.count() == 4
    for cell in result.cells:
        entry = store.get(cell.generation_id)
        assert entry.request.seed == cell.seed and entry.request.guidance == cell.cell.request.guidance
        assert entry.request.n == 1 and entry.images[0].path.is_file()
    # Different seeds or guidance give different images.
    assert len({c.path.read_bytes() for c in result.cells}) == 4
    assert result.cost[0].amount == pytest.approx(0.04) and result.cost[0].currency == "CNY"


def test_a_cell_is_reproduced_alone_from_its_history_entry(dieyuyun_pg):
    result = run(dieyuyun_pg, plan(dieyuyun_pg, "steps", "10, 30", seed=77))
    cell = result.cells[1]
    entry = dieyuyun_pg.history.get(cell.generation_id)
    again = entry.image_request(entry.images[0]).to_dict()
    outcome = asyncio.run(dieyuyun_pg.generate(entry.backend_id, {k: v for k, v in again.items() if v is not None}))
    with Image.open(cell.path) as first, Image.open(outcome.entry.images[0].path) as second:
        assert first.tobytes() == second.tobytes()


def test_a_4x4_grid(dieyuyun_pg, dieyuyun_emulator):
    grid_plan = plan(dieyuyun_pg, "steps", "10-40 [4]", "seed", "4", seed=500)
    assert grid_plan.x.values == (10, 20, 30, 40)
    assert grid_plan.y.values == (500, 501, 502, 503)  # counted up from the form's seed
    assert grid_plan.base_seed == 500 and not grid_plan.seed_was_random
    progress: list[GridProgress] = []
    result = run(dieyuyun_pg, grid_plan, progress=progress.append)
    assert result.ok_count == 16 and not result.cancelled
    assert sent(dieyuyun_emulator, "seed", "num_inference_steps") == sorted(
        (seed, steps) for seed in range(500, 504) for steps in (10, 20, 30, 40)
    )
    for cell in result.cells:
        assert cell.seed == 500 + cell.cell.row
        assert cell.cell.request.steps == 10 * (cell.cell.col + 1)
    done = [p.done for p in progress]
    assert done[0] == 0 and done[-1] == 16 and done == sorted(done)
    assert progress[-1].fraction == 1.0 and progress[-1].label == "16/16 cells"
    assert all(p.total == 16 for p in progress)


def test_a_random_seed_is_one_seed_shared_by_every_cell(dieyuyun_pg, dieyuyun_emulator):
    result = run(dieyuyun_pg, plan(dieyuyun_pg, "guidance", "3, 5, 7", seed=-1))
    seeds = {c.seed for c in result.cells}
    assert len(seeds) == 1 and result.plan.seed_was_random
    assert {r.json["seed"] for r in dieyuyun_emulator.requests} == seeds
    assert result.plan.base_seed in seeds


def test_a_seed_count_from_a_random_base(dieyuyun_pg):
    grid_plan = plan(dieyuyun_pg, "seed", "[3]")
    base = grid_plan.base_seed
    assert grid_plan.seed_was_random
    assert [c.seed for c in grid_plan.cells] == [base, base + 1, base + 2]
    assert grid_plan.x.labels == (str(base), str(base + 1), str(base + 2))


class TopRng(random.Random):
    """Always draws the largest value allowed, to see the bound."""

    def randint(self, a, b):
        return b


def test_backends_on_an_axis_share_one_seed_within_the_smallest_seed_max(
    tmp_path, dieyuyun_emulator, siliconflow_emulator, segmind_emulator
):
    pg = make_playground(
        tmp_path,
        make_backend("dieyuyun", dieyuyun_emulator),
        make_backend("siliconflow", siliconflow_emulator),
        make_backend("segmind", segmind_emulator),
    )
    # dieyuyun vs siliconflow: one seed for both, as the cells of a comparison should.
    grid_plan = plan_compare(
        pg, backend_id="dieyuyun", values={"prompt": PROMPT, "seed": -1},
        x_kind="backend", x_text="dieyuyun, SiliconFlow", y_kind="guidance", y_text="5, 8",
    )
    assert grid_plan.backend_ids == ("dieyuyun", "siliconflow")
    assert grid_plan.x.values == ("dieyuyun", "siliconflow")
    assert grid_plan.x.labels == ("dieyuyun (Kolors)", "SiliconFlow (Kolors)")
    result = run(pg, grid_plan)
    assert [c.status for c in result.cells] == ["ok"] * 4
    assert [c.cell.backend_id for c in result.cells] == ["dieyuyun", "siliconflow"] * 2
    seed = grid_plan.base_seed
    assert sent(dieyuyun_emulator, "seed", "guidance_scale") == [(seed, 5.0), (seed, 8.0)]
    assert sent(siliconflow_emulator, "seed", "guidance_scale") == [(seed, 5.0), (seed, 8.0)]
    # Only dieyuyun has a price: the estimate says so.
    assert grid_plan.cost_text == "¥0.02 + 2 cells of unknown price"
    # With Segmind (seed_max 2**32-1) the shared seed stays within the smallest seed_max.
    with_segmind = plan_grid(
        pg, backend_id="dieyuyun", values={"prompt": PROMPT, "seed": -1},
        x=parse_axis("backend", "dieyuyun, segmind"), y=parse_axis("seed", "3", field="y_axis"), rng=TopRng(),
    )
    assert with_segmind.base_seed == 2**32 - 1 - 2
    assert max(c.seed for c in with_segmind.cells) == 2**32 - 1
    alone = plan_grid(pg, backend_id="dieyuyun", values={"prompt": PROMPT}, x=parse_axis("steps", "10, 20"), rng=TopRng())
    assert alone.base_seed == 9_999_999_999


def test_settings_only_some_backends_have_follow_each_backend(tmp_path, dieyuyun_emulator, segmind_emulator):
    pg = make_playground(tmp_path, make_backend("dieyuyun", dieyuyun_emulator), make_backend("segmind", segmind_emulator))
    grid_plan = plan(
        pg, "backend", "segmind, dieyuyun", backend_id="segmind",
        scheduler="Euler a", output_format="png", output_quality=90, seed=5,
    )
    segmind_cell, dieyuyun_cell = grid_plan.cells
    assert segmind_cell.request.scheduler == "EulerAncestralDiscreteScheduler"
    assert segmind_cell.request.output_format == "png"
    assert dieyuyun_cell.request.scheduler is None and dieyuyun_cell.request.output_format is None
    result = run(pg, grid_plan)
    assert result.ok_count == 2


def test_scheduler_and_size_and_prompt_axes(tmp_path, segmind_emulator):
    pg = make_playground(tmp_path, make_backend("segmind", segmind_emulator))
    grid_plan = plan(pg, "scheduler", "Euler, Euler a", "size", "768x1024, 1024x768", backend_id="segmind", seed=1)
    assert [c.request.scheduler for c in grid_plan.cells] == [
        "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler"
    ] * 2
    assert [(c.request.width, c.request.height) for c in grid_plan.cells] == [(768, 1024)] * 2 + [(1024, 768)] * 2
    result = run(pg, grid_plan)
    assert sorted((r.json["scheduler"], r.json["width"]) for r in segmind_emulator.requests) == [
        ("EulerAncestralDiscreteScheduler", 768), ("EulerAncestralDiscreteScheduler", 1024),
        ("EulerDiscreteScheduler", 768), ("EulerDiscreteScheduler", 1024),
    ]
    assert result.ok_count == 4
    assert {c.image.width for c in result.cells} == {768, 1024}

    segmind_emulator.reset()
    sr = plan(pg, "prompt_sr", "lighthouse, windmill, 灯塔", backend_id="segmind", negative_prompt="no lighthouse")
    assert [c.request.prompt for c in sr.cells] == [PROMPT, PROMPT.replace("lighthouse", "windmill"), PROMPT.replace("lighthouse", "灯塔")]
    assert sr.cells[1].request.negative_prompt == "no windmill"
    assert sr.x.headings[2] == "Prompt S/R: 灯塔"
    run(pg, sr)
    assert sorted(r.json["prompt"] for r in segmind_emulator.requests) == sorted(c.request.prompt for c in sr.cells)


# -- everything is checked before anything runs ------------------------------------------------------


def test_every_cell_is_validated_before_anything_runs(tmp_path, dieyuyun_emulator, siliconflow_emulator):
    pg = make_playground(tmp_path, make_backend("dieyuyun", dieyuyun_emulator), make_backend("siliconflow", siliconflow_emulator))
    with pytest.raises(InvalidRequest) as caught:
        plan(pg, "guidance", "5, 25, 30")
    assert caught.value.fields == ("x_axis", "x_axis")  # each bad value once, on the axis
    assert "Guidance axis: a number from 0 to 20" in str(caught.value)
    with pytest.raises(InvalidRequest) as caught:  # a setting one backend of the axis refuses
        plan(pg, "backend", "dieyuyun, siliconflow", size="1280x720")
    (problem,) = caught.value.problems
    assert problem.field == "size" and "(with SiliconFlow (Kolors))" in problem.allowed
    with pytest.raises(InvalidRequest) as caught:
        plan(pg, "seed", "1, 99999999999,")
    assert caught.value.fields == ("x_axis",) and "Seed axis" in str(caught.value)
    with pytest.raises(InvalidRequest, match="has no scheduler setting"):
        plan(pg, "scheduler", "Euler, Euler a")
    with pytest.raises(InvalidRequest, match="'windmill' must occur in the prompt"):
        plan(pg, "prompt_sr", "windmill, tower")
    with pytest.raises(InvalidRequest, match="one of dieyuyun, siliconflow"):
        plan(pg, "backend", "dieyuyun, nowhere")
    with pytest.raises(InvalidRequest) as caught:
        plan(pg, "steps", "10, 20", prompt="")
    assert caught.value.fields == ("prompt",)
    with pytest.raises(InvalidRequest, match="at most 100 cells"):
        plan(pg, "seed", "0-99", "steps", "1, 2")
    assert dieyuyun_emulator.requests == [] and siliconflow_emulator.requests == []
    assert pg.history.count() == 0


def test_a_grid_over_the_pixel_budget_is_refused_at_planning_naming_the_numbers(tmp_path, segmind_emulator):
    from backends.settings import GRID_MAX_PIXELS

    pg = make_playground(tmp_path, make_backend("segmind", segmind_emulator))

    def budgeted(x_text, size, y_kind=None, y_text=None):
        return plan_compare(pg, backend_id="segmind", values={"prompt": PROMPT, "size": size}, x_kind="seed",
                            x_text=x_text, y_kind=y_kind, y_text=y_text, max_pixels=GRID_MAX_PIXELS)

    assert len(budgeted("4", "1024x1024", "steps", "10, 20, 30, 40")) == 16  # the page's 4 × 4 of 1024²
    assert len(budgeted("0-99", "1024x1024")) == 100
    with pytest.raises(InvalidRequest) as caught:
        budgeted("0-99", "2048x2048")
    assert caught.value.fields == ("grid",)
    assert str(caught.value) == (
        "Please fix this value:\n- grid: 100 cells of 2048×2048 = 419,430,400 pixels is not allowed; at most "
        "134,217,728 pixels in all (32 cells of 2048×2048 fit); use fewer cells or a smaller size."
    )
    assert "419,430,400 像素" in caught.value.message_in("zh")
    with pytest.raises(InvalidRequest, match=r"6 cells of 2048×2048, 1024×1024 = 15,728,640 pixels"):
        plan_compare(pg, backend_id="segmind", values={"prompt": PROMPT}, x_kind="size",
                     x_text="2048x2048, 1024x1024", y_kind="seed", y_text="3", max_pixels=8 * 1024 * 1024)
    assert segmind_emulator.requests == []


def test_an_unavailable_backend_is_refused_at_planning(tmp_path, dieyuyun_emulator, siliconflow_emulator):
    pg = make_playground(tmp_path, make_backend("dieyuyun", dieyuyun_emulator), make_backend("siliconflow", siliconflow_emulator, key=""))
    with pytest.raises(BackendUnavailable, match="SILICONFLOW_API_KEY"):
        plan(pg, "backend", "dieyuyun, siliconflow")
    # A visitor's own key makes it available.
    grid_plan = plan_compare(
        pg, backend_id="dieyuyun", values={"prompt": PROMPT}, x_kind="backend", x_text="dieyuyun, siliconflow",
        api_keys={"siliconflow": siliconflow_emulator.api_key},
    )
    result = run(pg, grid_plan, api_keys={"siliconflow": siliconflow_emulator.api_key})
    assert result.ok_count == 2


def test_the_estimate_before_running(dieyuyun_pg):
    grid_plan = plan_compare(
        dieyuyun_pg, backend_id="dieyuyun", values={"prompt": PROMPT}, x_kind="seed", x_text="6",
        y_kind="guidance", y_text="5, 7, 9", latency_s={"dieyuyun": 10.0},
    )
    assert len(grid_plan) == 18
    assert grid_plan.cost_text == "¥0.18"
    assert grid_plan.estimated_s == 50.0  # 18 cells in waves of 4: 5 waves of 10 s
    assert grid_plan.summary == "18 cells (6 × 3) · cost ¥0.18 · about 50 s"
    assert grid_plan.needs_confirmation() and not grid_plan.needs_confirmation(above=20)
    json.dumps(grid_plan.to_dict())


# -- concurrency, failures, Stop ---------------------------------------------------------------------------


def test_cells_share_the_runner_semaphore_with_every_other_job(tmp_path, dieyuyun_emulator):
    dieyuyun_emulator.latency = 0.15
    probe = ConcurrencyProbe(make_backend("dieyuyun", dieyuyun_emulator, max_concurrency=2))
    pg = make_playground(tmp_path, probe)
    grid_plan = plan(pg, "seed", "6")

    async def grid_and_another_job():
        other = pg.generate("dieyuyun", {"prompt": "another visitor's job", "n": 3})
        return await asyncio.gather(run_grid(pg, grid_plan), other)

    result, other = asyncio.run(grid_and_another_job())
    assert result.ok_count == 6 and len(other.result.images) == 3
    assert probe.calls == 9
    assert probe.peak == 2  # never more than the backend allows, grid and job together


def test_cells_run_concurrently_up_to_the_limit(tmp_path, dieyuyun_emulator):
    dieyuyun_emulator.latency = 0.3
    probe = ConcurrencyProbe(make_backend("dieyuyun", dieyuyun_emulator, max_concurrency=4))
    pg = make_playground(tmp_path, probe)
    result = run(pg, plan(pg, "guidance", "2, 4, 6, 8", "seed", "2"))
    assert result.ok_count == 8 and probe.peak == 4  # four at once, not one by one


def test_a_failed_cell_shows_its_error_and_the_others_complete(dieyuyun_pg, dieyuyun_emulator):
    dieyuyun_emulator.fault("content_policy")
    progress: list[GridProgress] = []
    result = run(dieyuyun_pg, plan(dieyuyun_pg, "guidance", "4, 6", "seed", "1, 2"), progress=progress.append)
    failed = [c for c in result.cells if not c.ok]
    assert len(failed) == 1 and result.ok_count == 3
    (cell,) = failed
    assert cell.status == "failed" and cell.error_type == "RequestRejected"
    assert "safety system" in cell.error and cell.error in cell.caption
    assert cell.path is None
    entry = dieyuyun_pg.history.get(cell.generation_id)  # the failure is in the history too
    assert entry.status == "failed" and entry.request.seed == cell.seed
    assert progress[-1].done == 4 and progress[-1].failed == 1
    assert result.gallery()[cell.cell.index][0] is None


def test_stop_after_the_first_cells_never_starts_the_rest(dieyuyun_pg, dieyuyun_emulator):
    dieyuyun_emulator.latency = 0.3
    pg = Playground(
        registry=Registry([make_backend("dieyuyun", dieyuyun_emulator, max_concurrency=2)]), history=dieyuyun_pg.history
    )
    cancel = CancelToken()

    def stop_after_the_first(p: GridProgress) -> None:
        if p.done >= 1:
            cancel.cancel()

    result = run(pg, plan(pg, "guidance", "2, 4, 6", "seed", "1, 2"), progress=stop_after_the_first, cancel=cancel)
    assert result.cancelled
    statuses = [c.status for c in result.cells]
    # Cells 0 and 1 were under way together; the first to finish pressed Stop, which stopped the
    # other unless it had already come back.
    assert "ok" in statuses[:2] and set(statuses[:2]) <= {"ok", "stopped"}
    assert statuses[2:] == ["not_started"] * 4
    assert len(dieyuyun_emulator.requests) == 2  # the rest never reached the provider
    assert pg.history.count() == 2  # and left no history entry
    assert all(c.entry is None and "stopped" in c.error for c in result.cells[2:])


def test_stop_while_cells_are_in_flight(dieyuyun_pg, dieyuyun_emulator):
    dieyuyun_emulator.latency = 3.0
    pg = Playground(registry=Registry([make_backend("dieyuyun", dieyuyun_emulator)]), history=dieyuyun_pg.history)
    cancel = CancelToken()

    async def stop_soon():
        task = asyncio.ensure_future(run_grid(pg, plan(pg, "seed", "8"), cancel=cancel))
        await asyncio.sleep(0.4)
        cancel.cancel()
        return await task

    result = asyncio.run(stop_soon())
    assert result.elapsed_s < 2.0  # did not wait for the provider
    statuses = [c.status for c in result.cells]
    assert statuses == ["stopped"] * 4 + ["not_started"] * 4  # the first wave of 4 was in flight
    assert all(c.error_type == "GenerationCancelled" for c in result.cells)


# -- export --------------------------------------------------------------------------------------------


def test_export_is_one_png_with_headings_and_metadata(dieyuyun_pg, dieyuyun_emulator):
    dieyuyun_emulator.fault("status", status=400)  # one cell fails
    grid_plan = plan(dieyuyun_pg, "guidance", "4.5, 6", "seed", "11, 12", negative_prompt="blurry")
    result = run(dieyuyun_pg, grid_plan)
    assert result.failed_count == 1
    png = export_grid_png(result, dieyuyun_pg.history, cell_size=256)

    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert width > 2 * 256 and height > 2 * 256
        info = dict(image.info)
    data = json.loads(info[GRID_JSON_KEY])
    assert data == grid_metadata_of(png)
    assert data["prompt"] == PROMPT and data["negative_prompt"] == "blurry"
    assert data["x"]["kind"] == "guidance" and data["x"]["values"] == [4.5, 6.0] and data["x"]["labels"] == ["4.5", "6"]
    assert data["y"]["kind"] == "seed" and data["y"]["values"] == [11, 12]
    assert (data["cols"], data["rows"]) == (2, 2)
    cells = data["cells"]
    assert [(c["row"], c["col"], c["backend"], c["seed"]) for c in cells] == [
        (0, 0, "dieyuyun", 11), (0, 1, "dieyuyun", 11), (1, 0, "dieyuyun", 12), (1, 1, "dieyuyun", 12),
    ]
    assert [c["generation_id"] for c in cells] == [c.generation_id for c in result.cells]
    assert sorted(c["status"] for c in cells) == ["failed", "ok", "ok", "ok"]
    assert all(c["request"]["guidance"] in (4.5, 6.0) for c in cells)

    # The parameters chunk reads as A1111 text: the first image's settings and the axes.
    restored = read_image_parameters(png)
    first_ok = next(c for c in result.cells if c.ok)
    assert restored.source == "a1111" and restored.prompt == PROMPT and restored.negative_prompt == "blurry"
    assert restored.seed == first_ok.seed and restored.guidance == first_ok.cell.request.guidance
    extra = dict(restored.extra)
    assert extra["X Type"] == "Guidance" and extra["X Values"] == "4.5, 6"
    assert extra["Y Type"] == "Seed" and extra["Y Values"] == "11, 12" and extra["Grid"] == "2x2"
    assert grid_metadata_of(b"not a png") is None


def test_export_places_each_image_in_its_cell(dieyuyun_pg):
    result = run(dieyuyun_pg, plan(dieyuyun_pg, "seed", "1, 2,"))
    png = export_grid_png(result, dieyuyun_pg.history, cell_size=128)
    with Image.open(io.BytesIO(png)) as grid:
        grid = grid.convert("RGB")
        for cell in result.cells:
            with Image.open(cell.path) as source:
                small = source.convert("RGB").resize((128, 128), Image.Resampling.LANCZOS)
            # The cell's image is somewhere in the grid: find its first row of pixels.
            probe = small.crop((20, 20, 108, 21)).tobytes()
            found = any(
                grid.crop((x, y, x + 88, y + 1)).tobytes() == probe
                for y in range(grid.height - 1)
                for x in (cell.cell.col * 132 + 4 + 20, cell.cell.col * 132 + 20, cell.cell.col * 132 + 8 + 20)
            )
            assert found


def test_seed_count_axes_export_their_seeds(dieyuyun_pg):
    result = run(dieyuyun_pg, plan(dieyuyun_pg, "seed", "2", seed=40))
    extra = dict(read_image_parameters(export_grid_png(result, cell_size=64)).extra)
    assert extra["X Values"] == "40, 41"


def test_the_grid_font_draws_chinese_when_the_system_has_one():
    path, cjk = find_font()
    if not cjk:
        pytest.skip("no CJK font on this machine (apt-get install fonts-noto-cjk); the export falls back")
    from PIL import ImageDraw, ImageFont

    font = ImageFont.truetype(path, 24)

    def drawn(text: str) -> bytes:
        image = Image.new("L", (40, 40))
        ImageDraw.Draw(image).text((4, 4), text, font=font, fill=255)
        return image.tobytes()

    # A font without these glyphs draws the same box for both.
    assert drawn("可") != drawn("图") and any(drawn("可"))


def test_results_are_plain_data_for_the_api(dieyuyun_pg):
    result = run(dieyuyun_pg, plan(dieyuyun_pg, "guidance", "5, 7"))
    data = json.loads(json.dumps(result.to_dict()))
    assert [c["status"] for c in data["cells"]] == ["ok", "ok"]
    assert data["cells"][0]["generation_id"] == result.cells[0].generation_id
    assert result.ab_pair() == (result.cells[0].path, result.cells[1].path)
    assert [caption for _, caption in result.gallery()] == [
        f"5 — seed {result.cells[0].seed}", f"7 — seed {result.cells[1].seed}"
    ]


def test_export_falls_back_to_pillows_own_font(dieyuyun_pg, monkeypatch):
    from backends.compare import export

    result = run(dieyuyun_pg, plan(dieyuyun_pg, "prompt_sr", "lighthouse, 灯塔"))
    monkeypatch.setattr(export, "find_font", lambda override=None: (None, False))
    export._font.cache_clear()
    try:
        png = export_grid_png(result, cell_size=96)
    finally:
        export._font.cache_clear()
    assert grid_metadata_of(png)["x"]["labels"] == ["lighthouse", "灯塔"]
    with Image.open(io.BytesIO(png)) as image:
        assert image.width > 2 * 96
