"""Screenshots of the page at 1440×900 and 390×844, against the provider emulators.

    python -m tests.screenshots [--out DIR] [--generate] [--latency SECONDS] [--lang en|zh]

Starts the emulators and ``python app.py`` (as the tests do), opens the page in Debian's chromium,
and writes ``desktop.png`` and ``phone.png`` (with ``--generate``, also ``*-after.png`` once a 4-image
generation has come back). The emulator answers with its light colour mosaics (``--photos``: with
photographs as heavy as Kolors' PNGs, to look at the page's previews).
The README's two pictures (``assets/screenshot.png``, ``assets/screenshot-phone.png``, after a run) are
made with ``--readme``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from tests.app_harness import emulator_env, running_app
from tests.browser_fixtures import CHROMIUM, CHROMIUM_ARGS
from tests.emulators import make_emulator

SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="test-artifacts/screenshots")
    parser.add_argument("--generate", action="store_true", help="also capture the page after a 4-image run")
    parser.add_argument("--latency", type=float, default=1.0, help="the emulated provider's latency in seconds")
    parser.add_argument("--lang", default="en", choices=("en", "zh"))
    parser.add_argument("--prompt", default="一只橘猫坐在窗台上看雨，水彩风格")
    parser.add_argument("--photos", action="store_true", help="photographs as heavy as Kolors' instead of mosaics")
    parser.add_argument("--readme", action="store_true", help="write the README's two pictures into assets/")
    args = parser.parse_args()
    if args.readme:
        args.generate = True
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    emulator = make_emulator("dieyuyun")
    emulator.latency = args.latency
    emulator.photos = args.photos
    with tempfile.TemporaryDirectory() as tmp, emulator.running():
        env = emulator_env(("dieyuyun", emulator))
        with running_app(env, data_dir=Path(tmp) / "data", log_path=Path(tmp) / "app.log") as app, \
                sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for name, (width, height) in SIZES.items():
                context = browser.new_context(
                    viewport={"width": width, "height": height}, locale="zh-CN" if args.lang == "zh" else "en-US",
                    device_scale_factor=1, is_mobile=name == "phone", has_touch=name == "phone",
                )
                page = context.new_page()
                page.goto(app.url)
                page.wait_for_selector("#generate-btn")
                page.wait_for_timeout(1500)
                page.screenshot(path=str(out / f"{name}.png"))
                if args.generate:
                    page.locator("#prompt textarea").fill(args.prompt)
                    if page.locator("#n input[type=number]").count():
                        page.locator("#n input[type=number]").fill("4")
                        page.locator("#n input[type=number]").blur()
                    page.click("#generate-btn")
                    page.wait_for_function(
                        "() => document.querySelectorAll('#gallery img').length >= 4", timeout=60_000
                    )
                    page.wait_for_timeout(1500)
                    page.screenshot(path=str(out / f"{name}-after.png"))
                    if args.readme:
                        readme_name = "screenshot.png" if name == "desktop" else "screenshot-phone.png"
                        page.screenshot(path=str(ROOT / "assets" / readme_name))
                context.close()
            browser.close()
    print(f"screenshots in {out}/")


if __name__ == "__main__":
    main()
