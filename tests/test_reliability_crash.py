"""``kill -9`` in the middle of a multi-image generation, at different moments.

The real app (``python app.py``) makes a 4-image generation one image at a time (a self-hosted
endpoint with ``max_concurrency = 1`` and 0.3 s of latency per image), and its whole process group
is killed with SIGKILL:

1. while the first image is being made;
2. after the first image came back, while the second is being made;
3. half-way through writing the third image file of the save (a torn file on disk);
4. after every image file of the save is written, before the rows are committed;
5. just after the commit, while Gradio hands the gallery back.

Moments 1, 2 and 5 are found by watching the emulator and the SQLite file; moments 3 and 4 are
made exact by a ``sitecustomize`` the test writes for the app's process alone, which pauses the
history store at that point (and marks it on disk) so the kill lands there every time. After every
kill the app is started again on the same data dir, and the test checks that ``PRAGMA
integrity_check`` is ok, every entry is whole (its image files exist and decode), the files left
by the interrupted save are gone, and the generation is there whole (moment 5) or not at all.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.app_harness import ROOT, start_app, stop_app
from tests.emulators import make_emulator
from tests.reliability_support import (
    GENERIC_ID,
    GENERIC_KEY_ENV,
    api_client,
    check_history,
    generic_backend_toml,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

LATENCY_S = 0.3
N_IMAGES = 4

# Loaded by the app's interpreter only (PYTHONPATH), never by the tests: when the control file names
# a moment, the history store pauses there, after touching "<control>.reached", so a kill lands
# exactly there. Read at every call, so one app can be told where to stop between generations.
SITECUSTOMIZE = '''
import os, sys, time

_control = os.environ.get("RELIABILITY_CONTROL")
if _control:
    sys.path.insert(0, os.environ["RELIABILITY_ROOT"])
    from backends.history import store as _store

    def _moment():
        try:
            with open(_control) as handle:
                return handle.read().strip()
        except OSError:
            return ""

    def _pause():
        open(_control + ".reached", "w").close()
        time.sleep(60)

    _write_file = _store.HistoryStore._write_file

    def _torn_write_file(path, data, written):
        if _moment() == "mid_write" and len(written) == 2:  # the third file of this save
            written.append(path)
            with open(path, "xb") as handle:
                handle.write(data[: len(data) // 2])
                handle.flush()
                _pause()
        return _write_file(path, data, written)

    _store.HistoryStore._write_file = staticmethod(_torn_write_file)
    _commit = _store.HistoryStore._commit

    def _late_commit(self):
        if _moment() == "before_commit":
            _pause()
        _commit(self)

    _store.HistoryStore._commit = _late_commit
'''


def rows(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as conn:
        return conn.execute("SELECT count(*) FROM generations").fetchone()[0]


def files(data_dir: Path) -> set[str]:
    return {f"{folder}/{p.name}" for folder in ("images", "thumbs", "previews") for p in (data_dir / folder).glob("*")}


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0, every: float = 0.002) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(every)


def kill_group(app) -> None:
    """SIGKILL to the app's whole process group, as `kill -9 -PGID` would."""
    os.killpg(app.process.pid, signal.SIGKILL)
    app.process.wait(timeout=10)


MOMENTS = {
    "making the first image": ("", lambda ctx: wait_for(lambda: len(ctx.emulator.requests) >= 1, "the first call")),
    "after the first image": ("", lambda ctx: wait_for(lambda: len(ctx.emulator.requests) >= 2, "the second call")),
    "mid-write of the third file": ("mid_write", lambda ctx: wait_for(ctx.reached.exists, "the torn write", every=0.01)),
    "files written, not committed": ("before_commit", lambda ctx: wait_for(ctx.reached.exists, "the pause", every=0.01)),
    "just after the commit": ("", lambda ctx: wait_for(lambda: rows(ctx.db) > ctx.rows_before, "the commit", every=0.001)),
}


class Context:
    def __init__(self, tmp: Path, emulator) -> None:
        self.tmp = tmp
        self.data_dir = tmp / "data"
        self.db = self.data_dir / "history.sqlite3"
        self.emulator = emulator
        self.control = tmp / "pause-at"
        self.reached = tmp / "pause-at.reached"
        self.rows_before = 0
        shim = tmp / "shim"
        shim.mkdir()
        (shim / "sitecustomize.py").write_text(SITECUSTOMIZE)
        self.env = {
            **generic_backend_toml(tmp / "backends.toml", emulator.base_url, max_concurrency=1),
            GENERIC_KEY_ENV: emulator.api_key,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(shim), os.environ.get("PYTHONPATH")])),
            "RELIABILITY_ROOT": str(ROOT),
            "RELIABILITY_CONTROL": str(self.control),
        }

    def pause_at(self, moment: str) -> None:
        self.reached.unlink(missing_ok=True)
        self.control.write_text(moment)

    def start(self):
        self.pause_at("")
        return start_app(self.env, data_dir=self.data_dir, log_path=self.tmp / "app.log")


def test_kill_minus_nine_at_five_moments_leaves_a_whole_history(tmp_path):
    emulator = make_emulator("openai", latency=LATENCY_S)
    survived = []
    with emulator.running():
        ctx = Context(tmp_path, emulator)
        app = ctx.start()
        try:
            client = api_client(app.url)
            _, info = client.predict(backend=GENERIC_ID, prompt="before the crashes", size="512x512", n=2, api_name="/generate")
            assert len(info["seeds"]) == 2
            check = check_history(ctx.data_dir)
            for moment, (pause, reached) in MOMENTS.items():
                ctx.rows_before, files_before = len(check.ids), files(ctx.data_dir)
                emulator.reset()
                ctx.pause_at(pause)
                job = client.submit(
                    backend=GENERIC_ID, prompt=f"killed {moment}", size="512x512", n=N_IMAGES, seed=100,
                    api_name="/generate",
                )
                reached(ctx)
                left_behind = files(ctx.data_dir) - files_before
                finished = job.done()
                kill_group(app)
                if moment != "just after the commit":  # there, Gradio may just have handed the answer over
                    assert not finished, f"{moment}: the generation ended before the kill"
                survived.append((moment, len(left_behind)))

                app = ctx.start()  # recovery runs when the history opens
                client = api_client(app.url)
                after = check_history(ctx.data_dir)
                assert after.ok, (moment, after.integrity, after.problems)
                assert not any((ctx.data_dir / "pending").iterdir()), moment  # recovery read every note
                new = [i for i in after.ids if i not in check.ids]
                if moment == "just after the commit":
                    assert len(new) == 1 and after.statuses[new[0]] == "ok", (moment, new)
                    assert len(files(ctx.data_dir) - files_before) >= N_IMAGES
                else:
                    assert new == [], (moment, new)
                if pause:  # the exact moments really left files behind, and they are gone now
                    assert left_behind and not left_behind & files(ctx.data_dir), moment
                check = after

            _, info = client.predict(backend=GENERIC_ID, prompt="after the crashes", size="512x512", n=N_IMAGES, seed=7, api_name="/generate")
            assert info["seeds"] == [7, 8, 9, 10]
            final = check_history(ctx.data_dir)
            assert final.ok and len(final.ids) == 3, final  # before, just-after-commit, after
            assert "Traceback" not in app.log()
        finally:
            stop_app(app, kill=True)
    print(f"\ncrashes survived: {len(survived)}: {survived}")
    assert len(survived) == len(MOMENTS)
