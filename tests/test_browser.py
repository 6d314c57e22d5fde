"""The playground in a real browser: Debian's chromium, driven by Playwright, against ``python app.py``
on the provider emulators. Each test checks what a person sees on the page and what lands in the
history. One app serves the module (entries are told apart by their prompts); each test has its own
browser context.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from PIL import Image, PngImagePlugin

from backends.history import read_image_parameters
from tests.app_harness import ROOT
from tests.browser_fixtures import (  # noqa: F401  (fixtures)
    PlaygroundPage,
    browser_app_fixture,
    browser_fixture,
    playground_fixture,
    size_of,
)

pytestmark = pytest.mark.browser

SCREENSHOT = ROOT / "test-artifacts" / "playground.png"


def pixels(png: bytes) -> tuple[tuple[int, int], bytes]:
    with Image.open(io.BytesIO(png)) as image:
        return image.size, image.convert("RGB").tobytes()


def set_segmind_form(page: PlaygroundPage, values: dict[str, str]) -> None:
    """Fill the form for Segmind with the given (non-default) values, the way a person would."""
    page.choose("backend", "Segmind")
    page.expect("#scheduler input").to_be_visible()  # the Segmind-only controls came up
    page.fill("prompt", values["prompt"])
    page.fill("negative-prompt", values["negative-prompt"])
    page.choose("size", values["size"].replace("x", "×"))
    page.choose("scheduler", values["scheduler"])
    page.choose("output-format", values["output-format"])
    for elem_id in ("n", "steps", "guidance", "output-quality", "seed"):
        page.fill(elem_id, values[elem_id])


def shown(page: PlaygroundPage) -> dict[str, str | None]:
    """The form as the page shows it, with the size dropdown's label read back as WxH."""
    form = page.form()
    return {**form, "size": size_of(form["size"])}


# 1. Generate ------------------------------------------------------------------------------------


@pytest.mark.parametrize("via, seed", [("click", 4200), ("ctrl+enter", 4300)])
def test_generate_shows_images_captioned_with_their_seeds(playground, dieyuyun_emulator, via, seed):
    prompt = f"a red fox in fresh snow ({via})"
    playground.fill("prompt", prompt)
    playground.fill("n", "2")
    playground.fill("seed", str(seed))

    images = playground.generate(expect_images=2, via=via)

    assert [image["caption"] for image in images] == [f"seed {seed}", f"seed {seed + 1}"]
    playground.expect("#gallery .caption-label").to_have_text([f"seed {seed}", f"seed {seed + 1}"])
    playground.expect("#status").to_have_text(re.compile(rf"2 images in [\d.]+ s · seed {seed}…{seed + 1} · ¥0\.02"))
    assert playground.value("prompt") == prompt  # Ctrl+Enter generated instead of adding a line
    for image, expected_seed in zip(images, (seed, seed + 1)):  # the files a person downloads
        png = playground.download(image["src"])
        restored = read_image_parameters(png)
        assert pixels(png)[0] == (1024, 1024) and (restored.prompt, restored.seed) == (prompt, expected_seed)
    sent = sorted(request.json["seed"] for request in dieyuyun_emulator.requests)
    assert sent == [seed, seed + 1]
    playground.search_history(prompt, expect_entries=1)
    playground.expect("#history-gallery .caption-label").to_contain_text([f"{prompt} · dieyuyun"])
    assert playground.page_errors == []


# 2. Bad values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, field, detail",
    [
        ({"prompt": "", "negative-prompt": "blurry, low quality"}, "prompt", "type a description"),
        ({"prompt": "a quiet harbour", "negative-prompt": "text", "seed": "99999999999"}, "seed", "9999999999"),
    ],
    ids=["empty-prompt", "seed-out-of-range"],
)
def test_a_bad_value_shows_a_message_naming_the_field_and_keeps_the_form(
    playground, dieyuyun_emulator, values, field, detail
):
    for elem_id, value in values.items():
        playground.fill(elem_id, value)

    playground.page.click("#generate-btn")

    toast = playground.page.locator(".toast-body.error [data-testid=toast-text]")
    playground.expect(".toast-body.error").to_be_visible()
    message = toast.inner_text()
    assert field in message and detail in message, message
    assert "Traceback" not in playground.page.content() and 'File "' not in playground.page.inner_text("body")
    for elem_id, value in values.items():  # nothing typed was lost
        assert playground.value(elem_id) == value
    assert playground.gallery_images() == [] and dieyuyun_emulator.requests == []


# Switching backends ------------------------------------------------------------------------------


def test_switching_the_backend_offers_its_controls_with_its_defaults(playground):
    playground.choose("backend", "Segmind")
    playground.expect("#scheduler input").to_have_value("EulerDiscreteScheduler")
    playground.wait_until_idle()
    form = shown(playground)
    assert (form["steps"], form["guidance"], form["output-format"], form["output-quality"], form["size"]) == (
        "25", "6", "webp", "80", "1024x1024",
    )
    assert (form["width"], form["height"]) == ("1024", "1024")

    playground.choose("size", "832×1216")
    playground.choose("backend", "dieyuyun")
    playground.expect("#scheduler").to_be_hidden()
    playground.wait_until_idle()
    form = shown(playground)
    assert (form["steps"], form["guidance"], form["size"]) == ("20", "7.5", "1024x1024")
    assert form["output-format"] is form["output-quality"] is form["width"] is None
    playground.expect("#form-note").to_contain_text("size 832x1216 → 1024x1024")


# 3. History restores every control, 4. Re-run is pixel-identical ---------------------------------

SEGMIND_VALUES = {
    "prompt": "a lighthouse on a cliff at dusk, oil painting",
    "negative-prompt": "fog, people",
    "size": "896x1152",
    "n": "2",
    "seed": "1234",
    "steps": "12",
    "guidance": "4.5",
    "scheduler": "UniPCMultistepScheduler",
    "output-format": "jpg",
    "output-quality": "90",
}


def change_the_form(page: PlaygroundPage) -> None:
    page.choose("backend", "dieyuyun")
    page.expect("#scheduler").to_be_hidden()  # dieyuyun has no scheduler
    page.fill("prompt", "something else entirely")
    page.fill("negative-prompt", "")
    for elem_id, value in (("seed", "7"), ("steps", "40"), ("guidance", "9"), ("n", "1")):
        page.fill(elem_id, value)
    form = shown(page)
    assert form["backend"] == "dieyuyun (Kolors)" and form["size"] == "1024x1024" and form["scheduler"] is None


def test_clicking_a_history_entry_restores_every_control(playground, segmind_emulator):
    set_segmind_form(playground, SEGMIND_VALUES)
    playground.generate(expect_images=2)
    expected = {"backend": "Segmind (Kolors)", **SEGMIND_VALUES, "width": "896", "height": "1152"}
    assert shown(playground) == expected
    sent = segmind_emulator.requests[0].json
    assert (sent["width"], sent["height"], sent["steps"], sent["cfg"], sent["scheduler"], sent["output_format"],
            sent["output_quality"], sent["negative_prompt"]) == (896, 1152, 12, 4.5, "UniPCMultistepScheduler", "jpg",
                                                                 90, "fog, people")

    change_the_form(playground)
    playground.search_history(SEGMIND_VALUES["prompt"], expect_entries=1)
    playground.open_history_entry(0, prompt=SEGMIND_VALUES["prompt"])

    playground.expect("#scheduler input").to_be_visible()
    assert shown(playground) == expected
    playground.expect("#history-details").to_contain_text("seeds 1234, 1235")


def test_rerun_from_history_gives_pixel_identical_images(playground, segmind_emulator):
    values = {**SEGMIND_VALUES, "prompt": "a paper boat on a puddle, macro photo", "n": "1", "seed": "2024"}
    set_segmind_form(playground, values)
    (first,) = playground.generate(expect_images=1)
    change_the_form(playground)
    playground.search_history(values["prompt"], expect_entries=1)
    playground.open_history_entry(0, prompt=values["prompt"])
    before = [first["src"]]

    playground.page.click("#history-rerun")

    (again,) = playground.wait_for_new_gallery(before, 1)
    assert again["caption"] == first["caption"] == "seed 2024"
    original, rerun = playground.download(first["src"]), playground.download(again["src"])
    assert pixels(original)[0] == (896, 1152)
    assert pixels(original) == pixels(rerun)
    requests = [request.json for request in segmind_emulator.requests]
    assert len(requests) == 2 and requests[0] == requests[1]
    playground.expect("#history-page-info").to_contain_text("2 entries")  # the re-run is an entry of its own


# 5. Restart -------------------------------------------------------------------------------------


def test_the_history_survives_a_restart(playground, browser_app):
    prompt = "a tram crossing a bridge in the rain"
    playground.fill("prompt", prompt)
    playground.fill("seed", "99")
    playground.generate(expect_images=1)
    playground.search_history(prompt, expect_entries=1)
    old_url = browser_app.url

    browser_app.restart()

    assert browser_app.url != old_url  # a new process on a new port, the same data dir
    playground.open()
    playground.search_history(prompt, expect_entries=1)
    playground.expect("#history-gallery .caption-label").to_contain_text([f"{prompt} · dieyuyun (Kolors) · seed 99"])
    playground.open_history_entry(0, prompt=prompt)
    assert (playground.value("prompt"), playground.value("seed")) == (prompt, "99")


# 6. Dropping a PNG ------------------------------------------------------------------------------


def drop_png(page: PlaygroundPage, path: Path) -> None:
    page.page.get_by_text("Drop an image (PNG, JPEG, WebP) to restore its settings").first.click()  # open the accordion
    page.page.set_input_files("#png-drop input[type=file]", str(path))


def test_dropping_one_of_our_pngs_restores_every_control(playground, browser_app):
    values = {
        "prompt": "a glass teapot with blooming tea", "negative-prompt": "watermark", "size": "1152x896", "n": "1",
        "seed": "31337", "steps": "18", "guidance": "3.5", "scheduler": "DPMSolverMultistepScheduler",
        "output-format": "png", "output-quality": "70",
    }
    set_segmind_form(playground, values)
    playground.generate(expect_images=1)
    saved = [
        path for path in (browser_app.data_dir / "images").glob("*.png")
        if read_image_parameters(path.read_bytes()).prompt == values["prompt"]
    ]
    assert len(saved) == 1

    playground.open()  # a fresh form, on the default backend
    assert playground.value("backend") == "dieyuyun (Kolors)"
    drop_png(playground, saved[0])

    playground.expect("#form-note").to_contain_text("Restored from")
    playground.expect("#scheduler input").to_be_visible()
    assert shown(playground) == {"backend": "Segmind (Kolors)", **values, "width": "1152", "height": "896"}


def test_dropping_an_a1111_png_fills_the_form(playground, tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text(
        "parameters",
        "a castle on a hill, morning light\nNegative prompt: people, text\n"
        "Steps: 33, Sampler: Euler a, CFG scale: 5.5, Seed: 4242, Size: 1024x768, Model: Kolors",
    )
    path = tmp_path / "from-a1111.png"
    Image.new("RGB", (64, 48), "teal").save(path, pnginfo=info)

    drop_png(playground, path)

    playground.expect("#form-note").to_contain_text("Restored from a1111 metadata")
    form = shown(playground)
    assert {k: form[k] for k in ("prompt", "negative-prompt", "seed", "steps", "guidance", "size")} == {
        "prompt": "a castle on a hill, morning light", "negative-prompt": "people, text", "seed": "4242",
        "steps": "33", "guidance": "5.5", "size": "1024x768",
    }


# 7. Share links ---------------------------------------------------------------------------------


def test_a_share_link_prefills_the_form_and_copy_link_makes_one(playground):
    params = {
        "prompt": "水墨山水,远山与小舟", "negative_prompt": "低质量", "seed": "123", "steps": "30", "guidance": "4.5",
        "backend": "segmind", "size": "768x1024",
    }
    playground.open("?" + urlencode(params))

    playground.expect("#form-note").to_contain_text("Filled in from the link")
    form = shown(playground)
    assert {k: form[k] for k in ("backend", "prompt", "negative-prompt", "seed", "steps", "guidance", "size")} == {
        "backend": "Segmind (Kolors)", "prompt": params["prompt"], "negative-prompt": params["negative_prompt"],
        "seed": "123", "steps": "30", "guidance": "4.5", "size": "768x1024",
    }
    assert form["output-quality"] == "80"  # Segmind's default, not the hidden slider's placeholder

    playground.page.click("#copy-link")
    playground.expect("#share-link textarea").to_have_value(re.compile(r"^http://.*\?.*prompt="))
    link = urlsplit(playground.page.input_value("#share-link textarea"))
    assert f"{link.scheme}://{link.netloc}{link.path}" == playground.app.url
    assert {k: v[0] for k, v in parse_qs(link.query).items()} == params


# 8. Chinese -------------------------------------------------------------------------------------


def test_the_chinese_page_renders(browser, browser_app):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1400})
    try:
        page = PlaygroundPage(context.new_page(), browser_app)
        page.open()
        page.expect("#prompt [data-testid=block-info]").to_have_text("提示词")
        page.expect("#negative-prompt [data-testid=block-info]").to_have_text("负面提示词")
        page.expect("#generate-btn").to_have_text("生成")
        page.expect("#stop-btn").to_have_text("停止")
        page.expect("#title").to_contain_text("可图 Kolors 游乐场")
        assert "Negative prompt" not in page.page.inner_text("body")
    finally:
        context.close()


# Stop -------------------------------------------------------------------------------------------


def test_stop_ends_the_job_and_keeps_the_finished_images(playground, dieyuyun_emulator):
    # dieyuyun's four calls run at once, so added latency would finish them together; instead three
    # of them are slow and one answers at once, and Stop comes after that one is in.
    dieyuyun_emulator.fault("slow", seconds=6, times=3)
    prompt = "a slow boat on a wide river"
    playground.fill("prompt", prompt)
    playground.fill("n", "4")
    playground.fill("seed", "500")
    playground.page.click("#generate-btn")
    playground.expect("#gallery").to_contain_text("1/4 images")

    playground.page.click("#stop-btn")

    playground.expect("#status").to_contain_text("1 image in", timeout=4000)  # well before the slow ones
    playground.expect("#status").to_contain_text("stopped early")
    (image,) = playground.gallery_images()
    assert image["caption"] in {f"seed {seed}" for seed in range(500, 504)}
    assert len(dieyuyun_emulator.requests) == 4
    playground.search_history(prompt, expect_entries=1)
    playground.open_history_entry(0, prompt=prompt)
    playground.expect("#history-details").to_contain_text("stopped")


# 9. Screenshot ----------------------------------------------------------------------------------


def test_screenshot_of_the_main_page(playground):
    playground.fill("prompt", "一只橘猫坐在窗台上看雨,水彩")
    playground.fill("negative-prompt", "模糊, 低质量")
    playground.fill("n", "2")
    playground.fill("seed", "42")
    playground.generate(expect_images=2)
    playground.expect("#history-gallery img").not_to_have_count(0)
    playground.page.locator("#gallery img").last.evaluate("img => img.decode()")

    SCREENSHOT.parent.mkdir(exist_ok=True)
    playground.page.screenshot(path=str(SCREENSHOT), full_page=True)

    with Image.open(SCREENSHOT) as shot:
        assert shot.format == "PNG" and shot.width == 1280 and shot.height > 1400
