"""Kolors Playground: `python app.py`, locally or as a Hugging Face Space.

Reads the configuration from the environment (see README and .env.example), builds the backend
registry and the history store, and launches the Gradio page. GRADIO_SERVER_NAME and
GRADIO_SERVER_PORT choose where it listens; telemetry is off.
"""

from __future__ import annotations

import logging
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402  (telemetry must be off before gradio is imported)

from backends.errors import ConfigurationError  # noqa: E402
from backends.history import HistoryStore  # noqa: E402
from backends.playground import Playground  # noqa: E402
from backends.registry import build_registry  # noqa: E402
from ui import build_app, launch_options  # noqa: E402

log = logging.getLogger("kolors_playground")


def hosted_mode(env=os.environ) -> bool:
    """On a Space (SPACE_ID set) or when PLAYGROUND_MODE=hosted: history is partitioned per visitor."""
    mode = env.get("PLAYGROUND_MODE", "").strip().lower()
    if mode in ("local", "hosted"):
        return mode == "hosted"
    return bool(env.get("SPACE_ID"))


def create_app(env=os.environ) -> tuple[gr.Blocks, Playground]:
    registry = build_registry(env)
    history = HistoryStore(env.get("PLAYGROUND_DATA_DIR") or "data")
    playground = Playground(registry=registry, history=history)
    return build_app(playground, hosted=hosted_mode(env)), playground


def main() -> int:
    logging.basicConfig(level=os.environ.get("PLAYGROUND_LOG_LEVEL", "INFO"), format="%(levelname)s %(name)s: %(message)s")
    try:
        demo, playground = create_app()
    except ConfigurationError as exc:
        print(f"Kolors Playground cannot start: {exc}", file=sys.stderr)
        return 2
    available = [b.id for b in playground.registry.available()]
    log.info("backends available: %s", ", ".join(available) or "none (set a key; see README)")
    demo.launch(**launch_options())
    return 0


if __name__ == "__main__":
    sys.exit(main())
