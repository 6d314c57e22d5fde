"""Disk faults lose nothing silently (issue 20, items 10 and 11), played on real disks: a tmpfs of a few MB
mounted for the test (as root; elsewhere these tests skip and say why), a read-only remount of it, a corrupt
and an empty database file, a real launched app stopped with SIGTERM, and Chromium opening and deleting
entries. Each test prints what it measured."""

from __future__ import annotations

import io
import os
import random
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from PIL import Image

from backends.base import GeneratedImage, GenerationRequest, GenerationResult
from backends.errors import ConfigurationError, StorageFailed
from backends.history import HistoryStore
from backends.messages import Message
from tests.app_harness import emulator_env, running_app, start_app, stop_app
from tests.browser_fixtures import app_under_test, browser_fixture, open_page  # noqa: F401


def _mount_tmpfs(folder: Path, size: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the disk-full and read-only cases play on a real full disk)")
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})")


@contextmanager
def small_disk(folder: Path, size: str = "4m") -> Iterator[Path]:
    """A real filesystem of ``size``, mounted at ``folder`` for the block."""
    _mount_tmpfs(folder, size)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(disk: Path) -> int:
    """Write a filler file until the disk refuses (ENOSPC); return its size."""
    descriptor = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for chunk in (65536, 4096, 512):
            try:
                while True:
                    os.write(descriptor, b"\0" * chunk)
            except OSError:
                pass
    finally:
        os.close(descriptor)
    return (disk / "filler").stat().st_size


def free_bytes(disk: Path) -> int:
    stats = os.statvfs(disk)
    return stats.f_bavail * stats.f_frsize


def _noise_png(seed: int, side: int = 256) -> bytes:
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), random.Random(seed).randbytes(side * side * 3)).save(out, format="PNG")
    return out.getvalue()


def result_of(seed: int, n: int = 1) -> GenerationResult:
    request = GenerationRequest(prompt=f"noise {seed}", width=256, height=256, n=n, seed=seed)
    images = tuple(GeneratedImage(_noise_png(seed + i), "image/png", 256, 256, seed + i, i) for i in range(n))
    return GenerationResult("dieyuyun", "dieyuyun (Kolors)", "Kwai-Kolors/Kolors", request, images, (), 1.0)


def stored_files(store: HistoryStore) -> int:
    return sum(1 for folder in (store.images_dir, store.thumbs_dir, store.previews_dir) for _ in folder.iterdir())


# -- the store on a full disk ----------------------------------------------------------------------------------------


def test_a_save_on_a_full_disk_keeps_nothing_and_says_so_and_entries_still_delete(tmp_path):
    with small_disk(tmp_path / "disk") as disk, HistoryStore(disk / "data") as store:
        kept = [store.save(result_of(seed)) for seed in (1, 10)]
        files_before = stored_files(store)
        filler = fill(disk)
        print(f"disk filled: {filler} bytes of filler, {free_bytes(disk)} bytes free")
        with pytest.raises(StorageFailed) as caught:
            store.save(result_of(20, n=2))
        assert caught.value.disk_full
        assert str(caught.value).startswith("The server's disk is full: these images were not kept.")
        assert "服务器磁盘已满：这些图像没有保存" in caught.value.message_in("zh")
        assert stored_files(store) == files_before and store.count() == 2  # rolled back, files included
        # On the full disk an entry opens and deletes (the reserve file is given up for the first delete).
        assert store.get(kept[0].id) is not None
        assert store.delete(kept[0].id) and store.delete(kept[1].id)
        assert store.count() == 0 and stored_files(store) == 0
        print(f"after deleting both entries on the full disk: {free_bytes(disk)} bytes free, "
              f"reserve {'kept' if (store.data_dir / '.disk-reserve').exists() else 'gone'}")


# -- start-up ------------------------------------------------------------------------------------------------------


def _start(monkeypatch, capsys, data_dir: Path) -> tuple[int, str]:
    import app

    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_BASE_URL")) or name in ("PLAYGROUND_MODE", "SPACE_ID"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(data_dir))
    monkeypatch.chdir(data_dir.parent)
    code = app.main([])
    return code, capsys.readouterr().err


def _refused_once(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("Kolors Playground cannot start: "), err
    return lines[0]


def test_a_read_only_data_dir_refuses_to_start_with_one_message(tmp_path, monkeypatch, capsys):
    with small_disk(tmp_path / "disk") as disk:
        HistoryStore(disk / "data").close()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        line = _refused_once(*_start(monkeypatch, capsys, disk / "data"))
    print(line)
    assert "cannot be written (Read-only file system)" in line and "PLAYGROUND_DATA_DIR" in line


def test_a_corrupt_database_refuses_to_start_with_one_message(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    HistoryStore(data).close()
    (data / "history.sqlite3").write_bytes(b"this is not a database, it was overwritten " * 200)
    line = _refused_once(*_start(monkeypatch, capsys, data))
    print(line)
    assert "is damaged or is not a SQLite database" in line and "backup" in line


def test_a_zero_length_database_refuses_to_start_instead_of_starting_empty(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    with HistoryStore(data) as store:
        store.save(result_of(3))
    (data / "history.sqlite3").write_bytes(b"")
    line = _refused_once(*_start(monkeypatch, capsys, data))
    print(line)
    assert "is empty (0 bytes)" in line and "delete the file to start a new, empty history" in line
    assert (data / "history.sqlite3").stat().st_size == 0  # left as it was found
    with pytest.raises(ConfigurationError):
        HistoryStore(data)


def test_the_messages_of_disk_faults_are_in_both_languages():
    for key in ("storage_full", "storage_download_full", "data_dir_full", "history_database_empty"):
        english, chinese = Message(key, path="/data").render("en"), Message(key, path="/data").render("zh")
        assert english != chinese and chinese


@pytest.mark.e2e
def test_python_app_py_on_a_corrupt_database_prints_one_line_and_no_traceback(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "history.sqlite3").write_bytes(os.urandom(8192))
    with pytest.raises(RuntimeError) as caught:
        start_app({}, data_dir=data, log_path=tmp_path / "app.log", timeout=60)
    log = (tmp_path / "app.log").read_text()
    print(log.strip().splitlines()[-1])
    assert "Kolors Playground cannot start: the history database" in log and "Traceback" not in log
    assert "app exited with 2" in str(caught.value)


# -- shutdown ------------------------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_sigterm_checkpoints_so_the_database_file_alone_is_a_backup(tmp_path, dieyuyun_emulator):
    from gradio_client import Client

    data = tmp_path / "data"
    with running_app(emulator_env(("dieyuyun", dieyuyun_emulator)), data_dir=data, log_path=tmp_path / "app.log") as app:
        _, info = Client(app.url, verbose=False).predict(backend="dieyuyun", prompt="kept by sigterm", api_name="/generate")
        wal = data / "history.sqlite3-wal"
        print(f"while running: -wal {wal.stat().st_size if wal.exists() else 0} bytes")
        stop_app(app)
    assert app.process.returncode == 0, app.log()
    backup = tmp_path / "backup.sqlite3"
    shutil.copyfile(data / "history.sqlite3", backup)  # the database file alone: no -wal, no -shm
    print(f"after SIGTERM: -wal {'present' if wal.exists() else 'gone'}, history.sqlite3 {backup.stat().st_size} bytes")
    with sqlite3.connect(f"file:{backup}?mode=ro", uri=True) as db:
        rows = db.execute("select prompt from generations where id = ?", (info["generation_id"],)).fetchall()
    assert rows == [("kept by sigterm",)]


# -- a launched hosted app on a full disk ------------------------------------------------------------------------


@pytest.mark.e2e
def test_a_full_disk_refunds_the_quota_and_says_the_images_were_not_kept(tmp_path, dieyuyun_emulator):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    env = {**emulator_env(("dieyuyun", dieyuyun_emulator)), "PLAYGROUND_MODE": "hosted", "PLAYGROUND_QUOTA_PER_HOUR": "3"}
    with small_disk(tmp_path / "disk", "8m") as disk:
        app = start_app(env, data_dir=disk / "data", log_path=tmp_path / "app.log")
        try:
            client = Client(app.url, verbose=False)
            client.predict(backend="dieyuyun", prompt="before the disk filled", api_name="/generate")
            fill(disk)
            billed = len(dieyuyun_emulator.requests)
            with pytest.raises(AppError, match="The server's disk is full: these images were not kept"):
                client.predict(backend="dieyuyun", prompt="lost to a full disk", n=2, api_name="/generate")
            billed_lost = len(dieyuyun_emulator.requests) - billed
            (disk / "filler").unlink()
            # 1 kept + 2 refunded: a quota of 3 still has room for 2 more only if those 2 were given back.
            _, info = client.predict(backend="dieyuyun", prompt="after the room came back", n=2, api_name="/generate")
            print(f"full disk: provider billed {billed_lost} images, kept 0, quota refunded (2 more generated after: "
                  f"{len(info['seeds'])})")
            assert billed_lost >= 1 and len(info["seeds"]) == 2
            assert "Traceback" not in app.log()
        finally:
            stop_app(app)


# -- the page: opening writes nothing, a deleted entry is served nowhere ----------------------------------------------


def _bytes_under(*folders: Path) -> int:
    total = 0
    for folder in folders:
        for path in folder.rglob("*"):
            try:
                if path.is_file() and not path.is_symlink():
                    total += path.stat().st_size
            except OSError:
                pass
    return total


def _status_of(url: str) -> int:
    return httpx.get(url, timeout=10).status_code


@pytest.mark.browser
def test_opening_entries_writes_nothing_and_a_deleted_entry_is_served_nowhere(browser, tmp_path, dieyuyun_emulator):
    from gradio_client import Client

    scratch = tmp_path / "app-tmp"  # the app's temp dir (its page pictures, Gradio's cache) is measured too
    (scratch / "gradio").mkdir(parents=True)
    (tmp_path / "app").mkdir()
    env = {**emulator_env(("dieyuyun", dieyuyun_emulator)), "TMPDIR": str(scratch), "GRADIO_TEMP_DIR": str(scratch / "gradio")}
    with app_under_test(tmp_path / "app", env) as app, open_page(browser, app) as page:
        client = Client(app.url, verbose=False)
        for seed in (1, 2):
            client.predict(backend="dieyuyun", prompt=f"opened many times {seed}", n=2, seed=seed, api_name="/generate")
        page.fill("prompt", "deleted for good")
        page.fill("n", "2")
        shown = [image["src"] for image in page.generate(expect_images=2)]
        with page.page.expect_download() as caught:
            page.page.click("#download-image")
        image_download = caught.value.url
        with page.page.expect_download() as caught:
            page.page.click("#download-all")
        run_zip = caught.value.url

        page.open_tab("history")
        page.page.wait_for_function("() => document.querySelectorAll('#history-gallery img').length === 3")
        page.wait_until_idle()
        before = _bytes_under(app.data_dir, scratch)
        for opening in range(20):
            page.open_history_entry(opening % 3)
        grown = _bytes_under(app.data_dir, scratch) - before
        print(f"20 entry openings: data dir + temp dir grew by {grown} bytes")
        assert grown < 16 * 1024

        page.open_history_entry(1)  # an entry made through the API: no zip of it yet
        sizes = []
        for _ in range(2):
            start = _bytes_under(app.data_dir, scratch)
            with page.page.expect_download() as caught:
                page.page.click("#history-download")
            sizes.append(_bytes_under(app.data_dir, scratch) - start)
        print(f"Download all pressed twice: the zip written {sizes[0]} bytes ({Path(caught.value.path()).stat().st_size} "
              f"downloaded), then {sizes[1]} (reused)")
        assert sizes[0] > 0 and sizes[1] == 0

        page.open_history_entry(0)  # the newest: "deleted for good"
        urls = [image["src"] for image in page.gallery_images("entry-gallery")]
        urls.append(page.page.locator("#history-gallery img").first.get_attribute("src"))
        with page.page.expect_download() as caught:
            page.page.click("#history-download")
        history_zip = caught.value.url
        urls = [url if url.startswith("http") else app.url.rstrip("/") + url for url in
                [*shown, image_download, run_zip, history_zip, *urls]]
        served = [url for url in urls if _status_of(url) == 200]
        assert len(served) == len(urls), [url for url in urls if url not in served]

        page.page.click("#history-delete")
        page.page.locator("#deleted-row").wait_for(state="visible")
        page.page.locator("#deleted-row").wait_for(state="hidden", timeout=30_000)  # the Undo time is up
        page.wait_until_idle()
        still = [url for url in urls if _status_of(url) == 200]
        print(f"a deleted entry's URLs: {len(served)} answered 200 before the delete, {len(still)} after "
              f"(of {len(urls)}: streamed previews, image download, two zips, entry previews, thumbnail)")
        assert still == []
        assert not any((app.data_dir / "downloads").glob("*/*/*deleted*"))


@pytest.mark.browser
def test_on_a_full_disk_the_page_says_so_and_entries_still_open_and_delete(browser, tmp_path, dieyuyun_emulator):
    from tests.browser_fixtures import AppUnderTest, PlaygroundPage

    env = {**emulator_env(("dieyuyun", dieyuyun_emulator)), "PLAYGROUND_MODE": "hosted"}
    with small_disk(tmp_path / "disk", "8m") as disk:
        app = AppUnderTest(env=env, data_dir=disk / "data", log_path=tmp_path / "app.log")  # the log off the full disk
        app.start()
        context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN", accept_downloads=True)
        context.set_default_timeout(20_000)
        try:
            page = PlaygroundPage(context.new_page(), app)
            page.open()
            page.fill("prompt", "kept before the disk filled")
            page.generate(expect_images=1)
            filler = fill(disk)
            page.fill("prompt", "lost to the full disk")
            page.fill("n", "2")
            page.click_generate()
            page.page.wait_for_function("() => (document.querySelector('#status')?.innerText || '').includes('磁盘已满')")
            status = page.status()
            print(f"disk full ({filler} bytes of filler, {free_bytes(disk)} free); the page said: {status!r}")
            assert "服务器磁盘已满：这些图像没有保存" in status and "Error" not in status
            assert page.gallery_images() == []

            page.open_tab("history")
            page.page.wait_for_function("() => document.querySelectorAll('#history-gallery img').length === 1")
            page.open_history_entry(0)  # opens on the full disk: nothing to write
            page.page.click("#history-download")  # the zip does not fit: said so, nothing half-written left
            page.page.locator(".toast-body").first.wait_for(state="visible")
            toast = page.page.locator(".toast-body").first.inner_text()
            print(f"Download all on the full disk: {toast!r}")
            assert "无法准备下载" in toast
            page.page.click("#history-delete")
            page.page.locator("#deleted-row").wait_for(state="visible")
            page.page.locator("#deleted-row").wait_for(state="hidden", timeout=30_000)  # the Undo time is up
            page.wait_until_idle()
            assert page.page.locator("#history-gallery img").count() == 0
            with sqlite3.connect(f"file:{disk / 'data' / 'history.sqlite3'}?mode=ro", uri=True) as db:
                left = db.execute("select count(*) from generations").fetchone()[0]
            print(f"deleted on the full disk: {left} entries left, {free_bytes(disk)} bytes free after")
            assert left == 0 and "Traceback" not in app.log()
        finally:
            context.close()
            app.stop()


def test_a_zip_is_made_once_per_entry_and_every_download_copy_goes_with_the_entry(tmp_path):
    from backends.history.downloads import DownloadFolder

    with HistoryStore(tmp_path / "data") as store:
        downloads = DownloadFolder(store.data_dir / "downloads", clear=True)
        store.on_delete(downloads.forget)
        entry, other = store.save(result_of(1, n=2)), store.save(result_of(5))
        first = downloads.zip(entry)
        made = first.stat().st_mtime_ns
        assert downloads.zip(entry) == first and first.stat().st_mtime_ns == made  # reused, not written again
        single = downloads.image(entry, entry.images[0])
        assert single.stat().st_ino == entry.images[0].path.stat().st_ino  # a hard link: no bytes
        kept = downloads.image(other, other.images[0])
        assert store.delete(entry.id)
        assert not first.exists() and not single.exists() and not (downloads.root / entry.id).exists()
        assert kept.exists()  # another entry's copies stay
