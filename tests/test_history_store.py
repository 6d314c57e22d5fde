"""The history store against real SQLite files and real image files in tmp_path."""

from __future__ import annotations

import io
import os
import random
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from backends.base import GeneratedImage, GenerationRequest, GenerationResult, ImageFailure, Price
from backends.history import (
    MIGRATIONS,
    HistoryStore,
    applied_migrations,
    migrate,
    read_image_parameters,
)
from backends.history import queries as store_module
from backends.history.parameters import JSON_KEY, PARAMETERS_KEY
from backends.history.store import COUNT_UP_TO
from tests.benchmarks.history_bulk import seed_history
from tests.killed_store import run_and_crash
from tests.probes import restored_request

REPO = Path(__file__).resolve().parents[1]


def failed_result(request, *, backend_id, backend_label, model="m", elapsed_s=0.0):
    """What the runner returns when no image came back (the playground saves it with the error)."""
    return GenerationResult(
        backend_id=backend_id, backend_label=backend_label, model=model, request=request,
        images=(), failures=(), elapsed_s=elapsed_s,
    )


def delete_everything(store, *, visitor=""):
    """Delete every entry of ``visitor`` the way the page does, one by one; return how many."""
    deleted = 0
    while page := store.list_entries(visitor=visitor, limit=100).entries:
        deleted += sum(store.delete(entry.id, visitor=visitor) for entry in page)
    return deleted


def png_bytes(size=(16, 16), color=(200, 120, 40), fmt="PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


def result(
    prompt="a red fox in the snow",
    *,
    negative="",
    seed=100,
    n=1,
    backend_id="dieyuyun",
    backend_label="Dieyuyun",
    size=(16, 16),
    fmt="PNG",
    failures=(),
    info=None,
    cost=None,
) -> GenerationResult:
    request = GenerationRequest(
        prompt=prompt,
        negative_prompt=negative,
        width=size[0],
        height=size[1],
        n=n,
        seed=seed,
        steps=20,
        guidance=7.5,
    )
    failed = {f.index for f in failures}
    mime = {"PNG": "image/png", "WEBP": "image/webp", "JPEG": "image/jpeg"}[fmt]
    images = tuple(
        GeneratedImage(
            png_bytes(size, (i * 40 % 256, 100, seed % 256), fmt), mime, size[0], size[1], seed + i, i
        )
        for i in range(n)
        if i not in failed
    )
    return GenerationResult(
        backend_id=backend_id,
        backend_label=backend_label,
        model="Kwai-Kolors/Kolors",
        request=request,
        images=images,
        failures=tuple(failures),
        elapsed_s=1.5,
        cost=cost,
        info=info or {},
    )


def files_in(data_dir: Path) -> set[str]:
    """Every stored file and every note of a write in flight."""
    return {p.name for sub in ("images", "thumbs", "previews", "pending") for p in (data_dir / sub).iterdir()}


@pytest.fixture
def store(tmp_path):
    with HistoryStore(tmp_path / "data") as s:
        yield s


# -- migrations ---------------------------------------------------------------------------------------


def test_a_fresh_database_gets_every_migration(tmp_path):
    with HistoryStore(tmp_path) as store:
        conn = sqlite3.connect(store.db_path)
        assert applied_migrations(conn) == [m.__name__ for m in MIGRATIONS]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()


def test_reopening_applies_nothing_twice(tmp_path):
    HistoryStore(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "history.sqlite3", isolation_level=None)
    assert migrate(conn) == []
    rows = conn.execute("SELECT name, count(*) FROM _migrations GROUP BY name").fetchall()
    assert all(count == 1 for _, count in rows) and len(rows) == len(MIGRATIONS)
    conn.close()
    HistoryStore(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "history.sqlite3")
    assert conn.execute("SELECT count(*) FROM _migrations").fetchone()[0] == len(MIGRATIONS)
    conn.close()


def test_an_old_database_at_migration_1_is_upgraded(tmp_path):
    conn = sqlite3.connect(tmp_path / "history.sqlite3", isolation_level=None)
    assert migrate(conn, upto="m001_generations_and_images") == ["m001_generations_and_images"]
    conn.execute(
        "INSERT INTO generations (id, created_at, backend_id, request, prompt, status) "
        "VALUES ('old1', 1.0, 'dieyuyun', '{\"prompt\": \"一只橘猫坐在窗台上 on an old night\"}', "
        "'一只橘猫坐在窗台上 on an old night', 'failed')"
    )
    conn.close()
    with HistoryStore(tmp_path) as store:
        assert applied_migrations(store._conn) == [m.__name__ for m in MIGRATIONS]
        assert [e.id for e in store.list_entries(query="old night").entries] == ["old1"]
        assert [e.id for e in store.list_entries(query="窗台上").entries] == ["old1"]
        assert store.get("old1").request.prompt.startswith("一只橘猫")


def test_a_database_before_the_outcome_column_gets_it_filled_from_its_failures(tmp_path):
    # Rows as the store wrote them up to migration m006: the outcome only in the failures JSON.
    conn = sqlite3.connect(tmp_path / "history.sqlite3", isolation_level=None)
    migrate(conn, upto="m006_style_presets")
    assert "outcome" not in {row[1] for row in conn.execute("PRAGMA table_info(generations)")}
    cancelled = '[{"index": 1, "seed": 2, "error": "Generation stopped.", "error_type": "GenerationCancelled"}]'
    rejected = '[{"index": 1, "seed": 2, "error": "no \\"error_type\\": \\"GenerationCancelled\\"", "error_type": "RequestRejected"}]'
    old = [
        ("ok1", "ok", "[]"),
        ("partial1", "partial", rejected),  # the words in an error's text are not a stop
        ("stopped1", "partial", cancelled),
        ("stopped0", "failed", cancelled),
        ("failed1", "failed", '[{"index": 0, "seed": 1, "error": "x", "error_type": "ProviderServerError"}]'),
    ]
    for at, (entry_id, status, failures) in enumerate(old):
        conn.execute(
            "INSERT INTO generations (id, created_at, backend_id, request, prompt, status, failures) "
            "VALUES (?, ?, 'dieyuyun', '{\"prompt\": \"p\"}', 'p', ?, ?)",
            (entry_id, 1.0 + at, status, failures),
        )
    conn.close()
    with HistoryStore(tmp_path) as store:
        assert applied_migrations(store._conn)[-1] == "m007_outcome_column"
        column = dict(store._conn.execute("SELECT id, outcome FROM generations").fetchall())
        assert column == {"ok1": "ok", "partial1": "partial", "stopped1": "stopped", "stopped0": "stopped", "failed1": "failed"}
        by = {o: {e.id for e in store.list_entries(outcome=o).entries} for o in ("ok", "partial", "failed", "stopped")}
        assert by == {"ok": {"ok1"}, "partial": {"partial1"}, "failed": {"failed1"}, "stopped": {"stopped1", "stopped0"}}
        assert all(store.get(i).outcome == o for i, o in column.items())  # the column and the entry agree
        # A row written without the column (an older writer sharing the file) is given it on insert.
        store._conn.execute(
            "INSERT INTO generations (id, created_at, backend_id, request, prompt, status, failures) "
            "VALUES ('late', 9.0, 'dieyuyun', '{\"prompt\": \"p\"}', 'p', 'failed', ?)",
            (cancelled,),
        )
        assert [e.id for e in store.list_entries(outcome="stopped").entries] == ["late", "stopped0", "stopped1"]


def test_a_save_names_every_column_of_its_rows(store):
    from backends.history.rows import GENERATION_COLUMNS, IMAGE_COLUMNS

    columns = {row[1] for row in store._conn.execute("PRAGMA table_info(generations)")}
    assert columns - set(GENERATION_COLUMNS) == {"seq", "starred"}  # the two a save leaves to their defaults
    assert {row[1] for row in store._conn.execute("PRAGMA table_info(images)")} - set(IMAGE_COLUMNS) == {"seq"}
    entry = store.save(result(n=2, failures=(ImageFailure(1, 43, "Generation stopped.", "GenerationCancelled"),)))
    row = store._conn.execute("SELECT status, outcome FROM generations WHERE id = ?", (entry.id,)).fetchone()
    assert tuple(row) == ("partial", "stopped") == (entry.status, entry.outcome)


def test_a_failing_migration_leaves_the_previous_state(tmp_path, monkeypatch):
    from backends.history import migrations

    def broken(conn):
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    broken.__name__ = "m999_broken"
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, broken])
    conn = sqlite3.connect(tmp_path / "h.sqlite3", isolation_level=None)
    with pytest.raises(RuntimeError):
        migrations.migrate(conn)
    assert "m999_broken" not in applied_migrations(conn)
    assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'half_done'").fetchone() is None
    conn.close()


# -- saving and reading ---------------------------------------------------------------------------------


def test_save_and_get_round_trip(store):
    saved = store.save(
        result(
            n=2,
            size=(320, 200),
            info={"credits": 5, "api_key": "sk-secret", "headers": {"Authorization": "Bearer x"}},
            cost=Price(0.02, "CNY"),
        )
    )
    got = store.get(saved.id)
    assert got == saved
    assert got.status == "ok" and got.ok and got.error is None
    assert got.request.seed == 100 and got.request.n == 2
    assert got.seeds == (100, 101)
    assert got.cost == Price(0.02, "CNY")
    assert got.info == {"credits": 5, "headers": {}}
    assert got.elapsed_s == 1.5 and got.backend_id == "dieyuyun" and got.model == "Kwai-Kolors/Kolors"
    for image in got.images:
        assert image.path == store.image_path(image) and image.path.is_file()
        assert image.thumb_path == store.thumb_path(image) and image.thumb_path.is_file()
        assert image.thumb_path != image.path
        with Image.open(image.thumb_path) as thumb:
            assert max(thumb.size) == 256
        assert image.mime_type == "image/png" and image.size_bytes == image.path.stat().st_size
        assert (image.width, image.height) == (320, 200)
        with Image.open(image.path) as png:
            assert png.format == "PNG"
            assert f"Seed: {image.seed}," in png.text[PARAMETERS_KEY]
            assert JSON_KEY in png.text
        restored = read_image_parameters(image.path)
        assert restored_request(restored) == got.image_request(image)
        assert restored.generation_id == got.id and restored.image_index == image.index
    assert "sk-secret" not in store.db_path.read_bytes().decode("latin-1")


def test_small_images_are_their_own_thumbnails(store):
    image = store.save(result(size=(64, 64))).images[0]
    assert image.thumb_name is None and image.thumb_path == image.path


@pytest.mark.parametrize(("fmt", "suffix"), [("WEBP", ".webp"), ("JPEG", ".jpg")])
def test_webp_and_jpeg_are_stored_as_sent_with_metadata(store, fmt, suffix):
    # The provider's bytes plus metadata, no PNG re-encoding (tests/test_image_metadata.py
    # checks the splicing itself).
    entry = store.save(result(prompt="一只橘猫坐在窗台上", fmt=fmt))
    image = entry.images[0]
    assert image.source_mime_type == image.mime_type == f"image/{fmt.lower()}"
    assert image.path.suffix == suffix and image.size_bytes == image.path.stat().st_size
    with Image.open(image.path) as stored:
        assert stored.format == fmt
        assert "exif" in stored.info and "xmp" in stored.info
    restored = read_image_parameters(image.path)
    assert restored.prompt == "一只橘猫坐在窗台上" and restored.seed == image.seed


def test_deferred_thumbnails_come_after_the_commit_and_reads_wait_for_them(store):
    saved = store.save(result(n=2, size=(320, 200)), defer_thumbnails=True)
    assert all(image.path.is_file() for image in saved.images)  # the PNGs are there at once
    listed = store.list_entries().entries[0]
    got = store.get(saved.id)
    for entry in (listed, got):
        for image in entry.images:
            assert image.thumb_name == image.file_name.replace(".png", image.thumb_path.suffix)
            with Image.open(image.thumb_path) as thumb:
                assert max(thumb.size) == 256
    assert files_in(store.data_dir) == {p.name for i in got.images for p in (i.path, i.thumb_path)}


def test_deferred_thumbnails_of_small_images_are_the_images(store):
    entry = store.save(result(size=(64, 64)), defer_thumbnails=True)
    image = store.get(entry.id).images[0]
    assert image.thumb_name is None and image.thumb_path == image.path


def test_an_entry_deleted_before_its_thumbnails_leaves_no_file(tmp_path):
    with HistoryStore(tmp_path / "data") as store:
        for seed in range(5):
            entry = store.save(result(seed=seed, n=2, size=(640, 480)), defer_thumbnails=True)
            assert store.delete(entry.id)
    assert files_in(tmp_path / "data") == set()  # closing waited for the thumbnail thread


def test_deferred_saves_still_refuse_a_damaged_png(store):
    good = result(size=(320, 200))
    data = bytearray(good.images[0].data)
    data[data.index(b"IDAT") + 10] ^= 0xFF
    damaged = replace(good, images=(replace(good.images[0], data=bytes(data)),))
    entry = store.save(damaged, defer_thumbnails=True)
    assert entry.status == "failed" and "could not be stored" in entry.error


def test_ids_and_file_names_are_unguessable(store):
    entries = [store.save(result(seed=i)) for i in range(3)]
    ids = {e.id for e in entries}
    names = {e.images[0].file_name for e in entries}
    assert len(ids) == 3 and all(len(i) >= 16 for i in ids)
    assert len(names) == 3 and all(len(Path(n).stem) >= 21 for n in names)


def test_failures_are_stored_too(store):
    request = GenerationRequest(prompt="a cat", seed=None)
    failed = store.save(
        failed_result(request, backend_id="segmind", backend_label="Segmind", model="Kwai-Kolors/Kolors", elapsed_s=0.3),
        error="Segmind says the key is wrong.",
    )
    assert (
        failed.status == "failed" and failed.images == () and failed.error == "Segmind says the key is wrong."
    )
    assert failed.request.seed is None and store.get(failed.id) == failed

    partial = store.save(result(n=3, failures=(ImageFailure(1, 101, "timed out", "ProviderTimeout"),)))
    assert partial.status == "partial"
    assert [i.index for i in partial.images] == [0, 2]
    assert partial.failures == (ImageFailure(1, 101, "timed out", "ProviderTimeout"),)

    none_back = store.save(
        result(n=2, failures=(ImageFailure(0, 100, "a", "X"), ImageFailure(1, 101, "b", "X")))
    )
    assert none_back.status == "failed" and none_back.error == "a"
    assert store.count() == 3


def test_an_undecodable_image_becomes_a_failure_of_that_image(store):
    good = result(n=2)
    bad = replace(good, images=(good.images[0], replace(good.images[1], data=b"not an image")))
    entry = store.save(bad)
    assert entry.status == "partial"
    assert [i.index for i in entry.images] == [0]
    assert entry.failures[0].index == 1 and entry.failures[0].seed == 101


def test_newest_first_and_filters(store):
    a = store.save(result("a red fox in the snow", backend_id="dieyuyun"))
    b = store.save(
        result("一只橘猫坐在窗台上", negative="模糊", backend_id="segmind", backend_label="Segmind")
    )
    c = store.save(result("A Red Panda eating bamboo", backend_id="segmind", backend_label="Segmind"))
    d = store.save(
        failed_result(GenerationRequest(prompt="a fox, failed"), backend_id="siliconflow", backend_label="SiliconFlow"),
        error="boom",
    )

    def ids(**kwargs):
        page = store.list_entries(**kwargs)
        assert page.total == len(page.entries)
        return [e.id for e in page.entries]

    assert ids() == [d.id, c.id, b.id, a.id]
    assert ids(query="red") == [c.id, a.id]  # case-insensitive
    assert ids(query="RED panda") == [c.id]  # every word must match
    assert ids(query="fox") == [d.id, a.id]
    assert ids(query="橘猫") == [b.id]  # two characters: shorter than a trigram
    assert ids(query="橘猫坐在") == [b.id]
    assert ids(query="模糊") == [b.id]  # the negative prompt is searched too
    assert ids(query="窗台 橘猫") == [b.id]
    assert ids(query="zebra") == []
    assert ids(query='"quoted" 100%_ \\') == []  # FTS and LIKE syntax is taken literally
    assert ids(backend_id="segmind") == [c.id, b.id]
    assert ids(backend_id="segmind", query="panda") == [c.id]
    assert ids(starred_only=True) == []
    assert store.set_starred(a.id, True) and store.set_starred(c.id, True)
    assert ids(starred_only=True) == [c.id, a.id]
    assert store.get(a.id).starred
    assert store.set_starred(c.id, False)
    assert ids(starred_only=True, query="fox") == [a.id]
    assert store.backends() == [
        ("dieyuyun", "Dieyuyun"),
        ("segmind", "Segmind"),
        ("siliconflow", "SiliconFlow"),
    ]


def test_like_wildcards_in_short_terms_are_literal(store):
    store.save(result("100% cotton"))
    store.save(result("1000 cats"))
    assert [e.request.prompt for e in store.list_entries(query="0%").entries] == ["100% cotton"]
    assert [e.request.prompt for e in store.list_entries(query="_").entries] == []


def test_paging_has_no_gaps_or_overlaps(store):
    saved = store.save_many([result(f"prompt {i}", seed=i) for i in range(53)])
    newest_first = [e.id for e in reversed(saved)]

    seen, cursor = [], None
    while True:
        page = store.list_entries(limit=10, before=cursor)
        assert page.total == 53
        seen += [e.id for e in page.entries]
        if not page.has_more:
            assert page.next_cursor is None
            break
        cursor = page.next_cursor
    assert seen == newest_first

    by_offset = []
    for offset in range(0, 60, 10):
        by_offset += [e.id for e in store.list_entries(limit=10, offset=offset).entries]
    assert by_offset == newest_first

    # A cursor stays valid when entries are added and deleted meanwhile.
    first = store.list_entries(limit=10)
    store.save(result("newer"))
    store.delete(first.entries[-1].id)
    second = store.list_entries(limit=10, before=first.next_cursor)
    assert [e.id for e in second.entries] == newest_first[10:20]

    with pytest.raises(ValueError):
        store.list_entries(before="garbage")


def test_delete_removes_rows_and_files(store):
    keep = store.save(result("keep", n=2, size=(300, 300)))
    gone = store.save(result("gone", n=2, size=(300, 300)))
    assert len(files_in(store.data_dir)) == 8
    paths = [p for image in gone.images for p in (image.path, image.thumb_path)]
    assert store.delete(gone.id)
    assert store.get(gone.id) is None
    assert not any(p.exists() for p in paths)
    assert files_in(store.data_dir) == {p.name for i in keep.images for p in (i.path, i.thumb_path)}
    assert not store.delete(gone.id)
    conn = sqlite3.connect(store.db_path)
    assert conn.execute("SELECT count(*) FROM images").fetchone()[0] == 2
    conn.close()


def test_visitor_isolation(store):
    alice = store.save(result("alice's secret cat"), visitor="alice-token")
    bob = store.save(result("bob's secret cat"), visitor="bob-token")
    local = store.save(result("local cat"))

    for visitor, own, others in [
        ("alice-token", alice, (bob, local)),
        ("bob-token", bob, (alice, local)),
        ("", local, (alice, bob)),
    ]:
        page = store.list_entries(visitor=visitor)
        assert [e.id for e in page.entries] == [own.id] and page.total == 1
        assert [e.id for e in store.list_entries(visitor=visitor, query="secret cat").entries] == (
            [own.id] if own is not local else []
        )
        assert store.count(visitor=visitor) == 1
        assert store.get(own.id, visitor=visitor) == own
        for other in others:
            assert store.get(other.id, visitor=visitor) is None
            assert not store.set_starred(other.id, True, visitor=visitor)
            assert not store.delete(other.id, visitor=visitor)
        assert len(store.backends(visitor=visitor)) == 1

    # nothing of the others changed
    for visitor, entry in [("alice-token", alice), ("bob-token", bob), ("", local)]:
        got = store.get(entry.id, visitor=visitor)
        assert got == entry and not got.starred and got.images[0].path.exists()
    assert delete_everything(store, visitor="alice-token") == 1
    assert store.get(bob.id, visitor="bob-token") is not None and store.get(local.id) is not None
    with pytest.raises(TypeError):
        store.list_entries(visitor=None)  # type: ignore[arg-type]


def test_saves_from_many_threads(store):
    errors = []

    def work(t):
        try:
            for i in range(10):
                store.save(result(f"thread {t} image {i}", seed=t * 100 + i))
                store.list_entries(query="thread")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.count() == 80
    created = [e.created_at for e in store.list_entries(limit=100).entries]
    assert created == sorted(created, reverse=True) and len(set(created)) == 80


# -- crash safety -------------------------------------------------------------------------------------


def integrity_ok(db: Path) -> bool:
    conn = sqlite3.connect(db)
    try:
        return (
            conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            and not conn.execute("PRAGMA foreign_key_check").fetchall()
        )
    finally:
        conn.close()


def test_a_failed_commit_leaves_nothing(store, monkeypatch):
    before = store.save(result("before"))

    def fail(self):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(HistoryStore, "_commit", fail)
    with pytest.raises(sqlite3.OperationalError):
        store.save(result("lost", n=2, size=(300, 300)))
    monkeypatch.undo()
    assert [e.id for e in store.list_entries().entries] == [before.id]
    assert files_in(store.data_dir) == {before.images[0].file_name}
    assert store.save(result("after")).status == "ok"


@pytest.mark.parametrize(
    "crash_point",
    [
        # killed at the commit: files written, rows inserted, nothing committed
        "S._commit = lambda self: os._exit(77)",
        # killed after the first file of the entry
        (
            "orig = S._write_file\n"
            "def crash(path, data, written):\n"
            "    orig(path, data, written)\n"
            "    if len(written) == 1: os._exit(77)\n"
            "S._write_file = staticmethod(crash)"
        ),
        # killed half way through writing a file
        (
            "def crash(path, data, written):\n"
            "    written.append(path)\n"
            "    with open(path, 'xb') as fh:\n"
            "        fh.write(data[:100]); fh.flush(); os._exit(77)\n"
            "S._write_file = staticmethod(crash)"
        ),
    ],
)
def test_killed_during_save_leaves_no_entry_and_no_files(tmp_path, crash_point):
    data = tmp_path / "data"
    with HistoryStore(data) as store:
        kept = store.save(result("kept", size=(300, 300)))
    expected_files = {kept.images[0].file_name, kept.images[0].thumb_name}
    run_and_crash(data, crash_point + "\nstore.save(result('lost'))\n")
    assert files_in(data) > expected_files  # the crash left debris behind
    with HistoryStore(data) as store:
        assert [e.id for e in store.list_entries().entries] == [kept.id]
        assert store.list_entries(query="lost").total == 0
        assert files_in(data) == expected_files
        assert store.get(kept.id).images[0].path.is_file()
    assert integrity_ok(data / "history.sqlite3")


def test_killed_during_delete_keeps_no_orphans(tmp_path):
    data = tmp_path / "data"
    run_and_crash(
        data,
        """
        entry = store.save(result('doomed'))
        S._remove_files = lambda self, files: os._exit(77)
        store.delete(entry.id)
        """,
    )
    left = files_in(data)  # rows gone; the 4 files still there, and the note naming them
    assert len(left) == 5 and sum(name.endswith(".files") for name in left) == 1
    with HistoryStore(data) as store:
        assert store.count() == 0
        assert files_in(data) == set()
    assert integrity_ok(data / "history.sqlite3")


def test_opening_while_another_store_is_saving_keeps_the_save_whole(tmp_path, monkeypatch):
    data = tmp_path / "data"
    first = HistoryStore(data)
    release = threading.Event()
    original = HistoryStore._commit

    def slow_commit(self):
        release.wait(10)
        original(self)

    monkeypatch.setattr(first, "_commit", slow_commit.__get__(first))
    saved = []
    saver = threading.Thread(
        target=lambda: saved.append(first.save(result("in flight", n=2, size=(300, 300))))
    )
    saver.start()
    deadline = time.time() + 10
    while len(files_in(data)) < 4 and time.time() < deadline:  # files are written, commit pending
        time.sleep(0.01)
    threading.Timer(0.3, release.set).start()
    second = HistoryStore(data)  # its recover() waits for the write lock
    saver.join()
    try:
        entry = second.get(saved[0].id)
        assert entry is not None and all(i.path.is_file() and i.thumb_path.is_file() for i in entry.images)
        assert len(files_in(data)) == 4
    finally:
        second.close()
        first.close()


def test_killed_after_the_commit_keeps_the_entry_and_drops_the_note(tmp_path):
    data = tmp_path / "data"
    run_and_crash(
        data,
        """
        from backends.history.journal import FileNote
        FileNote.discard = lambda self: os._exit(77)
        store.save(result('kept'))
        """,
    )
    assert sum(name.endswith(".files") for name in files_in(data)) == 1  # the note outlived the commit
    with HistoryStore(data) as store:
        (entry,) = store.list_entries().entries
        assert entry.request.prompt == "kept"
        assert files_in(data) == {p.name for image in entry.images for p in (image.path, image.thumb_path)}
    assert integrity_ok(data / "history.sqlite3")


@pytest.mark.parametrize(
    "crash_point",
    [
        # torn while writing the first preview (image, thumbnail, preview: the third file)
        (
            "def crash(path, data, written):\n"
            "    written.append(path)\n"
            "    with open(path, 'xb') as fh:\n"
            "        fh.write(data[:100]); fh.flush()\n"
            "    if path.parent.name == 'previews': os._exit(77)\n"
            "S._write_file = staticmethod(crash)"
        ),
        "S._commit = lambda self: os._exit(77)",
    ],
    ids=["mid-preview", "at-commit"],
)
def test_killed_during_a_save_with_previews_leaves_no_files(tmp_path, crash_point):
    data = tmp_path / "data"
    run_and_crash(data, crash_point + "\nstore.save(photo_result('lost'))\n")
    assert any(name.endswith(".webp") for name in files_in(data))  # debris, a preview among it
    with HistoryStore(data) as store:
        assert store.count() == 0
        assert files_in(data) == set()
    assert integrity_ok(data / "history.sqlite3")


def test_killed_while_deferred_previews_are_written_keeps_the_entry_whole(tmp_path):
    data = tmp_path / "data"
    run_and_crash(
        data,
        """
        original = S._write_file
        def crash(path, data, written):
            original(path, data, written)
            if path.parent.name == 'previews':
                os._exit(77)
        S._write_file = staticmethod(crash)
        entry = store.save(photo_result('whole'), defer_thumbnails=True)
        store.get(entry.id)  # waits for the background thread, which dies writing a preview
        """,
    )
    assert {name.rsplit(".", 1)[1] for name in files_in(data)} == {"png", "webp", "files"}
    with HistoryStore(data) as store:
        (entry,) = store.list_entries().entries
        # Its thumbnails and previews were never committed: it shows its images, which are whole.
        assert all(image.preview_path == image.thumb_path == image.path for image in entry.images)
        assert files_in(data) == {image.file_name for image in entry.images}
        assert all(read_image_parameters(image.path).prompt == "whole" for image in entry.images)
    assert integrity_ok(data / "history.sqlite3")


def test_recovery_reads_only_the_names_a_note_can_hold(tmp_path):
    """A note cut short by a crash, or naming something that is not a stored file, removes nothing but
    the debris it names."""
    data = tmp_path / "data"
    with HistoryStore(data) as store:
        kept = store.save(result("kept", size=(300, 300))).images[0]
        (data / "images" / "debris.png").write_bytes(b"partial")
        outside = data / "history-notes.txt"
        outside.write_text("not ours")
        note = store._journal.folder / "cut.files"
        note.write_text(
            "images/debris.png\n"
            f"images/{kept.file_name}\n"  # named by a row: kept
            "../history-notes.txt\nimages/../history-notes.txt\nimages/\nthumbs/.hidden\n"
            f"thumbs/{kept.thumb_name[:5]}"  # the last name, cut short
        )
    with HistoryStore(data) as store:
        assert files_in(data) == {kept.file_name, kept.thumb_name}
        assert outside.read_text() == "not ours"
        assert store.list_entries().entries[0].images[0].path.read_bytes()


def test_debris_no_note_names_stays_until_a_sweep(store):
    """Recovery reads notes only; a stray file (put there by hand) is left to :meth:`sweep`."""
    kept = store.save(result("kept", size=(300, 300))).images[0]
    stray = [store.images_dir / "stray.png", store.thumbs_dir / "stray.webp", store.previews_dir / "stray.webp"]
    for path in stray:
        path.write_bytes(b"x")
    assert store.recover() == 0 and all(path.exists() for path in stray)
    assert store.sweep() == 3
    assert files_in(store.data_dir) == {kept.file_name, kept.thumb_name}


def test_an_upgraded_store_sweeps_once_then_reads_notes_only(tmp_path, monkeypatch):
    """Files from before the notes existed (a crash under the old store) are found by one sweep at the
    first open after the upgrade; later opens list no stored folder."""
    conn = sqlite3.connect(tmp_path / "history.sqlite3", isolation_level=None)
    migrate(conn, upto="m003_entry_counts")
    conn.close()
    for folder in ("images", "thumbs"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"old-crash.{'png' if folder == 'images' else 'webp'}").write_bytes(b"partial")
    with HistoryStore(tmp_path) as store:
        assert files_in(tmp_path) == set()
        kept = store.save(result("after the upgrade", size=(300, 300))).images[0]
    (tmp_path / "images" / "stray.png").write_bytes(b"x")
    listed = watch_directory_listings(monkeypatch)
    with HistoryStore(tmp_path):
        pass
    assert listed == [tmp_path / "pending"]
    assert files_in(tmp_path) == {kept.file_name, kept.thumb_name, "stray.png"}


def watch_directory_listings(monkeypatch) -> list[Path]:
    """Record every folder the history store lists from now on."""
    listed: list[Path] = []
    real = os.scandir

    def scandir(path="."):
        listed.append(Path(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return listed


def sql_work_of_opening(data_dir: Path, monkeypatch) -> int:
    """SQLite virtual-machine steps (in hundreds) spent opening the store in ``data_dir``."""
    steps = [0]
    real = sqlite3.connect

    def connect(*args, **kwargs):
        conn = real(*args, **kwargs)

        def count():
            steps[0] += 1
            return 0

        conn.set_progress_handler(count, 100)
        return conn

    with monkeypatch.context() as patched:
        patched.setattr(sqlite3, "connect", connect)
        store = HistoryStore(data_dir)
    opened = steps[0]
    store.close()
    return opened


@pytest.mark.parametrize("entries", [pytest.param(500, id="500"), pytest.param(100_000, id="100000", marks=pytest.mark.slow)])
def test_reopening_costs_the_same_whatever_the_history(tmp_path, monkeypatch, entries):
    """Opening lists the notes' folder only, and runs as much SQL at N entries as at 10."""
    small, large = tmp_path / "small", tmp_path / "large"
    seed_history(small, 10)
    seed_history(large, entries)
    for data_dir in (small, large):
        HistoryStore(data_dir).close()  # the first open after seeding sweeps once
    assert sum(1 for _ in (large / "images").iterdir()) == sum(1 + i % 4 for i in range(entries))
    work = {data_dir: sql_work_of_opening(data_dir, monkeypatch) for data_dir in (small, large)}
    # In hundreds of steps: opening takes ~2; reading every image row of 500 entries would add ~37,
    # an index scan for their newest date ~25.
    assert work[large] <= work[small] + 3, work
    listed = watch_directory_listings(monkeypatch)
    with HistoryStore(large) as store:
        assert store.count() == entries
    assert listed == [large / "pending"]


# -- scale ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ten_thousand_entries(tmp_path):
    tiny = png_bytes((8, 8))
    store = HistoryStore(tmp_path / "data")
    started = time.perf_counter()
    for batch in range(20):
        results = []
        for i in range(500):
            k = batch * 500 + i
            prompt = f"entry {k:05d} a quiet harbour at dawn, oil painting"
            if k % 1000 == 7:
                prompt = f"entry {k:05d} 一只橘猫坐在窗台上"
            if k == 4321:
                prompt = "a lighthouse made of glass, needle in the haystack"
            request = GenerationRequest(prompt=prompt, seed=k, width=8, height=8)
            image = GeneratedImage(tiny, "image/png", 8, 8, k, 0)
            results.append(
                GenerationResult(
                    "segmind" if k % 3 == 0 else "dieyuyun", "X", "m", request, (image,), (), 0.1
                )
            )
        store.save_many(results)
    print(f"\nseeded 10,000 entries in {time.perf_counter() - started:.2f} s")
    store.close()

    started = time.perf_counter()
    store = HistoryStore(tmp_path / "data")
    print(f"reopen (migrate + recover): {(time.perf_counter() - started) * 1000:.1f} ms")
    try:

        def timed(label, **kwargs):
            t = time.perf_counter()
            page = store.list_entries(**kwargs)
            print(f"{label}: {(time.perf_counter() - t) * 1000:.1f} ms ({page.total} matches)")
            return page

        first = timed("first page")
        assert first.total == 10_000 and first.has_more
        assert [e.request.prompt[:11] for e in first.entries] == [
            f"entry {k:05d}" for k in range(9999, 9975, -1)
        ]
        assert all(len(e.images) == 1 and e.images[0].path.is_file() for e in first.entries)

        second = timed("second page (cursor)", before=first.next_cursor)
        assert second.entries[0].request.seed == 9975

        deep = timed("page 400 (offset 9576)", offset=9576)
        assert [e.request.seed for e in deep.entries] == list(range(423, 399, -1))

        needle = timed("search 'needle'", query="needle")
        assert [e.request.seed for e in needle.entries] == [4321]

        cats = timed("search '橘猫'", query="橘猫")
        assert cats.total == 10 and [e.request.seed for e in cats.entries] == list(range(9007, 6, -1000))

        common = timed("search 'harbour dawn'", query="harbour dawn")
        assert common.total == COUNT_UP_TO and common.total_is_lower_bound  # 9,989: counted up to the cap
        assert [e.request.seed for e in common.entries][:3] == [9999, 9998, 9997]
        exact = store.list_entries(query="harbour dawn", count_up_to=20_000)
        assert exact.total == 10_000 - 10 - 1 and not exact.total_is_lower_bound

        segmind = timed("backend filter", backend_id="segmind")
        assert segmind.total == 3334 and all(e.request.seed % 3 == 0 for e in segmind.entries)
    finally:
        store.close()


# -- counts and search plans at scale ----------------------------------------------------------------


def _true_counts(db_path: Path) -> dict[tuple[str, str], int]:
    with sqlite3.connect(db_path) as conn:
        return {(v, b): n for v, b, n in conn.execute("SELECT visitor, backend_id, count(*) FROM generations GROUP BY 1, 2")}


def _kept_counts(db_path: Path) -> dict[tuple[str, str], int]:
    with sqlite3.connect(db_path) as conn:
        return {(v, b): n for v, b, n in conn.execute("SELECT visitor, backend_id, entries FROM entry_counts WHERE entries > 0")}


def test_an_old_database_at_migration_2_gets_its_entry_counts(tmp_path):
    conn = sqlite3.connect(tmp_path / "history.sqlite3", isolation_level=None)
    migrate(conn, upto="m002_prompt_search")
    for i, (visitor, backend) in enumerate([("", "dieyuyun"), ("", "dieyuyun"), ("", "segmind"), ("v" * 32, "segmind")]):
        conn.execute(
            "INSERT INTO generations (id, created_at, visitor, backend_id, request, prompt, status) "
            "VALUES (?, ?, ?, ?, '{\"prompt\": \"old\"}', 'old', 'failed')", (f"old{i}", float(i), visitor, backend),
        )
    conn.close()
    with HistoryStore(tmp_path) as store:
        assert store.count() == 3 and store.count(visitor="v" * 32) == 1
        assert store.list_entries(backend_id="segmind").total == 1
        assert store.list_entries(visitor="v" * 32, backend_id="segmind").total == 1
        assert store.list_entries(backend_id="local").total == 0
    assert _kept_counts(tmp_path / "history.sqlite3") == _true_counts(tmp_path / "history.sqlite3")


def test_kept_counts_follow_saves_deletes_and_visitors(store):
    rng = random.Random(7)
    visitors, backends = ["", "a" * 32, "b" * 32], ["dieyuyun", "segmind", "siliconflow"]
    saved: list[tuple[str, str]] = []
    for step in range(120):
        action = rng.random()
        if action < 0.65 or not saved:
            visitor = rng.choice(visitors)
            entry = store.save(result(f"step {step}", backend_id=rng.choice(backends)), visitor=visitor)
            saved.append((entry.id, visitor))
        elif action < 0.95:
            entry_id, visitor = saved.pop(rng.randrange(len(saved)))
            assert store.delete(entry_id, visitor=visitor)
        else:
            visitor = rng.choice(visitors)
            delete_everything(store, visitor=visitor)
            saved = [item for item in saved if item[1] != visitor]
        if step % 10 == 0:
            truth = _true_counts(store.db_path)
            assert _kept_counts(store.db_path) == truth
            for visitor in visitors:
                assert store.count(visitor=visitor) == sum(n for (v, _), n in truth.items() if v == visitor)
                for backend in backends:
                    assert store.list_entries(visitor=visitor, backend_id=backend).total == truth.get((visitor, backend), 0)
    assert store.count() + store.count(visitor="a" * 32) + store.count(visitor="b" * 32) == len(saved)


@pytest.mark.parametrize("plan", ["prompt index", "read whole"])
@pytest.mark.parametrize("word", ["lighthouse", "harbor", "zebra"])  # matches: one in 3, one in 30, one only
def test_search_pages_are_the_newest_matches_whichever_plan_runs(store, word, plan, monkeypatch):
    """A large history is searched by walking the prompt index newest match first, a small one by
    reading it newest first; either way a page is exactly the newest matching entries, the pages join
    up, and the count is exact."""
    monkeypatch.setattr(store_module, "SEARCH_READS_UP_TO", 0 if plan == "prompt index" else 10_000)
    rng = random.Random(word)
    prompts = []
    for i in range(240):
        subject = "lighthouse" if i % 3 == 0 else ("harbor" if i % 30 == 1 else rng.choice(["owl", "fox", "teapot"]))
        prompts.append("zebra at noon" if i == 200 else f"a {subject} number {i}")
    for start in range(0, 240, 40):  # another visitor's matches in between, which the walk passes over
        store.save_many([result(p, backend_id=rng.choice(["dieyuyun", "segmind"])) for p in prompts[start : start + 40]])
        store.save_many([result(f"{word} of another visitor {start}")], visitor="other")
    everything = store.list_entries(limit=1000).entries
    for backend in (None, "segmind"):
        for query in (word, f"{word} nu"):  # "nu": shorter than a trigram, matched on the rows found
            expected = [
                e.id for e in everything
                if all(term in e.request.prompt for term in query.split()) and (backend is None or e.backend_id == backend)
            ]
            got, cursor = [], None
            while True:
                page = store.list_entries(query=query, backend_id=backend, limit=7, before=cursor)
                assert page.total == len(expected) and not page.total_is_lower_bound
                got += [e.id for e in page.entries]
                if not page.has_more:
                    break
                cursor = page.next_cursor
            assert got == expected, query
            assert [e.id for e in store.list_entries(query=query, backend_id=backend, limit=5, offset=5).entries] == expected[5:10]


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="thread priorities are a Linux feature")
def test_deferred_thumbnails_run_at_a_lower_priority(store):
    """They are made as the answer goes out and its image is fetched: on a small machine they wait."""
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    saved = store.save(result(n=2, size=(320, 200)), defer_thumbnails=True)
    assert all(image.thumb_path.is_file() for image in store.get(saved.id).images)  # waits for them
    workers = [t for t in threading.enumerate() if t.name.startswith("thumbnails")]
    assert workers
    assert {os.getpriority(os.PRIO_PROCESS, t.native_id) for t in workers} == {min(base + 10, 19)}


@pytest.mark.parametrize("plan", ["prompt index", "read whole"])
def test_counts_past_the_cap_say_at_least(store, plan, monkeypatch):
    """A search (or the starred filter) counts its matches up to ``count_up_to``, then says "at least"
    (the page shows "24+"); the whole history, or one backend's, is always counted exactly."""
    monkeypatch.setattr(store_module, "SEARCH_READS_UP_TO", 0 if plan == "prompt index" else 10_000)
    saved = store.save_many([result(f"owl number {i}") for i in range(30)] + [result("a fox")])
    for entry in saved[:26]:
        store.set_starred(entry.id, True)
    newest_owls = [e.id for e in reversed(saved[:30])]

    capped = store.list_entries(query="owl", limit=10, count_up_to=24)
    assert (capped.total, capped.total_is_lower_bound) == (24, True)
    assert [e.id for e in capped.entries] == newest_owls[:10] and capped.has_more
    deeper = store.list_entries(query="owl", limit=10, count_up_to=24, before=capped.next_cursor)
    assert (deeper.total, deeper.total_is_lower_bound) == (24, True)
    assert [e.id for e in deeper.entries] == newest_owls[10:20]
    assert store.list_entries(query="owl", count_up_to=29).total_is_lower_bound
    exact = store.list_entries(query="owl", count_up_to=30)
    assert (exact.total, exact.total_is_lower_bound) == (30, False)
    assert [e.id for e in store.list_entries(query="owl", limit=24, offset=24, count_up_to=5).entries] == newest_owls[24:]

    starred = store.list_entries(starred_only=True, count_up_to=24)
    assert (starred.total, starred.total_is_lower_bound) == (24, True)
    everything = store.list_entries(count_up_to=1)
    assert (everything.total, everything.total_is_lower_bound) == (31, False)
    assert store.list_entries(backend_id="dieyuyun", count_up_to=1).total == 31
    with pytest.raises(ValueError):
        store.list_entries(query="owl", count_up_to=0)


def test_created_at_grows_with_insertion_whatever_the_clock(tmp_path, monkeypatch):
    """Searches walk the prompt index in insertion order, which must be the history's order: an entry
    saved after another is dated after it, even when the clock was set back or another process (here a
    second store on the same files) saved last."""
    first, second = HistoryStore(tmp_path), HistoryStore(tmp_path)
    try:
        clock = iter([2000.0, 1000.0, 1000.0, 3000.0, 500.0])
        for store in (first, second):
            monkeypatch.setattr(store, "_wall_clock", lambda: next(clock))
        saved = [
            first.save(result("one")), second.save(result("two")), first.save(result("three")),
            second.save(result("four")), first.save(result("five")),
        ]
    finally:
        monkeypatch.undo()
        first.close()
        second.close()
    dates = [entry.created_at for entry in saved]
    assert dates == sorted(dates) and len(set(dates)) == 5 and dates[3] == 3000.0
    with HistoryStore(tmp_path) as store:
        assert [e.id for e in store.list_entries().entries] == [e.id for e in reversed(saved)]


def test_an_old_history_written_out_of_order_is_put_in_order(tmp_path, monkeypatch):
    """Migration m005: rows a clock set back (or two processes) dated before rows written earlier are
    dated just after them, so that the prompt index's order is the history's."""
    conn = sqlite3.connect(tmp_path / "history.sqlite3", isolation_level=None)
    migrate(conn, upto="m004_image_previews")
    for seq, created_at in [(1, 100.0), (2, 300.0), (3, 200.0), (4, 300.0), (5, 400.0)]:
        conn.execute(
            "INSERT INTO generations (seq, id, created_at, backend_id, request, prompt, status) "
            "VALUES (?, ?, ?, 'dieyuyun', '{\"prompt\": \"a lantern\"}', 'a lantern', 'failed')",
            (seq, f"old{seq}", created_at),
        )
    conn.close()
    monkeypatch.setattr(store_module, "SEARCH_READS_UP_TO", 0)
    with HistoryStore(tmp_path) as store:
        dates = [row[0] for row in store._conn.execute("SELECT created_at FROM generations ORDER BY seq")]
        assert dates[:2] == [100.0, 300.0] and dates[2] == dates[1] + 1e-6 and dates[3] == dates[2] + 1e-6
        assert dates[4] == 400.0
        newest_first = ["old5", "old4", "old3", "old2", "old1"]
        assert [e.id for e in store.list_entries().entries] == newest_first
        assert [e.id for e in store.list_entries(query="lantern").entries] == newest_first
