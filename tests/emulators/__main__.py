"""Run one emulator in the foreground: ``python -m tests.emulators --provider segmind --port 8123``.

Prints ``ready BASE_URL`` once listening (BASE_URL as the backend's base URL setting wants it), then
serves until interrupted or terminated.
"""

from __future__ import annotations

import argparse
import signal
import threading

from . import PROVIDERS, make_emulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.emulators", description=__doc__.splitlines()[0])
    parser.add_argument("--provider", choices=PROVIDERS, required=True)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every generation")
    parser.add_argument("--api-key", default="test-key")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    emulator = make_emulator(args.provider, api_key=args.api_key, latency=args.latency)
    with emulator.running(port=args.port):
        print(f"ready {emulator.base_url}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
