"""Kolors Playground: `python app.py`, locally or as a Hugging Face Space.

Reads the configuration from the environment (see README and .env.example), builds the backend
registry and the history store, and launches the Gradio page. GRADIO_SERVER_NAME and
GRADIO_SERVER_PORT choose where it listens; telemetry is off.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402  (telemetry must be off before gradio is imported)

from backends.errors import ConfigurationError  # noqa: E402
from backends.history import HistoryStore  # noqa: E402
from backends.playground import Playground  # noqa: E402
from backends.quota import HourlyQuota  # noqa: E402
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
    hosted = hosted_mode(env)
    playground = Playground(registry=registry, history=history, quota=quota_from_env(env))
    demo = build_app(
        playground,
        hosted=hosted,
        browser_secret=browser_secret(env, history.data_dir) if hosted else None,
        queue_size=_positive_int(env, "PLAYGROUND_QUEUE_SIZE", default=100) if hosted else None,
    )
    return demo, playground


def quota_from_env(env) -> HourlyQuota | None:
    limit = _positive_int(env, "PLAYGROUND_QUOTA_PER_HOUR", default=None)
    return HourlyQuota(limit) if limit else None


def browser_secret(env, data_dir: Path) -> str:
    """The key that encrypts the visitor id in the browser: PLAYGROUND_SECRET, or one made once and
    kept beside the history, so visitors keep their history across restarts."""
    if env.get("PLAYGROUND_SECRET"):
        return env["PLAYGROUND_SECRET"]
    path = Path(data_dir) / ".browser-secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        secret = secrets.token_urlsafe(32)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secret)
        return secret


def _positive_int(env, name: str, *, default: int | None) -> int | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationError(f"{name} must be a whole number of at least 1; it is {raw!r}.")
    return int(raw)


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
