"""Kolors Playground: ``python app.py`` (or ``kolors-playground``), locally or as a Hugging Face Space.

Reads the settings once (the environment and a ``.env`` file in the working directory; see README and
.env.example), builds the backend registry and the history store, and launches the Gradio page.
Telemetry is off.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
from pathlib import Path

# Telemetry must be off before gradio is imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# A visitor's address is read in ui/session.py from the peer and PLAYGROUND_TRUSTED_PROXIES alone. uvicorn's
# own X-Forwarded-For reading (it believes the header from 127.0.0.1 by default) would let anyone connecting
# from this machine, or through a local proxy that passes the header on, write their own address: off.
os.environ.setdefault("FORWARDED_ALLOW_IPS", "")

from typing import TYPE_CHECKING

# gradio (and what imports it) is imported only once the command line and the settings are read: --help and
# --version answer at once, and a bad GRADIO_SERVER_PORT (which gradio itself reads with int() on import)
# gets the one-line message that names it.
if TYPE_CHECKING:
    import gradio as gr

    from backends.playground import Playground
    from backends.settings import PlaygroundSettings

log = logging.getLogger("kolors_playground")


def create_app(settings: PlaygroundSettings) -> tuple[gr.Blocks, Playground]:
    from backends.history import HistoryStore
    from backends.playground import Playground
    from backends.quota import HourlyQuota
    from backends.registry import build_registry
    from ui.page import build_app

    registry = build_registry(settings)
    history = HistoryStore(settings.playground_data_dir)
    quota = settings.playground_quota_per_hour
    playground = Playground(registry=registry, history=history, quota=HourlyQuota(quota) if quota else None)
    hosted = settings.hosted
    demo = build_app(
        playground,
        hosted=hosted,
        browser_secret=browser_secret(settings, history.data_dir) if hosted else None,
        trusted_proxies=settings.trusted_proxies,
        queue_size=settings.playground_queue_size if hosted else None,
        confirm_above=settings.playground_confirm_cells,
        font=str(settings.playground_font) if settings.playground_font else None,
        max_upload_mb=settings.playground_max_upload_mb,
        jobs_per_visitor=settings.jobs_per_visitor,
        grid_max_pixels=settings.playground_grid_max_pixels,
    )
    return demo, playground


def browser_secret(settings: PlaygroundSettings, data_dir: Path) -> str:
    """The server-side key that signs the visitor id kept in the browser (it never goes to the page):
    PLAYGROUND_SECRET, or one made once and kept beside the history, so visitors keep their history
    across restarts. A ``.browser-secret`` left empty (a crash or a full disk at the first start) counts
    as missing; a new one is written whole or not at all (temporary file, fsync, rename)."""
    if settings.playground_secret is not None:
        return settings.playground_secret.get_secret_value()
    path = Path(data_dir) / ".browser-secret"
    try:
        kept = path.read_text().strip()
    except FileNotFoundError:
        kept = ""
    if kept:
        return kept
    secret = secrets.token_urlsafe(32)
    temporary = path.with_name(f".browser-secret.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secret)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # only where there is none: a second process starting at once keeps the first's
        except FileExistsError:
            kept = path.read_text().strip()
            if kept:
                return kept
            os.replace(temporary, path)  # the empty one
        except OSError:  # a file system without hard links
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_folder(path.parent)
    return secret


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` survive a power cut (where the platform can open a folder)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def start_local_model(playground: Playground) -> None:
    """In the background: find the local backend's device, and with KOLORS_PRELOAD=1 download and load it."""
    from backends.providers.local import start_local_backends

    start_local_backends(playground.registry.available())


def version() -> str:
    """The installed package's version, or the one in pyproject.toml beside this file (a checkout)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("kolors-playground")
    except PackageNotFoundError:
        import tomllib

        try:
            return tomllib.loads((Path(__file__).with_name("pyproject.toml")).read_text())["project"]["version"]
        except (OSError, KeyError, ValueError):
            return "unknown"


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="kolors-playground",
        description="A browser playground for the Kolors text-to-image model: starts the page at "
        "http://127.0.0.1:7860/. Settings come from the environment and a .env file in the working directory "
        "(DIEYUYUN_API_KEY, SEGMIND_API_KEY, SILICONFLOW_API_KEY, PLAYGROUND_*; see the README).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument(
        "--host", metavar="ADDRESS", help="the address to listen on (default: GRADIO_SERVER_NAME, else 127.0.0.1; "
        "0.0.0.0 for every interface)",
    )
    parser.add_argument(
        "--port", metavar="PORT", type=_port, help="the port to listen on (default: GRADIO_SERVER_PORT, else 7860)"
    )
    parser.add_argument(
        "--check", action="store_true",
        help="check every configured backend (reachable, key accepted, one small image) and exit; "
        "non-zero when one fails. A paid backend not allowed to generate is 'reachable, key not verified'",
    )
    parser.add_argument(
        "--seeds", action="store_true",
        help="with --check: also check that the same seed gives the same image and another seed another "
        "(two more images per backend)",
    )
    parser.add_argument(
        "--mcp", action="store_true", help="serve the generate and compare tools over MCP at /gradio_api/mcp "
        "(the same as PLAYGROUND_MCP=1)",
    )
    parser.add_argument(
        "--strict", action="store_true",
        help="with --check: also exit 1 when a backend could only be reached, not verified (no image generated)",
    )
    parser.add_argument("--yes", action="store_true", help="with --check: generate on paid backends without asking")
    parser.add_argument(
        "--backend", action="append", metavar="ID", help="with --check: check only this backend (repeatable)"
    )
    return parser.parse_args(argv)


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number from 1 to 65535")
    return int(text)


def check(settings: PlaygroundSettings, arguments: argparse.Namespace) -> int:
    """``--check``: the backends' own check (backends/check.py), asking on the terminal before paying."""
    from backends.check import run_check
    from backends.registry import build_registry

    registry = build_registry(settings)
    wanted = arguments.backend or registry.ids()
    unknown = [backend_id for backend_id in wanted if backend_id not in registry]
    if unknown:
        print(f"No backend {', '.join(unknown)}; configured: {', '.join(registry.ids())}.", file=sys.stderr)
        return 2

    def ask(question: str) -> bool:
        try:
            return input(question).strip().lower() in ("y", "yes")
        except EOFError:
            return False

    return run_check(
        [registry.get(backend_id) for backend_id in wanted], seeds=arguments.seeds, yes=arguments.yes,
        ask=ask if sys.stdin is not None and sys.stdin.isatty() else None, strict=arguments.strict,
    )


def mcp_options(settings: PlaygroundSettings, playground: Playground) -> dict:
    """The MCP server's routes and lifespan (ui/mcp_server.py; it needs the ``mcp`` package)."""
    from ui.api_params import ApiFacts
    from ui.mcp_server import mcp_app_kwargs

    local_only = settings.gradio_server_name in ("127.0.0.1", "localhost", "::1")
    return mcp_app_kwargs(ApiFacts.of(playground.registry), local_only=local_only)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    from backends.errors import ConfigurationError
    from backends.settings import PlaygroundSettings

    try:
        settings = PlaygroundSettings.load()
    except ConfigurationError as exc:
        print(f"Kolors Playground cannot start: {exc}", file=sys.stderr)
        return 2
    if arguments.check:
        logging.basicConfig(level="WARNING", format="%(levelname)s %(name)s: %(message)s")
        try:
            return check(settings, arguments)
        except ConfigurationError as exc:
            print(f"Kolors Playground cannot check its backends: {exc}", file=sys.stderr)
            return 2
    logging.basicConfig(level=settings.playground_log_level, format="%(levelname)s %(name)s: %(message)s")
    try:
        demo, playground = create_app(settings)
    except ConfigurationError as exc:
        print(f"Kolors Playground cannot start: {exc}", file=sys.stderr)
        return 2
    start_local_model(playground)
    available = [b.id for b in playground.registry.available()]
    log.info("backends available: %s", ", ".join(available) or "none (set a key; see README)")
    from ui.page import launch_options

    host = arguments.host or settings.gradio_server_name
    port = arguments.port or settings.gradio_server_port
    problem = _listen_problem(host, port)
    if problem:
        playground.history.close()
        print(f"Kolors Playground cannot start: {problem}", file=sys.stderr)
        return 2
    stop_on_sigterm()
    try:
        demo.launch(
            server_name=host, server_port=port,
            **launch_options(
                hosted=settings.hosted, max_upload_mb=settings.playground_max_upload_mb,
                max_body_kb=settings.playground_max_body_kb, session_capacity=settings.playground_session_capacity,
                mcp=mcp_options(settings, playground) if settings.playground_mcp or arguments.mcp else None,
            ),
        )
    except OSError as exc:  # taken between the look and the launch
        if "port" not in str(exc).lower():
            raise
        print(f"Kolors Playground cannot start: port {port} on {host} is in use; choose another with --port or "
              "GRADIO_SERVER_PORT.", file=sys.stderr)
        return 2
    finally:
        playground.history.close()  # checkpoints the WAL: history.sqlite3 alone is then a whole backup
    return 0


def stop_on_sigterm() -> None:
    """SIGTERM (``docker stop``, a Space's restart, systemd) ends the app as Ctrl+C does: Gradio closes its
    server and ``main`` closes the history, instead of the process dying with SQLite's log unmerged."""

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _listen_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on now, in one sentence (gradio would raise a 40-line traceback)."""
    import socket

    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError:
        return f"{host!r} (--host or GRADIO_SERVER_NAME) is not an address of this machine; use 127.0.0.1 or 0.0.0.0."
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            return (f"port {port} on {host} is in use (or not allowed); choose another with --port or "
                    "GRADIO_SERVER_PORT.")
    return None

if __name__ == "__main__":
    sys.exit(main())
